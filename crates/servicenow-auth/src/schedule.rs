//! When the machine may send its next token request: the retry after transient failures, the
//! re-authorization requirement and the wish for a non-interactive acquisition, as one value.
//!
//! Every change of these three facts goes through a named method here, so the rules that tie
//! them together hold in one place:
//! - a re-authorization requirement cancels any retry and any wished-for acquisition, and only
//!   a completed login, a restore or an `Acquire` lifts it;
//! - a token obtained (by whatever grant) ends the run of failures and satisfies the wish;
//! - a logout forgets the retry and the wish but keeps the requirement.

use std::time::Duration;

use rand_chacha::ChaCha20Rng;

use crate::backoff::BackoffPolicy;
use crate::event::ReauthorizationReason;
use crate::time::Timestamp;

/// The scheduling state of the token requests (quinn's `TimerTable` shape: callers say what
/// happened, the type keeps the invariants).
#[derive(Clone, Default, Debug)]
pub(crate) struct Schedule {
    /// Consecutive transient failures of refreshes and acquisitions since the last token.
    failures: u32,
    /// When the retry after the last transient failure may be sent.
    retry_at: Option<Timestamp>,
    /// Set when no token request may be sent until a login, a restore or an `Acquire`.
    reauthorization: Option<ReauthorizationReason>,
    /// A non-interactive grant should be sent as soon as the rules allow.
    acquisition_wanted: bool,
}

impl Schedule {
    /// A token was obtained by a refresh or an acquisition: the failures are over and the
    /// acquisition wished for (if any) happened (`EnsureFresh` asks for a token to exist or be
    /// on its way, not for one more).
    pub(crate) fn on_success(&mut self) {
        self.failures = 0;
        self.retry_at = None;
        self.acquisition_wanted = false;
    }

    /// A login completed or a token set was restored: a fresh start, requirement lifted.
    pub(crate) fn on_fresh_start(&mut self) {
        *self = Self::default();
    }

    /// The application asked for an acquisition (`Command::Acquire`): requirement lifted,
    /// failures forgotten, an acquisition wanted now.
    pub(crate) fn on_acquire_command(&mut self) {
        *self = Self {
            acquisition_wanted: true,
            ..Self::default()
        };
    }

    /// A logout: retry and wish forgotten; a re-authorization requirement stays.
    pub(crate) fn on_logout(&mut self) {
        self.failures = 0;
        self.retry_at = None;
        self.acquisition_wanted = false;
    }

    /// A refresh or acquisition failed in a way that may pass: schedules the retry with capped
    /// exponential backoff and jitter (believing a server's `Retry-After` up to the cap) and
    /// returns its instant. A failed acquisition is wanted again at the retry.
    pub(crate) fn on_transient_failure(
        &mut self,
        now: Timestamp,
        backoff: &BackoffPolicy,
        retry_after: Option<Duration>,
        rng: &mut ChaCha20Rng,
        acquisition: bool,
    ) -> Timestamp {
        self.failures = self.failures.saturating_add(1);
        let mut delay = backoff.delay(self.failures, rng);
        if let Some(retry_after) = retry_after {
            delay = delay.max(retry_after.min(backoff.max));
        }
        let retry_at = now.saturating_add(delay);
        self.retry_at = Some(retry_at);
        if acquisition {
            self.acquisition_wanted = true;
        }
        retry_at
    }

    /// No token request until a login, a restore or an `Acquire`: retry and wish cancelled.
    pub(crate) fn require_reauthorization(&mut self, reason: ReauthorizationReason) {
        *self = Self {
            reauthorization: Some(reason),
            ..Self::default()
        };
    }

    /// A non-interactive credential has no token set and a caller wants one.
    pub(crate) fn want_acquisition(&mut self) {
        if self.reauthorization.is_none() {
            self.acquisition_wanted = true;
        }
    }

    /// Whether an acquisition is wanted; sending one calls [`on_acquisition_sent`](Self::on_acquisition_sent).
    pub(crate) fn acquisition_wanted(&self) -> bool {
        self.acquisition_wanted
    }

    /// The wished-for acquisition was sent.
    pub(crate) fn on_acquisition_sent(&mut self) {
        self.acquisition_wanted = false;
    }

    /// Whether the rules allow a refresh or acquisition at `now`: no re-authorization required
    /// and no retry still waiting for its instant. (Code exchanges are never held back.)
    pub(crate) fn allows_request_at(&self, now: Timestamp) -> bool {
        self.reauthorization.is_none() && self.retry_at.is_none_or(|retry_at| retry_at <= now)
    }

    /// Why a re-authorization is required, if it is.
    pub(crate) fn reauthorization(&self) -> Option<&ReauthorizationReason> {
        self.reauthorization.as_ref()
    }

    /// The retry scheduled after the last transient failure, if any.
    pub(crate) fn retry_at(&self) -> Option<Timestamp> {
        self.retry_at
    }

    /// The instant at which the next refresh or acquisition may have to be sent, with no token
    /// request in flight: the retry when one is scheduled, otherwise the token's proactive
    /// refresh point; none while re-authorization is required.
    pub(crate) fn next_deadline(&self, refresh_at: Option<Timestamp>) -> Option<Timestamp> {
        if self.reauthorization.is_some() {
            return None;
        }
        self.retry_at.or(refresh_at)
    }
}

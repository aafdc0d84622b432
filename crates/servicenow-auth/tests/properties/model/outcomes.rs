//! The model's rules for what an answer (or its absence by the deadline) does: the token set
//! a response makes, the backoff after a transient failure, re-authorization.

use std::time::Duration;

use servicenow_auth::Revocation;

use super::{
    Announced, Expected, Held, LoginFailureKind, Model, Purpose, Reason, RefreshView, SetView,
    TokenAnswer,
};

impl Model {
    pub(super) fn answer(
        &mut self,
        request: u64,
        token: &TokenAnswer,
        success: bool,
        announced: &Announced,
    ) {
        if self
            .in_flight
            .as_ref()
            .is_some_and(|flight| flight.id == request)
        {
            let Some(flight) = self.in_flight.take() else {
                return;
            };
            if !flight.superseded {
                self.token_outcome(flight.purpose, token.clone(), announced);
            }
            return;
        }
        if let Some(logout) = self.logouts.front_mut() {
            if let Some((id, _, is_refresh_token)) = logout.in_flight {
                if id == request {
                    logout.in_flight = None;
                    let revocation = if success {
                        Revocation::Accepted
                    } else {
                        Revocation::NotConfirmed
                    };
                    if is_refresh_token {
                        logout.outcome.0 = revocation;
                    } else {
                        logout.outcome.1 = revocation;
                    }
                }
            }
        }
        // Anything else answers a request given up on, or is a duplicate: nothing happens.
    }

    pub(super) fn token_outcome(
        &mut self,
        purpose: Purpose,
        answer: TokenAnswer,
        announced: &Announced,
    ) {
        let answer = match answer {
            TokenAnswer::Issued { expires_in, .. } if expires_in.is_zero() => {
                TokenAnswer::Transient { retry_after: None }
            }
            other => other,
        };
        match (purpose, answer) {
            (
                Purpose::Exchange,
                TokenAnswer::Issued {
                    access,
                    expires_in,
                    refresh,
                },
            ) => {
                self.failures = 0;
                self.retry_at = None;
                self.reauthorization = None;
                self.acquisition_wanted = false;
                let set = self.issued_set(purpose, access, expires_in, refresh);
                let number = self.install(set, true, announced);
                self.out.push(Expected::LoginCompleted { token: number });
                self.announce_if_usable(number);
            }
            (Purpose::Exchange, TokenAnswer::Rejected) => self
                .out
                .push(Expected::LoginFailed(LoginFailureKind::ExchangeRejected)),
            (Purpose::Exchange, TokenAnswer::Transient { .. }) => self
                .out
                .push(Expected::LoginFailed(LoginFailureKind::ExchangeFailed)),
            (
                _,
                TokenAnswer::Issued {
                    access,
                    expires_in,
                    refresh,
                },
            ) => {
                if self.failures > 0 {
                    self.recoveries_after_failure += 1;
                }
                // A token obtained ends the failures and satisfies any wish for an acquisition:
                // `EnsureFresh` asks for a token to exist or be on its way, not for another one.
                self.failures = 0;
                self.retry_at = None;
                self.acquisition_wanted = false;
                if purpose == Purpose::Refresh {
                    let held_string = self
                        .held
                        .as_ref()
                        .and_then(|held| held.set.refresh.as_ref())
                        .map(|record| record.token.clone());
                    if refresh.is_some() && held_string.is_some() && refresh != held_string {
                        self.rotations += 1;
                    }
                }
                let set = self.issued_set(purpose, access, expires_in, refresh);
                let number = self.install(set, true, announced);
                self.announce_if_usable(number);
            }
            (Purpose::Refresh, TokenAnswer::Rejected) => {
                self.require_reauthorization(Reason::RefreshRejected);
            }
            (_, TokenAnswer::Rejected) => self.require_reauthorization(Reason::GrantRejected),
            (_, TokenAnswer::Transient { retry_after }) => {
                self.transient_failure(purpose, retry_after, announced);
            }
        }
    }

    /// Capped exponential backoff with equal jitter: the n-th consecutive failure waits between
    /// half a step and a step; a `Retry-After` is believed up to the cap.
    pub(super) fn transient_failure(
        &mut self,
        purpose: Purpose,
        retry_after: Option<Duration>,
        announced: &Announced,
    ) {
        self.failures = self.failures.saturating_add(1);
        let step = self.rules.backoff_step(self.failures);
        let floor = retry_after.map_or(Duration::ZERO, |wait| wait.min(self.rules.backoff_max));
        let earliest = self.now.saturating_add((step / 2).max(floor));
        let latest = self.now.saturating_add(step.max(floor));
        let retry_at = match announced.retry_at {
            Some(at) if earliest <= at && at <= latest => at,
            Some(at) => {
                self.band_violations.push(format!(
                    "retry at {at:?} outside the backoff band [{earliest:?}, {latest:?}] of failure {}",
                    self.failures
                ));
                at
            }
            None => {
                self.band_violations
                    .push("a transient failure announced no retry".into());
                earliest
            }
        };
        self.retry_at = Some(retry_at);
        if purpose == Purpose::Acquire {
            self.acquisition_wanted = true;
        }
        self.out.push(Expected::TokenRequestFailed { retry_at });
    }

    pub(super) fn require_reauthorization(&mut self, reason: Reason) {
        self.reauthorization = Some(reason);
        self.failures = 0;
        self.retry_at = None;
        self.acquisition_wanted = false;
        self.out.push(Expected::ReauthorizationRequired(reason));
    }

    /// The token set a token response makes (RFC 6749 §6): a refresh that names no refresh
    /// token keeps the held one; the same string keeps its first issue and expiry; a new string
    /// starts a new lifetime.
    pub(super) fn issued_set(
        &self,
        purpose: Purpose,
        access: String,
        expires_in: Duration,
        refresh: Option<String>,
    ) -> SetView {
        let held = self.held.as_ref().and_then(|held| held.set.refresh.clone());
        let refresh = match (refresh, held) {
            (Some(new), Some(old)) if new == old.token => Some(old),
            (Some(new), _) => Some(RefreshView {
                token: new,
                first_issued_at: self.now,
                expires_at: self
                    .rules
                    .refresh_token_lifetime
                    .map(|lifetime| self.now.saturating_add(lifetime)),
            }),
            (None, old) if purpose == Purpose::Refresh => old,
            (None, _) => None,
        };
        SetView {
            access,
            obtained_at: self.now,
            expires_at: self.now.saturating_add(expires_in),
            refresh,
        }
    }

    /// Holds `set` as a new token: usable until `expires_at - min(skew, lifetime / 2)`, refreshed
    /// from a point up to `min(jitter, lifetime / 4)` earlier.
    pub(super) fn install(&mut self, set: SetView, persist: bool, announced: &Announced) -> u64 {
        let number = self.next_token;
        self.next_token += 1;
        let lifetime = set.expires_at.saturating_duration_since(set.obtained_at);
        let usable_until = set
            .expires_at
            .saturating_sub(self.rules.skew.min(lifetime / 2));
        let earliest = usable_until.saturating_sub(self.rules.jitter.min(lifetime / 4));
        let refresh_at = match announced.refresh_at {
            Some(at) if earliest <= at && at <= usable_until => at,
            other => {
                self.band_violations.push(format!(
                    "refresh point {other:?} outside the jitter band [{earliest:?}, {usable_until:?}]"
                ));
                usable_until
            }
        };
        if persist {
            self.out.push(Expected::Persist(set.clone()));
        }
        self.held = Some(Held {
            number,
            set,
            usable_until,
            refresh_at,
            refused: false,
        });
        number
    }

    pub(super) fn announce_if_usable(&mut self, number: u64) {
        if let Some((token, _, usable_until)) = self.hand_out() {
            if token == number {
                self.out.push(Expected::TokenReady {
                    token,
                    usable_until,
                });
            }
        }
    }

    pub(super) fn expire_deadlines(&mut self, announced: &Announced) {
        let now = self.now;
        if self
            .in_flight
            .as_ref()
            .is_some_and(|flight| now >= flight.deadline)
        {
            if let Some(flight) = self.in_flight.take() {
                if !flight.superseded {
                    self.token_outcome(
                        flight.purpose,
                        TokenAnswer::Transient { retry_after: None },
                        announced,
                    );
                }
            }
        }
        if let Some(logout) = self.logouts.front_mut() {
            if logout
                .in_flight
                .is_some_and(|(_, deadline, _)| now >= deadline)
            {
                logout.in_flight = None;
            }
        }
    }
}

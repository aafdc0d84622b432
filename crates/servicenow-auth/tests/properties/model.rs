//! The reference model: the token lifecycle written as its specification (the crate docs' "What
//! it enforces", `Timing`'s and `BackoffPolicy`'s documented rules, RFC 6749 §6 and RFC 7009),
//! as a fold over the history of inputs that predicts every request, event, deadline and
//! hand-out the machine must produce. It is written from the rules, not from the machine's code:
//! its state is what the rules talk about, and nothing of the machine is read except the two
//! seeded random choices the documentation leaves open (the refresh jitter and the backoff
//! jitter), which the model takes from what the machine announced after checking that each lies
//! in its documented band.
//!
//! One input is handled in the order the contract states: the input's own effect; then the
//! deadlines that have passed (a token request without an answer by its deadline is a transient
//! failure, a revocation without one is unconfirmed); then the next revocation of a logout; then
//! the next token request, if one is needed and allowed.

mod outcomes;
mod terms;

use std::collections::VecDeque;

use servicenow_auth::{Revocation, Timestamp};

pub(crate) use self::terms::{
    Announced, Expected, LoginFailureKind, Reason, RefreshView, Request, Rules, SetView,
    StatusView, Step, TokenAnswer,
};

/// Why a token request was sent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Purpose {
    Exchange,
    Refresh,
    Acquire,
}

/// The token set held: its model number, when it stops being handed out, when its proactive
/// refresh is due, and whether a resource server refused it.
#[derive(Clone, Debug)]
pub(crate) struct Held {
    pub(crate) number: u64,
    pub(crate) set: SetView,
    pub(crate) usable_until: Timestamp,
    pub(crate) refresh_at: Timestamp,
    pub(crate) refused: bool,
}

/// The one token request that may be in flight.
#[derive(Clone, Debug)]
pub(crate) struct InFlight {
    pub(crate) id: u64,
    pub(crate) purpose: Purpose,
    pub(crate) deadline: Timestamp,
    /// A login, restore or logout made its answer moot; it still occupies the one slot.
    pub(crate) superseded: bool,
    /// For a refresh: the refresh token presented.
    pub(crate) presented: Option<RefreshView>,
}

/// One logout's revocations: the refresh token first, then the access token.
#[derive(Clone, Debug)]
struct Logout {
    refresh_token: Option<String>,
    access_token: Option<String>,
    outcome: (Revocation, Revocation),
    /// The revocation in flight: id, deadline, and whether it is the refresh token's.
    in_flight: Option<(u64, Timestamp, bool)>,
}

/// A begun login, by the number of its `LoginStarted`.
#[derive(Clone, Debug)]
struct PendingLogin {
    number: usize,
    deadline: Timestamp,
}

/// The model's state: only what the rules mention.
#[derive(Clone, Debug)]
pub(crate) struct Model {
    rules: Rules,
    pub(crate) now: Timestamp,
    next_request: u64,
    next_token: u64,
    next_login: usize,
    pub(crate) held: Option<Held>,
    pub(crate) in_flight: Option<InFlight>,
    queued_codes: VecDeque<String>,
    failures: u32,
    pub(crate) retry_at: Option<Timestamp>,
    pub(crate) reauthorization: Option<Reason>,
    acquisition_wanted: bool,
    logouts: VecDeque<Logout>,
    logins: Vec<PendingLogin>,
    out: Vec<Expected>,
    /// Announced random choices outside their documented band.
    pub(crate) band_violations: Vec<String>,
    /// Refresh answers whose refresh token string differed from the one held.
    pub(crate) rotations: usize,
    /// Successful refreshes or acquisitions after at least one transient failure.
    pub(crate) recoveries_after_failure: usize,
}

impl Model {
    pub(crate) fn new(rules: Rules, now: Timestamp) -> Self {
        Self {
            rules,
            now,
            next_request: 1,
            next_token: 1,
            next_login: 0,
            held: None,
            in_flight: None,
            queued_codes: VecDeque::new(),
            failures: 0,
            retry_at: None,
            reauthorization: None,
            acquisition_wanted: false,
            logouts: VecDeque::new(),
            logins: Vec::new(),
            out: Vec::new(),
            band_violations: Vec::new(),
            rotations: 0,
            recoveries_after_failure: 0,
        }
    }

    /// Handles one input at `now` and returns the outputs the machine must produce for it.
    pub(crate) fn step(
        &mut self,
        now: Timestamp,
        step: &Step,
        announced: &Announced,
    ) -> Vec<Expected> {
        self.now = self.now.max(now);
        self.out.clear();
        match step {
            Step::Tick => (),
            Step::EnsureFresh => self.ensure_fresh(),
            Step::BeginLogin => self.begin_login(),
            Step::Acquire => {
                self.failures = 0;
                self.retry_at = None;
                self.reauthorization = None;
                self.acquisition_wanted = true;
            }
            Step::Unauthorized(number) => {
                if let Some(held) = &mut self.held {
                    if held.number == *number {
                        held.refused = true;
                    }
                }
            }
            Step::Restore(set) => {
                self.supersede(false);
                self.failures = 0;
                self.retry_at = None;
                self.reauthorization = None;
                self.acquisition_wanted = false;
                let number = self.install(set.clone(), false, announced);
                self.announce_if_usable(number);
            }
            Step::Revoke => self.logout(),
            Step::CallbackCode { login, code } => self.callback_code(*login, code),
            Step::CallbackError { login } => {
                if let Some(number) = login {
                    self.logins.retain(|pending| pending.number != *number);
                }
                self.out
                    .push(Expected::LoginFailed(LoginFailureKind::Denied));
            }
            Step::Answer {
                request,
                token,
                success,
            } => self.answer(*request, token, *success, announced),
        }
        self.expire_deadlines(announced);
        self.advance_logouts();
        self.send_token_request_if_needed();
        std::mem::take(&mut self.out)
    }

    /// The instant the machine must ask to be woken at.
    pub(crate) fn deadline(&self) -> Timestamp {
        let mut deadline = Timestamp::NEVER;
        if let Some(request) = &self.in_flight {
            deadline = deadline.min(request.deadline);
        }
        if let Some((_, revocation_deadline, _)) =
            self.logouts.front().and_then(|logout| logout.in_flight)
        {
            deadline = deadline.min(revocation_deadline);
        }
        if self.in_flight.is_none() && self.reauthorization.is_none() {
            if let Some(retry_at) = self.retry_at {
                deadline = deadline.min(retry_at);
            } else if let Some(held) = &self.held {
                deadline = deadline.min(held.refresh_at);
            }
        }
        deadline
    }

    /// The token the machine must hand out now: number, string, end of usability.
    pub(crate) fn hand_out(&self) -> Option<(u64, &str, Timestamp)> {
        let held = self.held.as_ref()?;
        if held.refused || self.now >= held.usable_until {
            return None;
        }
        Some((held.number, held.set.access.as_str(), held.usable_until))
    }

    /// What the machine's `status()` must say, in the model's terms.
    pub(crate) fn status(&self) -> StatusView {
        StatusView {
            has_token_set: self.held.is_some(),
            token_request_in_flight: self.in_flight.is_some(),
            refresh_due: self
                .held
                .as_ref()
                .is_some_and(|held| held.refused || self.now >= held.refresh_at),
            retry_at: self.retry_at,
            reauthorization_required: self.reauthorization,
            pending_logins: self.logins.len(),
        }
    }

    pub(crate) fn held_number(&self) -> Option<u64> {
        self.held.as_ref().map(|held| held.number)
    }

    fn ensure_fresh(&mut self) {
        if let Some((token, _, usable_until)) = self.hand_out() {
            self.out.push(Expected::TokenReady {
                token,
                usable_until,
            });
        } else if let Some(reason) = self.reauthorization {
            self.out.push(Expected::ReauthorizationRequired(reason));
        } else if self.held.is_none() {
            if self.rules.non_interactive {
                self.acquisition_wanted = true;
            } else {
                self.require_reauthorization(Reason::NoTokenSet);
            }
        }
    }

    fn begin_login(&mut self) {
        let now = self.now;
        self.logins.retain(|pending| now < pending.deadline);
        let number = self.next_login;
        self.next_login += 1;
        let deadline = now.saturating_add(self.rules.login_lifetime);
        self.logins.push(PendingLogin { number, deadline });
        while self.logins.len() > self.rules.max_pending_logins.max(1) {
            self.logins.remove(0);
        }
        self.out.push(Expected::LoginStarted {
            login: number,
            deadline,
        });
    }

    fn callback_code(&mut self, login: Option<usize>, code: &str) {
        let position = login.and_then(|number| {
            self.logins
                .iter()
                .position(|pending| pending.number == number)
        });
        let Some(position) = position else {
            self.out
                .push(Expected::LoginFailed(LoginFailureKind::StateRefused));
            return;
        };
        let pending = self.logins.remove(position);
        if self.now >= pending.deadline {
            self.out
                .push(Expected::LoginFailed(LoginFailureKind::StateRefused));
            return;
        }
        self.supersede(false);
        self.queued_codes.push_back(code.to_owned());
    }

    /// Marks the token request in flight moot: a refresh or acquisition always, a code exchange
    /// only for a logout.
    fn supersede(&mut self, exchange_too: bool) {
        if let Some(request) = &mut self.in_flight {
            if exchange_too || request.purpose != Purpose::Exchange {
                request.superseded = true;
            }
        }
    }

    fn logout(&mut self) {
        self.supersede(true);
        self.queued_codes.clear();
        self.failures = 0;
        self.retry_at = None;
        self.acquisition_wanted = false;
        let Some(held) = self.held.take() else {
            self.out.push(Expected::LoggedOut {
                refresh_token: Revocation::NoToken,
                access_token: Revocation::NoToken,
            });
            return;
        };
        self.out.push(Expected::TokenSetDropped);
        let refresh_token = held.set.refresh.map(|record| record.token);
        let refresh_outcome = if refresh_token.is_some() {
            Revocation::NotConfirmed
        } else {
            Revocation::NoToken
        };
        self.logouts.push_back(Logout {
            refresh_token,
            access_token: Some(held.set.access),
            outcome: (refresh_outcome, Revocation::NotConfirmed),
            in_flight: None,
        });
    }

    fn advance_logouts(&mut self) {
        while let Some(logout) = self.logouts.front_mut() {
            if logout.in_flight.is_some() {
                return;
            }
            let (token, is_refresh_token) = if let Some(token) = logout.refresh_token.take() {
                (token, true)
            } else if let Some(token) = logout.access_token.take() {
                (token, false)
            } else {
                let (refresh_token, access_token) = logout.outcome;
                self.logouts.pop_front();
                self.out.push(Expected::LoggedOut {
                    refresh_token,
                    access_token,
                });
                continue;
            };
            let id = self.next_request;
            self.next_request += 1;
            let deadline = self.now.saturating_add(self.rules.request_timeout);
            logout.in_flight = Some((id, deadline, is_refresh_token));
            self.out.push(Expected::Request {
                id,
                request: Request::Revoke { token },
            });
        }
    }

    /// One token request at a time; a queued code exchange first (a login is never held back);
    /// otherwise nothing while re-authorization is required or a retry waits; then a wanted
    /// acquisition; then the refresh of a token that is due (or refused): with a refresh token
    /// still alive, else by acquisition for a non-interactive credential, else re-authorization.
    fn send_token_request_if_needed(&mut self) {
        if self.in_flight.is_some() {
            return;
        }
        if let Some(code) = self.queued_codes.pop_front() {
            self.send(Purpose::Exchange, Request::Exchange { code }, None);
            return;
        }
        if self.reauthorization.is_some() || self.retry_at.is_some_and(|at| self.now < at) {
            return;
        }
        if self.acquisition_wanted && self.rules.non_interactive {
            self.acquisition_wanted = false;
            self.send(Purpose::Acquire, Request::Acquire, None);
            return;
        }
        let Some(held) = &self.held else {
            return;
        };
        if !held.refused && self.now < held.refresh_at {
            return;
        }
        match held.set.refresh.clone() {
            Some(record) if record.expires_at.is_none_or(|at| self.now < at) => {
                let request = Request::Refresh {
                    refresh_token: record.token.clone(),
                };
                self.send(Purpose::Refresh, request, Some(record));
            }
            _ if self.rules.non_interactive => {
                self.acquisition_wanted = false;
                self.send(Purpose::Acquire, Request::Acquire, None);
            }
            Some(_) => self.require_reauthorization(Reason::RefreshTokenExpired),
            None => self.require_reauthorization(Reason::NoRefreshToken),
        }
    }

    fn send(&mut self, purpose: Purpose, request: Request, presented: Option<RefreshView>) {
        let id = self.next_request;
        self.next_request += 1;
        self.in_flight = Some(InFlight {
            id,
            purpose,
            deadline: self.now.saturating_add(self.rules.request_timeout),
            superseded: false,
            presented,
        });
        self.out.push(Expected::Request { id, request });
    }
}

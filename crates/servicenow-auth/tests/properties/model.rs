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

use std::collections::VecDeque;
use std::time::Duration;

use servicenow_auth::{AuthConfig, Revocation, Timestamp};

/// The rules' parameters, from the public configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    skew: Duration,
    jitter: Duration,
    login_lifetime: Duration,
    request_timeout: Duration,
    refresh_token_lifetime: Option<Duration>,
    backoff_initial: Duration,
    backoff_max: Duration,
    max_pending_logins: usize,
    non_interactive: bool,
}

impl Rules {
    pub(crate) fn of(config: &AuthConfig) -> Self {
        let timing = config.timing;
        Self {
            skew: timing.refresh_skew,
            jitter: timing.refresh_jitter,
            login_lifetime: timing.login_lifetime,
            request_timeout: timing.request_timeout,
            refresh_token_lifetime: timing.refresh_token_lifetime,
            backoff_initial: timing.backoff.initial,
            backoff_max: timing.backoff.max,
            max_pending_logins: timing.max_pending_logins,
            non_interactive: config.credential.is_non_interactive(),
        }
    }

    /// The capped exponential step for the n-th consecutive failure (`BackoffPolicy` docs).
    fn backoff_step(&self, failures: u32) -> Duration {
        let mut step = self.backoff_initial;
        for _ in 1..failures.min(40) {
            step = step.saturating_mul(2);
            if step >= self.backoff_max {
                break;
            }
        }
        step.min(self.backoff_max)
    }
}

/// A refresh token with its lifetime facts.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct RefreshView {
    pub(crate) token: String,
    pub(crate) first_issued_at: Timestamp,
    pub(crate) expires_at: Option<Timestamp>,
}

/// A token set as the rules see it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct SetView {
    pub(crate) access: String,
    pub(crate) obtained_at: Timestamp,
    pub(crate) expires_at: Timestamp,
    pub(crate) refresh: Option<RefreshView>,
}

/// What a token endpoint answer means (RFC 6749 §5.1/§5.2, and which failures may pass).
#[derive(Clone, Debug)]
pub(crate) enum TokenAnswer {
    Issued {
        access: String,
        expires_in: Duration,
        refresh: Option<String>,
    },
    /// 5xx, 429, 408, a 200 whose body is not JSON, or no answer from the transport.
    Transient { retry_after: Option<Duration> },
    /// Any other error answer: the same request will not succeed later.
    Rejected,
}

/// One input, as the rules see it.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    /// Time passes (`Input::Timeout`).
    Tick,
    EnsureFresh,
    BeginLogin,
    Acquire,
    /// A 401 for the token with this model number.
    Unauthorized(u64),
    Restore(SetView),
    Revoke,
    /// A callback with a code for login number `login` (`None`: a state this machine never issued).
    CallbackCode {
        login: Option<usize>,
        code: String,
    },
    /// An `error=` callback, carrying the state of login `login` if any.
    CallbackError {
        login: Option<usize>,
    },
    /// An answer to request `request`: what a token endpoint would mean by it, and whether it
    /// was a 2xx (what a revocation endpoint means).
    Answer {
        request: u64,
        token: TokenAnswer,
        success: bool,
    },
}

/// A request the machine must send.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum Request {
    Exchange { code: String },
    Refresh { refresh_token: String },
    Acquire,
    Revoke { token: String },
}

/// Why the machine needs outside help.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Reason {
    NoTokenSet,
    NoRefreshToken,
    RefreshTokenExpired,
    RefreshRejected,
    GrantRejected,
}

/// Why a callback failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum LoginFailureKind {
    /// Unknown, used, forgotten or expired `state`.
    StateRefused,
    Denied,
    ExchangeRejected,
    ExchangeFailed,
    /// A failure (or event) the generated schedules never provoke: always a divergence.
    Unexpected,
}

/// One output the machine must produce, in order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum Expected {
    Request {
        id: u64,
        request: Request,
    },
    LoginStarted {
        login: usize,
        deadline: Timestamp,
    },
    LoginFailed(LoginFailureKind),
    LoginCompleted {
        token: u64,
    },
    Persist(SetView),
    TokenReady {
        token: u64,
        usable_until: Timestamp,
    },
    /// A transient failure; the retry instant is the machine's choice within `[earliest, latest]`.
    TokenRequestFailed {
        retry_at: Timestamp,
    },
    ReauthorizationRequired(Reason),
    TokenSetDropped,
    LoggedOut {
        refresh_token: Revocation,
        access_token: Revocation,
    },
}

/// The two choices the rules leave to the machine's seeded RNG, as the machine announced them.
pub(crate) struct Announced {
    /// `Status::refresh_at` after the input (the refresh point of the token set held then).
    pub(crate) refresh_at: Option<Timestamp>,
    /// The `retry_at` of the `TokenRequestFailed` event of the input, if any.
    pub(crate) retry_at: Option<Timestamp>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Purpose {
    Exchange,
    Refresh,
    Acquire,
}

#[derive(Clone, Debug)]
pub(crate) struct Held {
    pub(crate) number: u64,
    pub(crate) set: SetView,
    pub(crate) usable_until: Timestamp,
    pub(crate) refresh_at: Timestamp,
    pub(crate) refused: bool,
}

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

#[derive(Clone, Debug)]
struct Logout {
    refresh_token: Option<String>,
    access_token: Option<String>,
    outcome: (Revocation, Revocation),
    /// The revocation in flight: id, deadline, and whether it is the refresh token's.
    in_flight: Option<(u64, Timestamp, bool)>,
}

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

    fn answer(&mut self, request: u64, token: &TokenAnswer, success: bool, announced: &Announced) {
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
                        Revocation::Confirmed
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

    fn token_outcome(&mut self, purpose: Purpose, answer: TokenAnswer, announced: &Announced) {
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
    fn transient_failure(
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

    fn require_reauthorization(&mut self, reason: Reason) {
        self.reauthorization = Some(reason);
        self.failures = 0;
        self.retry_at = None;
        self.acquisition_wanted = false;
        self.out.push(Expected::ReauthorizationRequired(reason));
    }

    /// The token set a token response makes (RFC 6749 §6): a refresh that names no refresh
    /// token keeps the held one; the same string keeps its first issue and expiry; a new string
    /// starts a new lifetime.
    fn issued_set(
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
    fn install(&mut self, set: SetView, persist: bool, announced: &Announced) -> u64 {
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

    fn announce_if_usable(&mut self, number: u64) {
        if let Some((token, _, usable_until)) = self.hand_out() {
            if token == number {
                self.out.push(Expected::TokenReady {
                    token,
                    usable_until,
                });
            }
        }
    }

    fn expire_deadlines(&mut self, announced: &Announced) {
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

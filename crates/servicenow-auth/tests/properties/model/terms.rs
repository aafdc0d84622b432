//! The reference model's vocabulary: the rules' parameters, the inputs and outputs as the
//! specification speaks of them.

use std::time::Duration;

use servicenow_auth::{AuthConfig, Revocation, Timestamp};

/// The rules' parameters, from the public configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    pub(super) skew: Duration,
    pub(super) jitter: Duration,
    pub(super) login_lifetime: Duration,
    pub(super) request_timeout: Duration,
    pub(super) refresh_token_lifetime: Option<Duration>,
    pub(super) backoff_initial: Duration,
    pub(super) backoff_max: Duration,
    pub(super) max_pending_logins: usize,
    pub(super) non_interactive: bool,
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
    pub(super) fn backoff_step(&self, failures: u32) -> Duration {
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

/// The machine's `Status`, as the rules define it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct StatusView {
    pub(crate) has_token_set: bool,
    pub(crate) token_request_in_flight: bool,
    pub(crate) refresh_due: bool,
    pub(crate) retry_at: Option<Timestamp>,
    pub(crate) reauthorization_required: Option<Reason>,
    pub(crate) pending_logins: usize,
}

/// The two choices the rules leave to the machine's seeded RNG, as the machine announced them.
pub(crate) struct Announced {
    /// `Status::refresh_at` after the input (the refresh point of the token set held then).
    pub(crate) refresh_at: Option<Timestamp>,
    /// The `retry_at` of the `TokenRequestFailed` event of the input, if any.
    pub(crate) retry_at: Option<Timestamp>,
}

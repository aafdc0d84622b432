//! Everything the machine reports: events, and the reasons and outcomes they carry.

use std::fmt;

use servicenow_oauth::{ErrorCode, State, TokenEndpointError};

use crate::io::TransportFailure;
use crate::time::Timestamp;
use crate::token_set::{TokenId, TokenSet};

/// Something the application should know or act on, from [`Output::Event`](crate::Output::Event).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event {
    /// A login began: send the user to the URL. The pending login stays in this machine until it
    /// completes, expires or is exported with [`AuthMachine::export_pending_login`](crate::AuthMachine::export_pending_login).
    LoginStarted(LoginStarted),
    /// A callback was refused or its code exchange failed; the token set, if any, is unchanged.
    LoginFailed(LoginFailure),
    /// A login completed; [`Event::Persist`] for its token set came just before.
    LoginCompleted {
        /// The id of the new access token.
        token_id: TokenId,
    },
    /// Save this token set now, before using its access token: the machine hands the new access
    /// token out only after this event has been polled, and drivers write the store before
    /// polling further.
    Persist(TokenSet),
    /// A usable access token is available from [`AuthMachine::access_token`](crate::AuthMachine::access_token).
    TokenReady {
        /// Names the token, for [`Command::Unauthorized`](crate::Command::Unauthorized).
        token_id: TokenId,
        /// The instant from which the machine no longer hands this token out.
        usable_until: Timestamp,
    },
    /// A token request failed in a way that may pass; the machine retries at `retry_at` and
    /// keeps handing out the current access token while it is still usable.
    TokenRequestFailed {
        /// What went wrong.
        failure: TokenFailure,
        /// When the machine will try again.
        retry_at: Timestamp,
    },
    /// No new access token can be obtained without a person (a new login) or new configuration
    /// ([`Command::Restore`](crate::Command::Restore), [`Command::Acquire`](crate::Command::Acquire)); the machine sends no
    /// token request until then.
    ReauthorizationRequired {
        /// Why.
        reason: ReauthorizationReason,
    },
    /// The token set was dropped by a logout: delete it from storage.
    TokenSetDropped,
    /// A logout finished; says which revocations the server accepted.
    LoggedOut(RevocationOutcome),
}

/// The start of a login: where to send the user.
#[derive(Clone, Debug)]
pub struct LoginStarted {
    /// The authorization URL (`{instance}/oauth_auth.do?…`) to send the user's browser to.
    pub authorization_url: AuthorizationUrl,
    /// The login's `state`: the key under which a driver stores an exported pending login.
    pub state: State,
    /// The end of the login's validity: a callback at or after it is refused.
    pub deadline: Timestamp,
}

/// The URL that starts a login in the user's browser. Its `Debug` hides the query, which carries
/// the login's `state`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationUrl(String);

impl AuthorizationUrl {
    pub(crate) fn new(url: String) -> Self {
        Self(url)
    }

    /// The URL, to redirect the user's browser to (it contains the login's `state`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthorizationUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let without_query = self.0.split('?').next().unwrap_or_default();
        write!(f, "AuthorizationUrl({without_query}?[redacted])")
    }
}

/// Why a login callback did not produce a token set.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum LoginFailure {
    /// The authorization server sent the user back with `error=` (for example `access_denied`
    /// when the user pressed Deny).
    AuthorizationDenied {
        /// The `error` parameter.
        error: ErrorCode,
        /// The `error_description` parameter, if any.
        description: Option<String>,
    },
    /// The `state` is not one this machine issued and still holds: forged, already used,
    /// meant for another machine, or never exported to this one.
    UnknownState,
    /// The `state` belongs to a login whose deadline has passed.
    Expired,
    /// The callback's `iss` (RFC 9207) is not the configured issuer: a mix-up attempt.
    IssuerMismatch {
        /// The issuer the callback named.
        received: String,
    },
    /// The callback's query is neither a code nor an error response.
    MalformedCallback {
        /// What is wrong with it (no secret values).
        problem: String,
    },
    /// The token endpoint refused the authorization code.
    ExchangeRejected(TokenEndpointError),
    /// The code exchange failed on the way (codes are single-use, so it is not retried).
    ExchangeFailed(TokenFailure),
}

/// Why the machine cannot obtain an access token without outside help.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ReauthorizationReason {
    /// There is no token set: nobody has logged in (or it was logged out).
    NoTokenSet,
    /// The access token is no longer usable and there is no refresh token to renew it.
    NoRefreshToken,
    /// The refresh token reached the end of its lifetime, counted from its first issue.
    RefreshTokenExpired,
    /// The server refused the refresh token (ServiceNow's 401 `access_denied`, `invalid_grant`, …).
    RefreshRejected(TokenEndpointError),
    /// The server refused the client credentials or password grant.
    GrantRejected(TokenEndpointError),
}

/// A token request failure that may pass by itself.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum TokenFailure {
    /// The transport produced no answer.
    Transport(TransportFailure),
    /// No answer came before the machine's request deadline.
    NoAnswer,
    /// The server answered with a temporary error (5xx, 429) or a body that is not a token
    /// response.
    Server(TokenEndpointError),
    /// The server issued an access token that had already expired when it arrived.
    ExpiredOnArrival,
    /// The JWT bearer assertion could not be signed (the signer's error, as a sentence that
    /// holds no key material); no request was sent.
    AssertionSigning(String),
}

/// What the server answered when a logout revoked the tokens.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RevocationOutcome {
    /// The refresh token's revocation.
    pub refresh_token: Revocation,
    /// The access token's revocation.
    pub access_token: Revocation,
}

/// The fate of one token at logout.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Revocation {
    /// The instance accepted the revocation: it answered 2xx to the request. That is not proof
    /// that the token is dead: an RFC 7009 server answers 200 even for a token it does not know
    /// (§2.2), and whether ServiceNow honours the POST form is unconfirmed. Only a later request
    /// with the token that is refused proves it (as `sn demo` shows), so there is no `Confirmed`.
    Accepted,
    /// The server answered otherwise, or did not answer: the token may still be live until it expires.
    NotConfirmed,
    /// There was no such token to revoke.
    NoToken,
}

/// A sentence for people (the CLI, logs): what happened, never a secret.
impl fmt::Display for LoginFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AuthorizationDenied {
                error,
                description: Some(description),
            } => write!(
                f,
                "the instance refused the authorization ({}: {description})",
                error.as_str()
            ),
            Self::AuthorizationDenied {
                error,
                description: None,
            } => write!(
                f,
                "the instance refused the authorization ({})",
                error.as_str()
            ),
            Self::UnknownState => f.write_str(
                "the callback's state is not one this login issued (forged, used or foreign)",
            ),
            Self::Expired => f.write_str("the login took longer than its lifetime allows"),
            Self::IssuerMismatch { received } => write!(
                f,
                "the callback names another issuer ({received}) than the instance: a mix-up attempt"
            ),
            Self::MalformedCallback { problem } => {
                write!(f, "the callback is malformed: {problem}")
            }
            Self::ExchangeRejected(error) => {
                write!(f, "the instance refused the authorization code: {error}")
            }
            Self::ExchangeFailed(failure) => {
                write!(f, "exchanging the authorization code failed: {failure}")
            }
        }
    }
}

impl fmt::Display for ReauthorizationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoTokenSet => f.write_str("nobody has logged in (or the login was logged out)"),
            Self::NoRefreshToken => {
                f.write_str("the access token expired and there is no refresh token")
            }
            Self::RefreshTokenExpired => {
                f.write_str("the refresh token reached the end of its lifetime")
            }
            Self::RefreshRejected(error) => {
                write!(f, "the instance refused the refresh token: {error}")
            }
            Self::GrantRejected(error) => write!(f, "the instance refused the grant: {error}"),
        }
    }
}

impl fmt::Display for TokenFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(failure) => write!(f, "the token request failed: {failure}"),
            Self::NoAnswer => f.write_str("the token endpoint did not answer in time"),
            Self::Server(error) => write!(f, "the token endpoint failed for now: {error}"),
            Self::ExpiredOnArrival => {
                f.write_str("the instance issued an access token that had already expired")
            }
            Self::AssertionSigning(problem) => f.write_str(problem),
        }
    }
}

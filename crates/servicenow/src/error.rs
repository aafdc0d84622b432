//! The facade's one error type, `servicenow::Error`, wrapping each layer's errors.

use servicenow_auth::{AuthError, ReauthorizationReason, TokenFailure};
use servicenow_http::TransportError;
use servicenow_store::StoreError;
use servicenow_table::TableError;

/// Everything that can go wrong in the facade. No variant ever carries a token or a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The credential needs a person: log in again (the refresh was rejected, the refresh token
    /// expired, or there never was a login).
    #[error("re-authorization required: {reason:?}")]
    ReauthorizationRequired {
        /// Why no token can be obtained without a new login.
        reason: ReauthorizationReason,
    },
    /// No usable token could be obtained because the token endpoint kept failing in a way that
    /// may pass (5xx, timeouts); the manager will try again on the next call.
    #[error("token unavailable: {failure:?}")]
    TokenUnavailable {
        /// The last failure.
        failure: TokenFailure,
    },
    /// A login callback was refused or its code exchange failed.
    #[error("login failed: {0}")]
    Login(#[from] LoginError),
    /// A request was addressed to another origin than the configured instance; no token was sent.
    #[error("request to {origin} refused: the bearer token is only ever sent to {instance}")]
    ForeignOrigin {
        /// The origin the request was for.
        origin: String,
        /// The configured instance origin.
        instance: String,
    },
    /// A protocol value was refused at construction (an instance URL, a client id, a redirect
    /// URI, a callback).
    #[error("invalid oauth value: {0}")]
    OAuth(#[from] servicenow_oauth::Error),
    /// The token store failed.
    #[error("token store: {0}")]
    Store(#[from] StoreError),
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// The Table API failed.
    #[error("table api: {0}")]
    Table(#[from] TableError),
    /// The authentication machine was misused (a bug in this crate, reported rather than hidden).
    #[error("authentication machine: {0}")]
    Auth(#[from] AuthError),
    /// A stored token set or pending login could not be read (written by an incompatible version).
    #[error("decoding stored {what}: {reason:?}")]
    StoredValue {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed (never the value).
        reason: String,
    },
    /// The configuration is incomplete or inconsistent.
    #[error("configuration: {0}")]
    Config(String),
    /// A failure of the one refresh that several callers waited on, shared between them.
    #[error("{0}")]
    Shared(std::sync::Arc<Self>),
    /// The background task driving a refresh stopped unexpectedly (the runtime shut down).
    #[error("token refresh task stopped before it finished")]
    RefreshTaskStopped,
}

/// Why a login callback did not produce a token set.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// The callback's `state` matches no login begun for this subject (forged, replayed, expired,
    /// or already completed).
    #[error(
        "the callback's state matches no pending login (forged, replayed, expired or already used)"
    )]
    UnknownState,
    /// The callback could not be read.
    #[error("the callback query is malformed: {0}")]
    MalformedCallback(servicenow_oauth::Error),
    /// The machine refused the callback or the exchange failed.
    #[error("{0:?}")]
    Failed(servicenow_auth::LoginFailure),
    /// The exchange did not finish (the token endpoint kept failing).
    #[error("the code exchange did not complete")]
    Incomplete,
}

/// `Result` with the facade's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

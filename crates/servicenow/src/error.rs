//! The facade's one error type, `servicenow::Error`: each layer's typed error lifted by `From` at its source, and `ErrorKind` for callers that branch.

use std::{convert::Infallible, sync::Arc};

use servicenow_auth::{AuthError, LoginFailure, ReauthorizationReason, TokenFailure};
use servicenow_http::{SenderError, TransportError};
use servicenow_store::StoreError;
use servicenow_table::TableError;

/// Everything that can go wrong in the facade. No variant ever carries a token or a secret.
///
/// Every method of the facade returns it, the Table API's streams included. Errors are cheap to
/// clone (the sources that are not `Clone` are shared), because the one refresh that many
/// callers wait on hands each of them the same failure. Branch on [`Error::kind`]; match on
/// variants for the details.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The credential needs a person: log in again (the refresh was rejected, the refresh token
    /// expired, or there never was a login), or correct an unattended credential the instance
    /// refused (a client secret, a JWT signing key or its subject).
    #[error("no token can be obtained without a new login or a corrected credential: {reason}")]
    ReauthorizationRequired {
        /// Why no token can be obtained without a person acting (shared, so that an `Error` stays
        /// small: every `Result` of the token hot path carries one).
        reason: Arc<ReauthorizationReason>,
    },
    /// No usable token could be obtained because the token endpoint kept failing in a way that
    /// may pass (5xx, timeouts); the next call tries again.
    #[error("no token could be obtained for now (the next call tries again): {failure}")]
    TokenUnavailable {
        /// The last failure (shared, as above).
        failure: Arc<TokenFailure>,
    },
    /// A login callback was refused or its code exchange failed.
    #[error("completing the login failed: {0}")]
    Login(#[source] Arc<LoginError>),
    /// A request was addressed to another origin than the configured instance; nothing was sent.
    #[error(
        "sending a request to {origin} was refused: the bearer token is only ever sent to {instance}"
    )]
    ForeignOrigin {
        /// The origin the request was for (or a description of an unparsable URL).
        origin: String,
        /// The configured instance origin.
        instance: String,
    },
    /// A protocol value was refused at construction (an instance URL, a client id, a redirect
    /// URI, a callback).
    #[error("a value was refused: {0}")]
    InvalidValue(#[source] Arc<servicenow_oauth::Error>),
    /// The token store failed.
    #[error("the token store failed: {0}")]
    Store(#[source] Arc<StoreError>),
    /// The transport could not deliver a request or bring back a complete response.
    #[error("the transport failed: {0}")]
    Transport(#[source] Arc<TransportError>),
    /// The Table API answered with an error, or its answer was not what the API sends, or a
    /// query or name was refused before anything was sent.
    #[error("{0}")]
    Table(#[source] Arc<TableError<Infallible>>),
    /// The authentication machine was misused (a bug in this crate, reported rather than hidden).
    #[error("the authentication machine refused an input (a bug in this crate): {0}")]
    Auth(#[source] Arc<AuthError>),
    /// A stored token set or pending login could not be read (written by an incompatible
    /// version, or damaged).
    #[error("decoding the stored {what} failed: {reason}")]
    StoredValue {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed (never the value).
        reason: String,
    },
    /// The configuration is incomplete or inconsistent.
    #[error("the configuration is incomplete: {0}")]
    Config(#[from] ConfigError),
    /// The authentication machine stopped where the facade did not expect it (a bug in this
    /// crate, reported rather than hidden).
    #[error(
        "{operation} failed: the authentication machine stopped at {what} (a bug in this crate)"
    )]
    Unexpected {
        /// What the facade was doing.
        operation: &'static str,
        /// Where the machine stopped.
        what: &'static str,
    },
    /// The task driving a refresh stopped before it finished (the runtime shut down, or it
    /// panicked).
    #[error("the token refresh task stopped before it finished")]
    RefreshTaskStopped,
    /// The instance refused the access token (401) for a streamed upload whose body is read once
    /// (an `AsyncRead`) and so cannot be sent again with a fresh token. The refused token is
    /// set aside: sending the upload again (from a new reader) uses a fresh one. A body built
    /// from a file path or from bytes is replayable and is retried once instead.
    #[error(
        "uploading to {path} was refused with 401 and its one-shot body cannot be sent again; the token will be refreshed, so send the upload again"
    )]
    UploadNotReplayable {
        /// The path the upload was for (never the query).
        path: String,
    },
}

/// What a caller branches on: the class of an [`Error`], stable across versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A person must log in again ([`Error::ReauthorizationRequired`], a refused login).
    Reauthorize,
    /// A failure that may pass: the token endpoint or the instance failed for now, the network
    /// broke, a rate limit answered.
    Unavailable,
    /// The instance refused the operation: an ACL, a business rule, a data policy (403).
    Forbidden,
    /// The record does not exist or an ACL hides it (404).
    NotFound,
    /// The request was refused as malformed (400), or a value was refused before sending.
    InvalidInput,
    /// The token store failed, or holds a value this version cannot read.
    Store,
    /// The configuration is incomplete or inconsistent, or a request was aimed at another origin.
    Config,
    /// The instance answered something the API does not send, or a bug in this crate.
    Internal,
}

impl Error {
    /// The class of this error, for exit codes, retries and messages to people.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::ReauthorizationRequired { .. } => ErrorKind::Reauthorize,
            Self::Login(login) => match login.as_ref() {
                LoginError::MalformedCallback(_) => ErrorKind::InvalidInput,
                LoginError::Failed(LoginFailure::ExchangeFailed(_)) | LoginError::Incomplete => {
                    ErrorKind::Unavailable
                }
                _ => ErrorKind::Reauthorize,
            },
            Self::TokenUnavailable { .. }
            | Self::RefreshTaskStopped
            | Self::UploadNotReplayable { .. } => ErrorKind::Unavailable,
            Self::Transport(transport) => match transport.as_ref() {
                TransportError::InsecureUrl { .. }
                | TransportError::Setup { .. }
                | TransportError::Configuration { .. } => ErrorKind::Config,
                TransportError::InvalidRequest { .. } => ErrorKind::InvalidInput,
                _ => ErrorKind::Unavailable,
            },
            Self::ForeignOrigin { .. } | Self::Config(_) => ErrorKind::Config,
            Self::InvalidValue(_) => ErrorKind::InvalidInput,
            Self::Store(_) | Self::StoredValue { .. } => ErrorKind::Store,
            Self::Auth(_) | Self::Unexpected { .. } => ErrorKind::Internal,
            Self::Table(table) => table_kind(table),
        }
    }

    /// The Table API's error, when that is what failed.
    pub fn table_error(&self) -> Option<&TableError<Infallible>> {
        match self {
            Self::Table(table) => Some(table),
            _ => None,
        }
    }
}

fn table_kind(error: &TableError<Infallible>) -> ErrorKind {
    match error {
        TableError::NotFound { .. } => ErrorKind::NotFound,
        TableError::Forbidden { .. } => ErrorKind::Forbidden,
        TableError::Unauthorized { .. } => ErrorKind::Reauthorize,
        TableError::BadRequest { .. }
        | TableError::UnsafeQuery { .. }
        | TableError::InvalidName { .. }
        | TableError::Export { .. }
        | TableError::Serialize { .. } => ErrorKind::InvalidInput,
        TableError::RateLimited { .. }
        | TableError::TransactionTimeout { .. }
        | TableError::ServerError { .. } => ErrorKind::Unavailable,
        TableError::ForeignOrigin { .. } => ErrorKind::Config,
        // A local file that cannot be read or written is the caller's to fix.
        TableError::Local { .. } => ErrorKind::InvalidInput,
        // Damaged in transit (or a wrong record): trying again may pass.
        TableError::HashMismatch { .. } => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    }
}

/// Why a login callback did not produce a token set.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// The callback's `state` matches no login begun for this subject (forged, replayed, expired,
    /// begun for another subject, or already completed).
    #[error(
        "the callback's state matches no pending login of this subject (forged, replayed, expired or already used)"
    )]
    UnknownState,
    /// The callback could not be read.
    #[error("the callback query is malformed: {0}")]
    MalformedCallback(#[source] Arc<servicenow_oauth::Error>),
    /// The machine refused the callback or the code exchange failed.
    #[error("{0}")]
    Failed(LoginFailure),
    /// The exchange did not finish (the token endpoint gave no answer in time).
    #[error("the code exchange did not complete")]
    Incomplete,
}

/// What is missing from or inconsistent in the configuration.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A user credential or a login was asked for, but no redirect URI was configured.
    #[error(
        "signing users in needs the redirect uri registered in the instance: call ServicenowBuilder::redirect_uri"
    )]
    NoRedirectUri,
    /// A refresh token was imported on a handle that is not a user's credential.
    #[error(
        "importing a refresh token needs a user's handle (Servicenow::user), not a service or JWT one"
    )]
    NotAUserCredential,
    /// No transport feature is enabled and no transport was given.
    #[error(
        "there is no transport: enable the `reqwest` or `hyper` feature, or pass one with ServicenowBuilder::transport"
    )]
    NoTransport,
    /// There is no home directory to keep the default token store in.
    #[error(
        "there is no home directory for the default token store: pass a store or a store directory"
    )]
    NoHomeDirectory,
    /// The store directory could not be created or is not private.
    #[error("preparing the store directory {path} failed: {reason}")]
    StoreDirectory {
        /// The directory.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Randomness,
    /// No source for the store's sealing key was given and none is available.
    #[error(
        "there is no place to keep the token store's sealing key for {path}: set SN_STORE_KEY (a key \
         set) or SN_STORE_KEY_FILE (a key file) from your secret manager, enable the `os-keyring` \
         feature for the operating system's keyring, or choose a key file beside the data \
         explicitly (KeySource::colocated_file)"
    )]
    NoKeySource {
        /// The store directory.
        path: String,
    },
}

impl Error {
    /// A credential that needs a person again, for `reason`.
    pub(crate) fn reauthorization(reason: ReauthorizationReason) -> Self {
        Self::ReauthorizationRequired {
            reason: Arc::new(reason),
        }
    }
}

impl From<LoginError> for Error {
    fn from(error: LoginError) -> Self {
        Self::Login(Arc::new(error))
    }
}

impl From<servicenow_oauth::Error> for Error {
    fn from(error: servicenow_oauth::Error) -> Self {
        Self::InvalidValue(Arc::new(error))
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        Self::Store(Arc::new(error))
    }
}

impl From<TransportError> for Error {
    fn from(error: TransportError) -> Self {
        Self::Transport(Arc::new(error))
    }
}

impl From<AuthError> for Error {
    fn from(error: AuthError) -> Self {
        Self::Auth(Arc::new(error))
    }
}

impl From<TableError<Infallible>> for Error {
    fn from(error: TableError<Infallible>) -> Self {
        Self::Table(Arc::new(error))
    }
}

/// A Table API call through the authorizing transport: the sender's failure is already a facade
/// error (a transport failure, or why no token could be had), so it is taken as it is; the Table
/// API's own failures are kept as they are.
impl From<TableError<Self>> for Error {
    fn from(error: TableError<Self>) -> Self {
        match error.into_sender_failure() {
            Ok((_operation, sender)) => sender,
            Err(table) => table.into(),
        }
    }
}

/// The facade's error is what the authorizing transport fails with: a transport failure inside
/// is retried by the table client as any transport failure is; a failure to authorize never is.
impl SenderError for Error {
    fn as_transport(&self) -> Option<&TransportError> {
        match self {
            Self::Transport(transport) => Some(transport),
            _ => None,
        }
    }
}

/// `Result` with the facade's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! `CliError`: every failure of `sn` as one clear sentence (the facade error's own), a hint, and a documented exit code, chosen from the error's kind by one table.

use std::convert::Infallible;

use servicenow::{
    Error, ErrorKind, LoginError,
    auth::{LoginFailure, ReauthorizationReason, TokenFailure},
    table::TableError,
};

/// Why a command failed. Each variant is one exit code (see `sn --help`); the message is one
/// sentence and the hint says what to do. No variant ever carries a token or a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CliError {
    /// Exit code 2: a flag, value or query is wrong.
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
        /// What to do.
        hint: Option<String>,
    },
    /// Exit code 3: not logged in, login failed, or the tokens were refused.
    #[error("{message}")]
    Authentication {
        /// What is wrong.
        message: String,
        /// What to do.
        hint: Option<String>,
    },
    /// Exit code 4: the instance refused the request.
    #[error("{message}")]
    Refused {
        /// What the instance said.
        message: String,
        /// What to do.
        hint: Option<String>,
    },
    /// Exit code 5: the instance could not be reached.
    #[error("{message}")]
    Unreachable {
        /// What failed.
        message: String,
        /// What to do.
        hint: Option<String>,
    },
    /// Exit code 6: the config file, the token store or an output file.
    #[error("{message}")]
    Local {
        /// What failed.
        message: String,
        /// What to do.
        hint: Option<String>,
    },
    /// Exit code 1: anything else (a bug).
    #[error("{message}")]
    Unexpected {
        /// What failed.
        message: String,
    },
}

/// `Result` with [`CliError`].
pub(crate) type CliResult<T> = Result<T, CliError>;

impl CliError {
    pub(crate) fn usage(message: impl Into<String>, hint: impl Into<Option<String>>) -> Self {
        Self::Usage {
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub(crate) fn authentication(
        message: impl Into<String>,
        hint: impl Into<Option<String>>,
    ) -> Self {
        Self::Authentication {
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub(crate) fn local(message: impl Into<String>, hint: impl Into<Option<String>>) -> Self {
        Self::Local {
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub(crate) fn unexpected(message: impl Into<String>) -> Self {
        Self::Unexpected {
            message: message.into(),
        }
    }

    /// The process exit code.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Unexpected { .. } => 1,
            Self::Usage { .. } => 2,
            Self::Authentication { .. } => 3,
            Self::Refused { .. } => 4,
            Self::Unreachable { .. } => 5,
            Self::Local { .. } => 6,
        }
    }

    /// What to do about it, if there is advice.
    pub(crate) fn hint(&self) -> Option<&str> {
        match self {
            Self::Usage { hint, .. }
            | Self::Authentication { hint, .. }
            | Self::Refused { hint, .. }
            | Self::Unreachable { hint, .. }
            | Self::Local { hint, .. } => hint.as_deref(),
            Self::Unexpected { .. } => {
                Some("this is a bug in sn; run again with -vv and report what it prints")
            }
        }
    }

    /// Explains a facade error: its own sentence, the exit code of its kind, and the hint for
    /// its cause.
    pub(crate) fn from_client(error: Error) -> Self {
        let message = error.to_string();
        let hint = Some(hint(&error).to_owned());
        match error.kind() {
            ErrorKind::Reauthorize => Self::Authentication { message, hint },
            ErrorKind::Unavailable if instance_answered(&error) => Self::Refused { message, hint },
            ErrorKind::Unavailable => Self::Unreachable { message, hint },
            ErrorKind::Forbidden | ErrorKind::NotFound => Self::Refused { message, hint },
            ErrorKind::InvalidInput | ErrorKind::Config => Self::Usage { message, hint },
            ErrorKind::Store => Self::Local { message, hint },
            _ => Self::Unexpected { message },
        }
    }
}

/// ServiceNow's catch-all `401 access_denied`, and its usual causes, most likely first.
const ACCESS_DENIED_CAUSES: &str = "run `sn login` again; ServiceNow answers 401 access_denied \
    for many causes: a revoked or expired refresh token, a wrong client secret (SN_CLIENT_SECRET), \
    an inactive application registry entry, a redirect URI that differs from the registered one, \
    this machine's clock off by minutes (see docs/servicenow-setup.md)";

/// An unattended grant (client credentials, JWT bearer) refused: nobody can log in for it, so
/// the hint names what to correct on this side and on the instance.
const GRANT_REJECTED_CAUSES: &str = "correct the unattended credential and run the same \
    `sn login --client-credentials` or `sn login --jwt` again; ServiceNow answers 401 \
    access_denied for a wrong client secret (SN_CLIENT_SECRET), an inactive application registry \
    entry, the grant not enabled on the instance, a JWT signed with a key or kid that no JWT \
    verifier map holds, a subject user that does not exist or is inactive, or this machine's \
    clock off by minutes (see docs/servicenow-setup.md)";

/// What to do about `error`: by its cause where the cause tells more, else by its kind.
fn hint(error: &Error) -> &'static str {
    hint_by_cause(error).unwrap_or_else(|| hint_by_kind(error))
}

fn hint_by_cause(error: &Error) -> Option<&'static str> {
    match error {
        Error::ReauthorizationRequired { reason } => match reason.as_ref() {
            ReauthorizationReason::NoTokenSet => {
                Some("run `sn login` (or `sn login --profile NAME` for another profile)")
            }
            ReauthorizationReason::RefreshRejected(_) => Some(ACCESS_DENIED_CAUSES),
            ReauthorizationReason::GrantRejected(_) => Some(GRANT_REJECTED_CAUSES),
            ReauthorizationReason::RefreshTokenExpired => Some(
                "run `sn login` again; the refresh token's lifespan is set on the instance's \
                 application registry entry",
            ),
            _ => None,
        },
        Error::Login(login) => match login.as_ref() {
            LoginError::Failed(LoginFailure::ExchangeRejected(_)) => Some(ACCESS_DENIED_CAUSES),
            LoginError::Failed(LoginFailure::AuthorizationDenied { .. }) => Some(
                "press Allow on the consent page; `access_denied` also means the redirect URI \
                 or client id does not match the application registry",
            ),
            LoginError::UnknownState => Some(
                "start again with `sn login`; if it repeats, another program may be answering \
                 on the redirect port",
            ),
            LoginError::Failed(LoginFailure::Expired) => {
                Some("run `sn login` again and finish within a few minutes")
            }
            _ => None,
        },
        Error::TokenUnavailable { failure }
            if matches!(failure.as_ref(), TokenFailure::ExpiredOnArrival) =>
        {
            Some("check that this machine's clock is right")
        }
        Error::StoredValue { .. } => Some("run `sn logout` and then `sn login`"),
        Error::ForeignOrigin { .. } => {
            Some("the instance sent a link to another host; report this")
        }
        _ => None,
    }
}

fn hint_by_kind(error: &Error) -> &'static str {
    match error.kind() {
        ErrorKind::Reauthorize => "run `sn login` again",
        ErrorKind::Unavailable if instance_answered(error) => {
            "the instance is busy, rate-limits your user, or cancelled a long transaction: \
                 wait, lower --page-size, or narrow the query"
        }
        ErrorKind::Unavailable => {
            "check the instance URL in the profile (`sn status`), your network and any \
                 proxy, then try again"
        }
        ErrorKind::Forbidden => "your user's roles or the table's ACLs do not allow this",
        ErrorKind::NotFound => {
            "check the table name and sys_id; an ACL may also hide the record from your user"
        }
        ErrorKind::InvalidInput => {
            "check the field names and values; a value with `^` (or `,` in --in) would \
                 change the query's meaning: use --query for a raw encoded query"
        }
        ErrorKind::Store => "check that --store-dir (or SN_STORE_DIR) is writable by you only",
        ErrorKind::Config => "check the profile with `sn status`",
        _ => "this is a bug in sn; run again with -vv and report what it prints",
    }
}

/// Whether the instance itself answered (a rate limit, a cancelled transaction, a 5xx), as
/// opposed to the network failing on the way.
fn instance_answered(error: &Error) -> bool {
    error
        .table_error()
        .is_some_and(|table| table.status().is_some())
        || matches!(
            error,
            Error::TokenUnavailable { failure } if matches!(failure.as_ref(), TokenFailure::Server(_))
        )
}

impl From<Error> for CliError {
    fn from(error: Error) -> Self {
        Self::from_client(error)
    }
}

impl From<TableError<Infallible>> for CliError {
    fn from(error: TableError<Infallible>) -> Self {
        Self::from_client(error.into())
    }
}

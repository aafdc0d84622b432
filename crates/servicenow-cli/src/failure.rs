//! `CliError`: every failure of `sn` as one clear sentence, a hint, and a documented exit code.

use servicenow::{
    Error, LoginError,
    auth::{LoginFailure, ReauthorizationReason, TokenFailure},
    http::TransportError,
    oauth::{TokenEndpointError, TokenErrorKind},
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

    /// Explains a facade error in the user's terms.
    pub(crate) fn from_client(error: Error) -> Self {
        match error {
            Error::Shared(shared) => match std::sync::Arc::try_unwrap(shared) {
                Ok(error) => Self::from_client(error),
                Err(shared) => Self::from_shared(&shared),
            },
            other => Self::from_shared(&other),
        }
    }

    fn from_shared(error: &Error) -> Self {
        match error {
            Error::Shared(inner) => Self::from_shared(inner),
            Error::ReauthorizationRequired { reason } => reauthorization(reason),
            Error::TokenUnavailable { failure } => token_unavailable(failure),
            Error::Login(login) => login_error(login),
            Error::Table(table) => match authorization_failure(table) {
                Some(inner) => Self::from_shared(inner),
                None => table_error(table),
            },
            Error::Transport(transport) => Self::Unreachable {
                message: format!("could not reach the instance: {transport}"),
                hint: Some(
                    "check the instance URL in the profile (`sn status`), your network and any proxy"
                        .to_owned(),
                ),
            },
            Error::Store(store) => Self::local(
                format!("the token store failed: {store}"),
                Some("check --store-dir (or SN_STORE_DIR) is writable by you only".to_owned()),
            ),
            Error::StoredValue { what, .. } => Self::local(
                format!("the stored {what} cannot be read (written by another version of sn?)"),
                Some("run `sn logout` and then `sn login`".to_owned()),
            ),
            Error::Config(text) => Self::usage(format!("configuration: {text}"), None),
            Error::ForeignOrigin { origin, instance } => Self::Refused {
                message: format!("refused to send the token to {origin}, which is not {instance}"),
                hint: Some("the instance sent a link to another host; report this".to_owned()),
            },
            other => Self::unexpected(other.to_string()),
        }
    }
}

fn reauthorization(reason: &ReauthorizationReason) -> CliError {
    let (message, hint) = match reason {
        ReauthorizationReason::NoTokenSet => (
            "not logged in".to_owned(),
            "run `sn login` (or `sn login --profile NAME` for another profile)".to_owned(),
        ),
        ReauthorizationReason::NoRefreshToken => (
            "the access token expired and there is no refresh token to renew it".to_owned(),
            "run `sn login` again".to_owned(),
        ),
        ReauthorizationReason::RefreshTokenExpired => (
            "the refresh token reached the end of its lifespan".to_owned(),
            "run `sn login` again; the lifespan is set on the instance's application registry entry"
                .to_owned(),
        ),
        ReauthorizationReason::RefreshRejected(error) => (
            format!(
                "the instance refused the refresh token ({})",
                endpoint_error(error)
            ),
            format!(
                "run `sn login` again; {}",
                usual_causes("the refresh token was revoked (logout, Manage Tokens) or expired")
            ),
        ),
        ReauthorizationReason::GrantRejected(error) => (
            format!("the instance refused the grant ({})", endpoint_error(error)),
            usual_causes("the grant is not enabled for this client"),
        ),
        other => (
            format!("a new login is required ({other:?})"),
            "run `sn login`".to_owned(),
        ),
    };
    CliError::authentication(message, hint)
}

fn token_unavailable(failure: &TokenFailure) -> CliError {
    match failure {
        TokenFailure::Transport(_) | TokenFailure::NoAnswer => CliError::Unreachable {
            message: "the token endpoint could not be reached".to_owned(),
            hint: Some("check your network and the instance URL, then try again".to_owned()),
        },
        TokenFailure::Server(error) => CliError::Refused {
            message: format!("the token endpoint failed ({})", endpoint_error(error)),
            hint: Some("the instance may be busy or restarting; try again shortly".to_owned()),
        },
        other => CliError::Refused {
            message: format!("no usable access token could be obtained ({other:?})"),
            hint: Some("check that this machine's clock is right".to_owned()),
        },
    }
}

fn login_error(error: &LoginError) -> CliError {
    match error {
        LoginError::UnknownState => CliError::authentication(
            "the callback did not match this login (its state is unknown, used or expired)",
            Some(
                "start again with `sn login`; if it repeats, another program may be answering on \
                 the redirect port"
                    .to_owned(),
            ),
        ),
        LoginError::Failed(LoginFailure::AuthorizationDenied { error, description }) => {
            let said = description
                .as_deref()
                .map(|text| format!(": {text}"))
                .unwrap_or_default();
            CliError::authentication(
                format!(
                    "the instance did not authorize sn ({}{said})",
                    error.as_str()
                ),
                Some(
                    "press Allow on the consent page; `access_denied` also means the redirect URI \
                     or client id does not match the application registry"
                        .to_owned(),
                ),
            )
        }
        LoginError::Failed(LoginFailure::ExchangeRejected(error)) => CliError::authentication(
            format!(
                "the instance refused to exchange the authorization code ({})",
                endpoint_error(error)
            ),
            Some(usual_causes(
                "the redirect URI differs from the registered one",
            )),
        ),
        LoginError::Failed(LoginFailure::Expired) => CliError::authentication(
            "the login took too long and expired",
            Some("run `sn login` again and finish within a few minutes".to_owned()),
        ),
        other => CliError::authentication(
            format!("the login failed: {other}"),
            Some("run `sn login` again; with -vv it logs each step".to_owned()),
        ),
    }
}

/// The usual causes of ServiceNow's catch-all `401 access_denied`, most likely first.
fn usual_causes(first: &str) -> String {
    format!(
        "ServiceNow answers 401 access_denied for many causes: {first}; a wrong client secret \
         (SN_CLIENT_SECRET); an inactive application registry entry; a code used twice or older \
         than its lifespan; this machine's clock off by minutes (see docs/servicenow-setup.md)"
    )
}

fn endpoint_error(error: &TokenEndpointError) -> String {
    match &error.kind {
        TokenErrorKind::ErrorResponse(response) if response.is_servicenow_access_denied() => {
            format!("{} access_denied", error.status.as_u16())
        }
        TokenErrorKind::ErrorResponse(response) => {
            let description = response
                .error_description
                .as_deref()
                .map(|text| format!(": {text}"))
                .unwrap_or_default();
            format!(
                "{} {}{description}",
                error.status.as_u16(),
                response.error.as_str()
            )
        }
        _ => format!("HTTP {}", error.status.as_u16()),
    }
}

/// The facade's own error when a Table API call failed because no token could be had: the
/// authorizing transport reports it as `TransportError::Unauthorized` with the facade error as
/// its source.
pub(crate) fn authorization_failure(error: &TableError) -> Option<&Error> {
    let TableError::Transport {
        source:
            TransportError::Unauthorized {
                source: Some(source),
                ..
            },
        ..
    } = error
    else {
        return None;
    };
    source.downcast_ref::<Error>()
}

fn table_error(error: &TableError) -> CliError {
    if let Some(inner) = authorization_failure(error) {
        return CliError::from_shared(inner);
    }
    let hint = match error {
        TableError::NotFound { .. } => {
            "check the table name and sys_id; an ACL may also hide the record from your user"
        }
        TableError::Unauthorized { .. } => "run `sn login` again",
        TableError::Forbidden { .. } => "your user's roles or the table's ACLs do not allow this",
        TableError::BadRequest { .. } => "check the field names and values",
        TableError::RateLimited { .. } => {
            "a rate limit rule of the instance applies to your user: wait and try again"
        }
        TableError::TransactionTimeout { .. } => {
            "lower --page-size or --limit, or narrow the query"
        }
        TableError::UnsafeQuery { .. } | TableError::InvalidName { .. } => {
            return CliError::usage(
                error.to_string(),
                Some(
                    "a value with `^` (or `,` in --in) would change the query's meaning; use \
                     --query for a raw encoded query you wrote yourself"
                        .to_owned(),
                ),
            );
        }
        TableError::Transport { .. } => {
            return CliError::Unreachable {
                message: error.to_string(),
                hint: Some("check your network and the instance URL, then try again".to_owned()),
            };
        }
        _ => "run again with -vv to see each request",
    };
    CliError::Refused {
        message: error.to_string(),
        hint: Some(hint.to_owned()),
    }
}

impl From<Error> for CliError {
    fn from(error: Error) -> Self {
        Self::from_client(error)
    }
}

impl From<TableError> for CliError {
    fn from(error: TableError) -> Self {
        table_error(&error)
    }
}

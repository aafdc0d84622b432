//! The authorization callback (RFC 6749 §4.1.2, §4.1.2.1; RFC 9207 `iss`): the redirect's query
//! string, parsed into a typed success or error.
//!
//! This parser checks the shape only. Whether `state` is one the client issued, unexpired and
//! unused, and whether `iss` is the expected issuer, is the caller's decision (the auth machine).

use crate::error::CallbackProblem;
use crate::error_response::ErrorCode;
use crate::{AuthorizationCode, Error, State};

/// The parameters this parser reads; every other parameter is ignored (RFC 6749 §3.1).
const KNOWN_PARAMETERS: [&str; 6] = [
    "code",
    "state",
    "iss",
    "error",
    "error_description",
    "error_uri",
];

/// What the authorization server sent back to the redirect URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizationResponse {
    /// The user allowed access (RFC 6749 §4.1.2).
    Success(AuthorizationSuccess),
    /// The request failed or the user denied it (RFC 6749 §4.1.2.1).
    Error(AuthorizationError),
}

/// `code` and `state`, and `iss` when the server sends it (RFC 9207 §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationSuccess {
    /// `code`, to exchange at the token endpoint once.
    pub code: AuthorizationCode,
    /// `state`, to compare with the one issued.
    pub state: State,
    /// `iss`, the issuer identifier (RFC 9207), when present; compare it with the expected
    /// issuer by simple string comparison (RFC 9207 §2.4).
    pub iss: Option<String>,
}

/// `error`, with `error_description`, `error_uri` and `state` when present (RFC 6749
/// §4.1.2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationError {
    /// `error`, such as `access_denied` when the user pressed Deny.
    pub error: ErrorCode,
    /// `error_description`.
    pub error_description: Option<String>,
    /// `error_uri`.
    pub error_uri: Option<String>,
    /// `state`; an error without the issued state must not end a pending login, since anyone
    /// can send the user to the redirect URI with `error=…`.
    pub state: Option<State>,
    /// `iss` (RFC 9207), when present.
    pub iss: Option<String>,
}

impl AuthorizationResponse {
    /// The `state` this response carries, if any.
    #[must_use]
    pub fn state(&self) -> Option<&State> {
        match self {
            Self::Success(success) => Some(&success.state),
            Self::Error(error) => error.state.as_ref(),
        }
    }
}

/// Parses the callback from the request target the redirect URI received (such as
/// `/callback?code=…&state=…`, as a loopback server sees it): its query, or nothing.
///
/// # Errors
///
/// As [`parse_callback_query`].
pub fn parse_callback_uri(uri: &http::Uri) -> Result<AuthorizationResponse, Error> {
    parse_callback_query(uri.query().unwrap_or_default())
}

/// Parses the query string of the redirect (with or without its leading `?`), decoding it as
/// `application/x-www-form-urlencoded`.
///
/// # Errors
///
/// [`Error::InvalidCallback`] when `code` and `error` are both present or both absent, when a
/// parameter this parser reads appears twice or is empty, or when a success has no `state`.
pub fn parse_callback_query(query: &str) -> Result<AuthorizationResponse, Error> {
    let problem = |problem| Err(Error::InvalidCallback(problem));
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut values: [Option<zeroize::Zeroizing<String>>; 6] = Default::default();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let Some(index) = KNOWN_PARAMETERS.iter().position(|known| *known == name) else {
            continue;
        };
        if values[index].is_some() {
            return problem(CallbackProblem::DuplicateParameter(KNOWN_PARAMETERS[index]));
        }
        if value.is_empty() {
            return problem(CallbackProblem::EmptyParameter(KNOWN_PARAMETERS[index]));
        }
        values[index] = Some(zeroize::Zeroizing::new(value.into_owned()));
    }
    let [code, state, iss, error, error_description, error_uri] = values;
    let state = state.map(|state| State::new(state.as_str())).transpose()?;
    let iss = iss.map(|iss| iss.to_string());
    match (code, error) {
        (Some(_), Some(_)) => problem(CallbackProblem::BothCodeAndError),
        (None, None) => problem(CallbackProblem::NeitherCodeNorError),
        (Some(code), None) => {
            let Some(state) = state else {
                return problem(CallbackProblem::MissingState);
            };
            let code = AuthorizationCode::new(code.as_str())?;
            Ok(AuthorizationResponse::Success(AuthorizationSuccess {
                code,
                state,
                iss,
            }))
        }
        (None, Some(error)) => Ok(AuthorizationResponse::Error(AuthorizationError {
            error: ErrorCode::parse(&error),
            error_description: error_description.map(|text| text.to_string()),
            error_uri: error_uri.map(|text| text.to_string()),
            state,
            iss,
        })),
    }
}

//! The token endpoint's answer, parsed: a [`TokenResponse`] (RFC 6749 §5.1) or a
//! [`TokenEndpointError`] (RFC 6749 §5.2, ServiceNow's own shape, or a body that is neither).
//!
//! Lenient where servers deviate (`expires_in` as a string or missing, unknown members),
//! strict where security needs it (`token_type` must be Bearer, tokens must be well-formed), and
//! never with a token inside an error.

use std::fmt;
use std::time::Duration;

use http::StatusCode;
use serde_json::{Map, Value};

use crate::error_response::{ErrorCode, ErrorResponse};
use crate::{AccessToken, RefreshToken, ScopeSet};

/// How to read a token response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenResponseOptions {
    /// The access token lifetime assumed when the response has no `expires_in` (RFC 6749 §5.1
    /// only RECOMMENDS it). [`Default`] gives 1800 s, ServiceNow's default "Access Token
    /// Lifespan"; set it to the registry's value if that was changed.
    pub default_expires_in: Duration,
}

impl TokenResponseOptions {
    /// ServiceNow's default access token lifespan, 1800 seconds.
    pub const SERVICENOW_DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(1800);
}

impl Default for TokenResponseOptions {
    fn default() -> Self {
        Self {
            default_expires_in: Self::SERVICENOW_DEFAULT_EXPIRES_IN,
        }
    }
}

/// A successful token response (RFC 6749 §5.1), with `token_type` checked to be Bearer.
///
/// `expires_in` is relative: the caller turns it into a deadline with its own clock, taken when
/// the response arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenResponse {
    /// `access_token`.
    pub access_token: AccessToken,
    /// `expires_in`, or [`TokenResponseOptions::default_expires_in`] when absent.
    pub expires_in: Duration,
    /// Whether `expires_in` came from the server (`false`: the default was used).
    pub expires_in_from_server: bool,
    /// `refresh_token`, if any (absent or empty means none; after a refresh, keep the old one,
    /// RFC 6749 §6).
    pub refresh_token: Option<RefreshToken>,
    /// `scope`, if any (RFC 6749 §5.1: absent means as requested).
    pub scope: Option<ScopeSet>,
}

/// A failed token request: the HTTP status and what the body said.
///
/// Holds no token: error bodies are reduced to their OAuth fields or to a short excerpt from
/// which token-like runs are removed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("token endpoint answered {status}: {kind}")]
#[non_exhaustive]
pub struct TokenEndpointError {
    /// The HTTP status of the response.
    pub status: StatusCode,
    /// What the body said.
    pub kind: TokenErrorKind,
    /// `Retry-After` in delta-seconds, when the response had one (HTTP-dates are not read:
    /// this crate has no clock).
    pub retry_after: Option<Duration>,
}

/// What a failed token response's body said.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenErrorKind {
    /// An RFC 6749 §5.2 error body, including ServiceNow's 401
    /// `{"error_description":"access_denied","error":"server_error"}`.
    ErrorResponse(ErrorResponse),
    /// A non-success status whose body is not an OAuth error (an HTML page, text, other JSON,
    /// nothing): a short excerpt, whitespace collapsed and token-like runs replaced by
    /// `[redacted]`.
    UnrecognizedBody {
        /// At most 160 characters of the body.
        excerpt: String,
    },
    /// A success status whose body is not JSON (truncated, or an HTML page). No excerpt: the
    /// body may hold a token.
    MalformedJson {
        /// The JSON parser's message, which names a position, never the content.
        detail: String,
    },
    /// A success status with JSON that is not a usable token response.
    InvalidTokenResponse(TokenResponseProblem),
}

/// Why a JSON success body is not a usable token response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenResponseProblem {
    /// The JSON is not an object.
    NotAnObject,
    /// No `access_token` string.
    MissingAccessToken,
    /// `access_token` is empty or not printable ASCII (RFC 6749 Appendix A.12).
    InvalidAccessToken,
    /// No `token_type` (REQUIRED by RFC 6749 §5.1).
    MissingTokenType,
    /// A `token_type` other than Bearer (compared case-insensitively, RFC 6749 §5.1); using a
    /// token of a type not understood is forbidden (RFC 6749 §7.1).
    UnsupportedTokenType {
        /// The type received, cut to 40 printable characters.
        token_type: String,
    },
    /// `expires_in` is neither a non-negative integer nor a string of digits.
    InvalidExpiresIn,
    /// `refresh_token` is not a string of printable ASCII.
    InvalidRefreshToken,
    /// `scope` is not a space-separated list of RFC 6749 §3.3 scope tokens.
    InvalidScope,
}

/// How the caller should treat a failed token request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// Worth retrying later with backoff: 5xx, 429, 408, `temporarily_unavailable`, or a
    /// success status with a body that is not JSON (most likely cut short).
    Transient,
    /// The server said no: every other status (most 4xx, including ServiceNow's 401
    /// `access_denied`), or a success response that cannot be used. Retrying the same request
    /// will not help; a refresh rejected this way needs a new authorization.
    Rejected,
}

impl TokenEndpointError {
    /// An error with this status and kind and no `Retry-After`.
    #[must_use]
    pub fn new(status: StatusCode, kind: TokenErrorKind) -> Self {
        Self {
            status,
            kind,
            retry_after: None,
        }
    }

    /// Transient or rejected (see [`FailureClass`] for the rules).
    #[must_use]
    pub fn class(&self) -> FailureClass {
        let transient_status = self.status.is_server_error()
            || self.status == StatusCode::TOO_MANY_REQUESTS
            || self.status == StatusCode::REQUEST_TIMEOUT;
        let transient_body = match &self.kind {
            TokenErrorKind::ErrorResponse(response) => {
                response.error == ErrorCode::TemporarilyUnavailable
            }
            TokenErrorKind::MalformedJson { .. } => self.status.is_success(),
            TokenErrorKind::UnrecognizedBody { .. } | TokenErrorKind::InvalidTokenResponse(_) => {
                false
            }
        };
        if transient_status || transient_body {
            FailureClass::Transient
        } else {
            FailureClass::Rejected
        }
    }

    /// Whether retrying later may succeed (`class() == FailureClass::Transient`).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        self.class() == FailureClass::Transient
    }

    /// The RFC 6749 §5.2 body, if the server sent one.
    #[must_use]
    pub fn error_response(&self) -> Option<&ErrorResponse> {
        match &self.kind {
            TokenErrorKind::ErrorResponse(response) => Some(response),
            _ => None,
        }
    }

    /// Whether this is ServiceNow's catch-all rejection: HTTP 401 with
    /// `{"error_description":"access_denied","error":"server_error"}` (see
    /// [`ErrorResponse::is_servicenow_access_denied`]).
    #[must_use]
    pub fn is_servicenow_access_denied(&self) -> bool {
        self.status == StatusCode::UNAUTHORIZED
            && self
                .error_response()
                .is_some_and(ErrorResponse::is_servicenow_access_denied)
    }
}

impl fmt::Display for TokenErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ErrorResponse(response) => write!(f, "{response}"),
            Self::UnrecognizedBody { excerpt } if excerpt.is_empty() => {
                f.write_str("an empty body")
            }
            Self::UnrecognizedBody { excerpt } => {
                write!(f, "a body that is not an OAuth error: {excerpt}")
            }
            Self::MalformedJson { detail } => write!(f, "a body that is not JSON: {detail}"),
            Self::InvalidTokenResponse(problem) => {
                write!(f, "an unusable token response: {problem}")
            }
        }
    }
}

impl fmt::Display for TokenResponseProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnObject => f.write_str("the JSON is not an object"),
            Self::MissingAccessToken => f.write_str("no access_token"),
            Self::InvalidAccessToken => f.write_str("access_token is empty or not printable ASCII"),
            Self::MissingTokenType => f.write_str("no token_type"),
            Self::UnsupportedTokenType { token_type } => {
                write!(f, "token_type {token_type:?} is not Bearer")
            }
            Self::InvalidExpiresIn => f.write_str("expires_in is not a non-negative integer"),
            Self::InvalidRefreshToken => {
                f.write_str("refresh_token is not a string of printable ASCII")
            }
            Self::InvalidScope => f.write_str("scope is not a list of RFC 6749 scope tokens"),
        }
    }
}

/// Parses a token endpoint response (for any body type, such as `Vec<u8>` or `Bytes`).
///
/// A 2xx status with a valid body is a [`TokenResponse`]; everything else is a
/// [`TokenEndpointError`] carrying the status, what the body said, and `Retry-After`.
///
/// # Errors
///
/// [`TokenEndpointError`] as described; use [`TokenEndpointError::class`] to decide between
/// retrying and giving up.
pub fn parse_token_response<B: AsRef<[u8]>>(
    response: &http::Response<B>,
    options: &TokenResponseOptions,
) -> Result<TokenResponse, TokenEndpointError> {
    parse_token_response_body(response.status(), response.body().as_ref(), options).map_err(
        |mut error| {
            error.retry_after = retry_after(response.headers());
            error
        },
    )
}

/// Parses a token endpoint response given as its status and body (no headers, so no
/// `Retry-After`). See [`parse_token_response`].
///
/// # Errors
///
/// [`TokenEndpointError`] for anything but a usable 2xx token response.
pub fn parse_token_response_body(
    status: StatusCode,
    body: &[u8],
    options: &TokenResponseOptions,
) -> Result<TokenResponse, TokenEndpointError> {
    let fail = |kind| Err(TokenEndpointError::new(status, kind));
    if !status.is_success() {
        return match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(members)) if members.get("error").is_some_and(Value::is_string) => {
                fail(TokenErrorKind::ErrorResponse(error_response(&members)))
            }
            Ok(_) | Err(_) => fail(TokenErrorKind::UnrecognizedBody {
                excerpt: excerpt(body),
            }),
        };
    }
    let members = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(members)) => members,
        Ok(_) => {
            return fail(TokenErrorKind::InvalidTokenResponse(
                TokenResponseProblem::NotAnObject,
            ));
        }
        Err(error) => {
            return fail(TokenErrorKind::MalformedJson {
                detail: error.to_string(),
            });
        }
    };
    if members.get("error").is_some_and(Value::is_string) && !members.contains_key("access_token") {
        return fail(TokenErrorKind::ErrorResponse(error_response(&members)));
    }
    token_response(&members, options)
        .or_else(|problem| fail(TokenErrorKind::InvalidTokenResponse(problem)))
}

fn token_response(
    members: &Map<String, Value>,
    options: &TokenResponseOptions,
) -> Result<TokenResponse, TokenResponseProblem> {
    let access_token = match members.get("access_token") {
        Some(Value::String(token)) => AccessToken::new(token.as_str())
            .map_err(|_| TokenResponseProblem::InvalidAccessToken)?,
        Some(Value::Null) | None => return Err(TokenResponseProblem::MissingAccessToken),
        Some(_) => return Err(TokenResponseProblem::InvalidAccessToken),
    };
    match members.get("token_type") {
        Some(Value::String(token_type)) if token_type.eq_ignore_ascii_case("bearer") => (),
        Some(Value::String(token_type)) => {
            let token_type = token_type
                .chars()
                .filter(|ch| !ch.is_control())
                .take(40)
                .collect();
            return Err(TokenResponseProblem::UnsupportedTokenType { token_type });
        }
        Some(Value::Null) | None => return Err(TokenResponseProblem::MissingTokenType),
        Some(other) => {
            let token_type = other.to_string().chars().take(40).collect();
            return Err(TokenResponseProblem::UnsupportedTokenType { token_type });
        }
    }
    let (expires_in, expires_in_from_server) = match members.get("expires_in") {
        Some(Value::Null) | None => (options.default_expires_in, false),
        Some(Value::Number(number)) => (
            number
                .as_u64()
                .map(Duration::from_secs)
                .ok_or(TokenResponseProblem::InvalidExpiresIn)?,
            true,
        ),
        Some(Value::String(text)) => (
            seconds(text.trim()).ok_or(TokenResponseProblem::InvalidExpiresIn)?,
            true,
        ),
        Some(_) => return Err(TokenResponseProblem::InvalidExpiresIn),
    };
    let refresh_token = match members.get("refresh_token") {
        Some(Value::Null) | None => None,
        Some(Value::String(token)) if token.is_empty() => None,
        Some(Value::String(token)) => Some(
            RefreshToken::new(token.as_str())
                .map_err(|_| TokenResponseProblem::InvalidRefreshToken)?,
        ),
        Some(_) => return Err(TokenResponseProblem::InvalidRefreshToken),
    };
    let scope = match members.get("scope") {
        Some(Value::Null) | None => None,
        Some(Value::String(scope)) => {
            let scope = ScopeSet::parse(scope).map_err(|_| TokenResponseProblem::InvalidScope)?;
            (!scope.is_empty()).then_some(scope)
        }
        Some(_) => return Err(TokenResponseProblem::InvalidScope),
    };
    Ok(TokenResponse {
        access_token,
        expires_in,
        expires_in_from_server,
        refresh_token,
        scope,
    })
}

fn error_response(members: &Map<String, Value>) -> ErrorResponse {
    let text = |name: &str| members.get(name).and_then(Value::as_str).map(str::to_owned);
    ErrorResponse {
        error: ErrorCode::parse(
            members
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        ),
        error_description: text("error_description"),
        error_uri: text("error_uri"),
    }
}

/// A string of ASCII digits as whole seconds.
fn seconds(text: &str) -> Option<Duration> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().map(Duration::from_secs)
}

fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()
        .and_then(|value| seconds(value.trim()))
}

/// At most 160 characters of a body for an error message: control characters and whitespace
/// collapsed to single spaces, and every run of 24 or more token-alphabet characters (what an
/// access or refresh token looks like) replaced by `[redacted]`.
fn excerpt(body: &[u8]) -> String {
    const MAX_CHARS: usize = 160;
    const TOKEN_LIKE_RUN: usize = 24;
    let is_token_char = |ch: char| {
        ch.is_ascii_alphanumeric() || matches!(ch, '-' | '.' | '_' | '~' | '+' | '/' | '=')
    };
    let text = String::from_utf8_lossy(body);
    let mut shown = String::new();
    let mut run = String::new();
    for ch in text.chars().chain(std::iter::once(' ')) {
        if is_token_char(ch) {
            run.push(ch);
            continue;
        }
        if !run.is_empty() {
            shown.push_str(if run.len() >= TOKEN_LIKE_RUN {
                "[redacted]"
            } else {
                &run
            });
            run.clear();
        }
        if ch.is_whitespace() || ch.is_control() {
            if !shown.is_empty() && !shown.ends_with(' ') {
                shown.push(' ');
            }
        } else {
            shown.push(ch);
        }
        // A char is at most 4 bytes, so this many bytes hold more than `MAX_CHARS` characters.
        if shown.len() > 4 * MAX_CHARS {
            break;
        }
    }
    let shown = shown.trim_end();
    let mut excerpt: String = shown.chars().take(MAX_CHARS).collect();
    if shown.chars().count() > MAX_CHARS {
        excerpt.push('…');
    }
    excerpt
}

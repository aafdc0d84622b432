//! OAuth error responses as data: the `error` codes of RFC 6749 §4.1.2.1 and §5.2, and the
//! body `{error, error_description, error_uri}`.

use std::fmt;

/// An OAuth error code (RFC 6749 §4.1.2.1 for the authorization endpoint, §5.2 for the token
/// endpoint). Codes this crate does not know are kept as [`ErrorCode::Extension`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_request` (§4.1.2.1, §5.2).
    InvalidRequest,
    /// `invalid_client` (§5.2).
    InvalidClient,
    /// `invalid_grant` (§5.2): the code, refresh token or credentials are invalid, expired or
    /// revoked.
    InvalidGrant,
    /// `unauthorized_client` (§4.1.2.1, §5.2).
    UnauthorizedClient,
    /// `unsupported_grant_type` (§5.2).
    UnsupportedGrantType,
    /// `invalid_scope` (§4.1.2.1, §5.2).
    InvalidScope,
    /// `access_denied` (§4.1.2.1): the user pressed Deny.
    AccessDenied,
    /// `unsupported_response_type` (§4.1.2.1).
    UnsupportedResponseType,
    /// `server_error` (§4.1.2.1). ServiceNow's token endpoint also sends it, with
    /// `error_description: "access_denied"`, for nearly every failure.
    ServerError,
    /// `temporarily_unavailable` (§4.1.2.1).
    TemporarilyUnavailable,
    /// Any other code, kept verbatim (RFC 6749 §8.5 extension codes).
    Extension(String),
}

impl ErrorCode {
    /// Reads a code; unknown codes become [`ErrorCode::Extension`].
    #[must_use]
    pub fn parse(code: &str) -> Self {
        match code {
            "invalid_request" => Self::InvalidRequest,
            "invalid_client" => Self::InvalidClient,
            "invalid_grant" => Self::InvalidGrant,
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "invalid_scope" => Self::InvalidScope,
            "access_denied" => Self::AccessDenied,
            "unsupported_response_type" => Self::UnsupportedResponseType,
            "server_error" => Self::ServerError,
            "temporarily_unavailable" => Self::TemporarilyUnavailable,
            other => Self::Extension(other.to_owned()),
        }
    }

    /// The code as it appears on the wire.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::Extension(code) => code,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An RFC 6749 §5.2 error body: `error`, with optional `error_description` and `error_uri`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorResponse {
    /// `error`.
    pub error: ErrorCode,
    /// `error_description`: human-readable text from the server.
    pub error_description: Option<String>,
    /// `error_uri`: a page about the error.
    pub error_uri: Option<String>,
}

impl ErrorResponse {
    /// Whether this is ServiceNow's catch-all body
    /// `{"error_description":"access_denied","error":"server_error"}`, which its token
    /// endpoint sends (with HTTP 401) for a bad secret, a bad or expired refresh token, a
    /// disabled grant, an invalid scope and more: it means "rejected", not "server failed".
    #[must_use]
    pub fn is_servicenow_access_denied(&self) -> bool {
        self.error == ErrorCode::ServerError
            && self.error_description.as_deref() == Some("access_denied")
    }
}

impl fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.error.as_str())?;
        if let Some(description) = &self.error_description {
            write!(f, " ({description})")?;
        }
        Ok(())
    }
}

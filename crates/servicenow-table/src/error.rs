//! `TableError`: every way a Table API call can fail, with ServiceNow's status, message and detail.

use std::time::Duration;

use http::StatusCode;
use servicenow_http::TransportError;

/// What ServiceNow said in its error envelope `{"error":{"message","detail"},"status":"failure"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceNowMessage {
    /// The HTTP status of the response.
    pub status: StatusCode,
    /// `error.message`, or empty when the body was not an envelope.
    pub message: String,
    /// `error.detail`, when present.
    pub detail: Option<String>,
}

/// Why a Table API call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// 404: the record does not exist, **or an ACL hides it from this user**; ServiceNow does not
    /// tell the two apart.
    #[error(
        "{operation}: not found ({status}): {message}; the record may not exist or an acl may hide it from this user",
        status = .response.status, message = .response.message
    )]
    NotFound {
        /// The call that failed, such as `get incident`.
        operation: String,
        /// What ServiceNow said.
        response: ServiceNowMessage,
    },
    /// 401: the request was not authenticated (the authorizing transport handles refreshes).
    #[error("{operation}: not authenticated ({status}): {message}", status = .response.status, message = .response.message)]
    Unauthorized {
        /// The call that failed.
        operation: String,
        /// What ServiceNow said.
        response: ServiceNowMessage,
    },
    /// 403: an ACL, business rule or data policy refused the operation.
    #[error("{operation}: forbidden ({status}): {message}", status = .response.status, message = .response.message)]
    Forbidden {
        /// The call that failed.
        operation: String,
        /// What ServiceNow said.
        response: ServiceNowMessage,
    },
    /// 400 (and 405, 406, 415): the request was malformed or not acceptable.
    #[error("{operation}: bad request ({status}): {message}", status = .response.status, message = .response.message)]
    BadRequest {
        /// The call that failed.
        operation: String,
        /// What ServiceNow said.
        response: ServiceNowMessage,
    },
    /// 429: a rate limit rule refused the request; `retry_after` is ServiceNow's `Retry-After`.
    #[error(
        "{operation}: rate limited ({status}), retry after {retry_after:?}: {message}",
        status = .response.status, message = .response.message
    )]
    RateLimited {
        /// The call that failed.
        operation: String,
        /// The `Retry-After` header, when sent.
        retry_after: Option<Duration>,
        /// What ServiceNow said.
        response: ServiceNowMessage,
    },
    /// The instance cancelled the transaction (maximum execution time exceeded), typically on a
    /// large page.
    #[error(
        "{operation}: transaction cancelled by the instance ({status}): {message}; lower the page size (sysparm_limit)",
        status = .response.status, message = .response.message
    )]
    TransactionTimeout {
        /// The call that failed.
        operation: String,
        /// What ServiceNow said.
        response: ServiceNowMessage,
    },
    /// 5xx: the instance failed.
    #[error("{operation}: server error ({status}): {message}", status = .response.status, message = .response.message)]
    ServerError {
        /// The call that failed.
        operation: String,
        /// What ServiceNow said.
        response: ServiceNowMessage,
    },
    /// A status this client does not expect for the operation (such as a 3xx, never followed).
    #[error("{operation}: unexpected status {status}", status = .response.status)]
    UnexpectedStatus {
        /// The call that failed.
        operation: String,
        /// What ServiceNow said.
        response: ServiceNowMessage,
    },
    /// A success status with a body that is not what the Table API sends.
    #[error("{operation}: malformed response ({status}): {reason}")]
    MalformedResponse {
        /// The call that failed.
        operation: String,
        /// The HTTP status.
        status: StatusCode,
        /// What was wrong with the body.
        reason: String,
    },
    /// The transport could not deliver the request or bring back a complete response.
    #[error("{operation}: transport failed")]
    Transport {
        /// The call that failed.
        operation: String,
        /// What the transport reported.
        #[source]
        source: TransportError,
    },
    /// A `Link` header pointed at another origin than the instance; it was not followed.
    #[error("{operation}: refused a link to another origin ({origin}) than the instance")]
    ForeignOrigin {
        /// The call whose response carried the link.
        operation: String,
        /// The foreign origin.
        origin: String,
    },
    /// The query builder refused a value or field name that would change the query's meaning.
    #[error("building query: refused {what} {value:?}: {reason}")]
    UnsafeQuery {
        /// Which part was refused (`field name`, `value`, `IN value`, ...).
        what: &'static str,
        /// The refused text.
        value: String,
        /// Why it would change the query's meaning.
        reason: &'static str,
    },
    /// A table name, field name, sys_id or instance URL did not pass validation.
    #[error("validating {kind}: refused {value:?}: {reason}")]
    InvalidName {
        /// What was being validated (`table name`, `field name`, `sys_id`, `instance url`).
        kind: &'static str,
        /// The refused text.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A record could not be serialized into a request body.
    #[error("{operation}: serializing the record failed")]
    Serialize {
        /// The call that failed.
        operation: String,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
}

impl TableError {
    /// ServiceNow's status, message and detail, for the variants that carry them.
    pub fn service_now_message(&self) -> Option<&ServiceNowMessage> {
        match self {
            Self::NotFound { response, .. }
            | Self::Unauthorized { response, .. }
            | Self::Forbidden { response, .. }
            | Self::BadRequest { response, .. }
            | Self::RateLimited { response, .. }
            | Self::TransactionTimeout { response, .. }
            | Self::ServerError { response, .. }
            | Self::UnexpectedStatus { response, .. } => Some(response),
            _ => None,
        }
    }

    /// The HTTP status of the response that caused this error, if there was one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::MalformedResponse { status, .. } => Some(*status),
            other => other.service_now_message().map(|message| message.status),
        }
    }
}

//! `TableError`: every way a Table API call can fail, with ServiceNow's status, message and detail.

use std::{convert::Infallible, time::Duration};

use http::StatusCode;
use servicenow_http::TransportError;

/// `, retry after N s` when the instance sent `Retry-After`, nothing otherwise.
struct RetryAfter(Option<Duration>);

impl std::fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(wait) => write!(f, ", retry after {} s", wait.as_secs()),
            None => Ok(()),
        }
    }
}

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
///
/// `E` is the error of the [`RequestSender`](servicenow_http::RequestSender) the client sends
/// through: [`TransportError`] for a plain transport (the default), the layer's own type for a
/// layer that adds credentials. Only [`TableError::Sender`] carries it. What cannot fail in the
/// sender (the pure builders and parsers: [`TableApi`](crate::TableApi),
/// [`Query::build`](crate::Query::build), the validated names, [`error_from_response`](crate::error_from_response))
/// returns `TableError<Infallible>`; [`TableError::widen`] turns that into any
/// `TableError<E>`, and [`TableError::into_sender_failure`] splits a client's error into the
/// sender's failure or the Table API's own, so a caller can lift each into its own error type
/// by `From`, with no string round trip and no downcast.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TableError<E = TransportError> {
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
        "{operation}: rate limited ({status}){wait}: {message}",
        status = .response.status, message = .response.message,
        wait = RetryAfter(*.retry_after)
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
    /// The sender could not deliver the request or bring back a complete response: the
    /// transport failed, or the layer over it (which adds credentials) refused, in its own
    /// typed way. `source` is the sender's error as it reported it.
    #[error("{operation}: sending the request failed")]
    Sender {
        /// The call that failed.
        operation: String,
        /// What the sender reported.
        #[source]
        source: E,
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
    #[error("building query: refused {what} \"{}\": {reason}", .value.escape_debug())]
    UnsafeQuery {
        /// Which part was refused (`field name`, `value`, `IN value`, ...).
        what: &'static str,
        /// The refused text.
        value: String,
        /// Why it would change the query's meaning.
        reason: &'static str,
    },
    /// An export cannot start or resume as asked: the query has an order of the caller's (an
    /// export is unordered), or a checkpoint belongs to another export or is damaged.
    #[error("exporting {table}: {reason}")]
    Export {
        /// The table exported.
        table: String,
        /// What is wrong.
        reason: String,
    },
    /// A table name, field name or sys_id did not pass validation.
    #[error("validating {kind}: refused \"{}\": {reason}", .value.escape_debug())]
    InvalidName {
        /// What was being validated (`table name`, `field name`, `sys_id`, `request url`).
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
    /// A downloaded attachment's SHA-256 differs from the `hash` the instance holds for it: the
    /// bytes were damaged on the way (or the instance's record is wrong). A file being written
    /// was removed, never left looking complete.
    #[error(
        "{operation}: the downloaded bytes do not match the attachment's hash (expected sha-256 {expected}, got {actual}); the partial download was discarded"
    )]
    HashMismatch {
        /// The call that failed.
        operation: String,
        /// The `hash` the instance sent (hex).
        expected: String,
        /// The SHA-256 of what arrived (hex).
        actual: String,
    },
    /// A local file or stream of an attachment transfer could not be read or written.
    #[error("{operation}: {what} failed: {source}")]
    Local {
        /// The call that failed.
        operation: String,
        /// What was done locally, naming the file when there is one (`writing report.pdf`).
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl<E> TableError<E> {
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

impl TableError<Infallible> {
    /// This Table API failure as the error of a client whose sender fails with `E`.
    ///
    /// ```
    /// use servicenow_http::TransportError;
    /// use servicenow_table::{TableError, TableName};
    ///
    /// fn table(name: &str) -> Result<TableName, TableError<TransportError>> {
    ///     TableName::new(name).map_err(TableError::widen)
    /// }
    /// assert!(table("incident").is_ok());
    /// assert!(matches!(table("no spaces"), Err(TableError::InvalidName { .. })));
    /// ```
    pub fn widen<E>(self) -> TableError<E> {
        match self.map_sender::<E, Infallible>(|_, never| match never {}) {
            Ok(error) => error,
            Err(never) => match never {},
        }
    }
}

impl<E> TableError<E> {
    /// Splits this error into the sender's failure (`Ok`, with the operation that failed) or
    /// the Table API's own failure (`Err`), so a caller with its own error type can convert
    /// each part by `From`:
    ///
    /// ```
    /// use std::convert::Infallible;
    ///
    /// use servicenow_http::TransportError;
    /// use servicenow_table::TableError;
    ///
    /// /// An application's error: the sender's failure and the Table API's, each kept typed.
    /// #[derive(Debug)]
    /// enum AppError {
    ///     Sending { operation: String, source: TransportError },
    ///     Table(TableError<Infallible>),
    /// }
    ///
    /// impl From<TableError<TransportError>> for AppError {
    ///     fn from(error: TableError<TransportError>) -> Self {
    ///         match error.into_sender_failure() {
    ///             Ok((operation, source)) => Self::Sending { operation, source },
    ///             Err(table) => Self::Table(table),
    ///         }
    ///     }
    /// }
    ///
    /// let timeout = TransportError::Timeout {
    ///     phase: servicenow_http::TimeoutPhase::Total,
    ///     after: std::time::Duration::from_secs(1),
    /// };
    /// let error = TableError::Sender { operation: "list incident".into(), source: timeout };
    /// assert!(matches!(AppError::from(error), AppError::Sending { operation, .. } if operation == "list incident"));
    /// ```
    ///
    /// # Errors
    ///
    /// `Err` holds every failure that is not the sender's: a status from the instance, a
    /// malformed response, a refused `Link`, a refused query or name, a record that does not
    /// serialize.
    pub fn into_sender_failure(self) -> Result<(String, E), TableError<Infallible>> {
        match self.map_sender(|operation, source| Err((operation, source))) {
            Ok(table) => Err(table),
            Err(sender) => Ok(sender),
        }
    }

    /// Every variant but `Sender` moved unchanged into the error of another sender type;
    /// `Sender` goes through `sender`. The one place that lists the variants, for
    /// [`widen`](TableError::widen) and [`into_sender_failure`](Self::into_sender_failure).
    fn map_sender<F, X>(
        self,
        sender: impl FnOnce(String, E) -> Result<TableError<F>, X>,
    ) -> Result<TableError<F>, X> {
        Ok(match self {
            Self::Sender { operation, source } => return sender(operation, source),
            Self::NotFound {
                operation,
                response,
            } => TableError::NotFound {
                operation,
                response,
            },
            Self::Unauthorized {
                operation,
                response,
            } => TableError::Unauthorized {
                operation,
                response,
            },
            Self::Forbidden {
                operation,
                response,
            } => TableError::Forbidden {
                operation,
                response,
            },
            Self::BadRequest {
                operation,
                response,
            } => TableError::BadRequest {
                operation,
                response,
            },
            Self::RateLimited {
                operation,
                retry_after,
                response,
            } => TableError::RateLimited {
                operation,
                retry_after,
                response,
            },
            Self::TransactionTimeout {
                operation,
                response,
            } => TableError::TransactionTimeout {
                operation,
                response,
            },
            Self::ServerError {
                operation,
                response,
            } => TableError::ServerError {
                operation,
                response,
            },
            Self::UnexpectedStatus {
                operation,
                response,
            } => TableError::UnexpectedStatus {
                operation,
                response,
            },
            Self::MalformedResponse {
                operation,
                status,
                reason,
            } => TableError::MalformedResponse {
                operation,
                status,
                reason,
            },
            Self::ForeignOrigin { operation, origin } => {
                TableError::ForeignOrigin { operation, origin }
            }
            Self::UnsafeQuery {
                what,
                value,
                reason,
            } => TableError::UnsafeQuery {
                what,
                value,
                reason,
            },
            Self::Export { table, reason } => TableError::Export { table, reason },
            Self::InvalidName {
                kind,
                value,
                reason,
            } => TableError::InvalidName {
                kind,
                value,
                reason,
            },
            Self::Serialize { operation, source } => TableError::Serialize { operation, source },
            Self::HashMismatch {
                operation,
                expected,
                actual,
            } => TableError::HashMismatch {
                operation,
                expected,
                actual,
            },
            Self::Local {
                operation,
                what,
                source,
            } => TableError::Local {
                operation,
                what,
                source,
            },
        })
    }

    /// The sender's error, when the sender is what failed.
    pub fn sender_error(&self) -> Option<&E> {
        match self {
            Self::Sender { source, .. } => Some(source),
            _ => None,
        }
    }
}

//! Pure response parsers: pages, records, `Link` (origin-pinned), `X-Total-Count`, error envelopes.

use std::{convert::Infallible, time::Duration};

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode, header};
use serde::{
    Deserialize,
    de::{DeserializeOwned, IgnoredAny},
};

use servicenow_oauth::{InstanceUrl, origin_of};

use crate::{ApiVersion, ServiceNowMessage, SysId, TableApi, TableError};

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<R> {
    /// The records, in the order the instance sent them (possibly fewer than the page size:
    /// ACLs are applied after the limit).
    pub records: Vec<R>,
    /// `X-Total-Count`: how many records the query matches (absent with `sysparm_no_count`).
    pub total_count: Option<u64>,
    /// From `Link`: `Some(true)` when a `rel="next"` page exists, `Some(false)` when the header
    /// was sent without one, `None` when no `Link` header was sent.
    pub has_next: Option<bool>,
}

/// The result of a create: the record as stored and the `Location` of the new record.
#[derive(Debug, Clone, PartialEq)]
pub struct Created<R> {
    /// The record the instance returned.
    pub record: R,
    /// The `Location` header (the new record's API URL), when sent.
    pub location: Option<String>,
}

/// The result of a write sent with `X-no-response-body: true`: the instance sent no record
/// back, so there is none here, only what the status and headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Written {
    /// The status the instance answered with (201 or 200 as for a write with a body, or 204:
    /// the status of a write without a body is not documented, and either is accepted).
    pub status: StatusCode,
    /// The record written: from `Location` after a create (when sent), the one named after an
    /// update.
    pub sys_id: Option<SysId>,
    /// The `Location` header (the new record's API URL), when sent.
    pub location: Option<String>,
}

#[derive(Deserialize)]
struct Envelope<T> {
    result: T,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

impl TableApi {
    /// Parses a list response: `200 {"result":[…]}`; with v1, a 404 is an empty page.
    pub fn parse_list<R: DeserializeOwned>(
        &self,
        response: &Response<Bytes>,
        operation: &str,
    ) -> Result<Page<R>, TableError<Infallible>> {
        self.parse_page(response, operation)
    }

    /// A list response with its rows parsed as `E` in one pass over the body (the stream uses
    /// `KeyedRow<R>`, the count `IgnoredAny`).
    pub(crate) fn parse_page<E: DeserializeOwned>(
        &self,
        response: &Response<Bytes>,
        operation: &str,
    ) -> Result<Page<E>, TableError<Infallible>> {
        let total_count = total_count(response.headers());
        if self.version() == ApiVersion::V1 && response.status() == StatusCode::NOT_FOUND {
            return Ok(Page {
                records: Vec::new(),
                total_count,
                has_next: Some(false),
            });
        }
        expect_status(response, StatusCode::OK, operation)?;
        let has_next = has_next_link(self.instance(), response.headers(), operation)?;
        let envelope: Envelope<Vec<E>> = serde_json::from_str(body_text(response, operation)?)
            .map_err(|error| malformed(operation, response.status(), &error))?;
        Ok(Page {
            records: envelope.result,
            total_count,
            has_next,
        })
    }

    /// Parses a single-record response (`200 {"result":{…}}`): get, update, replace.
    pub fn parse_record<R: DeserializeOwned>(
        &self,
        response: &Response<Bytes>,
        operation: &str,
    ) -> Result<R, TableError<Infallible>> {
        expect_status(response, StatusCode::OK, operation)?;
        parse_result(response, operation)
    }

    /// Parses a create response: `201 {"result":{…}}` with `Location`.
    pub fn parse_created<R: DeserializeOwned>(
        &self,
        response: &Response<Bytes>,
        operation: &str,
    ) -> Result<Created<R>, TableError<Infallible>> {
        expect_status(response, StatusCode::CREATED, operation)?;
        let record = parse_result(response, operation)?;
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Ok(Created { record, location })
    }

    /// Parses the response of a write sent with `X-no-response-body: true`: `expected` (201
    /// for a create, 200 for an update) or 204, any body ignored. `sys_id` is the record
    /// updated; after a create it is read from `Location` (`…/{table}/{sys_id}`).
    pub fn parse_written(
        &self,
        response: &Response<Bytes>,
        expected: StatusCode,
        sys_id: Option<&SysId>,
        operation: &str,
    ) -> Result<Written, TableError<Infallible>> {
        if response.status() != StatusCode::NO_CONTENT {
            expect_status(response, expected, operation)?;
        }
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let from_location = location
            .as_deref()
            .and_then(|location| location.split(['?', '#']).next())
            .and_then(|path| path.rsplit('/').next())
            .and_then(|last| SysId::new(last).ok());
        Ok(Written {
            status: response.status(),
            sys_id: sys_id.cloned().or(from_location),
            location,
        })
    }

    /// Parses the answer to a `HEAD` count: `200` and `X-Total-Count`; `Ok(None)` when the
    /// instance sent no count (then count with GET).
    pub fn parse_head_count(
        &self,
        response: &Response<Bytes>,
        operation: &str,
    ) -> Result<Option<u64>, TableError<Infallible>> {
        expect_status(response, StatusCode::OK, operation)?;
        Ok(total_count(response.headers()))
    }

    /// Parses a delete response: `204`, no body.
    pub fn parse_deleted(
        &self,
        response: &Response<Bytes>,
        operation: &str,
    ) -> Result<(), TableError<Infallible>> {
        expect_status(response, StatusCode::NO_CONTENT, operation)
    }

    /// Parses a count response: the `X-Total-Count` header of a list response.
    pub fn parse_count(
        &self,
        response: &Response<Bytes>,
        operation: &str,
    ) -> Result<u64, TableError<Infallible>> {
        let page = self.parse_page::<IgnoredAny>(response, operation)?;
        page.total_count
            .ok_or_else(|| TableError::MalformedResponse {
                operation: operation.to_owned(),
                status: response.status(),
                reason: "no X-Total-Count header".into(),
            })
    }
}

/// Maps a response that is not the expected success to a [`TableError`], reading ServiceNow's
/// error envelope `{"error":{"message","detail"},"status":"failure"}` when there is one.
pub fn error_from_response(response: &Response<Bytes>, operation: &str) -> TableError<Infallible> {
    let status = response.status();
    let (message, detail) = match serde_json::from_slice::<ErrorEnvelope>(response.body()) {
        Ok(envelope) => (
            envelope.error.message.unwrap_or_default(),
            envelope.error.detail,
        ),
        Err(_) => (body_excerpt(response.body()), None),
    };
    let operation = operation.to_owned();
    let is_transaction_timeout = [Some(message.as_str()), detail.as_deref()]
        .into_iter()
        .flatten()
        .any(|text| {
            text.to_ascii_lowercase()
                .contains("maximum execution time exceeded")
        });
    let response_message = ServiceNowMessage {
        status,
        message,
        detail,
    };
    if is_transaction_timeout {
        return TableError::TransactionTimeout {
            operation,
            response: response_message,
        };
    }
    match status.as_u16() {
        400 | 405 | 406 | 415 => TableError::BadRequest {
            operation,
            response: response_message,
        },
        401 => TableError::Unauthorized {
            operation,
            response: response_message,
        },
        403 => TableError::Forbidden {
            operation,
            response: response_message,
        },
        404 => TableError::NotFound {
            operation,
            response: response_message,
        },
        429 => TableError::RateLimited {
            operation,
            retry_after: retry_after(response.headers()),
            response: response_message,
        },
        500..=599 => TableError::ServerError {
            operation,
            response: response_message,
        },
        _ => TableError::UnexpectedStatus {
            operation,
            response: response_message,
        },
    }
}

/// `Retry-After` in seconds (ServiceNow sends seconds).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(header::RETRY_AFTER)?.to_str().ok()?;
    text.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// `X-RateLimit-Reset`: the Unix time (seconds) at which the rate-limit window resets.
pub(crate) fn rate_limit_reset(headers: &HeaderMap) -> Option<i64> {
    headers
        .get("x-ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `Date`: when the server produced the response, by its own clock (any of the three formats
/// RFC 9110 §5.6.7 obliges a recipient to read).
pub(crate) fn response_date(headers: &HeaderMap) -> Option<std::time::SystemTime> {
    httpdate::parse_http_date(headers.get(header::DATE)?.to_str().ok()?).ok()
}

pub(crate) fn total_count(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("x-total-count")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Reads `Link` (`<url>;rel="next",<url>;rel="last"`): refuses any URL on another origin than
/// the instance, and says whether a `next` page exists. The URLs themselves are never followed.
pub(crate) fn has_next_link(
    instance: &InstanceUrl,
    headers: &HeaderMap,
    operation: &str,
) -> Result<Option<bool>, TableError<Infallible>> {
    let mut seen_header = false;
    let mut has_next = false;
    for value in headers.get_all(header::LINK) {
        seen_header = true;
        let text = value.to_str().map_err(|_| TableError::MalformedResponse {
            operation: operation.to_owned(),
            status: StatusCode::OK,
            reason: "Link header is not ASCII".into(),
        })?;
        for (url, parameters) in link_entries(text) {
            // A relative link is resolved against the instance (RFC 3986 §5) before the check.
            let base = url::Url::parse(instance.origin())
                .map_err(|_| foreign(operation, instance.origin()))?;
            let resolved = base.join(url).map_err(|_| foreign(operation, url))?;
            let Ok(resolved) = resolved.as_str().parse::<http::Uri>() else {
                return Err(foreign(operation, &resolved.origin().ascii_serialization()));
            };
            if !instance.same_origin(&resolved) {
                let origin = origin_of(&resolved);
                return Err(foreign(operation, origin.as_deref().unwrap_or(url)));
            }
            if parameters
                .split(';')
                .any(|parameter| matches!(parameter.trim(), "rel=\"next\"" | "rel=next"))
            {
                has_next = true;
            }
        }
    }
    Ok(seen_header.then_some(has_next))
}

/// Splits a `Link` value into `(url, parameters)` entries; URLs may themselves contain commas.
fn link_entries(text: &str) -> Vec<(&str, &str)> {
    let mut entries = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        let Some(length) = rest[start + 1..].find('>') else {
            break;
        };
        let url = &rest[start + 1..start + 1 + length];
        let after = &rest[start + 2 + length..];
        let parameters_end = after.find('<').unwrap_or(after.len());
        entries.push((url, after[..parameters_end].trim_end_matches([',', ' '])));
        rest = &after[parameters_end..];
    }
    entries
}

pub(crate) fn expect_status(
    response: &Response<Bytes>,
    expected: StatusCode,
    operation: &str,
) -> Result<(), TableError<Infallible>> {
    if response.status() == expected {
        return Ok(());
    }
    Err(error_from_response(response, operation))
}

pub(crate) fn parse_result<R: DeserializeOwned>(
    response: &Response<Bytes>,
    operation: &str,
) -> Result<R, TableError<Infallible>> {
    serde_json::from_str::<Envelope<R>>(body_text(response, operation)?)
        .map(|envelope| envelope.result)
        .map_err(|error| malformed(operation, response.status(), &error))
}

/// The body as text: JSON is UTF-8 (RFC 8259 §8.1), and a body that is not is malformed as a
/// whole, even where the bad bytes sit in a field the caller's type skips (serde_json checks
/// only the strings it reads). Checked once up front, which also spares the parser checking
/// each string it reads.
pub(crate) fn body_text<'a>(
    response: &'a Response<Bytes>,
    operation: &str,
) -> Result<&'a str, TableError<Infallible>> {
    std::str::from_utf8(response.body()).map_err(|error| TableError::MalformedResponse {
        operation: operation.to_owned(),
        status: response.status(),
        reason: format!("the body is not UTF-8: {error}"),
    })
}

pub(crate) fn malformed(
    operation: &str,
    status: StatusCode,
    error: &serde_json::Error,
) -> TableError<Infallible> {
    TableError::MalformedResponse {
        operation: operation.to_owned(),
        status,
        reason: error.to_string(),
    }
}

fn foreign(operation: &str, origin: &str) -> TableError<Infallible> {
    TableError::ForeignOrigin {
        operation: operation.to_owned(),
        origin: origin.to_owned(),
    }
}

/// The first 200 characters of a non-envelope error body, for the error message.
fn body_excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(200).collect()
}

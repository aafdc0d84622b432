//! The Batch API (`POST /api/now/v1/batch`, `servicenow-api-more.md` §3): several Table API
//! requests in one round trip, each with its own typed result.
//!
//! Items the instance did not run (a limit or the 30 s quota ran out) come back in
//! `unserviced_requests`; they never executed, so they are sent again in a new batch, at most
//! [`BatchConfig::max_rounds`] calls in all, and then reported as
//! [`BatchItemError::Unserviced`], never dropped. The batch call itself is a POST: like every
//! write it is retried only when the request provably never reached the instance, so a write
//! inside it never runs twice because of a retry.

use std::{collections::BTreeMap, convert::Infallible};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

use serde::{Serialize, de::DeserializeOwned};
use servicenow_http::RequestSender;

use crate::{
    Created, SysId, TableApi, TableClient, TableError, TableName, WriteOptions,
    error_from_response,
    response::{body_text, expect_status, malformed},
};

/// One request inside a batch: a Table API (or other REST) request of this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItem {
    /// The item's id, unique in the batch.
    pub id: String,
    /// The HTTP method.
    pub method: Method,
    /// The path and query, relative to the instance (`/api/now/v2/table/incident?…`).
    pub url: String,
    /// The JSON body of a write, or empty.
    pub body: Bytes,
}

impl BatchItem {
    /// The item that would send `request` on its own (its path and query, its body); `id` names
    /// it in the results.
    pub fn from_request(id: impl Into<String>, request: &Request<Bytes>) -> Self {
        let url = request.uri().path_and_query().map_or_else(
            || request.uri().path().to_owned(),
            |path| path.as_str().to_owned(),
        );
        Self {
            id: id.into(),
            method: request.method().clone(),
            url,
            body: request.body().clone(),
        }
    }

    fn is_write(&self) -> bool {
        !matches!(self.method, Method::GET | Method::HEAD)
    }
}

/// How a [`TableClient::batch`](crate::TableClient::batch) splits and repeats its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// Items per batch call (larger lists are split).
    pub max_items_per_call: usize,
    /// Batch calls per chunk, the first included, while items come back unserviced.
    pub max_rounds: u32,
}

impl Default for BatchConfig {
    /// 100 items per call, 3 calls (PySNC's three POSTs).
    fn default() -> Self {
        Self {
            max_items_per_call: 100,
            max_rounds: 3,
        }
    }
}

/// What the instance answered for one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchResponse {
    /// The item's status.
    pub status: StatusCode,
    /// The item's response headers (empty when excluded).
    pub headers: Vec<(String, String)>,
    /// The item's response body, base64-decoded.
    pub body: Bytes,
    /// How long the instance took, in milliseconds.
    pub execution_time_ms: u64,
}

impl BatchResponse {
    /// The item's response as an `http::Response`, for the Table API's parsers.
    pub fn to_http(&self) -> Response<Bytes> {
        let mut response = Response::new(self.body.clone());
        *response.status_mut() = self.status;
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(value),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

/// Why one item of a batch has no successful result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchItemError {
    /// The instance ran the item and refused it (its own status and ServiceNow's message).
    #[error(transparent)]
    Failed(TableError<Infallible>),
    /// The instance never ran the item, in any of the batch calls allowed.
    #[error("{operation}: the instance left the item unserviced in {rounds} batch calls")]
    Unserviced {
        /// The item.
        operation: String,
        /// How many batch calls carried it.
        rounds: u32,
    },
}

/// The results of a batch, one per item, in the order the items were given.
#[derive(Debug)]
pub struct BatchResults {
    /// `(id, result)` per item.
    pub items: Vec<(String, Result<BatchResponse, BatchItemError>)>,
    /// Batch calls sent.
    pub calls: u32,
}

impl BatchResults {
    /// Whether every item succeeded (2xx).
    pub fn all_succeeded(&self) -> bool {
        self.items.iter().all(|(_, result)| result.is_ok())
    }
}

#[derive(Deserialize)]
struct WireResponse {
    #[serde(default)]
    serviced_requests: Vec<WireServiced>,
    #[serde(default)]
    unserviced_requests: Vec<Value>,
}

#[derive(Deserialize)]
struct WireServiced {
    id: Value,
    status_code: u16,
    #[serde(default)]
    headers: Vec<WireHeader>,
    #[serde(default)]
    body: String,
    #[serde(default)]
    execution_time: u64,
}

#[derive(Deserialize)]
struct WireHeader {
    name: String,
    value: String,
}

/// One parsed batch answer: the serviced items by id and the unserviced ids.
#[derive(Debug, Default)]
pub struct BatchAnswer {
    /// What each serviced item answered, by id.
    pub serviced: BTreeMap<String, BatchResponse>,
    /// Ids the instance did not run.
    pub unserviced: Vec<String>,
}

fn id_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

impl TableApi {
    /// `POST /api/now/v1/batch` carrying `items` (JSON bodies base64-encoded, `Content-Type`
    /// only on items with a body, authentication only on the outer call).
    pub fn batch_request(
        &self,
        batch_request_id: &str,
        items: &[BatchItem],
    ) -> Result<Request<Bytes>, TableError<Infallible>> {
        let rest_requests: Vec<Value> = items
            .iter()
            .map(|item| {
                let mut headers = vec![json!({"name": "Accept", "value": "application/json"})];
                if !item.body.is_empty() {
                    headers.push(json!({"name": "Content-Type", "value": "application/json"}));
                }
                json!({
                    "id": item.id,
                    "method": item.method.as_str(),
                    "url": item.url,
                    "headers": headers,
                    "body": STANDARD.encode(&item.body),
                    // Kept: a create's `Location` is in them.
                    "exclude_response_headers": false,
                })
            })
            .collect();
        let body = json!({
            "batch_request_id": batch_request_id,
            "rest_requests": rest_requests,
        });
        let body = serde_json::to_vec(&body).map_err(|source| TableError::Serialize {
            operation: "batch".to_owned(),
            source,
        })?;
        let mut request =
            self.request_to(Method::POST, "/api/now/v1/batch", &[], Some(body.into()))?;
        request.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        Ok(request)
    }

    /// Parses a batch answer (`200`): each serviced item's status, headers and decoded body, and
    /// the unserviced ids.
    pub fn parse_batch(
        &self,
        response: &Response<Bytes>,
        operation: &str,
    ) -> Result<BatchAnswer, TableError<Infallible>> {
        expect_status(response, StatusCode::OK, operation)?;
        let wire: WireResponse = serde_json::from_str(body_text(response, operation)?)
            .map_err(|error| malformed(operation, response.status(), &error))?;
        let mut answer = BatchAnswer {
            unserviced: wire.unserviced_requests.iter().map(id_text).collect(),
            ..BatchAnswer::default()
        };
        for item in wire.serviced_requests {
            let id = id_text(&item.id);
            let body = STANDARD.decode(item.body.as_bytes()).map_err(|error| {
                TableError::MalformedResponse {
                    operation: operation.to_owned(),
                    status: response.status(),
                    reason: format!("the body of item {id} is not base64: {error}"),
                }
            })?;
            let status = StatusCode::from_u16(item.status_code).map_err(|_| {
                TableError::MalformedResponse {
                    operation: operation.to_owned(),
                    status: response.status(),
                    reason: format!("item {id} has the status {}", item.status_code),
                }
            })?;
            answer.serviced.insert(
                id,
                BatchResponse {
                    status,
                    headers: item
                        .headers
                        .into_iter()
                        .map(|header| (header.name, header.value))
                        .collect(),
                    body: body.into(),
                    execution_time_ms: item.execution_time,
                },
            );
        }
        Ok(answer)
    }
}

/// The typed result of one serviced item: a 2xx is the response, anything else the Table API's
/// error for it.
pub(crate) fn item_result(
    response: BatchResponse,
    operation: &str,
) -> Result<BatchResponse, BatchItemError> {
    if response.status.is_success() {
        return Ok(response);
    }
    Err(BatchItemError::Failed(error_from_response(
        &response.to_http(),
        operation,
    )))
}

/// The operation an item stands for in messages: `batch item 3 (PATCH /api/now/…)` without the
/// query.
pub(crate) fn item_operation(item: &BatchItem) -> String {
    let path = item.url.split('?').next().unwrap_or_default();
    let kind = if item.is_write() { "write" } else { "read" };
    format!("batch {kind} {} ({} {path})", item.id, item.method)
}

impl<S: RequestSender> TableClient<S> {
    /// Sends `items` through the Batch API, [`BatchConfig::max_items_per_call`] at a time;
    /// unserviced items go again in the next call, at most [`BatchConfig::max_rounds`] calls
    /// per chunk, then are reported. The results follow the items' order.
    ///
    /// `Err` only when a whole batch call failed (its status, its transport); a failure of one
    /// item is that item's `Err`.
    pub async fn batch(
        &self,
        items: Vec<BatchItem>,
        config: BatchConfig,
    ) -> Result<BatchResults, TableError<S::Error>> {
        let mut seen = std::collections::BTreeSet::new();
        if let Some(duplicate) = items.iter().find(|item| !seen.insert(item.id.as_str())) {
            return Err(TableError::InvalidName {
                kind: "batch item id",
                value: duplicate.id.clone(),
                reason: "appears twice in one batch",
            });
        }
        let mut results: BTreeMap<String, Result<BatchResponse, BatchItemError>> = BTreeMap::new();
        let mut calls = 0_u32;
        for chunk in items.chunks(config.max_items_per_call.max(1)) {
            let mut pending: Vec<BatchItem> = chunk.to_vec();
            let mut rounds = 0_u32;
            while !pending.is_empty() && rounds < config.max_rounds.max(1) {
                rounds += 1;
                calls += 1;
                let operation = "batch";
                let request = self
                    .api()
                    .batch_request(&calls.to_string(), &pending)
                    .map_err(TableError::widen)?;
                let mut answer = self
                    .execute(request, operation, |response| {
                        self.api().parse_batch(response, operation)
                    })
                    .await?;
                pending.retain(|item| match answer.serviced.remove(&item.id) {
                    Some(response) => {
                        let result = item_result(response, &item_operation(item));
                        results.insert(item.id.clone(), result);
                        false
                    }
                    // Listed as unserviced, or (against the docs) missing: it never ran.
                    None => true,
                });
                if !pending.is_empty() {
                    tracing::debug!(
                        unserviced = pending.len(),
                        rounds,
                        "batch: items left unserviced"
                    );
                }
            }
            for item in pending {
                let error = BatchItemError::Unserviced {
                    operation: item_operation(&item),
                    rounds,
                };
                results.insert(item.id.clone(), Err(error));
            }
        }
        let items = items
            .into_iter()
            .map(|item| {
                let result = results.remove(&item.id).unwrap_or_else(|| {
                    Err(BatchItemError::Unserviced {
                        operation: item_operation(&item),
                        rounds: 0,
                    })
                });
                (item.id, result)
            })
            .collect();
        Ok(BatchResults { items, calls })
    }

    /// Creates every record of `records` in `table` through the Batch API; one result per
    /// record, in order.
    pub async fn create_many<B, R>(
        &self,
        table: &TableName,
        records: &[B],
        options: &WriteOptions,
    ) -> Result<Vec<Result<Created<R>, BatchItemError>>, TableError<S::Error>>
    where
        B: Serialize,
        R: DeserializeOwned,
    {
        let items = records
            .iter()
            .enumerate()
            .map(|(index, record)| {
                let request = self.api().create_request(table, record, options)?;
                Ok(BatchItem::from_request(index.to_string(), &request))
            })
            .collect::<Result<Vec<_>, TableError<Infallible>>>()
            .map_err(TableError::widen)?;
        let results = self.batch(items, BatchConfig::default()).await?;
        Ok(self.typed(results, |api, response, operation| {
            api.parse_created(response, operation)
        }))
    }

    /// Changes records of `table` (PATCH each `(sys_id, changes)`) through the Batch API.
    pub async fn update_many<B, R>(
        &self,
        table: &TableName,
        changes: &[(SysId, B)],
        options: &WriteOptions,
    ) -> Result<Vec<Result<R, BatchItemError>>, TableError<S::Error>>
    where
        B: Serialize,
        R: DeserializeOwned,
    {
        let items = changes
            .iter()
            .enumerate()
            .map(|(index, (sys_id, change))| {
                let request = self.api().update_request(table, sys_id, change, options)?;
                Ok(BatchItem::from_request(index.to_string(), &request))
            })
            .collect::<Result<Vec<_>, TableError<Infallible>>>()
            .map_err(TableError::widen)?;
        let results = self.batch(items, BatchConfig::default()).await?;
        Ok(self.typed(results, |api, response, operation| {
            api.parse_record(response, operation)
        }))
    }

    /// Deletes records of `table` through the Batch API.
    pub async fn delete_many(
        &self,
        table: &TableName,
        sys_ids: &[SysId],
    ) -> Result<Vec<Result<(), BatchItemError>>, TableError<S::Error>> {
        let items = sys_ids
            .iter()
            .enumerate()
            .map(|(index, sys_id)| {
                let mut request = self.api().delete_request(table, sys_id)?;
                // A DELETE has no body; real clients send no Content-Type with it.
                *request.body_mut() = Bytes::new();
                Ok(BatchItem::from_request(index.to_string(), &request))
            })
            .collect::<Result<Vec<_>, TableError<Infallible>>>()
            .map_err(TableError::widen)?;
        let results = self.batch(items, BatchConfig::default()).await?;
        Ok(self.typed(results, |api, response, operation| {
            api.parse_deleted(response, operation)
        }))
    }

    fn typed<O>(
        &self,
        results: BatchResults,
        parse: impl Fn(&TableApi, &Response<Bytes>, &str) -> Result<O, TableError<Infallible>>,
    ) -> Vec<Result<O, BatchItemError>> {
        results
            .items
            .into_iter()
            .map(|(id, result)| {
                let response = result?;
                let operation = format!("batch item {id}");
                parse(self.api(), &response.to_http(), &operation).map_err(BatchItemError::Failed)
            })
            .collect()
    }
}

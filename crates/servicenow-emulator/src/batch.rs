//! The Batch API, `POST /api/now/v1/batch` (`servicenow-api-more.md` §3): several REST requests
//! in one call, each run as if it had been sent alone (same authentication, the same per-item
//! ACLs, faults and rate limits as the Table API), with their responses base64-encoded in
//! `serviced_requests` and the ids of those not run in `unserviced_requests`.
//!
//! Limits, as documented: an item's body over `batch_max_input_bytes` (5 MB,
//! `glide.rest.batch.max.inputSize`) or a response over `batch_max_output_bytes` (10 MB, or the
//! lower `X-BATCHREQUEST-MAX-OUTPUT-SIZE`) leaves the item unserviced; so does every item after
//! `batch_serviced_per_call` (the emulator's stand-in for the 30 s quota running out).

use std::{sync::Arc, time::Instant};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Uri, header};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};

use crate::{
    server::{Incoming, Shared},
    table::{self, authenticate, unauthorized},
    wire::{Body, HandlerResult, error_envelope, json_response, media_type},
};

/// Whether `path` is the Batch API.
pub(crate) fn is_batch_path(path: &str) -> bool {
    matches!(
        path.trim_end_matches('/'),
        "/api/now/v1/batch" | "/api/now/batch"
    )
}

pub(crate) async fn handle(shared: &Arc<Shared>, request: &Incoming) -> HandlerResult {
    let Some(user) = authenticate(shared, request) else {
        return Ok(unauthorized());
    };
    // The call itself meets the rate limit and faults; then each item meets them again.
    table::gated(shared, &user, run_batch(shared, request)).await
}

async fn run_batch(shared: &Arc<Shared>, request: &Incoming) -> HandlerResult {
    if request.method != Method::POST {
        return Ok(error_envelope(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not Supported",
            None,
        ));
    }
    if media_type(&request.headers).as_deref() != Some("application/json") {
        return Ok(error_envelope(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            Some("The Batch API accepts Content-Type: application/json only"),
        ));
    }
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return Ok(invalid("The payload is not valid JSON"));
    };
    let batch_id = match &body["batch_request_id"] {
        Value::String(id) => id.clone(),
        Value::Number(id) => id.to_string(),
        _ => return Ok(invalid("batch_request_id is required")),
    };
    let Some(items) = body["rest_requests"].as_array() else {
        return Ok(invalid("rest_requests must be an array"));
    };
    let settings = shared.settings.read().clone();
    let output_cap = request
        .headers
        .get("X-BATCHREQUEST-MAX-OUTPUT-SIZE")
        .and_then(|value| value.to_str().ok()?.trim().parse::<usize>().ok())
        .map_or(settings.batch_max_output_bytes, |asked| {
            asked.min(settings.batch_max_output_bytes)
        });
    let mut serviced = Vec::new();
    let mut unserviced = Vec::new();
    for item in items {
        let id = match &item["id"] {
            Value::String(id) => id.clone(),
            Value::Number(id) => id.to_string(),
            _ => return Ok(invalid("every rest_request needs an id")),
        };
        if settings
            .batch_serviced_per_call
            .is_some_and(|limit| serviced.len() >= limit)
        {
            unserviced.push(Value::String(id));
            continue;
        }
        match run_item(shared, request, item, &id, &settings, output_cap).await? {
            Some(result) => serviced.push(result),
            None => unserviced.push(Value::String(id)),
        }
    }
    shared
        .counters
        .bump(|counters| &mut counters.batch_requests);
    let answer = json!({
        "batch_request_id": batch_id,
        "serviced_requests": serviced,
        "unserviced_requests": unserviced,
    });
    Ok(json_response(StatusCode::OK, answer.to_string()))
}

fn invalid(detail: &str) -> Response<Body> {
    error_envelope(
        StatusCode::BAD_REQUEST,
        "Invalid batch request",
        Some(detail),
    )
}

/// Runs one item; `None` when a limit leaves it unserviced.
async fn run_item(
    shared: &Arc<Shared>,
    outer: &Incoming,
    item: &Value,
    id: &str,
    settings: &crate::Settings,
    output_cap: usize,
) -> Result<Option<Value>, std::io::Error> {
    let started = Instant::now();
    let method = item["method"]
        .as_str()
        .and_then(|method| Method::from_bytes(method.to_ascii_uppercase().as_bytes()).ok());
    let uri = item["url"].as_str().and_then(|url| url.parse::<Uri>().ok());
    let body = match item["body"].as_str() {
        None | Some("") => Vec::new(),
        Some(encoded) => match STANDARD.decode(encoded) {
            Ok(body) => body,
            Err(_) => {
                return Ok(Some(item_error(
                    id,
                    StatusCode::BAD_REQUEST,
                    "body is not base64",
                )));
            }
        },
    };
    if body.len() > settings.batch_max_input_bytes {
        return Ok(None);
    }
    let (Some(method), Some(uri)) = (method, uri) else {
        return Ok(Some(item_error(
            id,
            StatusCode::BAD_REQUEST,
            "method and url are required",
        )));
    };
    if uri.authority().is_some() || !uri.path().starts_with("/api/") {
        return Ok(Some(item_error(
            id,
            StatusCode::BAD_REQUEST,
            "url must be a relative REST API path",
        )));
    }
    let mut headers = HeaderMap::new();
    for header in item["headers"].as_array().into_iter().flatten() {
        let name = header["name"]
            .as_str()
            .and_then(|name| HeaderName::from_bytes(name.as_bytes()).ok());
        let value = header["value"]
            .as_str()
            .and_then(|value| HeaderValue::from_str(value).ok());
        if let (Some(name), Some(value)) = (name, value) {
            headers.append(name, value);
        }
    }
    // Authentication rides on the outer call only.
    for name in [header::AUTHORIZATION] {
        if let Some(value) = outer.headers.get(&name) {
            headers.insert(name, value.clone());
        }
    }
    let incoming = Incoming {
        method,
        uri,
        headers,
        body: body.into(),
    };
    let served = if crate::aggregate::is_stats_path(incoming.uri.path()) {
        crate::aggregate::serve(shared, &incoming).await
    } else {
        table::handle(shared, &incoming).await
    };
    let response = match served {
        Ok(response) => response,
        Err(_) => error_envelope(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            Some("The request failed"),
        ),
    };
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    if body.len() > output_cap {
        return Ok(None);
    }
    let exclude_headers = item["exclude_response_headers"].as_bool().unwrap_or(false);
    let headers: Vec<Value> = if exclude_headers {
        Vec::new()
    } else {
        parts
            .headers
            .iter()
            .filter_map(|(name, value)| {
                Some(json!({ "name": name.as_str(), "value": value.to_str().ok()? }))
            })
            .collect()
    };
    let mut result = json!({
        "id": id,
        "status_code": parts.status.as_u16(),
        "status_text": parts.status.canonical_reason().unwrap_or_default(),
        "headers": headers,
        "body": STANDARD.encode(&body),
        "execution_time": started.elapsed().as_millis() as u64,
    });
    if !parts.status.is_success() {
        let message = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|body| body["error"]["message"].as_str().map(str::to_owned));
        if let Some(message) = message {
            result["error_message"] = Value::String(message);
        }
    }
    Ok(Some(result))
}

fn item_error(id: &str, status: StatusCode, detail: &str) -> Value {
    let body = crate::wire::error_envelope_body("Bad Request", Some(detail));
    json!({
        "id": id,
        "status_code": status.as_u16(),
        "status_text": status.canonical_reason().unwrap_or_default(),
        "headers": [],
        "body": STANDARD.encode(body.as_bytes()),
        "execution_time": 0,
        "error_message": detail,
    })
}

//! The Attachment API, `/api/now/[v1/]attachment` (`servicenow-api-more.md` §1): list and
//! metadata over `sys_attachment`, download (`/{sys_id}/file`, streamed from storage), upload
//! as a raw body (`/file`) or multipart (`/upload`), both streamed to storage while hashed,
//! rename (PATCH) and delete. Authentication and write ACLs as on the Table API.

mod store;
mod upload;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header, request::Parts};
use http_body_util::{BodyExt as _, Limited};
use serde_json::{Map, Value};

pub use store::AttachmentStorage;
pub(crate) use store::AttachmentStore;

use crate::{
    clock::glide_date_time,
    data::{Database, Table, generate},
    server::{Incoming, Shared},
    table::{self, authenticate, insert_header, unauthorized},
    wire::{self, Body, HandlerResult, error_envelope, json_response},
};

/// The table that holds attachment metadata.
const TABLE: &str = "sys_attachment";
/// `sysparm_limit` of a list that does not set one (the documented default; the Ansible
/// collection claims 10000).
const DEFAULT_LIST_LIMIT: u64 = 1000;
/// The largest PATCH body read.
const MAX_PATCH_BODY: usize = 64 * 1024;

/// What an attachment path names.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    List,
    UploadRaw,
    UploadMultipart,
    Record(String),
    File(String),
}

/// A parsed attachment path: the API prefix as sent (`/api/now/` or `/api/now/v1/`) and the
/// resource.
#[derive(Debug)]
struct Target {
    prefix: &'static str,
    route: Route,
}

/// Whether `path` belongs to the Attachment API.
pub(crate) fn is_attachment_path(path: &str) -> bool {
    parse(path).is_some()
}

fn parse(path: &str) -> Option<Target> {
    let (prefix, rest) = if let Some(rest) = path.strip_prefix("/api/now/v1/attachment") {
        ("/api/now/v1/", rest)
    } else {
        ("/api/now/", path.strip_prefix("/api/now/attachment")?)
    };
    let rest = rest.trim_end_matches('/');
    let route = if rest.is_empty() {
        Route::List
    } else {
        let rest = rest.strip_prefix('/')?;
        let segments: Vec<&str> = rest.split('/').collect();
        match segments.as_slice() {
            ["file"] => Route::UploadRaw,
            ["upload"] => Route::UploadMultipart,
            [sys_id] => Route::Record((*sys_id).to_owned()),
            [sys_id, "file"] => Route::File((*sys_id).to_owned()),
            _ => return None,
        }
    };
    Some(Target { prefix, route })
}

/// Serves an Attachment API request; uploads read `body` as it arrives.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    parts: Parts,
    body: hyper::body::Incoming,
) -> HandlerResult {
    let Some(target) = parse(parts.uri.path()) else {
        return Ok(error_envelope(
            StatusCode::BAD_REQUEST,
            "Requested URI does not represent any resource",
            None,
        ));
    };
    let head = Incoming {
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body: Bytes::new(),
    };
    shared.counters.table_request(head.method.as_str(), TABLE);
    let Some(user) = authenticate(shared, &head) else {
        shared
            .counters
            .bump(|counters| &mut counters.table_unauthorized);
        return Ok(unauthorized());
    };
    let serve = async {
        let response = match (&head.method, &target.route) {
            (&Method::GET, Route::List) => list(shared, &head).await,
            (&Method::GET, Route::Record(sys_id)) => metadata(shared, sys_id),
            (&Method::GET, Route::File(sys_id)) => download(shared, sys_id).await,
            (&Method::POST, Route::UploadRaw) => {
                upload::raw(shared, &head, body, &user, target.prefix).await
            }
            (&Method::POST, Route::UploadMultipart) => {
                upload::multipart(shared, &head, body, &user, target.prefix).await
            }
            (&Method::DELETE, Route::Record(sys_id)) => delete(shared, sys_id, &user),
            (&Method::PATCH, Route::Record(sys_id)) => {
                let body = match Limited::new(body, MAX_PATCH_BODY).collect().await {
                    Ok(collected) => collected.to_bytes(),
                    Err(_) => {
                        return Ok(error_envelope(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "Request body too large",
                            None,
                        ));
                    }
                };
                rename(shared, sys_id, &body, &user)
            }
            _ => error_envelope(StatusCode::METHOD_NOT_ALLOWED, "Method not Supported", None),
        };
        Ok(response)
    };
    table::gated(shared, &user, serve).await
}

/// `GET /attachment`: the Table API's list of `sys_attachment` (query, paging, `Link`,
/// `X-Total-Count`), each record with its `download_link`.
async fn list(shared: &Arc<Shared>, head: &Incoming) -> Response<Body> {
    let query = head.uri.query().unwrap_or_default();
    let pairs = wire::form_pairs(query.as_bytes());
    let mut request = head.clone();
    if wire::first(&pairs, "sysparm_limit").is_none() {
        let separator = if query.is_empty() { "" } else { "&" };
        let path_and_query = format!(
            "{}?{query}{separator}sysparm_limit={DEFAULT_LIST_LIMIT}",
            head.uri.path()
        );
        if let Ok(uri) = path_and_query.parse() {
            request.uri = uri;
        }
    }
    let settings = shared.settings.read().clone();
    let response = table::list_of(shared, &request, TABLE, &settings);
    if response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(collected) = body.collect().await else {
        return internal_error();
    };
    let Ok(mut page) = serde_json::from_slice::<Value>(&collected.to_bytes()) else {
        return internal_error();
    };
    let origin = shared.link_origin();
    for record in page["result"].as_array_mut().into_iter().flatten() {
        if let Some(sys_id) = record["sys_id"].as_str() {
            let link = download_link(&origin, sys_id);
            record["download_link"] = Value::String(link);
        }
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, wire::full_body(page.to_string()))
}

fn internal_error() -> Response<Body> {
    error_envelope(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal Server Error",
        Some("The attachment list could not be rendered"),
    )
}

/// The absolute download URL written into `download_link`.
fn download_link(origin: &str, sys_id: &str) -> String {
    format!("{origin}/api/now/attachment/{sys_id}/file")
}

/// Every column of attachment row `id` as a string, plus `download_link`.
fn metadata_of(database: &Database, table: &Table, id: u64, origin: &str) -> Map<String, Value> {
    let mut fields = Map::new();
    for (column, definition) in table.columns.iter().enumerate() {
        let value = database.value(table, id, column).into_owned();
        fields.insert(definition.name.clone(), Value::String(value));
    }
    let sys_id = database.sys_id(table, id);
    fields.insert(
        "download_link".to_owned(),
        Value::String(download_link(origin, &sys_id)),
    );
    fields
}

/// The row of attachment `sys_id` and its metadata, or the 404 of a missing record.
/// An attachment's row id and metadata.
type Found = (u64, Map<String, Value>);

fn find(shared: &Shared, sys_id: &str) -> Result<Found, Box<Response<Body>>> {
    let origin = shared.link_origin();
    let database = shared.database.read();
    let Some(table) = database.tables.get(TABLE) else {
        return Err(Box::new(no_record_found()));
    };
    let Some(id) = table.id_of_sys_id(sys_id) else {
        return Err(Box::new(no_record_found()));
    };
    Ok((id, metadata_of(&database, table, id, &origin)))
}

pub(crate) fn no_record_found() -> Response<Body> {
    error_envelope(
        StatusCode::NOT_FOUND,
        "No Record found",
        Some("Record doesn't exist or ACL restricts the record retrieval"),
    )
}

fn result_body(fields: Map<String, Value>) -> String {
    let mut envelope = Map::new();
    envelope.insert("result".to_owned(), Value::Object(fields));
    Value::Object(envelope).to_string()
}

/// `GET /attachment/{sys_id}`.
fn metadata(shared: &Shared, sys_id: &str) -> Response<Body> {
    match find(shared, sys_id) {
        Ok((_, fields)) => json_response(StatusCode::OK, result_body(fields)),
        Err(response) => *response,
    }
}

/// `GET /attachment/{sys_id}/file`: the content with the attachment's `Content-Type` and its
/// metadata as JSON in `X-Attachment-Metadata`.
async fn download(shared: &Shared, sys_id: &str) -> Response<Body> {
    let (id, fields) = match find(shared, sys_id) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let (body, length) = match shared.attachments.open(sys_id).await {
        Some(Ok(opened)) => opened,
        Some(Err(error)) => {
            tracing::warn!(%error, "reading a stored attachment failed");
            return error_envelope(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                Some("The attachment content could not be read"),
            );
        }
        None => {
            // A generated row has seeded content; a row created through the Table API has none.
            let database = shared.database.read();
            let content = match database.tables.get(TABLE) {
                Some(table) if id < table.generated => {
                    generate::attachment_content(&database, table, id)
                }
                _ => Vec::new(),
            };
            let length = content.len() as u64;
            (wire::full_body(content), length)
        }
    };
    let mut response = Response::new(body);
    let content_type = fields
        .get("content_type")
        .and_then(Value::as_str)
        .and_then(|value| HeaderValue::from_str(value).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    insert_header(
        &mut response,
        "X-Attachment-Metadata",
        &ascii_json(&Value::Object(fields)),
    );
    response
}

/// JSON with every non-ASCII character escaped, so it fits in a header.
fn ascii_json(value: &Value) -> String {
    let mut out = String::new();
    for character in value.to_string().chars() {
        if character.is_ascii() {
            out.push(character);
        } else {
            let mut units = [0_u16; 2];
            for unit in character.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// A write refused by an ACL on `sys_attachment` or on the record's table.
fn write_denied(shared: &Shared, attached_to: &str, user: &str) -> Option<Response<Body>> {
    let settings = shared.settings.read();
    let denied = settings
        .write_acl_denials
        .iter()
        .any(|denial| denial.applies(TABLE, user) || denial.applies(attached_to, user));
    denied.then(|| {
        error_envelope(
            StatusCode::FORBIDDEN,
            "Operation Failed",
            Some("ACL Exception Update Failed due to security constraints"),
        )
    })
}

/// `DELETE /attachment/{sys_id}`: 204 with an empty body; the content is removed too.
fn delete(shared: &Shared, sys_id: &str, user: &str) -> Response<Body> {
    let (id, fields) = match find(shared, sys_id) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let attached_to = fields
        .get("table_name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Some(response) = write_denied(shared, attached_to, user) {
        return response;
    }
    if shared.database.write().delete(TABLE, id).is_err() {
        return no_record_found();
    }
    shared.attachments.remove(sys_id);
    let mut response = Response::new(wire::empty_body());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// `PATCH /attachment/{sys_id}` with `{"file_name": …}`: renames; 204.
fn rename(shared: &Shared, sys_id: &str, body: &[u8], user: &str) -> Response<Body> {
    let Some(file_name) = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|body| body["file_name"].as_str().map(str::to_owned))
        .filter(|name| !name.is_empty())
    else {
        return error_envelope(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            Some("A rename needs a JSON body with a non-empty file_name"),
        );
    };
    let (id, fields) = match find(shared, sys_id) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let attached_to = fields
        .get("table_name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Some(response) = write_denied(shared, attached_to, user) {
        return response;
    }
    let now = glide_date_time(shared.clock.unix_seconds());
    let input = [("file_name".to_owned(), file_name)];
    if shared
        .database
        .write()
        .update(TABLE, id, &input, user, &now)
        .is_err()
    {
        return no_record_found();
    }
    let mut response = Response::new(wire::empty_body());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_and_without_a_version_name_the_same_resources() {
        let id = "0123456789abcdef0123456789abcdef";
        for (path, prefix, route) in [
            ("/api/now/attachment", "/api/now/", Route::List),
            ("/api/now/v1/attachment/", "/api/now/v1/", Route::List),
            ("/api/now/attachment/file", "/api/now/", Route::UploadRaw),
            (
                "/api/now/v1/attachment/upload",
                "/api/now/v1/",
                Route::UploadMultipart,
            ),
            (
                &format!("/api/now/attachment/{id}"),
                "/api/now/",
                Route::Record(id.to_owned()),
            ),
            (
                &format!("/api/now/v1/attachment/{id}/file"),
                "/api/now/v1/",
                Route::File(id.to_owned()),
            ),
        ] {
            let target = parse(path).expect(path);
            assert_eq!((target.prefix, target.route), (prefix, route), "{path}");
        }
        assert!(parse("/api/now/attachments").is_none());
        assert!(parse("/api/now/table/sys_attachment").is_none());
        assert!(parse(&format!("/api/now/attachment/{id}/file/x")).is_none());
    }

    #[test]
    fn header_json_escapes_non_ascii() {
        let value = serde_json::json!({"file_name": "résumé 📎.txt"});
        let escaped = ascii_json(&value);
        assert!(escaped.is_ascii());
        assert_eq!(serde_json::from_str::<Value>(&escaped).unwrap(), value);
    }
}

//! Uploads: `POST /attachment/file` (the raw body, its `Content-Type` the file's) and
//! `POST /attachment/upload` (`multipart/form-data`: `table_name`, `table_sys_id`, then the
//! file part). The content goes to storage as it arrives, hashed on the way; a body larger
//! than `attachment_max_bytes` is refused as soon as it passes the limit.

use std::sync::Arc;

use http::{Response, StatusCode, header};
use http_body_util::{BodyDataStream, BodyExt as _};

use super::{
    TABLE, metadata_of, no_record_found, result_body,
    store::{Ingest, IngestError, Received},
    write_denied,
};
use crate::{
    clock::glide_date_time,
    server::{Incoming, Shared},
    table::insert_header,
    wire::{self, Body, error_envelope, json_response},
};

/// Where an upload goes and what it is called.
#[derive(Debug)]
struct Destination {
    table_name: String,
    table_sys_id: String,
    file_name: String,
    content_type: String,
}

/// `POST /attachment/file?table_name=&table_sys_id=&file_name=`.
pub(super) async fn raw(
    shared: &Arc<Shared>,
    head: &Incoming,
    mut body: hyper::body::Incoming,
    user: &str,
    prefix: &str,
) -> Response<Body> {
    let pairs = wire::form_pairs(head.uri.query().unwrap_or_default().as_bytes());
    let mut values = Vec::with_capacity(3);
    for name in ["table_name", "table_sys_id", "file_name"] {
        match wire::first(&pairs, name).filter(|value| !value.is_empty()) {
            Some(value) => values.push(value.to_owned()),
            None => return missing_parameter(name),
        }
    }
    let [table_name, table_sys_id, file_name]: [String; 3] = match values.try_into() {
        Ok(values) => values,
        Err(_) => return missing_parameter("table_name"),
    };
    let Some(content_type) = head
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.trim().is_empty())
    else {
        return error_envelope(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            Some("Content-Type is mandatory: it is the type of the attached file"),
        );
    };
    let destination = Destination {
        table_name,
        table_sys_id,
        file_name,
        content_type: content_type.trim().to_owned(),
    };
    if let Err(response) = check_destination(shared, &destination, user) {
        return *response;
    }
    let mut ingest = match begin(shared).await {
        Ok(ingest) => ingest,
        Err(response) => return response,
    };
    loop {
        let chunk = match body.frame().await {
            None => break,
            Some(Err(_)) => {
                ingest.abandon();
                return upload_interrupted();
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
        };
        if let Err(error) = ingest.push(&chunk).await {
            return refused(shared, error);
        }
    }
    finish(shared, ingest, &destination, user, prefix).await
}

/// `POST /attachment/upload` with `multipart/form-data`.
pub(super) async fn multipart(
    shared: &Arc<Shared>,
    head: &Incoming,
    body: hyper::body::Incoming,
    user: &str,
    prefix: &str,
) -> Response<Body> {
    let boundary = head
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| multer::parse_boundary(value).ok());
    let Some(boundary) = boundary else {
        return error_envelope(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            Some("The upload needs Content-Type: multipart/form-data with a boundary"),
        );
    };
    let mut form = multer::Multipart::new(BodyDataStream::new(body), boundary);
    let mut table_name = None;
    let mut table_sys_id = None;
    loop {
        let mut field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => {
                return error_envelope(
                    StatusCode::BAD_REQUEST,
                    "Bad Request",
                    Some("The multipart body has no file part"),
                );
            }
            Err(error) => return malformed(&error),
        };
        let Some(file_name) = field.file_name().map(str::to_owned) else {
            let name = field.name().unwrap_or_default().to_owned();
            let value = match field.text().await {
                Ok(value) => value,
                Err(error) => return malformed(&error),
            };
            match name.as_str() {
                "table_name" => table_name = Some(value),
                "table_sys_id" => table_sys_id = Some(value),
                _ => (),
            }
            continue;
        };
        // The file part: the form fields before it name the record.
        let Some(table_name) = table_name.take().filter(|value| !value.is_empty()) else {
            return missing_parameter("table_name");
        };
        let Some(table_sys_id) = table_sys_id.take().filter(|value| !value.is_empty()) else {
            return missing_parameter("table_sys_id");
        };
        let destination = Destination {
            table_name,
            table_sys_id,
            file_name,
            content_type: field.content_type().map_or_else(
                || "application/octet-stream".to_owned(),
                ToString::to_string,
            ),
        };
        if let Err(response) = check_destination(shared, &destination, user) {
            return *response;
        }
        let mut ingest = match begin(shared).await {
            Ok(ingest) => ingest,
            Err(response) => return response,
        };
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    if let Err(error) = ingest.push(&chunk).await {
                        return refused(shared, error);
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    ingest.abandon();
                    return malformed(&error);
                }
            }
        }
        return finish(shared, ingest, &destination, user, prefix).await;
    }
}

fn missing_parameter(name: &str) -> Response<Body> {
    error_envelope(
        StatusCode::BAD_REQUEST,
        "Bad Request",
        Some(&format!("The upload needs the {name} parameter")),
    )
}

fn malformed(error: &multer::Error) -> Response<Body> {
    error_envelope(
        StatusCode::BAD_REQUEST,
        "Bad Request",
        Some(&format!("The multipart upload body is malformed: {error}")),
    )
}

fn upload_interrupted() -> Response<Body> {
    error_envelope(
        StatusCode::BAD_REQUEST,
        "Bad Request",
        Some("The upload body ended early"),
    )
}

/// The record exists (400 for an unknown table, 404 for a missing record, as the Table API
/// answers them) and no ACL refuses the write.
fn check_destination(
    shared: &Shared,
    destination: &Destination,
    user: &str,
) -> Result<(), Box<Response<Body>>> {
    {
        let database = shared.database.read();
        let Some(table) = database.tables.get(&destination.table_name) else {
            return Err(Box::new(error_envelope(
                StatusCode::BAD_REQUEST,
                &format!("Invalid table {}", destination.table_name),
                None,
            )));
        };
        if table.id_of_sys_id(&destination.table_sys_id).is_none() {
            return Err(Box::new(no_record_found()));
        }
    }
    match write_denied(shared, &destination.table_name, user) {
        Some(response) => Err(Box::new(response)),
        None => Ok(()),
    }
}

async fn begin(shared: &Shared) -> Result<Ingest, Response<Body>> {
    let limit = shared.settings.read().attachment_max_bytes;
    shared
        .attachments
        .begin(limit)
        .await
        .map_err(|error| storage_failed(&error))
}

fn storage_failed(error: &IngestError) -> Response<Body> {
    match error {
        IngestError::Io(error) => tracing::warn!(%error, "storing an attachment failed"),
        IngestError::TooLarge { limit } => tracing::warn!(limit, "an attachment was too large"),
    }
    error_envelope(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal Server Error",
        Some("The attachment could not be stored"),
    )
}

/// The answer to an upload that failed while streaming in.
fn refused(shared: &Shared, error: IngestError) -> Response<Body> {
    match error {
        IngestError::TooLarge { limit } => {
            let status = shared.settings.read().attachment_too_large_status;
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::PAYLOAD_TOO_LARGE);
            let mut response = error_envelope(
                status,
                "Request entity too large",
                Some(&format!(
                    "The attachment is larger than the {limit} bytes this instance accepts"
                )),
            );
            // The rest of the body is not read: the connection cannot be reused.
            insert_header(&mut response, "Connection", "close");
            response
        }
        IngestError::Io(_) => storage_failed(&error),
    }
}

/// Records the metadata row, files the content under its sys_id and answers 201 with
/// `Location` (the `/file` URL under the prefix the request used, as PySNC's live test expects).
async fn finish(
    shared: &Shared,
    ingest: Ingest,
    destination: &Destination,
    user: &str,
    prefix: &str,
) -> Response<Body> {
    let received: Received = match ingest.finish().await {
        Ok(received) => received,
        Err(error) => return storage_failed(&error),
    };
    if let Err(error) = shared.attachments.reserve(&received) {
        return refused(shared, error);
    }
    let size = received.size.to_string();
    let input: Vec<(String, String)> = [
        ("file_name", destination.file_name.as_str()),
        ("table_name", destination.table_name.as_str()),
        ("table_sys_id", destination.table_sys_id.as_str()),
        ("content_type", destination.content_type.as_str()),
        ("size_bytes", size.as_str()),
        ("size_compressed", size.as_str()),
        ("compressed", "false"),
        ("hash", received.sha256_hex.as_str()),
        ("state", "available"),
        ("chunk_size_bytes", "700000"),
    ]
    .into_iter()
    .map(|(field, value)| (field.to_owned(), value.to_owned()))
    .collect();
    let now = glide_date_time(shared.clock.unix_seconds());
    let origin = shared.link_origin();
    let (sys_id, fields) = {
        let mut database = shared.database.write();
        let Ok(id) = database.insert(TABLE, &input, user, &now) else {
            drop(database);
            shared.attachments.unreserve(received);
            return storage_failed(&IngestError::Io(std::io::Error::other(
                "sys_attachment refused the row",
            )));
        };
        let Some(table) = database.tables.get(TABLE) else {
            return no_record_found();
        };
        (
            database.sys_id(table, id),
            metadata_of(&database, table, id, &origin),
        )
    };
    shared.attachments.commit(&sys_id, received);
    let mut response = json_response(StatusCode::CREATED, result_body(fields));
    insert_header(
        &mut response,
        "Location",
        &format!("{origin}{prefix}attachment/{sys_id}/file"),
    );
    response
}

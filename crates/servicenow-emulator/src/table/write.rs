//! `POST` (201 + `Location`), `PUT`/`PATCH` (200) and `DELETE` (204) on the Table API
//! (`servicenow-api.md` §2.1–§2.2): both `Accept` and `Content-Type` are required, only the
//! first record of an array is used, values are stored as strings.

use http::{Response, StatusCode, header};
use serde_json::Value;

use super::{
    TableRoute, accepts_json, insert_header,
    list::{invalid_table, no_record_found, single_record_body},
    render::RenderOptions,
};
use crate::{
    Settings,
    clock::glide_date_time,
    data::{Database, WriteProblem, schema::FieldKind},
    server::{Incoming, Shared},
    wire::{self, Body, error_envelope, first, form_pairs, json_response},
};

pub(super) fn create(
    shared: &Shared,
    request: &Incoming,
    route: &TableRoute,
    user: &str,
) -> Response<Body> {
    let input = match checked_input(request) {
        Ok(input) => input,
        Err(response) => return *response,
    };
    let now = glide_date_time(shared.clock.unix_seconds());
    let mut database = shared.database.write();
    let input = with_input_display_values(&database, &route.table, request, input);
    let Ok(id) = database.insert(&route.table, &input, user, &now) else {
        return invalid_table(&route.table);
    };
    let Some(table) = database.tables.get(&route.table) else {
        return invalid_table(&route.table);
    };
    let origin = shared.link_origin();
    let options =
        RenderOptions::from_query(request.uri.query().unwrap_or_default(), origin.clone());
    let body = if suppress_body(request) {
        Vec::new()
    } else {
        single_record_body(&database, table, id, &options)
    };
    let location = format!(
        "{origin}/api/now/table/{}/{}",
        route.table,
        database.sys_id(table, id)
    );
    drop(database);
    let mut response = json_response(StatusCode::CREATED, body);
    insert_header(&mut response, "Location", &location);
    response
}

pub(super) fn update(
    shared: &Shared,
    request: &Incoming,
    route: &TableRoute,
    user: &str,
) -> Response<Body> {
    let input = match checked_input(request) {
        Ok(input) => input,
        Err(response) => return *response,
    };
    let now = glide_date_time(shared.clock.unix_seconds());
    let mut database = shared.database.write();
    let Some(table) = database.tables.get(&route.table) else {
        return invalid_table(&route.table);
    };
    let Some(id) = route
        .sys_id
        .as_deref()
        .and_then(|sys_id| table.id_of_sys_id(sys_id))
    else {
        return no_record_found();
    };
    let input = with_input_display_values(&database, &route.table, request, input);
    if let Err(WriteProblem::NoSuchRecord | WriteProblem::InvalidTableName) =
        database.update(&route.table, id, &input, user, &now)
    {
        return no_record_found();
    }
    let Some(table) = database.tables.get(&route.table) else {
        return invalid_table(&route.table);
    };
    let options = RenderOptions::from_query(
        request.uri.query().unwrap_or_default(),
        shared.link_origin(),
    );
    let body = if suppress_body(request) {
        Vec::new()
    } else {
        single_record_body(&database, table, id, &options)
    };
    json_response(StatusCode::OK, body)
}

pub(super) fn delete(
    shared: &Shared,
    request: &Incoming,
    route: &TableRoute,
    settings: &Settings,
) -> Response<Body> {
    if let Err(response) = check_delete_headers(request, settings) {
        return *response;
    }
    let mut database = shared.database.write();
    let Some(table) = database.tables.get(&route.table) else {
        return invalid_table(&route.table);
    };
    let Some(id) = route
        .sys_id
        .as_deref()
        .and_then(|sys_id| table.id_of_sys_id(sys_id))
    else {
        return no_record_found();
    };
    match database.delete(&route.table, id) {
        Ok(()) => {
            drop(database);
            if route.table == "sys_attachment" {
                // The Attachment API's content goes with its row, however the row is deleted.
                shared
                    .attachments
                    .remove(route.sys_id.as_deref().unwrap_or_default());
            }
            let mut response = Response::new(wire::empty_body());
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
        Err(_) => no_record_found(),
    }
}

/// Both headers present, JSON in and out, and the body's first record as field → string.
fn checked_input(request: &Incoming) -> Result<Vec<(String, String)>, Box<Response<Body>>> {
    check_headers(request)?;
    let body: Value = match serde_json::from_slice(&request.body) {
        Ok(body) => body,
        Err(_) if request.body.iter().all(u8::is_ascii_whitespace) => {
            Value::Object(Default::default())
        }
        Err(error) => {
            return Err(Box::new(error_envelope(
                StatusCode::BAD_REQUEST,
                "Exception while reading request",
                Some(&format!("The payload is not valid JSON: {error}")),
            )));
        }
    };
    let record = match body {
        Value::Array(mut records) if !records.is_empty() => records.swap_remove(0),
        other => other,
    };
    let Value::Object(fields) = record else {
        return Err(Box::new(error_envelope(
            StatusCode::BAD_REQUEST,
            "Exception while reading request",
            Some("The payload must be a JSON object"),
        )));
    };
    Ok(fields
        .into_iter()
        .map(|(name, value)| (name, as_field_string(value)))
        .collect())
}

fn check_headers(request: &Incoming) -> Result<(), Box<Response<Body>>> {
    let missing =
        request.headers.get(header::CONTENT_TYPE).is_none() || accepts_json(request).is_none();
    if missing {
        return Err(Box::new(error_envelope(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            Some("POST, PUT, PATCH and DELETE require both Accept and Content-Type headers"),
        )));
    }
    if wire::media_type(&request.headers).as_deref() != Some("application/json") {
        return Err(Box::new(error_envelope(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            Some("This emulator accepts application/json only"),
        )));
    }
    if accepts_json(request) == Some(false) {
        return Err(Box::new(error_envelope(
            StatusCode::NOT_ACCEPTABLE,
            "Not Acceptable",
            Some("Use Accept: application/json"),
        )));
    }
    Ok(())
}

/// A DELETE has no body, so real clients send no `Content-Type` (and often no `Accept`): both
/// are optional unless `delete_requires_content_type`; an `Accept` that excludes JSON is
/// still refused.
fn check_delete_headers(
    request: &Incoming,
    settings: &Settings,
) -> Result<(), Box<Response<Body>>> {
    if settings.delete_requires_content_type {
        return check_headers(request);
    }
    if accepts_json(request) == Some(false) {
        return Err(Box::new(error_envelope(
            StatusCode::NOT_ACCEPTABLE,
            "Not Acceptable",
            Some("Use Accept: application/json"),
        )));
    }
    Ok(())
}

/// Values are stored as strings: numbers and booleans as written, `null` as empty, a
/// reference object by its `value`.
fn as_field_string(value: Value) -> String {
    match value {
        Value::String(text) => text,
        Value::Null => String::new(),
        Value::Object(object) => match object.get("value") {
            Some(Value::String(text)) => text.clone(),
            _ => Value::Object(object).to_string(),
        },
        other => other.to_string(),
    }
}

/// `sysparm_input_display_value=true`: choice labels and reference display values become
/// stored values.
fn with_input_display_values(
    database: &Database,
    table_name: &str,
    request: &Incoming,
    input: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let pairs = form_pairs(request.uri.query().unwrap_or_default().as_bytes());
    let enabled = first(&pairs, "sysparm_input_display_value")
        .is_some_and(|value| value.eq_ignore_ascii_case("true"));
    let Some(table) = database.tables.get(table_name).filter(|_| enabled) else {
        return input;
    };
    input
        .into_iter()
        .map(|(field, value)| {
            let kind = table
                .column_index(&field)
                .map(|column| table.columns[column].kind);
            let value = match kind {
                Some(FieldKind::Choice(choices)) => choices
                    .iter()
                    .find(|(_, label)| *label == value)
                    .map_or(value, |(choice, _)| (*choice).to_owned()),
                Some(FieldKind::Reference(target))
                    if database
                        .tables
                        .get(target)
                        .and_then(|target| target.id_of_sys_id(&value))
                        .is_none() =>
                {
                    database.find_by_display(target, &value).unwrap_or(value)
                }
                _ => value,
            };
            (field, value)
        })
        .collect()
}

fn suppress_body(request: &Incoming) -> bool {
    request
        .headers
        .get("X-no-response-body")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("true"))
}

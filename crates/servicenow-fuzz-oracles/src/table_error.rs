//! The oracle of the `table_error` fuzz target: ServiceNow's error envelope `{"error":{"message","detail"},"status":"failure"}` with any status (`error_from_response`).

use bytes::Bytes;
use servicenow_table::error_from_response;

/// Checks the properties of the target on one input; panics when one does not hold.
pub fn check(data: &[u8]) {
    let [high, low, retry_length, rest @ ..] = data else {
        return;
    };
    let Ok(status) = http::StatusCode::from_u16(100 + u16::from_be_bytes([*high, *low]) % 900)
    else {
        return;
    };
    let split = usize::from(*retry_length).min(rest.len());
    let (retry_after, body) = rest.split_at(split);
    let mut builder = http::Response::builder().status(status);
    if let Ok(value) = http::HeaderValue::from_bytes(retry_after) {
        builder = builder.header("retry-after", value);
    }
    let response = builder
        .body(Bytes::copy_from_slice(body))
        .expect("validated parts");
    let error = error_from_response(&response, "fuzz operation");
    assert_eq!(
        error.status(),
        Some(status),
        "the error must keep the status"
    );
    let text = error.to_string();
    assert!(
        text.contains("fuzz operation"),
        "the message must name the operation: {text}"
    );
    let _ = (format!("{error:?}"), error.service_now_message());
}

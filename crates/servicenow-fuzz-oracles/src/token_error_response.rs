//! The oracle of the `token_error_response` fuzz target: a failed token request (RFC 6749 §5.2 and ServiceNow's own shapes), with any status, `Retry-After` and body.

use servicenow_oauth::{TokenResponseOptions, parse_token_response, parse_token_response_body};

/// Checks the properties of the target on one input; panics when one does not hold.
pub fn check(data: &[u8]) {
    // Two bytes of status (mapped to 100..=999), one byte of Retry-After length, then the body.
    let [high, low, retry_length, rest @ ..] = data else {
        return;
    };
    let status = 100 + u16::from_be_bytes([*high, *low]) % 900;
    let Ok(status) = http::StatusCode::from_u16(status) else {
        return;
    };
    let split = usize::from(*retry_length).min(rest.len());
    let (retry_after, body) = rest.split_at(split);
    let mut builder = http::Response::builder().status(status);
    if let Ok(value) = http::HeaderValue::from_bytes(retry_after) {
        builder = builder.header("retry-after", value);
    }
    let response = builder
        .body(body.to_vec())
        .expect("status and header were validated");
    let options = TokenResponseOptions::default();
    let with_headers = parse_token_response(&response, &options);
    let without_headers = parse_token_response_body(status, body, &options);
    assert_eq!(
        with_headers.is_ok(),
        without_headers.is_ok(),
        "headers changed whether the response is a token"
    );
    if !status.is_success() {
        assert!(with_headers.is_err(), "a non-2xx status produced a token");
    }
    if let Err(error) = with_headers {
        let text = error.to_string();
        let _ = (format!("{error:?}"), error.class(), error.error_response());
        assert!(!text.is_empty());
    }
}

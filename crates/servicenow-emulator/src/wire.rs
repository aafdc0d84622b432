//! HTTP plumbing shared by the handlers: response bodies, headers, forms, cookies, Basic auth.

use std::{
    future::Future as _,
    pin::Pin,
    task::{Context, Poll},
};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Frame, SizeHint};

/// The body type of every response.
pub(crate) type Body = BoxBody<Bytes, std::io::Error>;

/// What a handler returns: a response, or `Err` to close the connection without one.
pub(crate) type HandlerResult = Result<Response<Body>, std::io::Error>;

/// The `Content-Type` ServiceNow sends with JSON.
pub(crate) const JSON_CONTENT_TYPE: &str = "application/json;charset=UTF-8";

pub(crate) fn full_body(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

pub(crate) fn empty_body() -> Body {
    full_body(Bytes::new())
}

/// A body that declares the length of `bytes`, sends the first half, waits a moment (so the
/// half is flushed to the socket) and then fails, so the connection is closed before the
/// declared `Content-Length` is reached.
pub(crate) fn truncated_body(bytes: Bytes) -> Body {
    TruncatedBody {
        declared: bytes.len() as u64,
        remaining: Some(bytes.slice(..bytes.len() / 2)),
        pause: Box::pin(tokio::time::sleep(std::time::Duration::from_millis(20))),
    }
    .boxed()
}

struct TruncatedBody {
    declared: u64,
    remaining: Option<Bytes>,
    pause: Pin<Box<tokio::time::Sleep>>,
}

impl hyper::body::Body for TruncatedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(data) = self.remaining.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        match self.pause.as_mut().poll(context) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(Some(Err(std::io::Error::other(
                "fault injection: body truncated",
            )))),
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.declared)
    }
}

/// A response with a body and a content type.
pub(crate) fn response(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut response = Response::new(full_body(body));
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

pub(crate) fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    response(status, JSON_CONTENT_TYPE, body)
}

pub(crate) fn html_response(status: StatusCode, body: String) -> Response<Body> {
    let mut response = response(status, "text/html;charset=UTF-8", body);
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("X-Frame-Options", HeaderValue::from_static("DENY"));
    // No `form-action`: browsers apply it to the redirect that follows the consent form, and
    // that redirect goes to the client's callback on another origin.
    headers.insert(
        "Content-Security-Policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    response
}

/// A `302 Found` to `location`; `None` if the location is not a valid header value.
pub(crate) fn redirect(location: &str) -> Option<Response<Body>> {
    let value = HeaderValue::from_str(location).ok()?;
    let mut response = Response::new(empty_body());
    *response.status_mut() = StatusCode::FOUND;
    response.headers_mut().insert(header::LOCATION, value);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Some(response)
}

/// ServiceNow's REST error envelope `{"error":{"message","detail"},"status":"failure"}`, with
/// the members in that order.
pub(crate) fn error_envelope(
    status: StatusCode,
    message: &str,
    detail: Option<&str>,
) -> Response<Body> {
    json_response(status, error_envelope_body(message, detail))
}

pub(crate) fn error_envelope_body(message: &str, detail: Option<&str>) -> String {
    let quote = |text: &str| serde_json::Value::from(text).to_string();
    format!(
        r#"{{"error":{{"message":{},"detail":{}}},"status":"failure"}}"#,
        quote(message),
        detail.map_or_else(|| "null".to_owned(), quote)
    )
}

/// Decoded `name=value` pairs of a URL query or form body, in order.
pub(crate) fn form_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes)
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

/// The first value of `name` among `pairs`.
pub(crate) fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// Whether `name` appears more than once (RFC 6749 §3.1: parameters must not repeat).
pub(crate) fn repeated(pairs: &[(String, String)], name: &str) -> bool {
    pairs.iter().filter(|(key, _)| key == name).count() > 1
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// `(user, password)` from an `Authorization: Basic` header, if there is one.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// The token of an `Authorization: Bearer` header, if there is one.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The media type of `Content-Type` without parameters, lower-cased.
pub(crate) fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    )
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn html_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Random URL-safe text from `bytes` random bytes (base64url, no padding).
pub(crate) fn random_token(bytes: usize) -> String {
    use rand::RngCore as _;
    let mut buffer = vec![0_u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buffer)
}

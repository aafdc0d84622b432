//! Redacting `Debug` views of the `http` values this crate builds and parses, whose own `Debug`
//! prints bodies, URIs and header values that hold secrets.

use std::fmt;

/// A `Debug` view of a request that shows its method, its URI without the query, its header
/// names and its body length: never a header value, a query or a body byte.
///
/// `http::Request`'s own `Debug` prints the body bytes (a token request's body holds the client
/// secret, the code or the refresh token) and the full URI (the documented revocation GET puts
/// the token in the query). Wrap requests in this before they reach a log or a `Debug` derive.
///
/// ```
/// # use servicenow_oauth::RedactedRequest;
/// let request = http::Request::post("https://x.example/oauth_token.do?token=secret")
///     .header("authorization", "Basic c2VjcmV0")
///     .body(b"client_secret=secret".to_vec())?;
/// assert_eq!(
///     format!("{:?}", RedactedRequest(&request)),
///     "POST https://x.example/oauth_token.do?[redacted] headers=[authorization] body=20 bytes",
/// );
/// # Ok::<(), http::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct RedactedRequest<'a, B: AsRef<[u8]>>(pub &'a http::Request<B>);

/// A `Debug` view of a response that shows its status, its header names and its body length:
/// never a header value or a body byte (a token response's body holds the tokens).
#[derive(Clone, Copy)]
pub struct RedactedResponse<'a, B: AsRef<[u8]>>(pub &'a http::Response<B>);

impl<B: AsRef<[u8]>> fmt::Debug for RedactedRequest<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let request = self.0;
        let uri = request.uri();
        write!(f, "{} ", request.method())?;
        if let Some(scheme) = uri.scheme_str() {
            write!(f, "{scheme}://")?;
        }
        if let Some(authority) = uri.authority() {
            // An authority may carry `user:password@`; show the host and port only.
            f.write_str(authority.host())?;
            if let Some(port) = authority.port() {
                write!(f, ":{port}")?;
            }
        }
        f.write_str(uri.path())?;
        if uri.query().is_some() {
            f.write_str("?[redacted]")?;
        }
        write_headers_and_body(f, request.headers(), request.body().as_ref())
    }
}

impl<B: AsRef<[u8]>> fmt::Debug for RedactedResponse<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let response = self.0;
        write!(f, "{}", response.status())?;
        write_headers_and_body(f, response.headers(), response.body().as_ref())
    }
}

fn write_headers_and_body(
    f: &mut fmt::Formatter<'_>,
    headers: &http::HeaderMap,
    body: &[u8],
) -> fmt::Result {
    f.write_str(" headers=[")?;
    for (index, name) in headers.keys().enumerate() {
        if index > 0 {
            f.write_str(", ")?;
        }
        f.write_str(name.as_str())?;
    }
    write!(f, "] body={} bytes", body.len())
}

//! `BlockingTransport` (feature `blocking`): an `HttpTransport` over a blocking client, each request run on Tokio's blocking thread pool.

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use bytes::Bytes;

use crate::{HttpTransport, TransportError, policy::check_url};

/// An [`HttpTransport`] over a blocking HTTP client (`ureq`, `attohttpc`, a corporate SDK): the
/// function you give sends one request and returns the whole response, and each call runs on
/// Tokio's blocking pool (`tokio::task::spawn_blocking`), so no async worker thread waits on a
/// socket. Call it from within a Tokio runtime.
///
/// The URL policy of [`check_url`] is applied before your function is called (`https` only,
/// `http` to loopback). The rest of the hardening is the function's to apply: follow no
/// redirect, cap the body ([`TransportError::body_too_large`]), set deadlines
/// ([`TransportError::timeout`]); the `TransportError` constructors map its errors.
///
/// ```
/// use servicenow_http::{BlockingTransport, HttpTransport, bytes::Bytes, http};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::runtime::Builder::new_multi_thread().build()?.block_on(async {
/// // A stand-in for a blocking client's call.
/// let transport = BlockingTransport::new(|request: http::Request<Bytes>| {
///     assert_eq!(request.uri().path(), "/api/now/table/incident");
///     Ok(http::Response::new(Bytes::from_static(b"{\"result\":[]}")))
/// });
/// let request = http::Request::get("https://dev1.service-now.com/api/now/table/incident").body(Bytes::new())?;
/// assert_eq!(transport.send(request).await?.body(), "{\"result\":[]}");
///
/// let insecure = http::Request::get("http://dev1.service-now.com/").body(Bytes::new())?;
/// assert!(transport.send(insecure).await.is_err(), "refused before the function is called");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # })
/// # }
/// ```
pub struct BlockingTransport<F> {
    send: Arc<F>,
}

impl<F> BlockingTransport<F>
where
    F: Fn(http::Request<Bytes>) -> Result<http::Response<Bytes>, TransportError>
        + Send
        + Sync
        + 'static,
{
    /// A transport that sends each request with `send`, on the blocking pool.
    pub fn new(send: F) -> Self {
        Self {
            send: Arc::new(send),
        }
    }
}

impl<F> fmt::Debug for BlockingTransport<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingTransport").finish_non_exhaustive()
    }
}

#[async_trait]
impl<F> HttpTransport for BlockingTransport<F>
where
    F: Fn(http::Request<Bytes>) -> Result<http::Response<Bytes>, TransportError>
        + Send
        + Sync
        + 'static,
{
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        check_url(request.uri())?;
        let uri = request.uri().clone();
        let send = Arc::clone(&self.send);
        match tokio::task::spawn_blocking(move || send(request)).await {
            Ok(result) => result,
            // The function panicked: the panic is the caller's, so it goes on unwinding.
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // The runtime is shutting down and dropped the task.
            Err(error) => Err(TransportError::interrupted(&uri, error)),
        }
    }
}

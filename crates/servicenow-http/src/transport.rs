//! The object-safe `HttpTransport` trait (buffered `send`, streaming `send_streaming`) and its
//! blanket implementations for pointers.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{RequestBody, ResponseBody, StreamLimits, TransportError};

/// Sends one HTTP request and returns the complete response, or (with
/// [`send_streaming`](Self::send_streaming)) streams a large body up or down.
///
/// Object-safe, so `Arc<dyn HttpTransport>` is a transport too. Implementations must return every
/// response, whatever its status (a 3xx included: redirects are not followed), and use `Err` only
/// when no complete response was obtained.
///
/// The trait is declared with `#[async_trait]`, so an implementation is written with
/// [`#[async_trait]`](macro@crate::async_trait) too (re-exported by this crate; `Bytes` and
/// `http` are re-exported as well):
///
/// ```
/// use servicenow_http::{HttpTransport, TransportError, async_trait, bytes::Bytes, http};
///
/// struct Refuses;
///
/// #[async_trait]
/// impl HttpTransport for Refuses {
///     async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, TransportError> {
///         Err(TransportError::connect_refused(request.uri(), "nothing listens there"))
///     }
/// }
/// ```
///
/// # Streaming
///
/// [`send`](Self::send) is the fast path for JSON: the whole body in memory, under the
/// transport's cap and total deadline. [`send_streaming`](Self::send_streaming) moves a body
/// that should not sit in memory (an attachment): the request body is read piece by piece from a
/// [`RequestBody`], the response body arrives as a [`ResponseBody`] stream, under the
/// caller's [`StreamLimits`] (a size limit and an idle timeout). It is a provided method, so a
/// transport written before it existed keeps compiling: its default reads the request body into
/// memory and calls `send` (correct, capped, but not constant memory). The built-in transports
/// override it.
#[async_trait]
pub trait HttpTransport: Send + Sync {
    /// Sends `request` and waits for the whole response body.
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError>;

    /// Sends `request` with its body read piece by piece and returns once the response head
    /// has arrived; the body follows as a stream within `limits`.
    ///
    /// The default implementation buffers both bodies through [`send`](Self::send) and checks
    /// the response against `limits.max_body`.
    async fn send_streaming(
        &self,
        request: http::Request<RequestBody>,
        limits: StreamLimits,
    ) -> Result<http::Response<ResponseBody>, TransportError> {
        crate::streaming::buffered(self, request, limits).await
    }
}

#[async_trait]
impl<T: HttpTransport + ?Sized> HttpTransport for Arc<T> {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        (**self).send(request).await
    }

    async fn send_streaming(
        &self,
        request: http::Request<RequestBody>,
        limits: StreamLimits,
    ) -> Result<http::Response<ResponseBody>, TransportError> {
        (**self).send_streaming(request, limits).await
    }
}

#[async_trait]
impl<T: HttpTransport + ?Sized> HttpTransport for Box<T> {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        (**self).send(request).await
    }

    async fn send_streaming(
        &self,
        request: http::Request<RequestBody>,
        limits: StreamLimits,
    ) -> Result<http::Response<ResponseBody>, TransportError> {
        (**self).send_streaming(request, limits).await
    }
}

#[async_trait]
impl<T: HttpTransport + ?Sized> HttpTransport for &T {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        (**self).send(request).await
    }

    async fn send_streaming(
        &self,
        request: http::Request<RequestBody>,
        limits: StreamLimits,
    ) -> Result<http::Response<ResponseBody>, TransportError> {
        (**self).send_streaming(request, limits).await
    }
}

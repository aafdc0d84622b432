//! The object-safe `HttpTransport` trait and its blanket implementations for pointers.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::TransportError;

/// Sends one HTTP request and returns the complete response.
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
#[async_trait]
pub trait HttpTransport: Send + Sync {
    /// Sends `request` and waits for the whole response body.
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError>;
}

#[async_trait]
impl<T: HttpTransport + ?Sized> HttpTransport for Arc<T> {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        (**self).send(request).await
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
}

#[async_trait]
impl<T: HttpTransport + ?Sized> HttpTransport for &T {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        (**self).send(request).await
    }
}

//! `RequestSender`: what a REST client sends through — a transport, or a layer over one that
//! adds credentials and fails in its own typed way.

use async_trait::async_trait;
use bytes::Bytes;

use crate::{HttpTransport, RequestBody, ResponseBody, StreamLimits, TransportError};

/// What a REST client sends requests through: any [`HttpTransport`], or a layer over one that
/// adds credentials and fails in its own typed way.
///
/// Every `HttpTransport` is a `RequestSender` whose error is [`TransportError`]. A layer (such as
/// the `servicenow` facade's authorizing sender) implements this trait instead of
/// `HttpTransport`, so that its own failures (no credential, a foreign origin) reach the caller
/// as its own error type, with no boxing into a transport error and no downcast to get them
/// back. Object-safe: `dyn RequestSender<Error = E>` works.
///
/// The method is named `send_request`, not `send`, so that both traits can be in scope.
///
/// ```
/// use bytes::Bytes;
/// use servicenow_http::{RequestSender, SenderError, TransportError, async_trait};
///
/// /// The layer's own failure, or the transport's.
/// #[derive(Debug, thiserror::Error)]
/// enum SignError {
///     #[error("signing request: no key is configured")]
///     NoKey,
///     #[error(transparent)]
///     Transport(#[from] TransportError),
/// }
///
/// impl SenderError for SignError {
///     fn as_transport(&self) -> Option<&TransportError> {
///         match self {
///             Self::Transport(error) => Some(error),
///             Self::NoKey => None,
///         }
///     }
/// }
///
/// /// Adds a header before handing the request to the transport below.
/// struct Signing<T> {
///     inner: T,
///     key: Option<http::HeaderValue>,
/// }
///
/// #[async_trait]
/// impl<T: RequestSender<Error = TransportError>> RequestSender for Signing<T> {
///     type Error = SignError;
///
///     async fn send_request(&self, mut request: http::Request<Bytes>) -> Result<http::Response<Bytes>, SignError> {
///         let key = self.key.clone().ok_or(SignError::NoKey)?;
///         request.headers_mut().insert("x-signature", key);
///         Ok(self.inner.send_request(request).await?)
///     }
/// }
/// # fn main() {}
/// ```
#[async_trait]
pub trait RequestSender: Send + Sync {
    /// What a failed send reports: [`TransportError`] for a plain transport, the layer's own
    /// type for a layer.
    type Error: SenderError;

    /// Sends `request` and waits for the whole response body. As with
    /// [`HttpTransport::send`], any status is a response, not an error.
    async fn send_request(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, Self::Error>;

    /// Sends `request` with a streamed body and returns once the response head has arrived (as
    /// [`HttpTransport::send_streaming`]). A layer that may send a request twice must send a
    /// one-shot [`RequestBody`] at most once.
    ///
    /// The default implementation buffers both bodies through
    /// [`send_request`](Self::send_request), so a layer written before streaming existed keeps
    /// compiling.
    async fn send_request_streaming(
        &self,
        request: http::Request<RequestBody>,
        limits: StreamLimits,
    ) -> Result<http::Response<ResponseBody>, Self::Error> {
        let (parts, body) = request.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|error| TransportError::interrupted(&parts.uri, error))?;
        let response = self
            .send_request(http::Request::from_parts(parts, body))
            .await?;
        if response.body().len() > limits.max_body {
            return Err(TransportError::BodyTooLarge {
                limit: limits.max_body,
            }
            .into());
        }
        Ok(response.map(ResponseBody::from_bytes))
    }
}

/// A sender's failure: a transport failure, or the layer's own (which a client never retries).
pub trait SenderError: std::error::Error + Send + Sync + 'static + From<TransportError> {
    /// The transport failure, for retry decisions; `None` for a failure of the layer itself.
    fn as_transport(&self) -> Option<&TransportError>;
}

impl SenderError for TransportError {
    fn as_transport(&self) -> Option<&TransportError> {
        Some(self)
    }
}

#[async_trait]
impl<T: HttpTransport + ?Sized> RequestSender for T {
    type Error = TransportError;

    async fn send_request(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        self.send(request).await
    }

    async fn send_request_streaming(
        &self,
        request: http::Request<RequestBody>,
        limits: StreamLimits,
    ) -> Result<http::Response<ResponseBody>, TransportError> {
        self.send_streaming(request, limits).await
    }
}

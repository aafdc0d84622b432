//! `AuthorizedTransport`: adds the bearer token to requests for the instance, and only for it; its failures are typed facade errors.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use servicenow_http::{HttpTransport, RequestBody, RequestSender, ResponseBody, StreamLimits};
use servicenow_oauth::{InstanceUrl, origin_of};

use crate::{error::Error, manager::TokenManager};

/// A [`RequestSender`] that adds `Authorization: Bearer …` from a [`TokenManager`].
///
/// - The token is added **only** to requests for the configured instance's origin
///   ([`InstanceUrl::same_origin`], the one origin rule); a request for any other origin is
///   refused with [`Error::ForeignOrigin`] before anything is sent, so a token can never leak to
///   a host named in a `Link` or `Location`.
/// - On a 401 from the instance it tells the manager which token was refused and retries
///   **once** with a fresh token; a second 401 is returned to the caller as it is.
/// - A **streamed** request ([`RequestSender::send_request_streaming`]) follows the same rules,
///   except that its body is read as it is sent: on a 401 it is sent again only if its
///   [`RequestBody`] is replayable ([`RequestBody::try_clone`]: a body of bytes, or one that
///   reopens its source, as an upload from a file path does). A one-shot body (from an
///   `AsyncRead`) is not sent twice: the refused token is set aside and the call fails with
///   [`Error::UploadNotReplayable`], so that sending it again from a new reader uses a fresh
///   token.
/// - It fails with the facade's own [`Error`]: why no token could be had
///   ([`Error::ReauthorizationRequired`], [`Error::TokenUnavailable`], a store failure) arrives
///   typed, and a transport failure is [`Error::Transport`], which the table client retries as
///   any transport failure.
///
/// The Table API client takes this as its sender, so it never sees a token.
#[derive(Clone)]
pub struct AuthorizedTransport<T = Arc<dyn HttpTransport>> {
    inner: T,
    manager: TokenManager,
    instance: InstanceUrl,
}

impl<T> std::fmt::Debug for AuthorizedTransport<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizedTransport")
            .field("instance", &self.instance)
            .field("manager", &self.manager)
            .finish_non_exhaustive()
    }
}

impl<T: HttpTransport> AuthorizedTransport<T> {
    /// Authorizes requests to `instance` sent through `inner` with tokens from `manager`.
    pub fn new(inner: T, manager: TokenManager, instance: InstanceUrl) -> Self {
        Self {
            inner,
            manager,
            instance,
        }
    }

    /// The token manager behind this transport.
    pub fn manager(&self) -> &TokenManager {
        &self.manager
    }

    async fn send_with_token(
        &self,
        parts: &http::request::Parts,
        body: &Bytes,
    ) -> Result<(http::Response<Bytes>, servicenow_auth::TokenId), Error> {
        let bearer = self.manager.bearer().await?;
        let mut request = http::Request::new(body.clone());
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = parts.uri.clone();
        *request.version_mut() = parts.version;
        *request.headers_mut() = parts.headers.clone();
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, bearer.header_value());
        let response = self.inner.send(request).await?;
        Ok((response, bearer.id()))
    }

    async fn send_streaming_with_token(
        &self,
        parts: &http::request::Parts,
        body: RequestBody,
        limits: StreamLimits,
    ) -> Result<(http::Response<ResponseBody>, servicenow_auth::TokenId), Error> {
        let bearer = self.manager.bearer().await?;
        let mut request = http::Request::new(body);
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = parts.uri.clone();
        *request.version_mut() = parts.version;
        *request.headers_mut() = parts.headers.clone();
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, bearer.header_value());
        let response = self.inner.send_streaming(request, limits).await?;
        Ok((response, bearer.id()))
    }

    fn check_origin(&self, uri: &http::Uri) -> Result<(), Error> {
        if self.instance.same_origin(uri) {
            return Ok(());
        }
        Err(Error::ForeignOrigin {
            origin: origin_of(uri).unwrap_or_else(|| "a url without an origin".to_owned()),
            instance: self.instance.origin().to_owned(),
        })
    }
}

#[async_trait]
impl<T: HttpTransport> RequestSender for AuthorizedTransport<T> {
    type Error = Error;

    async fn send_request(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, Error> {
        self.check_origin(request.uri())?;
        let (parts, body) = request.into_parts();
        let (response, token_id) = self.send_with_token(&parts, &body).await?;
        if response.status() != http::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        tracing::info!(
            path = parts.uri.path(),
            "the instance refused the access token; refreshing and retrying once"
        );
        self.manager.unauthorized(token_id);
        let (retried, _) = self.send_with_token(&parts, &body).await?;
        Ok(retried)
    }
    async fn send_request_streaming(
        &self,
        request: http::Request<RequestBody>,
        limits: StreamLimits,
    ) -> Result<http::Response<ResponseBody>, Error> {
        self.check_origin(request.uri())?;
        let (parts, body) = request.into_parts();
        // A replayable body keeps a second copy for the retry; a one-shot body has none.
        let spare = body.try_clone();
        let (response, token_id) = self.send_streaming_with_token(&parts, body, limits).await?;
        if response.status() != http::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        self.manager.unauthorized(token_id);
        let Some(spare) = spare else {
            tracing::info!(
                path = parts.uri.path(),
                "the instance refused the access token for a one-shot upload; it cannot be sent again"
            );
            return Err(Error::UploadNotReplayable {
                path: parts.uri.path().to_owned(),
            });
        };
        tracing::info!(
            path = parts.uri.path(),
            "the instance refused the access token; refreshing and sending the replayable body again"
        );
        drop(response);
        let (retried, _) = self
            .send_streaming_with_token(&parts, spare, limits)
            .await?;
        Ok(retried)
    }
}

//! `AuthorizedTransport`: adds the bearer token to requests for the instance, and only for it; its failures are typed facade errors.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use servicenow_http::{HttpTransport, RequestSender};
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
}

#[async_trait]
impl<T: HttpTransport> RequestSender for AuthorizedTransport<T> {
    type Error = Error;

    async fn send_request(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, Error> {
        if !self.instance.same_origin(request.uri()) {
            return Err(Error::ForeignOrigin {
                origin: origin_of(request.uri())
                    .unwrap_or_else(|| "a url without an origin".to_owned()),
                instance: self.instance.origin().to_owned(),
            });
        }
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
}

//! `AuthorizedTransport`: adds the bearer token to requests for the instance, and only for it.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use servicenow_http::{HttpTransport, TransportError};
use servicenow_oauth::InstanceUrl;

use crate::{error::Error, manager::TokenManager};

/// An [`HttpTransport`] that adds `Authorization: Bearer …` from a [`TokenManager`].
///
/// - The token is added **only** to requests whose origin is the configured instance's; a
///   request for any other origin is refused with [`TransportError::Unauthorized`] before
///   anything is sent, so a token can never leak to a host named in a `Link` or `Location`.
/// - On a 401 from the instance it tells the manager which token was refused and retries
///   **once** with a fresh token; a second 401 is returned to the caller as it is.
///
/// The Table API client takes this as its transport, so it never sees a token.
#[derive(Clone)]
pub struct AuthorizedTransport<T = Arc<dyn HttpTransport>> {
    inner: T,
    manager: TokenManager,
    origin: String,
    allowed: Origin,
}

/// An origin as compared on every request: scheme, lowercase host, port with the scheme's
/// default filled in. Precomputed once, so the check formats and parses nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Origin {
    https: bool,
    host: String,
    port: u16,
}

impl Origin {
    fn of(uri: &http::Uri) -> Option<Self> {
        let https = match uri.scheme_str()? {
            scheme if scheme.eq_ignore_ascii_case("https") => true,
            scheme if scheme.eq_ignore_ascii_case("http") => false,
            _ => return None,
        };
        let authority = uri.authority()?;
        if authority.as_str().contains('@') {
            return None;
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        Some(Self {
            https,
            host: authority.host().to_ascii_lowercase(),
            port,
        })
    }

    /// Whether `uri` is on this origin, without allocating when the host's case already matches.
    fn matches(&self, uri: &http::Uri) -> bool {
        let Some(authority) = uri.authority() else {
            return false;
        };
        let https = match uri.scheme_str() {
            Some(scheme) if scheme.eq_ignore_ascii_case("https") => true,
            Some(scheme) if scheme.eq_ignore_ascii_case("http") => false,
            _ => return false,
        };
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        https == self.https
            && port == self.port
            && !authority.as_str().contains('@')
            && authority.host().eq_ignore_ascii_case(&self.host)
    }
}

impl<T> std::fmt::Debug for AuthorizedTransport<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizedTransport")
            .field("origin", &self.origin)
            .field("manager", &self.manager)
            .finish_non_exhaustive()
    }
}

impl<T: HttpTransport> AuthorizedTransport<T> {
    /// Authorizes requests to `instance` sent through `inner` with tokens from `manager`.
    pub fn new(inner: T, manager: TokenManager, instance: &InstanceUrl) -> Self {
        let allowed = instance
            .origin()
            .parse::<http::Uri>()
            .ok()
            .and_then(|uri| Origin::of(&uri))
            // An InstanceUrl's origin always parses; were it not to, nothing would match.
            .unwrap_or(Origin {
                https: true,
                host: String::new(),
                port: 0,
            });
        Self {
            inner,
            manager,
            origin: instance.origin().to_owned(),
            allowed,
        }
    }

    /// The token manager behind this transport.
    pub fn manager(&self) -> &TokenManager {
        &self.manager
    }

    fn check_origin(&self, uri: &http::Uri) -> Result<(), TransportError> {
        if self.allowed.matches(uri) {
            return Ok(());
        }
        let origin = origin_of(uri);
        let error = Error::ForeignOrigin {
            origin: origin.unwrap_or_else(|| "an unparsable url".to_owned()),
            instance: self.origin.clone(),
        };
        Err(TransportError::Unauthorized {
            reason: error.to_string(),
            source: None,
        })
    }

    async fn send_with_token(
        &self,
        parts: &http::request::Parts,
        body: &Bytes,
    ) -> Result<(http::Response<Bytes>, servicenow_auth::TokenId), TransportError> {
        let bearer = self
            .manager
            .bearer()
            .await
            .map_err(|error| TransportError::Unauthorized {
                reason: error.to_string(),
                source: Some(Box::new(error)),
            })?;
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
impl<T: HttpTransport> HttpTransport for AuthorizedTransport<T> {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
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
}

/// `scheme://host[:port]` of a URI, serialized as the instance's origin is (lowercase host,
/// default port omitted), or `None` for a URI that is not absolute.
fn origin_of(uri: &http::Uri) -> Option<String> {
    let url = url::Url::parse(&uri.to_string()).ok()?;
    match url.origin() {
        origin @ url::Origin::Tuple(..) => Some(origin.ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport_origin(instance: &str) -> Origin {
        Origin::of(&instance.parse().unwrap()).unwrap()
    }

    #[test]
    fn the_origin_check_matches_scheme_host_and_port_exactly() {
        let allowed = transport_origin("https://dev1.service-now.com");
        let uri = |text: &str| text.parse::<http::Uri>().unwrap();
        assert!(allowed.matches(&uri("https://dev1.service-now.com/api/now/table/incident")));
        assert!(allowed.matches(&uri("HTTPS://DEV1.Service-Now.com:443/api/now/table/x?y=1")));
        for foreign in [
            "http://dev1.service-now.com/api",
            "https://dev1.service-now.com:8443/api",
            "https://dev1.service-now.com.evil.example/api",
            "https://evil.example/dev1.service-now.com",
            "https://user@dev1.service-now.com/api",
            "/api/now/table/incident",
        ] {
            assert!(!allowed.matches(&uri(foreign)), "{foreign} must not match");
        }
        let loopback = transport_origin("http://127.0.0.1:8080");
        assert!(loopback.matches(&uri("http://127.0.0.1:8080/api")));
        assert!(!loopback.matches(&uri("http://127.0.0.1:8081/api")));
    }

    #[test]
    fn origins_compare_as_the_instance_serializes_them() {
        let uri: http::Uri = "HTTPS://Dev1.Service-Now.com:443/api/now/table/incident?x=1"
            .parse()
            .unwrap();
        assert_eq!(
            origin_of(&uri).as_deref(),
            Some("https://dev1.service-now.com")
        );
        let relative: http::Uri = "/api/now/table/incident".parse().unwrap();
        assert_eq!(origin_of(&relative), None);
    }
}

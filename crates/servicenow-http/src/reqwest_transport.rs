//! `ReqwestTransport`: the `HttpTransport` built on reqwest (rustls, no redirects, capped bodies, the configured trust and proxy).

use std::{io::ErrorKind, time::Duration};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;

use crate::{
    HttpTransport, RequestBody, ResponseBody, StreamLimits, TimeoutPhase, TransportConfig,
    TransportError,
    error::{chain_has_io_kind, failure, tls_problem},
    idle::{Progress, watched_download, watched_upload, within_idle},
    policy::check_url,
    proxy::ProxyPlan,
    trust,
};

/// An [`HttpTransport`] over a [`reqwest::Client`].
///
/// [`ReqwestTransport::new`] and [`ReqwestTransport::with_config`] build a hardened client:
/// redirects never followed, connect and total timeouts, rustls with the trust, client
/// identity and proxy of the [`TransportConfig`]. That covers company networks (an inspection
/// CA, mutual TLS, a proxy); [`from_client`](Self::from_client) is for the rare rest.
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    config: TransportConfig,
}

impl ReqwestTransport {
    /// A hardened transport with [`TransportConfig::default`].
    pub fn new() -> Result<Self, TransportError> {
        Self::with_config(TransportConfig::default())
    }

    /// A hardened transport with the given limits, trust, client identity and proxy.
    ///
    /// # Errors
    ///
    /// [`TransportError::Configuration`] when a file of the configuration cannot be read or
    /// used, or the environment's proxy ([`Proxy::System`](crate::Proxy::System)) is malformed.
    pub fn with_config(config: TransportConfig) -> Result<Self, TransportError> {
        let tls = trust::client_config(&config, &[b"h2", b"http/1.1"])?;
        let plan = ProxyPlan::resolve(&config.proxy, |name| std::env::var(name).ok())?;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .timeout(config.total_timeout)
            .use_preconfigured_tls(tls)
            // reqwest's own reading of the environment is off: `plan` is the only proxy rule.
            .no_proxy();
        if let Some(target) = plan.target() {
            let proxy_uri = target.uri.to_string();
            let authorization = target.authorization.clone();
            let route = plan.clone();
            let mut proxy = reqwest::Proxy::custom(move |url| {
                let destination: http::Uri = url.as_str().parse().ok()?;
                route.route(&destination).map(|_| proxy_uri.clone())
            });
            if let Some(authorization) = authorization {
                proxy = proxy.custom_http_auth(authorization);
            }
            builder = builder.proxy(proxy);
        }
        let client = builder.build().map_err(|source| TransportError::Setup {
            source: Box::new(source),
        })?;
        Ok(Self { client, config })
    }

    /// Wraps a client configured by the caller, with `config`'s URL policy, body cap and total
    /// deadline enforced on top of it.
    ///
    /// The caller takes over everything reqwest itself does: **following redirects** (reqwest
    /// follows up to 10 by default, replaying requests, bearer header aside, to wherever a
    /// `Location` points: set `redirect::Policy::none()`), the **connect timeout**, **trust**
    /// (roots, extra CAs, client certificates), the **proxy** (reqwest reads `HTTPS_PROXY` by
    /// default and does not exempt loopback) and TLS versions. `config`'s `roots`, `ca_file`,
    /// `client_identity`, `proxy` and `connect_timeout` are ignored. Prefer
    /// [`with_config`](Self::with_config), which covers company networks.
    pub fn from_client(client: reqwest::Client, config: TransportConfig) -> Self {
        Self { client, config }
    }

    /// The limits this transport enforces.
    pub fn config(&self) -> &TransportConfig {
        &self.config
    }

    async fn exchange(
        &self,
        request: http::Request<Bytes>,
        origin: &str,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let request = reqwest::Request::try_from(request).map_err(|error| {
            TransportError::InvalidRequest {
                reason: error.without_url().to_string(),
            }
        })?;
        let mut response = self
            .client
            .execute(request)
            .await
            .map_err(|error| self.classify(error, origin))?;
        let limit = self.config.max_response_body;
        let declared_length = response.content_length();
        if declared_length.is_some_and(|length| length > limit as u64) {
            return Err(TransportError::BodyTooLarge { limit });
        }
        let mut builder = http::Response::builder()
            .status(response.status())
            .version(response.version());
        if let Some(headers) = builder.headers_mut() {
            *headers = std::mem::take(response.headers_mut());
        }
        // Sized once from the declared length (within the limit, checked above) so that a large
        // page is copied once rather than regrown as it arrives; the limit is enforced on what
        // arrives.
        let mut body =
            BytesMut::with_capacity(crate::streaming::reserved_up_front(declared_length, limit));
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| self.classify(error, origin))?
        {
            if body.len() + chunk.len() > limit {
                return Err(TransportError::BodyTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        builder
            .body(body.freeze())
            .map_err(|error| TransportError::InvalidRequest {
                reason: format!("rebuilding the response: {error}"),
            })
    }

    /// The streaming exchange: the client's total deadline is lifted for this request (a
    /// streaming exchange is bounded by its idle timeout instead), the body goes as a stream.
    async fn exchange_streaming(
        &self,
        request: http::Request<RequestBody>,
        origin: String,
        limits: StreamLimits,
    ) -> Result<http::Response<ResponseBody>, TransportError> {
        /// Longer than any transfer; the idle timeout is what bounds a streaming exchange.
        const NO_TOTAL_DEADLINE: Duration = Duration::from_secs(365 * 24 * 60 * 60);
        let progress = Progress::new();
        let (mut parts, body) = request.into_parts();
        if let Some(length) = body.length() {
            parts
                .headers
                .entry(http::header::CONTENT_LENGTH)
                .or_insert_with(|| http::HeaderValue::from(length));
        }
        let upload = watched_upload(body.into_stream(), std::sync::Arc::clone(&progress));
        let request = http::Request::from_parts(parts, reqwest::Body::wrap_stream(upload));
        let mut request = reqwest::Request::try_from(request).map_err(|error| {
            TransportError::InvalidRequest {
                reason: error.without_url().to_string(),
            }
        })?;
        *request.timeout_mut() = Some(NO_TOTAL_DEADLINE);
        let mut response =
            within_idle(self.client.execute(request), &progress, limits.idle_timeout)
                .await?
                .map_err(|error| self.classify(error, &origin))?;
        if response
            .content_length()
            .is_some_and(|length| length > limits.max_body as u64)
        {
            return Err(TransportError::BodyTooLarge {
                limit: limits.max_body,
            });
        }
        let mut builder = http::Response::builder()
            .status(response.status())
            .version(response.version());
        if let Some(headers) = builder.headers_mut() {
            *headers = std::mem::take(response.headers_mut());
        }
        let this = self.clone();
        let pieces = response
            .bytes_stream()
            .map(move |piece| piece.map_err(|error| this.classify(error, &origin)));
        let body = crate::streaming::capped(
            watched_download(pieces, limits.idle_timeout),
            limits.max_body,
        );
        builder
            .body(ResponseBody::from_stream(body))
            .map_err(|error| TransportError::InvalidRequest {
                reason: format!("rebuilding the response: {error}"),
            })
    }

    fn classify(&self, error: reqwest::Error, origin: &str) -> TransportError {
        let origin = origin.to_owned();
        if error.is_timeout() {
            let (phase, after) = if error.is_connect() {
                (TimeoutPhase::Connect, self.config.connect_timeout)
            } else {
                (TimeoutPhase::Total, self.config.total_timeout)
            };
            return TransportError::Timeout { phase, after };
        }
        if error.is_builder() {
            return TransportError::InvalidRequest {
                reason: error.without_url().to_string(),
            };
        }
        let problem = tls_problem(&error, self.config.client_identity.is_some());
        let is_connect = error.is_connect();
        let refused = chain_has_io_kind(&error, ErrorKind::ConnectionRefused);
        let source = Box::new(error.without_url());
        failure(origin, is_connect, refused, problem, source)
    }
}

impl From<reqwest::Client> for ReqwestTransport {
    fn from(client: reqwest::Client) -> Self {
        Self::from_client(client, TransportConfig::default())
    }
}

#[async_trait]
impl HttpTransport for ReqwestTransport {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let origin = check_url(request.uri())?;
        let deadline = self.config.total_timeout;
        match tokio::time::timeout(deadline, self.exchange(request, &origin)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(TransportError::Timeout {
                phase: TimeoutPhase::Total,
                after: deadline,
            }),
        }
    }

    async fn send_streaming(
        &self,
        request: http::Request<RequestBody>,
        limits: StreamLimits,
    ) -> Result<http::Response<ResponseBody>, TransportError> {
        let origin = check_url(request.uri())?;
        self.exchange_streaming(request, origin, limits).await
    }
}

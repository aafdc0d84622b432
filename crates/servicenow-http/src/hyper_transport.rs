//! `HyperTransport`: the `HttpTransport` built on hyper 1, hyper-util's client and hyper-rustls,
//! with a connector that tunnels through the configured proxy.

use std::{
    future::Future,
    io::ErrorKind,
    pin::Pin,
    task::{Context, Poll},
};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use http::Uri;
use http_body_util::{
    BodyDataStream, BodyExt, Full, LengthLimitError, Limited, StreamBody,
    combinators::UnsyncBoxBody,
};
use hyper::body::Frame;
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{
        Client, ResponseFuture,
        connect::{HttpConnector, proxy::Tunnel},
    },
    rt::{TokioExecutor, TokioIo},
};

use crate::{
    BoxError, HttpTransport, RequestBody, ResponseBody, StreamLimits, TimeoutPhase,
    TransportConfig, TransportError,
    error::{chain_has_io_kind, failure, tls_problem},
    idle::{Progress, watched_download, watched_upload, within_idle},
    policy::check_url,
    proxy::ProxyPlan,
    trust,
};

/// The hyper-util client type [`HyperTransport`] wraps: rustls over hyper-util's `HttpConnector`,
/// with a boxed body so that one client sends both buffered and streamed requests.
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub type HyperClient = Client<HttpsConnector<HttpConnector>, HyperBody>;

/// The request body type of a [`HyperClient`]: a whole buffer or a stream of pieces.
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub type HyperBody = UnsyncBoxBody<Bytes, BoxError>;

fn full(bytes: Bytes) -> HyperBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An [`HttpTransport`] over hyper-util's client.
///
/// hyper's client never follows redirects. [`HyperTransport::new`] and
/// [`HyperTransport::with_config`] build it with rustls (ring provider) with the trust and
/// client identity of the [`TransportConfig`], a connector that tunnels through its proxy, and
/// a connect timeout; the URL policy, the body cap and the total deadline are enforced by this
/// wrapper, also for a client passed through [`from_client`](Self::from_client).
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
#[derive(Debug, Clone)]
pub struct HyperTransport {
    client: Clients,
    config: TransportConfig,
}

/// The client built here, or one the caller brought.
#[derive(Debug, Clone)]
enum Clients {
    Built(Box<Client<HttpsConnector<NetConnector>, HyperBody>>),
    Given(Box<HyperClient>),
}

impl Clients {
    fn request(&self, request: http::Request<HyperBody>) -> ResponseFuture {
        match self {
            Self::Built(client) => client.request(request),
            Self::Given(client) => client.request(request),
        }
    }
}

/// Connects directly, or through a `CONNECT` tunnel when the proxy plan routes the destination
/// through the proxy; TLS to the instance runs on top (in `HttpsConnector`) either way.
#[derive(Debug, Clone)]
struct NetConnector {
    direct: HttpConnector,
    tunnel: Option<Tunnel<HttpConnector>>,
    plan: ProxyPlan,
}

impl tower_service::Service<Uri> for NetConnector {
    type Response = TokioIo<tokio::net::TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Both `HttpConnector` and the tunnel over it are always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        match (&mut self.tunnel, self.plan.route(&destination)) {
            (Some(tunnel), Some(_)) => {
                let connecting = tunnel.call(destination);
                Box::pin(async move { connecting.await.map_err(BoxError::from) })
            }
            _ => {
                let connecting = self.direct.call(destination);
                Box::pin(async move { connecting.await.map_err(BoxError::from) })
            }
        }
    }
}

impl HyperTransport {
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
        let mut direct = HttpConnector::new();
        direct.enforce_http(false);
        direct.set_connect_timeout(Some(config.connect_timeout));
        // ALPN is set by the connector builder below (h2 and http/1.1).
        let tls = trust::client_config(&config, &[])?;
        let plan = ProxyPlan::resolve(&config.proxy, |name| std::env::var(name).ok())?;
        let tunnel = plan.target().map(|target| {
            let tunnel = Tunnel::new(target.uri.clone(), direct.clone());
            match &target.authorization {
                Some(authorization) => tunnel.with_auth(authorization.clone()),
                None => tunnel,
            }
        });
        let connector = NetConnector {
            direct,
            tunnel,
            plan,
        };
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(connector);
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Self {
            client: Clients::Built(Box::new(client)),
            config,
        })
    }

    /// Wraps a client configured by the caller, with `config`'s URL policy, body cap and total
    /// deadline enforced on top of it (hyper's client never follows redirects).
    ///
    /// The caller takes over what the connector does: **trust** (roots, extra CAs, client
    /// certificates), the **proxy** (a plain `HttpConnector` uses none) and the **connect
    /// timeout**; `config`'s `roots`, `ca_file`, `client_identity`, `proxy` and
    /// `connect_timeout` are ignored. Prefer [`with_config`](Self::with_config), which covers
    /// company networks.
    pub fn from_client(client: HyperClient, config: TransportConfig) -> Self {
        Self {
            client: Clients::Given(Box::new(client)),
            config,
        }
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
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, full(body));
        let response = self
            .client
            .request(request)
            .await
            .map_err(|error| self.classify(error, origin))?;
        let limit = self.config.max_response_body;
        let declared_length = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared_length.is_some_and(|length| length > limit as u64) {
            return Err(TransportError::BodyTooLarge { limit });
        }
        let (parts, body) = response.into_parts();
        let collected = Limited::new(body, limit).collect().await.map_err(|error| {
            if error.downcast_ref::<LengthLimitError>().is_some() {
                TransportError::BodyTooLarge { limit }
            } else {
                TransportError::Io {
                    origin: origin.to_owned(),
                    source: error,
                }
            }
        })?;
        Ok(http::Response::from_parts(parts, collected.to_bytes()))
    }

    /// The streaming exchange: the total deadline does not apply (the idle timeout bounds it),
    /// the request body goes as a stream of frames, the response body comes back as one.
    async fn exchange_streaming(
        &self,
        request: http::Request<RequestBody>,
        origin: String,
        limits: StreamLimits,
    ) -> Result<http::Response<ResponseBody>, TransportError> {
        let progress = Progress::new();
        let (mut parts, body) = request.into_parts();
        if let Some(length) = body.length() {
            parts
                .headers
                .entry(http::header::CONTENT_LENGTH)
                .or_insert_with(|| http::HeaderValue::from(length));
        }
        let upload = watched_upload(body.into_stream(), std::sync::Arc::clone(&progress))
            .map_ok(Frame::data)
            .map_err(BoxError::from);
        let request = http::Request::from_parts(parts, StreamBody::new(upload).boxed_unsync());
        let response = within_idle(self.client.request(request), &progress, limits.idle_timeout)
            .await?
            .map_err(|error| self.classify(error, &origin))?;
        let declared_length = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared_length.is_some_and(|length| length > limits.max_body as u64) {
            return Err(TransportError::BodyTooLarge {
                limit: limits.max_body,
            });
        }
        let (parts, body) = response.into_parts();
        let pieces = BodyDataStream::new(body).map(move |piece| {
            piece.map_err(|error| TransportError::Io {
                origin: origin.clone(),
                source: Box::new(error),
            })
        });
        let body = crate::streaming::capped(
            watched_download(pieces, limits.idle_timeout),
            limits.max_body,
        );
        Ok(http::Response::from_parts(
            parts,
            ResponseBody::from_stream(body),
        ))
    }

    fn classify(&self, error: hyper_util::client::legacy::Error, origin: &str) -> TransportError {
        let origin = origin.to_owned();
        let is_connect = error.is_connect();
        if is_connect && chain_has_io_kind(&error, ErrorKind::TimedOut) {
            return TransportError::Timeout {
                phase: TimeoutPhase::Connect,
                after: self.config.connect_timeout,
            };
        }
        let problem = tls_problem(&error, self.config.client_identity.is_some());
        let refused = chain_has_io_kind(&error, ErrorKind::ConnectionRefused);
        failure(origin, is_connect, refused, problem, Box::new(error))
    }
}

impl From<HyperClient> for HyperTransport {
    fn from(client: HyperClient) -> Self {
        Self::from_client(client, TransportConfig::default())
    }
}

#[async_trait]
impl HttpTransport for HyperTransport {
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

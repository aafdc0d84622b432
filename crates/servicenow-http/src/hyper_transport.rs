//! `HyperTransport`: the `HttpTransport` built on hyper 1, hyper-util's client and hyper-rustls.

use std::{io::ErrorKind, sync::Arc};

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

use crate::{
    HttpTransport, TimeoutPhase, TransportConfig, TransportError,
    error::{chain_has_io_kind, chain_has_tls_error},
    policy::check_url,
};

/// The hyper-util client type [`HyperTransport`] wraps: rustls over hyper-util's `HttpConnector`.
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub type HyperClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// An [`HttpTransport`] over hyper-util's client.
///
/// hyper's client never follows redirects. [`HyperTransport::new`] and
/// [`HyperTransport::with_config`] build it with rustls (ring provider, webpki roots) and a
/// connect timeout; the URL policy, the body cap and the total deadline of [`TransportConfig`]
/// are enforced by this wrapper, also for a client passed through `From<HyperClient>`.
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
#[derive(Debug, Clone)]
pub struct HyperTransport {
    client: HyperClient,
    config: TransportConfig,
}

impl HyperTransport {
    /// A hardened transport with [`TransportConfig::default`].
    pub fn new() -> Result<Self, TransportError> {
        Self::with_config(TransportConfig::default())
    }

    /// A hardened transport with the given limits.
    pub fn with_config(config: TransportConfig) -> Result<Self, TransportError> {
        let mut connector = HttpConnector::new();
        connector.enforce_http(false);
        connector.set_connect_timeout(Some(config.connect_timeout));
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|source| TransportError::Setup {
            source: Box::new(source),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(connector);
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Self { client, config })
    }

    /// Wraps a client configured by the caller, with `config` enforced on top of it.
    pub fn from_client(client: HyperClient, config: TransportConfig) -> Self {
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
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, Full::new(body));
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

    fn classify(&self, error: hyper_util::client::legacy::Error, origin: &str) -> TransportError {
        let origin = origin.to_owned();
        let is_connect = error.is_connect();
        if is_connect && chain_has_io_kind(&error, ErrorKind::TimedOut) {
            return TransportError::Timeout {
                phase: TimeoutPhase::Connect,
                after: self.config.connect_timeout,
            };
        }
        let is_tls = chain_has_tls_error(&error);
        let refused = chain_has_io_kind(&error, ErrorKind::ConnectionRefused);
        let source = Box::new(error);
        match (is_connect, is_tls) {
            (true, true) => TransportError::Tls { origin, source },
            (true, false) => TransportError::Connect {
                origin,
                refused,
                source,
            },
            (false, _) => TransportError::Io { origin, source },
        }
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
}

//! `ReqwestTransport`: the `HttpTransport` built on reqwest (rustls, no redirects, capped bodies).

use std::io::ErrorKind;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};

use crate::{
    HttpTransport, TimeoutPhase, TransportConfig, TransportError,
    error::{chain_has_io_kind, chain_has_tls_error},
    policy::check_url,
};

/// An [`HttpTransport`] over a [`reqwest::Client`].
///
/// [`ReqwestTransport::new`] and [`ReqwestTransport::with_config`] build a hardened client:
/// rustls with webpki roots, redirects never followed, connect and total timeouts.
/// `From<reqwest::Client>` wraps a client you configured yourself (a proxy, extra roots); its
/// redirect policy and connect timeout are then yours to set, while the URL policy, the body cap
/// and the total deadline of [`TransportConfig`] are still enforced by this wrapper.
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

    /// A hardened transport with the given limits.
    pub fn with_config(config: TransportConfig) -> Result<Self, TransportError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .timeout(config.total_timeout)
            .use_rustls_tls()
            .build()
            .map_err(|source| TransportError::Setup {
                source: Box::new(source),
            })?;
        Ok(Self { client, config })
    }

    /// Wraps a client configured by the caller, with `config` enforced on top of it.
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
        // page is copied once rather than regrown as it arrives. The declared length is only a
        // hint: at most 16 MiB is reserved before the bytes arrive (a server announcing 64 MiB
        // and sending nothing costs nothing more), and the limit is enforced on what arrives.
        const MAX_RESERVED_UP_FRONT: usize = 16 * 1024 * 1024;
        let mut body = BytesMut::with_capacity(declared_length.map_or(0, |length| {
            usize::try_from(length)
                .unwrap_or(limit)
                .min(limit)
                .min(MAX_RESERVED_UP_FRONT)
        }));
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
        let is_tls = chain_has_tls_error(&error);
        let is_connect = error.is_connect();
        let refused = chain_has_io_kind(&error, ErrorKind::ConnectionRefused);
        let source = Box::new(error.without_url());
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
}

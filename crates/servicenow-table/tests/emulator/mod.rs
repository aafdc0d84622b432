//! Shared set-up of the end-to-end tests: an emulator on loopback and a client authenticated as
//! one of its users.
//!
//! Until the facade's authorizing transport exists, a small test-only wrapper adds HTTP Basic
//! credentials of the emulator's `admin` user (the emulator accepts Basic auth on the Table API).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, header};
use servicenow_emulator::{EmulatorBuilder, EmulatorHandle};
use servicenow_http::{
    HttpTransport, RequestBody, ReqwestTransport, ResponseBody, StreamLimits, TransportConfig,
    TransportError, async_trait,
};
use servicenow_oauth::InstanceUrl;
use servicenow_table::{RetryPolicy, TableClient};

/// Adds `Authorization: Basic admin:admin` to every request (streamed ones too), then forwards
/// it.
#[derive(Debug, Clone)]
pub(crate) struct BasicAuth<T> {
    inner: T,
}

impl<T> BasicAuth<T> {
    #[allow(dead_code)] // Not every test binary builds its own transport.
    pub(crate) fn new(inner: T) -> Self {
        Self { inner }
    }
}

#[async_trait]
impl<T: HttpTransport> HttpTransport for BasicAuth<T> {
    async fn send(
        &self,
        mut request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        // base64("admin:admin")
        request.headers_mut().insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic YWRtaW46YWRtaW4="),
        );
        self.inner.send(request).await
    }

    async fn send_streaming(
        &self,
        mut request: http::Request<RequestBody>,
        limits: StreamLimits,
    ) -> Result<http::Response<ResponseBody>, TransportError> {
        request.headers_mut().insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic YWRtaW46YWRtaW4="),
        );
        self.inner.send_streaming(request, limits).await
    }
}

#[allow(dead_code)] // Not every test binary uses the shared client.
pub(crate) type Client = TableClient<BasicAuth<ReqwestTransport>>;

pub(crate) async fn start(builder: EmulatorBuilder) -> EmulatorHandle {
    builder
        .start()
        .await
        .expect("the emulator starts on loopback")
}

#[allow(dead_code)] // Not every test binary uses the shared client.
/// A client of `emulator` with short backoffs (the faults are injected, not real outages).
pub(crate) fn client(emulator: &EmulatorHandle) -> Client {
    let config = TransportConfig {
        total_timeout: Duration::from_secs(60),
        ..TransportConfig::default()
    };
    let transport = ReqwestTransport::with_config(config).expect("the transport builds");
    let instance =
        InstanceUrl::new(emulator.base_url()).expect("the emulator's url is a loopback origin");
    let policy = RetryPolicy {
        max_attempts: 10,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(30),
    };
    TableClient::new(instance, BasicAuth { inner: transport }).with_retry_policy(policy)
}

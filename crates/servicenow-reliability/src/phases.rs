//! A transport that announces the phases of a token request on stdout and can stop in one, so that a test kills the process at a known point of a refresh.

use std::{io::Write as _, sync::Arc, time::Duration};

use async_trait::async_trait;
use bytes::Bytes;
use servicenow_http::{HttpTransport, TransportError};

/// Where a [`PhaseTransport`] stops (sleeps until the test kills the process).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Never.
    Never,
    /// With the refresh lease held, before the token request is sent.
    BeforeTokenRequest,
    /// After the instance answered the token request, before the manager sees the answer (so
    /// before the new token set is persisted).
    AfterTokenResponse,
}

impl Hold {
    /// Reads `never`, `before-token-request` or `after-token-response`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "never" => Some(Self::Never),
            "before-token-request" => Some(Self::BeforeTokenRequest),
            "after-token-response" => Some(Self::AfterTokenResponse),
            _ => None,
        }
    }
}

/// The line a worker prints when it stops at `hold`.
pub fn hold_line(hold: Hold) -> &'static str {
    match hold {
        Hold::Never => "",
        Hold::BeforeTokenRequest => "HOLD before-token-request",
        Hold::AfterTokenResponse => "HOLD after-token-response",
    }
}

/// Wraps a transport: token-endpoint requests are announced and may stop at a [`Hold`].
pub struct PhaseTransport {
    inner: Arc<dyn HttpTransport>,
    hold: Hold,
}

impl std::fmt::Debug for PhaseTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhaseTransport")
            .field("hold", &self.hold)
            .finish_non_exhaustive()
    }
}

impl PhaseTransport {
    /// Wraps `inner`, stopping at `hold`.
    pub fn new(inner: Arc<dyn HttpTransport>, hold: Hold) -> Self {
        Self { inner, hold }
    }

    async fn stop(&self, at: Hold) {
        if self.hold == at {
            announce(hold_line(at));
            // The test kills the process now; the sleep is only an upper bound.
            tokio::time::sleep(Duration::from_secs(120)).await;
        }
    }
}

/// Prints a line on stdout at once (the test reads it through a pipe).
pub fn announce(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

#[async_trait]
impl HttpTransport for PhaseTransport {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let is_token_request = request.uri().path().ends_with("/oauth_token.do");
        if !is_token_request {
            return self.inner.send(request).await;
        }
        self.stop(Hold::BeforeTokenRequest).await;
        let response = self.inner.send(request).await;
        self.stop(Hold::AfterTokenResponse).await;
        response
    }
}

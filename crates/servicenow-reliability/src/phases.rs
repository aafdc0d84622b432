//! The phases of a refresh as a worker process lives them: announced on stdout, recorded in a phase file that survives a SIGKILL, optionally stretched by a pause, and optionally held until the test kills the process.
//!
//! A test that kills a worker "in the middle of a refresh" reads the phase file afterwards, so
//! it knows where the kill landed instead of assuming it.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use bytes::Bytes;
use servicenow_http::{HttpTransport, TransportError};

/// Where a worker is in its refresh loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// The refresh lease is held; the token request has not been sent.
    BeforeTokenRequest,
    /// The instance answered the token request; the manager has not seen the answer, so the
    /// new token set is not persisted.
    AfterTokenResponse,
    /// The new token set is persisted; the refresh has not returned (its lease may be held).
    AfterPersist,
    /// A refresh returned; the next has not started.
    BetweenRefreshes,
}

impl Phase {
    /// The phases inside a refresh, which the random kills must each land in.
    pub const IN_REFRESH: [Self; 3] = [
        Self::BeforeTokenRequest,
        Self::AfterTokenResponse,
        Self::AfterPersist,
    ];

    /// The phase's name in lines and files.
    pub fn name(self) -> &'static str {
        match self {
            Self::BeforeTokenRequest => "before-token-request",
            Self::AfterTokenResponse => "after-token-response",
            Self::AfterPersist => "after-persist",
            Self::BetweenRefreshes => "between-refreshes",
        }
    }

    /// Reads what [`name`](Self::name) wrote.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::BeforeTokenRequest,
            Self::AfterTokenResponse,
            Self::AfterPersist,
            Self::BetweenRefreshes,
        ]
        .into_iter()
        .find(|phase| phase.name() == text)
    }
}

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

    fn phase(self) -> Option<Phase> {
        match self {
            Self::Never => None,
            Self::BeforeTokenRequest => Some(Phase::BeforeTokenRequest),
            Self::AfterTokenResponse => Some(Phase::AfterTokenResponse),
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

/// The line a worker prints when it enters `phase`.
pub fn phase_line(phase: Phase) -> String {
    format!("PHASE {}", phase.name())
}

/// Records a worker's phases: each entry is written to the phase file (if any) before it is
/// announced, and phases inside a refresh last at least `pause`.
#[derive(Clone, Debug, Default)]
pub struct PhaseLog {
    file: Option<PathBuf>,
    pause: Duration,
}

impl PhaseLog {
    /// Records into `file`, stretching each phase inside a refresh by `pause`.
    pub fn new(file: Option<PathBuf>, pause: Duration) -> Self {
        Self { file, pause }
    }

    /// Enters `phase`: the file says so before the line is printed, so a test that reads the
    /// line and then kills finds this phase or a later one in the file.
    pub async fn enter(&self, phase: Phase) {
        if let Some(file) = &self.file {
            // Written through the page cache, which outlives a SIGKILL of this process.
            let _ = std::fs::write(file, phase.name());
        }
        announce(&phase_line(phase));
        if phase != Phase::BetweenRefreshes && !self.pause.is_zero() {
            tokio::time::sleep(self.pause).await;
        }
    }
}

/// The phase a killed worker was in: the last one it wrote to `file`.
pub fn landed_phase(file: &Path) -> Option<Phase> {
    Phase::parse(std::fs::read_to_string(file).ok()?.trim())
}

/// Wraps a transport: token-endpoint requests enter their phases and may stop at a [`Hold`];
/// requests that fail at the transport (refused, dropped, cut short) are counted.
pub struct PhaseTransport {
    inner: Arc<dyn HttpTransport>,
    hold: Hold,
    log: PhaseLog,
    failed_sends: AtomicU64,
}

impl std::fmt::Debug for PhaseTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhaseTransport")
            .field("hold", &self.hold)
            .field("log", &self.log)
            .field("failed_sends", &self.failed_sends)
            .finish_non_exhaustive()
    }
}

impl PhaseTransport {
    /// Wraps `inner`, recording phases in `log` and stopping at `hold`.
    pub fn new(inner: Arc<dyn HttpTransport>, hold: Hold, log: PhaseLog) -> Self {
        Self {
            inner,
            hold,
            log,
            failed_sends: AtomicU64::new(0),
        }
    }

    /// How many requests failed at the transport so far (whatever retried them afterwards).
    pub fn failed_sends(&self) -> u64 {
        self.failed_sends.load(Ordering::Relaxed)
    }

    async fn send_counted(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let outcome = self.inner.send(request).await;
        if outcome.is_err() {
            self.failed_sends.fetch_add(1, Ordering::Relaxed);
        }
        outcome
    }

    async fn enter(&self, phase: Phase) {
        self.log.enter(phase).await;
        if self.hold.phase() == Some(phase) {
            announce(hold_line(self.hold));
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
            return self.send_counted(request).await;
        }
        self.enter(Phase::BeforeTokenRequest).await;
        let response = self.send_counted(request).await;
        self.enter(Phase::AfterTokenResponse).await;
        response
    }
}

//! The idle watchdog of the built-in transports' streaming exchanges: progress is any upload
//! piece taken, the response head or any download piece; a pause longer than the idle timeout
//! fails with `TimeoutPhase::Idle`.

use std::{
    future::Future,
    pin::pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use tokio::time::Instant;

use crate::{ByteStream, TimeoutPhase, TransportError};

/// When the exchange last moved, in nanoseconds since it began.
#[derive(Debug)]
pub(crate) struct Progress {
    began: Instant,
    last: AtomicU64,
}

impl Progress {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            began: Instant::now(),
            last: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let since = u64::try_from(self.began.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last.fetch_max(since, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = self.began + Duration::from_nanos(self.last.load(Ordering::Relaxed));
        last.elapsed()
    }
}

fn idle_timeout(after: Duration) -> TransportError {
    TransportError::Timeout {
        phase: TimeoutPhase::Idle,
        after,
    }
}

/// Awaits `future` (the response head) as long as the exchange keeps moving.
pub(crate) async fn within_idle<F: Future>(
    future: F,
    progress: &Progress,
    idle: Duration,
) -> Result<F::Output, TransportError> {
    let mut future = pin!(future);
    loop {
        let remaining = idle.saturating_sub(progress.idle_for());
        if remaining.is_zero() {
            return Err(idle_timeout(idle));
        }
        if let Ok(output) = tokio::time::timeout(remaining, future.as_mut()).await {
            progress.touch();
            return Ok(output);
        }
    }
}

/// The upload's pieces, each one taken by the connection counting as progress.
pub(crate) fn watched_upload(
    upload: ByteStream,
    progress: Arc<Progress>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    upload.inspect(move |_| progress.touch())
}

/// The download's pieces, failing with the idle timeout when the next one takes too long.
pub(crate) fn watched_download<S>(
    download: S,
    idle: Duration,
) -> impl Stream<Item = Result<Bytes, TransportError>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, TransportError>> + Send + 'static,
{
    futures_util::stream::unfold(Some(Box::pin(download)), move |state| async move {
        let mut download = state?;
        match tokio::time::timeout(idle, download.next()).await {
            Ok(Some(Ok(piece))) => Some((Ok(piece), Some(download))),
            Ok(Some(Err(error))) => Some((Err(error), None)),
            Ok(None) => None,
            Err(_elapsed) => Some((Err(idle_timeout(idle)), None)),
        }
    })
}

//! The driver's clock: the one place the facade reads wall-clock time and sleeps.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use servicenow_auth::Timestamp;

/// Wall-clock time for the token manager: `now` for every machine input, and sleeping until a
/// deadline the machine asked for.
///
/// The default is [`SystemClock`]. Tests that move an emulator's clock forward pass a
/// [`ManualClock`] moved by the same amount, so that client and server agree on what expired.
#[async_trait]
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current wall-clock time.
    fn now(&self) -> Timestamp;

    /// The current wall-clock time, read cheaply and coarsely, for the token manager's hot path:
    /// it may lag behind [`now`](Self::now) by a little, never by [`COARSE_LAG_BOUND`] or more,
    /// and is never ahead of it.
    ///
    /// The default reads [`now`](Self::now). [`SystemClock`] reads the kernel's coarse clock
    /// (`CLOCK_REALTIME_COARSE`: a vDSO read of the time at the last scheduler tick, with no
    /// hardware access), which lags by a tick or two (a few milliseconds). The token manager
    /// trusts it only for a token more than [`COARSE_LAG_BOUND`] away from its refresh point;
    /// nearer to it, the precise clock decides, so the rule "hand out a token only before its
    /// expiry minus the skew" holds exactly.
    fn now_coarse(&self) -> Timestamp {
        self.now()
    }

    /// Sleeps until `deadline` (as this clock counts), returns at once if it has passed, and
    /// never returns for [`Timestamp::NEVER`].
    async fn sleep_until(&self, deadline: Timestamp) {
        if deadline.is_never() {
            std::future::pending::<()>().await;
        }
        let now = self.now();
        if deadline > now {
            tokio::time::sleep(deadline.saturating_duration_since(now)).await;
        }
    }
}

/// How far behind the precise clock [`Clock::now_coarse`] may read at most: one second, two
/// orders of magnitude more than the kernel's coarse clock lags (a tick or two), and far less than
/// the refresh skew (60 s by default).
pub const COARSE_LAG_BOUND: Duration = Duration::from_secs(1);

/// The Table API client's retry sleep, through the app's [`Clock`]: a test that moves a
/// [`ManualClock`] and pauses tokio's time controls the table client's waits as well.
#[derive(Debug)]
pub(crate) struct ClockSleep(pub(crate) Arc<dyn Clock>);

impl servicenow_table::RetrySleep for ClockSleep {
    fn sleep(
        &self,
        duration: Duration,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let clock = Arc::clone(&self.0);
        Box::pin(async move {
            let deadline = clock.now().saturating_add(duration);
            clock.sleep_until(deadline).await;
        })
    }
}

/// The operating system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(system_millis())
    }

    fn now_coarse(&self) -> Timestamp {
        coarse::now().unwrap_or_else(|| self.now())
    }
}

/// The kernel's coarse wall clock: a vDSO read of the time at the last tick, with no hardware
/// access, several times cheaper than the precise clock.
#[cfg(target_os = "linux")]
mod coarse {
    use rustix::time::{ClockId, clock_gettime};
    use servicenow_auth::Timestamp;

    /// The kernel's coarse wall clock, in whole milliseconds.
    pub(super) fn now() -> Option<Timestamp> {
        let now = clock_gettime(ClockId::RealtimeCoarse);
        let seconds = u64::try_from(now.tv_sec).ok()?;
        let nanos = u64::try_from(now.tv_nsec).ok()?;
        Some(Timestamp::from_unix_millis(
            seconds
                .saturating_mul(1000)
                .saturating_add(nanos / 1_000_000),
        ))
    }
}

#[cfg(not(target_os = "linux"))]
mod coarse {
    use servicenow_auth::Timestamp;

    /// No coarse clock on this platform: the precise one is used.
    pub(super) fn now() -> Option<Timestamp> {
        None
    }
}

/// The system clock plus an offset that tests move forward (never backward), without sleeping.
///
/// Cloning shares the offset: advance one clone and every holder sees the new time.
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    offset_millis: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock reading the system time with no offset yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves this clock (and every clone) forward by `duration`.
    pub fn advance(&self, duration: Duration) {
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        self.offset_millis.fetch_add(millis, Ordering::SeqCst);
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        let offset = self.offset_millis.load(Ordering::SeqCst);
        Timestamp::from_unix_millis(system_millis().saturating_add(offset))
    }
}

fn system_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coarse_clock_is_never_ahead_of_the_precise_one_and_lags_less_than_its_bound() {
        for _ in 0..100_000 {
            let before = SystemClock.now();
            let coarse = SystemClock.now_coarse();
            let after = SystemClock.now();
            assert!(coarse <= after, "coarse {coarse:?} is ahead of {after:?}");
            assert!(
                before.saturating_duration_since(coarse) < COARSE_LAG_BOUND,
                "coarse {coarse:?} lags {before:?} by its bound or more"
            );
        }
    }

    #[test]
    fn manual_clock_moves_every_clone_forward() {
        let clock = ManualClock::new();
        let other = clock.clone();
        let before = other.now();
        clock.advance(Duration::from_secs(3600));
        let after = other.now();
        assert!(after.saturating_duration_since(before) >= Duration::from_secs(3600));
    }
}

/// The export's latency clock: the monotonic clock since the export started.
#[derive(Debug)]
pub(crate) struct MonotonicStopwatch(std::time::Instant);

impl MonotonicStopwatch {
    pub(crate) fn start() -> Self {
        Self(std::time::Instant::now())
    }
}

impl servicenow_table::Stopwatch for MonotonicStopwatch {
    fn since_start(&self) -> Duration {
        self.0.elapsed()
    }
}

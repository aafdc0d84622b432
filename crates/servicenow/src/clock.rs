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

/// The operating system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(system_millis())
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
    fn manual_clock_moves_every_clone_forward() {
        let clock = ManualClock::new();
        let other = clock.clone();
        let before = other.now();
        clock.advance(Duration::from_secs(3600));
        let after = other.now();
        assert!(after.saturating_duration_since(before) >= Duration::from_secs(3600));
    }
}

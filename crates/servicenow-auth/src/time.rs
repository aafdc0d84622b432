//! Wall-clock time as the machine sees it: a `Timestamp` the driver passes in with every input.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A wall-clock instant in milliseconds since the Unix epoch, supplied by the driver.
///
/// The machine never reads a clock: every [`Input`](crate::Input) carries the driver's `now`.
/// One time base is used for everything (expiries, deadlines, retries) because token expiries
/// are persisted and restored across processes, where a monotonic clock means nothing.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch.
    pub const UNIX_EPOCH: Self = Self(0);
    /// A deadline that never comes: what [`Output::Timeout`](crate::Output::Timeout) carries when
    /// the machine has nothing scheduled.
    pub const NEVER: Self = Self(u64::MAX);

    /// The instant `millis` milliseconds after the Unix epoch.
    pub const fn from_unix_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// The instant `seconds` seconds after the Unix epoch.
    pub const fn from_unix_seconds(seconds: u64) -> Self {
        Self(seconds.saturating_mul(1000))
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_unix_millis(self) -> u64 {
        self.0
    }

    /// Whether this is [`Timestamp::NEVER`].
    pub const fn is_never(self) -> bool {
        self.0 == u64::MAX
    }

    /// This instant plus `duration`, saturating at [`Timestamp::NEVER`].
    #[must_use]
    pub fn saturating_add(self, duration: Duration) -> Self {
        Self(self.0.saturating_add(duration_millis(duration)))
    }

    /// This instant minus `duration`, saturating at the epoch.
    #[must_use]
    pub fn saturating_sub(self, duration: Duration) -> Self {
        Self(self.0.saturating_sub(duration_millis(duration)))
    }

    /// How long after `earlier` this instant is, or zero if it is not after it.
    pub fn saturating_duration_since(self, earlier: Self) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// A duration in whole milliseconds, saturating at `u64::MAX`.
pub(crate) fn duration_millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        let near_end = Timestamp::from_unix_millis(u64::MAX - 5);
        assert_eq!(
            near_end.saturating_add(Duration::from_secs(1)),
            Timestamp::NEVER
        );
        assert_eq!(
            Timestamp::from_unix_millis(5).saturating_sub(Duration::from_secs(1)),
            Timestamp::UNIX_EPOCH
        );
        assert_eq!(
            Timestamp::from_unix_seconds(2)
                .saturating_duration_since(Timestamp::from_unix_seconds(3)),
            Duration::ZERO
        );
        assert_eq!(
            Timestamp::from_unix_seconds(3)
                .saturating_duration_since(Timestamp::from_unix_seconds(1)),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn serializes_as_plain_milliseconds() {
        let json = serde_json::to_string(&Timestamp::from_unix_millis(1_700_000_000_123)).unwrap();
        assert_eq!(json, "1700000000123");
    }
}

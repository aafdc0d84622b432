//! Wall-clock time as the machine sees it: a `Timestamp` the driver passes in with every input.

use std::{
    fmt,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};

/// A wall-clock instant in milliseconds since the Unix epoch, supplied by the driver.
///
/// The machine never reads a clock: every [`Input`](crate::Input) carries the driver's `now`.
/// One time base is used for everything (expiries, deadlines, retries) because token expiries
/// are persisted and restored across processes, where a monotonic clock means nothing.
///
/// A driver reads its clock and converts: `Timestamp::from(SystemTime::now())` (see
/// [`Timestamp::from_system_time`]). `Debug` prints the instant in UTC, to the millisecond:
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use servicenow_auth::Timestamp;
///
/// let instant = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
/// let now = Timestamp::from_system_time(instant);
/// assert_eq!(now, Timestamp::from_unix_millis(1_700_000_000_123));
/// assert_eq!(now.to_system_time(), Some(instant));
/// assert_eq!(format!("{now:?}"), "Timestamp(2023-11-14T22:13:20.123Z)");
/// assert_eq!(format!("{:?}", Timestamp::NEVER), "Timestamp(NEVER)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

    /// The instant `time` stands for, to the millisecond (rounded down); an instant before the
    /// Unix epoch is the epoch. The machine never reads a clock: the driver does, and converts.
    pub fn from_system_time(time: SystemTime) -> Self {
        time.duration_since(UNIX_EPOCH)
            .map_or(Self::UNIX_EPOCH, |since| Self(duration_millis(since)))
    }

    /// This instant as a `SystemTime`, or `None` for [`Timestamp::NEVER`] and for instants the
    /// platform's `SystemTime` cannot hold.
    pub fn to_system_time(self) -> Option<SystemTime> {
        if self.is_never() {
            return None;
        }
        UNIX_EPOCH.checked_add(Duration::from_millis(self.0))
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

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Self {
        Self::from_system_time(time)
    }
}

/// `Timestamp(2023-11-14T22:13:20.123Z)` (RFC 3339, UTC), or `Timestamp(NEVER)`.
impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_never() {
            return f.write_str("Timestamp(NEVER)");
        }
        let millis = self.0 % 1000;
        let seconds = self.0 / 1000;
        let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "Timestamp({year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z)",
            second_of_day / 3600,
            second_of_day / 60 % 60,
            second_of_day % 60,
        )
    }
}

/// The proleptic Gregorian (year, month, day) `days` days after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
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
    fn debug_prints_the_utc_instant() {
        let cases = [
            (0, "Timestamp(1970-01-01T00:00:00.000Z)"),
            (951_782_400_000, "Timestamp(2000-02-29T00:00:00.000Z)"),
            (1_709_251_199_999, "Timestamp(2024-02-29T23:59:59.999Z)"),
            (4_102_444_800_000, "Timestamp(2100-01-01T00:00:00.000Z)"),
            (253_402_300_799_999, "Timestamp(9999-12-31T23:59:59.999Z)"),
        ];
        for (millis, shown) in cases {
            assert_eq!(format!("{:?}", Timestamp::from_unix_millis(millis)), shown);
        }
        // The largest instant before NEVER prints too (a five-digit-plus year, no overflow).
        let last = format!("{:?}", Timestamp::from_unix_millis(u64::MAX - 1));
        assert!(
            last.starts_with("Timestamp(") && last.ends_with(".614Z)"),
            "{last}"
        );
    }

    #[test]
    fn system_time_round_trips_to_the_millisecond() {
        let before_epoch = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(Timestamp::from(before_epoch), Timestamp::UNIX_EPOCH);
        let instant = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        let stamp = Timestamp::from_system_time(instant);
        assert_eq!(stamp.as_unix_millis(), 1_700_000_000_123);
        assert_eq!(
            stamp.to_system_time(),
            Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123))
        );
        assert_eq!(Timestamp::NEVER.to_system_time(), None);
    }

    #[test]
    fn serializes_as_plain_milliseconds() {
        let json = serde_json::to_string(&Timestamp::from_unix_millis(1_700_000_000_123)).unwrap();
        assert_eq!(json, "1700000000123");
    }
}

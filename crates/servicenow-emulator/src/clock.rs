//! The emulator's controllable clock: real time plus an offset, or frozen at a chosen instant.
//!
//! Token and code expiry, `X-RateLimit-Reset` and the `sys_*_on` stamps of written records all
//! read this clock, so a test expires a token by advancing it instead of sleeping.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use parking_lot::Mutex;

/// A cheaply cloneable handle on the emulator's clock; every clone controls the same clock.
#[derive(Clone, Debug, Default)]
pub struct EmulatorClock {
    inner: Arc<Mutex<ClockState>>,
}

#[derive(Debug, Default)]
struct ClockState {
    /// Added to real time while the clock runs (may be negative).
    offset_nanos: i128,
    /// When set, the clock stands still at this instant.
    frozen_at: Option<SystemTime>,
}

impl EmulatorClock {
    /// A clock that follows real time.
    pub fn new() -> Self {
        Self::default()
    }

    /// The emulator's current time.
    pub fn now(&self) -> SystemTime {
        let state = self.inner.lock();
        match state.frozen_at {
            Some(instant) => instant,
            None => shift(SystemTime::now(), state.offset_nanos),
        }
    }

    /// The emulator's current time in whole seconds since the UNIX epoch.
    pub fn unix_seconds(&self) -> i64 {
        unix_seconds(self.now())
    }

    /// Moves the clock forward (works whether it runs or is frozen).
    pub fn advance(&self, by: Duration) {
        let mut state = self.inner.lock();
        match state.frozen_at.as_mut() {
            Some(instant) => *instant += by,
            None => state.offset_nanos += by.as_nanos() as i128,
        }
    }

    /// Sets the clock to `instant`; it keeps running from there unless frozen.
    pub fn set(&self, instant: SystemTime) {
        let mut state = self.inner.lock();
        match state.frozen_at.as_mut() {
            Some(frozen) => *frozen = instant,
            None => state.offset_nanos = signed_nanos(instant) - signed_nanos(SystemTime::now()),
        }
    }

    /// Stops the clock at its current time; only [`advance`](Self::advance) and
    /// [`set`](Self::set) move it until [`resume`](Self::resume).
    pub fn freeze(&self) {
        let now = self.now();
        self.inner.lock().frozen_at = Some(now);
    }

    /// Lets a frozen clock run again from where it stands.
    pub fn resume(&self) {
        let mut state = self.inner.lock();
        if let Some(instant) = state.frozen_at.take() {
            state.offset_nanos = signed_nanos(instant) - signed_nanos(SystemTime::now());
        }
    }
}

/// Whole seconds since the UNIX epoch (negative before it).
pub(crate) fn unix_seconds(instant: SystemTime) -> i64 {
    match instant.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs() as i64,
        Err(before) => -(before.duration().as_secs() as i64) - 1,
    }
}

fn signed_nanos(instant: SystemTime) -> i128 {
    match instant.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_nanos() as i128,
        Err(before) => -(before.duration().as_nanos() as i128),
    }
}

fn shift(instant: SystemTime, offset_nanos: i128) -> SystemTime {
    let magnitude = Duration::from_nanos(offset_nanos.unsigned_abs().min(u64::MAX as u128) as u64);
    if offset_nanos >= 0 {
        instant + magnitude
    } else {
        instant - magnitude
    }
}

/// Formats UNIX seconds as a glide date-time, `YYYY-MM-DD HH:MM:SS` in UTC.
pub(crate) fn glide_date_time(unix_seconds: i64) -> String {
    let mut text = String::with_capacity(19);
    write_glide_date_time(&mut text, unix_seconds);
    text
}

/// Appends a glide date-time to `out` (days-from-civil inverse, proleptic Gregorian calendar),
/// digit by digit: this runs for every date of every generated row.
pub(crate) fn write_glide_date_time(out: &mut String, unix_seconds: i64) {
    let days = unix_seconds.div_euclid(86_400);
    let second_of_day = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let year = year.clamp(0, 9999) as u32;
    let push_digits = |out: &mut String, value: u32, width: u32| {
        for position in (0..width).rev() {
            out.push(char::from(b'0' + (value / 10_u32.pow(position) % 10) as u8));
        }
    };
    push_digits(out, year, 4);
    out.push('-');
    push_digits(out, month, 2);
    out.push('-');
    push_digits(out, day, 2);
    out.push(' ');
    push_digits(out, (second_of_day / 3600) as u32, 2);
    out.push(':');
    push_digits(out, (second_of_day / 60 % 60) as u32, 2);
    out.push(':');
    push_digits(out, (second_of_day % 60) as u32, 2);
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glide_date_times_match_known_instants() {
        assert_eq!(glide_date_time(0), "1970-01-01 00:00:00");
        assert_eq!(glide_date_time(1_453_179_124), "2016-01-19 04:52:04");
        assert_eq!(glide_date_time(951_782_400), "2000-02-29 00:00:00");
    }

    #[test]
    fn a_frozen_clock_moves_only_when_told() {
        let clock = EmulatorClock::new();
        clock.set(UNIX_EPOCH + Duration::from_secs(1_000));
        clock.freeze();
        assert_eq!(clock.unix_seconds(), 1_000);
        clock.advance(Duration::from_secs(1_800));
        assert_eq!(clock.unix_seconds(), 2_800);
    }

    #[test]
    fn advancing_a_running_clock_adds_to_real_time() {
        let clock = EmulatorClock::new();
        let before = SystemTime::now();
        clock.advance(Duration::from_secs(3_600));
        assert!(clock.now() >= before + Duration::from_secs(3_600));
    }
}

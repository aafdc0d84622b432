//! Adaptive concurrency: how many pages an export requests at once.
//!
//! The instance, not the client, bounds useful concurrency: its `API_INT` threads (typically 4
//! per node) run requests, a queue holds the rest, and a full queue answers 429
//! (`servicenow-api-more.md` §6). Past the threads, more requests only wait in the queue, so
//! latency grows while throughput does not. The limit therefore:
//!
//! - doubles per round (slow start) while a full page's latency stays within
//!   [`GROWTH_LATENCY`] of the best seen, then grows by one per round;
//! - shrinks by one when latency passes [`QUEUEING_LATENCY`] of the best (queueing): a request
//!   or two waiting in the instance's queue cost nothing while every thread is busy, and a
//!   multiplicative cut would leave threads idle (found by the export benchmark, issue 17);
//! - halves on a 429, and no request leaves before the `Retry-After` the instance sent;
//! - never leaves `1..=max`.

use std::time::Duration;

/// Latency up to this multiple of the best seen counts as "holding".
pub(crate) const GROWTH_LATENCY: f64 = 1.25;
/// Latency past this multiple of the best seen means requests are queueing.
pub(crate) const QUEUEING_LATENCY: f64 = 1.8;

#[derive(Debug)]
pub(crate) struct Concurrency {
    limit: f64,
    max: f64,
    slow_start: bool,
    best: Option<Duration>,
    /// Responses counted since the limit last changed: one round is `limit` responses.
    since_change: u32,
    /// Responses in this round whose latency held.
    held: u32,
    /// No request leaves before this (elapsed time of the export), after a `Retry-After`.
    pub(crate) paused_until: Option<Duration>,
    /// Requests answered 429.
    pub(crate) throttled: u64,
}

impl Concurrency {
    pub(crate) fn new(initial: usize, max: usize) -> Self {
        let max = max.max(1) as f64;
        Self {
            limit: (initial.max(1) as f64).min(max),
            max,
            slow_start: true,
            best: None,
            since_change: 0,
            held: 0,
            paused_until: None,
            throttled: 0,
        }
    }

    /// Requests that may be in flight now.
    pub(crate) fn limit(&self) -> usize {
        self.limit.floor().max(1.0) as usize
    }

    /// A page came back after `latency`; `full` when it held a whole page of rows (only full
    /// pages compare: a short page is cheaper).
    pub(crate) fn on_page(&mut self, latency: Duration, full: bool) {
        if !full {
            return;
        }
        let best = *self.best.get_or_insert(latency);
        if latency < best {
            self.best = Some(latency);
        }
        let ratio = latency.as_secs_f64() / best.as_secs_f64().max(1e-9);
        if ratio > QUEUEING_LATENCY {
            self.slow_start = false;
            self.set_limit(self.limit - 1.0);
            return;
        }
        self.since_change += 1;
        if ratio <= GROWTH_LATENCY {
            self.held += 1;
        }
        if self.since_change as f64 >= self.limit {
            if self.held == self.since_change {
                let grown = if self.slow_start {
                    self.limit * 2.0
                } else {
                    self.limit + 1.0
                };
                self.set_limit(grown);
            } else {
                self.slow_start = false;
                self.since_change = 0;
                self.held = 0;
            }
        }
    }

    /// A 429: halve, and pause every request until `now + retry_after` (when sent).
    pub(crate) fn on_throttled(&mut self, now: Duration, retry_after: Option<Duration>) {
        self.throttled += 1;
        self.slow_start = false;
        self.set_limit(self.limit / 2.0);
        if let Some(wait) = retry_after {
            let until = now + wait;
            self.paused_until = Some(self.paused_until.map_or(until, |paused| paused.max(until)));
        }
    }

    fn set_limit(&mut self, limit: f64) {
        self.limit = limit.clamp(1.0, self.max);
        self.since_change = 0;
        self.held = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: Duration = Duration::from_millis(250);

    /// Latency of a model with `threads` threads when `in_flight` requests run.
    fn latency(in_flight: usize, threads: usize) -> Duration {
        PAGE.mul_f64((in_flight as f64 / threads as f64).max(1.0))
    }

    #[test]
    fn grows_to_the_instances_threads_and_stays_near_them() {
        let mut control = Concurrency::new(2, 64);
        for _ in 0..400 {
            let in_flight = control.limit();
            control.on_page(latency(in_flight, 8), true);
        }
        let limit = control.limit();
        assert!((8..=14).contains(&limit), "settled at {limit}");
    }

    #[test]
    fn queueing_gives_back_one_request_and_keeps_every_thread_busy() {
        let mut control = Concurrency::new(9, 16);
        control.on_page(latency(8, 8), true);
        // The ninth request waited for a thread: one fewer, still one per thread.
        control.on_page(latency(9, 8) * 2, true);
        assert_eq!(control.limit(), 8);
    }

    #[test]
    fn a_429_halves_and_pauses_until_retry_after() {
        let mut control = Concurrency::new(16, 16);
        control.on_throttled(Duration::from_secs(10), Some(Duration::from_secs(1)));
        assert_eq!(control.limit(), 8);
        assert_eq!(control.paused_until, Some(Duration::from_secs(11)));
        assert_eq!(control.throttled, 1);
        for _ in 0..10 {
            control.on_throttled(Duration::from_secs(10), None);
        }
        assert_eq!(control.limit(), 1, "never below one");
    }

    #[test]
    fn short_pages_do_not_steer() {
        let mut control = Concurrency::new(2, 8);
        control.on_page(PAGE, true);
        control.on_page(PAGE * 10, false);
        assert_eq!(control.limit(), 2);
    }
}

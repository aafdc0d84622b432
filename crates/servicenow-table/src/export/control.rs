//! Adaptive concurrency: how many pages an export requests at once.
//!
//! The instance, not the client, bounds useful concurrency: its `API_INT` threads (typically 4
//! per node) run requests, a queue holds the rest, and a full queue answers 429
//! (`servicenow-api-more.md` §6). Past the threads, more requests only wait in the queue, so
//! latency grows while throughput does not; below them, threads idle. The control estimates,
//! once per round (as many full pages as the limit), how many of its requests waited in the
//! queue on average, from the round's mean latency against the best seen (TCP Vegas's rule:
//! `waiting = limit × (1 − best / mean)`), and:
//!
//! - grows by half per round (slow start) while nothing waits: a round lasts a whole page's
//!   time, an export of a hundred thousand rows has only a handful of rounds, and the requests
//!   an overshoot puts in the instance's queue wait there whatever the limit does next;
//! - then keeps between [`WAITING_LOW`] and [`WAITING_HIGH`] requests waiting: one more per
//!   round below, fewer above. A few requests waiting cost nothing while every thread is busy
//!   and keep a thread from idling between two requests when the instance's load balancer gives
//!   one node more than the other; many waiting only hold memory (found by the export
//!   benchmark, issue 17);
//! - halves on a 429, and no request leaves before the `Retry-After` the instance sent;
//! - never leaves `1..=max`.
//!
//! Only full pages count (a short page is cheaper), and one round is judged once: the pages of a
//! round that were sent before the limit last changed are not held against the new limit twice.

use std::time::Duration;

/// The limit's growth per round in slow start.
pub(crate) const SLOW_START_GROWTH: f64 = 1.5;
/// Below this many requests waiting on average, the limit grows.
pub(crate) const WAITING_LOW: f64 = 1.0;
/// Above this many, it shrinks to leave about this many waiting.
pub(crate) const WAITING_HIGH: f64 = 3.0;

#[derive(Debug)]
pub(crate) struct Concurrency {
    limit: f64,
    max: f64,
    slow_start: bool,
    best: Option<Duration>,
    /// Full pages and their summed latency in this round.
    pages: u32,
    latency: Duration,
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
            pages: 0,
            latency: Duration::ZERO,
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
        self.pages += 1;
        self.latency += latency;
        if f64::from(self.pages) < self.limit.floor() {
            return;
        }
        let mean = self.latency.as_secs_f64() / f64::from(self.pages);
        let best = self.best.map_or(mean, |best| best.as_secs_f64());
        let waiting = self.limit.floor() * (1.0 - best / mean.max(1e-9)).max(0.0);
        let next = if waiting < WAITING_LOW {
            if self.slow_start {
                (self.limit * SLOW_START_GROWTH).ceil()
            } else {
                self.limit + 1.0
            }
        } else if waiting > WAITING_HIGH {
            self.slow_start = false;
            (self.limit - waiting + WAITING_HIGH).floor()
        } else {
            self.slow_start = false;
            self.limit
        };
        self.set_limit(next);
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
        self.pages = 0;
        self.latency = Duration::ZERO;
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
    fn grows_past_the_instances_threads_and_keeps_a_few_requests_waiting() {
        let mut control = Concurrency::new(2, 64);
        for _ in 0..400 {
            let in_flight = control.limit();
            control.on_page(latency(in_flight, 8), true);
        }
        // Eight threads busy and one to three requests waiting for them.
        let limit = control.limit();
        assert!((9..=11).contains(&limit), "settled at {limit}");
    }

    #[test]
    fn a_round_with_many_requests_waiting_gives_back_all_but_a_few() {
        let mut control = Concurrency::new(16, 16);
        control.on_page(latency(8, 8), true);
        // Sixteen in flight on eight threads: eight wait, on average.
        for _ in 1..16 {
            control.on_page(latency(16, 8) + PAGE / 15, true);
        }
        let limit = control.limit();
        assert!((10..=12).contains(&limit), "shrank to {limit}");
        assert!(!control.slow_start, "and slow start is over");
    }

    #[test]
    fn slow_start_grows_by_half_per_round_while_nothing_waits() {
        let mut control = Concurrency::new(4, 64);
        for _ in 0..4 {
            control.on_page(PAGE, true);
        }
        assert_eq!(control.limit(), 6);
        for _ in 0..5 {
            control.on_page(PAGE, true);
        }
        assert_eq!(control.limit(), 6, "a round is as many pages as the limit");
        control.on_page(PAGE, true);
        assert_eq!(control.limit(), 9);
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

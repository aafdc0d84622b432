//! Capped exponential backoff with deterministic jitter, and the jitter that spreads refreshes.

use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;

use crate::time::duration_millis;

/// How the machine spaces its retries after transient failures (5xx, transport errors, timeouts).
///
/// The n-th consecutive failure waits `min(initial * 2^(n-1), max)`, of which the upper half is
/// replaced by a uniformly random amount ("equal jitter"), so replicas that failed together do
/// not retry together, and the wait never falls below half the exponential step.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BackoffPolicy {
    /// The step after the first failure.
    pub initial: Duration,
    /// The cap on any step.
    pub max: Duration,
}

impl BackoffPolicy {
    /// One second, doubling up to five minutes.
    pub const DEFAULT: Self = Self {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(300),
    };

    /// The capped exponential step for the `failures`-th consecutive failure (1-based), before jitter.
    pub fn step(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(32);
        let step = self.initial.saturating_mul(1_u32 << exponent.min(31));
        step.min(self.max)
    }

    /// The wait before the retry after the `failures`-th consecutive failure, jitter included.
    pub(crate) fn delay(&self, failures: u32, rng: &mut ChaCha20Rng) -> Duration {
        let step = self.step(failures);
        let half = step / 2;
        half + uniform_up_to(step - half, rng)
    }
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A uniformly random duration in `[0, bound]`, in whole milliseconds, from the seeded RNG.
pub(crate) fn uniform_up_to(bound: Duration, rng: &mut ChaCha20Rng) -> Duration {
    let bound_millis = duration_millis(bound);
    if bound_millis == 0 {
        return Duration::ZERO;
    }
    // The modulo bias is below 2^-40 for any bound under a day: irrelevant for spreading retries.
    Duration::from_millis(rng.next_u64() % (bound_millis.saturating_add(1)))
}

#[cfg(test)]
mod tests {
    use rand_core::SeedableRng;

    use super::*;

    #[test]
    fn steps_double_from_initial_and_stop_at_the_cap() {
        let policy = BackoffPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10),
        };
        let steps: Vec<u64> = (1..=6).map(|n| policy.step(n).as_secs()).collect();
        assert_eq!(steps, [1, 2, 4, 8, 10, 10]);
        assert_eq!(policy.step(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn delays_stay_between_half_a_step_and_a_step_and_repeat_for_a_seed() {
        let policy = BackoffPolicy::DEFAULT;
        let mut first = ChaCha20Rng::from_seed([7; 32]);
        let mut second = ChaCha20Rng::from_seed([7; 32]);
        for failures in 1..=12 {
            let delay = policy.delay(failures, &mut first);
            let step = policy.step(failures);
            assert!(
                delay >= step / 2 && delay <= step,
                "{delay:?} outside [{:?}, {step:?}]",
                step / 2
            );
            assert_eq!(
                delay,
                policy.delay(failures, &mut second),
                "same seed, same schedule"
            );
        }
    }

    #[test]
    fn different_seeds_spread_the_same_failure() {
        let policy = BackoffPolicy::DEFAULT;
        let delays: std::collections::BTreeSet<Duration> = (0..8_u8)
            .map(|seed| policy.delay(9, &mut ChaCha20Rng::from_seed([seed; 32])))
            .collect();
        assert!(delays.len() > 1, "eight replicas all chose {delays:?}");
    }
}

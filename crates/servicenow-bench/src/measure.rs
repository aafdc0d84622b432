//! Alternating runs (A B A B …), medians and ratios: the one way every comparison is measured.

use std::{future::Future, time::Instant};

/// Runs `rounds` rounds of `a` then `b` and returns each side's per-round figure.
pub(crate) async fn alternate<A, B, FA, FB>(
    rounds: usize,
    mut a: A,
    mut b: B,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)>
where
    A: FnMut() -> FA,
    B: FnMut() -> FB,
    FA: Future<Output = anyhow::Result<f64>>,
    FB: Future<Output = anyhow::Result<f64>>,
{
    let mut left = Vec::with_capacity(rounds);
    let mut right = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        left.push(a().await?);
        right.push(b().await?);
    }
    Ok((left, right))
}

/// The median of `values` (the mean of the middle two for an even count).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Records per second of `rows` read in the time since `started`.
pub(crate) fn per_second(rows: usize, started: Instant) -> f64 {
    rows as f64 / started.elapsed().as_secs_f64()
}

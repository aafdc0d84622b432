//! Rounds in A B B A order, medians with their spread, and rates: the one way every comparison is measured.

use std::{future::Future, time::Instant};

use futures::future::LocalBoxFuture;

/// Runs `rounds` rounds of `a` and `b` in A B B A order (A B, then B A, then A B …) and returns
/// each side's per-round figure. Alternating the order as well as the sides keeps a slow drift
/// of the machine (a build starting next door) from favouring the side that always runs first.
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
    for round in 0..rounds {
        if round % 2 == 0 {
            left.push(a().await?);
            right.push(b().await?);
        } else {
            right.push(b().await?);
            left.push(a().await?);
        }
    }
    Ok((left, right))
}

/// Runs `rounds` rounds of `sides` contenders, `run(index)` each, in A B … Z Z … B A order
/// (forward on even rounds, backward on odd ones); returns each side's per-round figures.
pub(crate) async fn abba<'a, F>(
    rounds: usize,
    sides: usize,
    mut run: F,
) -> anyhow::Result<Vec<Vec<f64>>>
where
    F: FnMut(usize) -> LocalBoxFuture<'a, anyhow::Result<f64>>,
{
    let mut figures = vec![Vec::with_capacity(rounds); sides];
    for round in 0..rounds {
        for step in 0..sides {
            let side = if round % 2 == 0 {
                step
            } else {
                sides - 1 - step
            };
            figures[side].push(run(side).await?);
        }
    }
    Ok(figures)
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

/// `median (min–max) unit` of per-round figures, as the table prints them.
pub(crate) fn spread(values: &[f64], unit: &str, decimals: usize) -> String {
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(
        "{:.decimals$} {unit} ({low:.decimals$}–{high:.decimals$})",
        median(values)
    )
}

/// Records per second of `rows` read in the time since `started`.
pub(crate) fn per_second(rows: usize, started: Instant) -> f64 {
    rows as f64 / started.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_run_in_a_b_b_a_order() {
        let order = std::cell::RefCell::new(Vec::new());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let figures = runtime
            .block_on(abba(3, 3, |side| {
                order.borrow_mut().push(side);
                Box::pin(async move { Ok(side as f64) })
            }))
            .expect("no error");
        assert_eq!(order.into_inner(), [0, 1, 2, 2, 1, 0, 0, 1, 2]);
        assert_eq!(figures, [vec![0.0; 3], vec![1.0; 3], vec![2.0; 3]]);
        let pairs = std::cell::RefCell::new(Vec::new());
        runtime
            .block_on(alternate(
                4,
                || async {
                    pairs.borrow_mut().push('A');
                    Ok(1.0)
                },
                || async {
                    pairs.borrow_mut().push('B');
                    Ok(2.0)
                },
            ))
            .expect("no error");
        assert_eq!(pairs.into_inner().iter().collect::<String>(), "ABBAABBA");
        assert_eq!(spread(&[3.0, 1.0, 2.0], "x", 1), "2.0 x (1.0–3.0)");
    }
}

//! The export benchmark's plot: rows/s over time of every contender of one round, as an SVG for `docs/benchmarks.md`.

use std::{path::Path, sync::Mutex, time::Instant};

use anyhow::Context as _;
use plotters::prelude::*;

/// Rows read so far at moments of one run (seconds since its start).
#[derive(Debug, Default)]
pub(crate) struct Timeline {
    points: Mutex<Vec<(f64, usize)>>,
}

impl Timeline {
    /// `rows` read in all by now.
    pub(crate) fn record(&self, started: Instant, rows: usize) {
        let at = started.elapsed().as_secs_f64();
        if let Ok(mut points) = self.points.lock() {
            points.push((at, rows));
        }
    }

    /// Adds points measured elsewhere (a peer's own clock).
    pub(crate) fn extend(&self, points: impl IntoIterator<Item = (f64, usize)>) {
        if let Ok(mut mine) = self.points.lock() {
            mine.extend(points);
        }
    }

    pub(crate) fn clear(&self) {
        if let Ok(mut points) = self.points.lock() {
            points.clear();
        }
    }

    fn points(&self) -> Vec<(f64, usize)> {
        let mut points = self.points.lock().map(|p| p.clone()).unwrap_or_default();
        points.sort_by(|left, right| left.0.total_cmp(&right.0));
        points
    }

    /// Rows/s in windows of `window` seconds, each point at its window's end; starts at (0, 0).
    pub(crate) fn rates(&self, window: f64) -> Vec<(f64, f64)> {
        let points = self.points();
        let Some(&(end, _)) = points.last() else {
            return Vec::new();
        };
        let mut rates = vec![(0.0, 0.0)];
        let (mut at, mut rows_before, mut next) = (0.0_f64, 0_usize, 0);
        while at < end {
            let until = (at + window).min(end);
            let mut rows = rows_before;
            while next < points.len() && points[next].0 <= until {
                rows = rows.max(points[next].1);
                next += 1;
            }
            // Over a whole window even for the last, shorter one: a sliver of a window would
            // turn one page into a spike.
            rates.push((until, (rows - rows_before) as f64 / window));
            (at, rows_before) = (until, rows);
        }
        rates
    }
}

/// Draws each `(label, timeline)` as rows/s over time into an SVG file at `path`.
pub(crate) fn write_svg(
    path: &Path,
    title: &str,
    series: &[(String, &Timeline)],
) -> anyhow::Result<()> {
    let longest = series
        .iter()
        .filter_map(|(_, timeline)| timeline.points().last().map(|point| point.0))
        .fold(0.0_f64, f64::max)
        .max(0.1);
    let window = longest / 40.0;
    let curves: Vec<(String, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(label, timeline)| (label.clone(), timeline.rates(window)))
        .collect();
    let top = curves
        .iter()
        .flat_map(|(_, points)| points.iter().map(|point| point.1))
        .fold(1.0_f64, f64::max)
        * 1.1;
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..longest * 1.02, 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("seconds since the start of the run")
            .y_desc("rows/s")
            .draw()?;
        for (index, (label, points)) in curves.iter().enumerate() {
            let colour = Palette99::pick(index).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    colour.stroke_width(2),
                ))?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|error| anyhow::anyhow!("drawing {}: {error}", path.display()))?;
    std::fs::metadata(path)
        .with_context(|| format!("the plot {} was not written", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_rows_per_window() {
        let timeline = Timeline::default();
        timeline.extend([(0.5, 100), (1.0, 200), (2.0, 200)]);
        assert_eq!(timeline.rates(1.0), [(0.0, 0.0), (1.0, 200.0), (2.0, 0.0)]);
    }
}

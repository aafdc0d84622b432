//! The export benchmark: `Table::export` with its defaults against the cost model's physical limit, a concurrent and a sequential offset-paging client, and pysnc, on an emulator with the `instance-like` cost model.
//!
//! Ours runs in a child process (`servicenow-bench export INSTANCE`) so that its peak RSS is its
//! own; the hand-written baselines run in this process, pysnc in its own.

use std::{cell::RefCell, path::Path, sync::Arc, time::Instant};

use anyhow::Context as _;
use serde::Deserialize;
use servicenow::table::{ExportConfig, ReadOptions};
use servicenow_emulator::{CostModel, Emulator};

use crate::{
    measure::{abba, median, spread},
    plot::{Timeline, write_svg},
    report::Line,
    stream::{Incident, concurrent_baseline},
};

/// Rows of the cost-model table; ours and the concurrent baseline read all of them.
pub(crate) const COST_TABLE_ROWS: usize = 100_000;
/// Rows the slow clients (sequential offset paging, pysnc) read: the first ones of the same
/// table. Offset paging gets slower with depth, so their rate over a prefix flatters them.
pub(crate) const PREFIX_ROWS: usize = 20_000;
/// The page size of the hand-written offset clients: the same as our export's default.
const BASELINE_PAGE: u32 = 2_000;

/// What the `export` child printed.
#[derive(Debug, Deserialize)]
pub(crate) struct ExportRun {
    rows: usize,
    seconds: f64,
    peak_rss_kb: u64,
    requests: u64,
    throttled: u64,
    peak_in_flight: usize,
    timeline: Vec<(f64, usize)>,
}

/// The child: exports the whole incident table of `instance` with the defaults and prints one
/// JSON line ([`ExportRun`]).
pub(crate) async fn child(instance: &str) -> anyhow::Result<()> {
    let client = crate::client(instance, Arc::new(servicenow::SystemClock)).await?;
    let incidents = client.table::<Incident>("incident")?;
    let started = Instant::now();
    let mut export = incidents.export(None, ReadOptions::default(), config_from_env()?)?;
    let mut rows = 0;
    let mut timeline = Vec::new();
    // `SN_BENCH_TRACE=1`: one line per batch on stderr (time, rows, the export's stats), for
    // working on the export's scheduling.
    let trace = std::env::var_os("SN_BENCH_TRACE").is_some();
    while let Some(batch) = export.next_batch().await {
        let batch = batch.context("exporting incidents")?;
        rows += batch.rows.len();
        timeline.push((started.elapsed().as_secs_f64(), rows));
        if trace {
            eprintln!(
                "{:.3} s range {} +{} = {rows} {:?}",
                started.elapsed().as_secs_f64(),
                batch.range,
                batch.rows.len(),
                export.stats()
            );
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let stats = export.stats();
    println!(
        "{}",
        serde_json::json!({
            "rows": rows,
            "seconds": seconds,
            "peak_rss_kb": crate::rss::peak_rss_kb()?,
            "requests": stats.requests,
            "throttled": stats.throttled,
            "peak_in_flight": stats.peak_in_flight,
            "timeline": timeline,
        })
    );
    Ok(())
}

/// `ExportConfig::default()`, or with `SN_BENCH_EXPORT="page_size=N max_concurrency=N
/// initial_concurrency=N"` (any of them) for trying other settings by hand; the suite never
/// sets it.
fn config_from_env() -> anyhow::Result<ExportConfig> {
    let mut config = ExportConfig::default();
    let Ok(settings) = std::env::var("SN_BENCH_EXPORT") else {
        return Ok(config);
    };
    for setting in settings.split_whitespace() {
        let (name, value) = setting
            .split_once('=')
            .with_context(|| format!("SN_BENCH_EXPORT: {setting} is not NAME=VALUE"))?;
        match name {
            "page_size" => config.page_size = value.parse()?,
            "max_concurrency" => config.max_concurrency = value.parse()?,
            "initial_concurrency" => config.initial_concurrency = value.parse()?,
            _ => anyhow::bail!("SN_BENCH_EXPORT: {name} is not a setting it knows"),
        }
    }
    Ok(config)
}

async fn run_child(instance: &str) -> anyhow::Result<ExportRun> {
    let output = tokio::process::Command::new(std::env::current_exe()?)
        .args(["export", instance])
        .output()
        .await?;
    anyhow::ensure!(
        output.status.success(),
        "the export child failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .last()
        .context("the export child printed nothing")?;
    serde_json::from_str(line)
        .with_context(|| format!("reading the export child's figures {line:?}"))
}

/// What the benchmark needs from the rest of the suite.
pub(crate) struct Setup<'a> {
    pub(crate) rounds: usize,
    pub(crate) divisor: u32,
    pub(crate) python: Option<&'a Path>,
    pub(crate) pysnc_script: &'a Path,
    pub(crate) svg: Option<&'a Path>,
    pub(crate) stamp: &'a str,
    /// The peak RSS of one stream (kB), from the memory comparison of the same run.
    pub(crate) single_stream_rss_kb: f64,
}

/// Runs the benchmark; returns its lines.
pub(crate) async fn benchmark(setup: Setup<'_>) -> anyhow::Result<Vec<Line>> {
    let model = CostModel::instance_like().scaled_down(setup.divisor);
    let threads = (model.nodes * model.threads_per_node) as usize;
    let emulator = Emulator::builder()
        .rows("incident", COST_TABLE_ROWS as u64)
        .cost_model(model.clone())
        .configure(|settings| settings.client_credentials_enabled = true)
        .start()
        .await?;
    let base = emulator.base_url().to_owned();
    let client = crate::client(&base, Arc::new(servicenow::SystemClock)).await?;
    let bearer = client.token_manager().bearer().await?;
    let authorization = format!("Bearer {}", bearer.token().secret());
    // A fresh connection pool per client keeps no session cookie (reqwest has no cookie store
    // unless asked), as a hand-written client would.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(threads)
        .build()?;

    // The model's physical limit: every row rendered once on every thread with nothing waiting,
    // plus one request's fixed cost per thread (they run side by side).
    let limit_seconds = (model.per_row_rendered.as_secs_f64() * COST_TABLE_ROWS as f64
        / threads as f64
        + model.per_request.as_secs_f64())
        / f64::from(setup.divisor);
    let limit_rate = COST_TABLE_ROWS as f64 / limit_seconds;

    let timelines: [Timeline; 4] = Default::default();
    let runs: RefCell<Vec<ExportRun>> = RefCell::default();
    let throttled_server: RefCell<Vec<f64>> = RefCell::default();
    let requests_server: RefCell<Vec<f64>> = RefCell::default();
    let sides = if setup.python.is_some() { 4 } else { 3 };
    let last_round = setup.rounds.saturating_sub(1);
    let mut round_of = [0_usize; 4];
    let figures = abba(setup.rounds, sides, |side| {
        let round = round_of[side];
        round_of[side] += 1;
        // The plot shows the last round of each.
        let timeline = &timelines[side];
        if round == last_round {
            timeline.clear();
        }
        let keep = round == last_round;
        let (base, http, authorization, emulator) = (&base, &http, &authorization, &emulator);
        let (runs, throttled_server, requests_server) =
            (&runs, &throttled_server, &requests_server);
        let python = setup.python;
        let script = setup.pysnc_script;
        Box::pin(async move {
            match side {
                0 => {
                    let before = emulator.counters();
                    let run = run_child(base).await?;
                    let after = emulator.counters();
                    anyhow::ensure!(
                        run.rows == COST_TABLE_ROWS,
                        "the export read {} rows, not {COST_TABLE_ROWS}",
                        run.rows
                    );
                    let refused = (after.queue_full + after.rate_limited)
                        - (before.queue_full + before.rate_limited);
                    throttled_server.borrow_mut().push(refused as f64);
                    requests_server.borrow_mut().push(
                        (after.total_table_requests() - before.total_table_requests()) as f64,
                    );
                    if keep {
                        timeline.extend(run.timeline.iter().copied());
                    }
                    let rate = run.rows as f64 / run.seconds;
                    runs.borrow_mut().push(run);
                    Ok(rate)
                }
                1 | 2 => {
                    let (rows, tasks) = if side == 1 {
                        (COST_TABLE_ROWS, threads)
                    } else {
                        (PREFIX_ROWS, 1)
                    };
                    concurrent_baseline(
                        http,
                        base,
                        authorization,
                        rows,
                        BASELINE_PAGE,
                        tasks,
                        keep.then_some(timeline),
                    )
                    .await
                }
                _ => {
                    let python = python.context("pysnc needs --python")?;
                    let run = crate::peers::pysnc(python, script, base, 1_000, PREFIX_ROWS).await?;
                    anyhow::ensure!(
                        run.rows == PREFIX_ROWS as u64,
                        "pysnc read {} rows, not {PREFIX_ROWS}",
                        run.rows
                    );
                    if keep {
                        timeline.extend(run.timeline.iter().copied());
                    }
                    Ok(run.per_second())
                }
            }
        })
    })
    .await?;
    emulator.shutdown().await;

    let ours = &figures[0];
    let scale = format!(
        "`instance-like` cost model, times divided by {}, {COST_TABLE_ROWS} rows",
        setup.divisor
    );
    let mut lines = vec![Line {
        comparison: format!(
            "export: `Table::export` (defaults) vs the model's physical limit ({scale}; limit = rows × 0.2 ms ÷ {threads} threads + one 50 ms request, = {:.2} s)",
            limit_seconds
        ),
        ours: spread(ours, "rows/s", 0),
        other: format!("{limit_rate:.0} rows/s (computed)"),
        ratio: median(ours) / limit_rate,
        target: Some((">=", 0.8)),
    }];
    let labels = [
        format!(
            "{threads} tasks of offset pages ({BASELINE_PAGE} rows, counted), all {COST_TABLE_ROWS} rows"
        ),
        format!(
            "one task of offset pages ({BASELINE_PAGE} rows, counted), first {PREFIX_ROWS} rows"
        ),
        format!("pysnc 1.2.1 (defaults, batch 1000, its session cookie), first {PREFIX_ROWS} rows"),
    ];
    let bounds = [2.0, 10.0, 10.0];
    for side in 1..sides {
        lines.push(Line {
            comparison: format!("export: `Table::export` (defaults) vs {}", labels[side - 1]),
            ours: spread(ours, "rows/s", 0),
            other: spread(&figures[side], "rows/s", 0),
            ratio: median(ours) / median(&figures[side]),
            target: Some((">=", bounds[side - 1])),
        });
    }
    let runs = runs.into_inner();
    let requests: f64 = requests_server.into_inner().iter().sum();
    let refused: f64 = throttled_server.into_inner().iter().sum();
    let client_throttled: u64 = runs.iter().map(|run| run.throttled).sum();
    let client_requests: u64 = runs.iter().map(|run| run.requests).sum();
    let peak_in_flight = runs.iter().map(|run| run.peak_in_flight).max().unwrap_or(0);
    lines.push(Line {
        comparison: format!(
            "export: requests answered 429 over all rounds (emulator's counters; the export counted {client_throttled} of {client_requests}; at most {peak_in_flight} in flight)"
        ),
        ours: format!("{refused:.0} of {requests:.0}"),
        other: "1%".to_owned(),
        ratio: refused / requests.max(1.0) * 100.0,
        target: Some(("<", 1.0)),
    });
    let rss: Vec<f64> = runs.iter().map(|run| run.peak_rss_kb as f64).collect();
    lines.push(Line {
        comparison: "export: peak RSS of the export (its own process) vs one stream's (the 1,000,000-row memory line)".to_owned(),
        ours: format!("{:.1} MiB", median(&rss) / 1024.0),
        other: format!("{:.1} MiB", setup.single_stream_rss_kb / 1024.0),
        ratio: median(&rss) / setup.single_stream_rss_kb,
        target: Some(("<=", 2.0)),
    });
    if let Some(svg) = setup.svg {
        let names = [
            "ours: Table::export (defaults)".to_owned(),
            format!("{threads} tasks, offset pages"),
            "1 task, offset pages".to_owned(),
            "pysnc 1.2.1".to_owned(),
        ];
        let series: Vec<(String, &Timeline)> = names
            .into_iter()
            .zip(timelines.iter())
            .take(sides)
            .collect();
        write_svg(
            svg,
            &format!(
                "Export, rows/s over time (last round; {}; {})",
                setup.stamp,
                scale.replace('`', "")
            ),
            &series,
        )?;
    }
    Ok(lines)
}

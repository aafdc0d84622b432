//! `servicenow-bench`: the measuring side of `cargo xtask bench`, every comparison side by side in one run on one emulator.
//!
//! `servicenow-bench suite --write docs/benchmarks.md [--python PATH] [--rounds N]` starts one
//! emulator, runs each comparison as alternating rounds (A B A B …), prints the table of medians
//! and ratios, writes it with the machine description, and exits non-zero when a target is
//! missed. `servicenow-bench stream-rss INSTANCE ROWS` is the child process that measures the
//! peak memory of one stream.
#![allow(clippy::print_stdout)] // A benchmark binary reports on stdout.

mod auth;
mod measure;
mod peers;
mod report;
mod stream;

use std::{path::PathBuf, sync::Arc, time::Instant};

use anyhow::Context as _;
use servicenow::{Client, ManualClock, Servicenow};
use servicenow_emulator::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator};
use servicenow_oauth::{ClientId, ClientSecret, InstanceUrl, OAuthClient};

use crate::{
    measure::{alternate, median},
    report::Line,
};

/// Rows in the emulator's incident table (the memory comparison streams all of them).
const TABLE_ROWS: u64 = 1_000_000;
/// Rows read by the throughput and peer comparisons.
const EXPORT_ROWS: usize = 100_000;
const STORM_CALLERS: usize = 1_000;
/// Text below this line of `docs/benchmarks.md` is written by hand and kept across runs.
/// The stream's default prefetch depth: every "with prefetch" line and the memory child use it.
const PREFETCH: usize = servicenow::table::StreamConfig::DEFAULT_PREFETCH;
const ANALYSIS_MARKER: &str = "<!-- analysis: written by hand, kept by cargo xtask bench -->";

fn main() -> anyhow::Result<()> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    // The memory child runs on one thread, as a command-line export would; the suite uses the
    // multi-thread runtime for the emulator and the storm.
    let runtime = if arguments.first().map(String::as_str) == Some("stream-rss") {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
    };
    runtime.block_on(run(arguments))
}

async fn run(arguments: Vec<String>) -> anyhow::Result<()> {
    match arguments.first().map(String::as_str) {
        Some("stream-rss") => {
            let instance = arguments.get(1).context("stream-rss INSTANCE ROWS")?;
            let rows: usize = arguments
                .get(2)
                .context("stream-rss INSTANCE ROWS")?
                .parse()?;
            let client = client(instance, Arc::new(servicenow::SystemClock)).await?;
            stream::typed_stream(&client, rows, 1_000, PREFETCH).await?;
            println!("{}", stream::peak_rss_kb()?);
            Ok(())
        }
        Some("suite") => suite(&arguments[1..]).await,
        _ => anyhow::bail!(
            "usage: servicenow-bench suite --write FILE [--python PATH] [--rounds N] [--bearer FILE] [--stamp TEXT] | stream-rss INSTANCE ROWS"
        ),
    }
}

async fn client(instance: &str, clock: Arc<dyn servicenow::Clock>) -> anyhow::Result<Client> {
    let oauth = OAuthClient::confidential(
        ClientId::new(DEFAULT_CLIENT_ID)?,
        ClientSecret::new(DEFAULT_CLIENT_SECRET)?,
    );
    Ok(Servicenow::builder(InstanceUrl::new(instance)?, oauth)
        .store(servicenow::stores::open_memory()?)
        .clock(clock)
        .build()
        .await?
        .service())
}

fn option(arguments: &[String], name: &str) -> Option<String> {
    arguments
        .iter()
        .position(|argument| argument == name)
        .and_then(|at| arguments.get(at + 1))
        .cloned()
}

fn rate(value: f64) -> String {
    format!("{value:.0} rows/s")
}

async fn suite(arguments: &[String]) -> anyhow::Result<()> {
    let started = Instant::now();
    let write = option(arguments, "--write").map(PathBuf::from);
    let stamp = option(arguments, "--stamp").unwrap_or_else(|| "an unstamped run".to_owned());
    let python = option(arguments, "--python").map(PathBuf::from);
    let rounds: usize = option(arguments, "--rounds").map_or(Ok(3), |rounds| rounds.parse())?;
    let peers_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers");
    let emulator = Emulator::builder()
        .rows("incident", TABLE_ROWS)
        .configure(|settings| settings.client_credentials_enabled = true)
        .start()
        .await?;
    let base = emulator.base_url().to_owned();
    let clock = ManualClock::new();
    let client = client(&base, Arc::new(clock.clone())).await?;
    let bearer = client.token_manager().bearer().await?;
    let authorization = format!("Bearer {}", bearer.token().secret());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut lines = Vec::new();

    // Streaming throughput: on loopback with no server time (CPU-bound: the emulator shares
    // the cores), reported; and with 20 ms of server time per page (a real instance spends more),
    // where the targets apply because that is what prefetch is for.
    for latency_ms in [0_u64, 20] {
        let latency = (latency_ms > 0).then(|| std::time::Duration::from_millis(latency_ms));
        emulator.update_settings(|settings| settings.faults.added_latency = latency);
        for page_size in [1_000_u32, 10_000] {
            let (without, base_a) = alternate(
                rounds,
                || stream::typed_stream(&client, EXPORT_ROWS, page_size, 0),
                || stream::baseline(&http, &base, &authorization, EXPORT_ROWS, page_size),
            )
            .await?;
            let (with, base_b) = alternate(
                rounds,
                || stream::typed_stream(&client, EXPORT_ROWS, page_size, PREFETCH),
                || stream::baseline(&http, &base, &authorization, EXPORT_ROWS, page_size),
            )
            .await?;
            let target = |bound| (latency_ms > 0).then_some((">=", bound));
            lines.push(Line {
                comparison: format!(
                    "typed stream, no prefetch (prefetch = 0), page {page_size}, server time {latency_ms} ms vs reqwest + serde_json"
                ),
                ours: rate(median(&without)),
                other: rate(median(&base_a)),
                ratio: median(&without) / median(&base_a),
                target: target(0.95),
            });
            lines.push(Line {
                comparison: format!(
                    "typed stream, prefetch {PREFETCH} (default), page {page_size}, server time {latency_ms} ms vs reqwest + serde_json"
                ),
                ours: rate(median(&with)),
                other: rate(median(&base_b)),
                ratio: median(&with) / median(&base_b),
                target: target(1.5),
            });
            eprintln!(
                "bench: streaming page {page_size}, {latency_ms} ms done ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    emulator.update_settings(|settings| settings.faults.added_latency = None);

    // Peers, page size 1,000, our stream with prefetch.
    let node_script = peers_dir.join("node_export.mjs");
    let token = bearer.token().secret().to_owned();
    let (ours, node_rates) = alternate(
        rounds,
        || stream::typed_stream(&client, EXPORT_ROWS, 1_000, PREFETCH),
        || async {
            let run = peers::node(&node_script, &base, &token, 1_000, EXPORT_ROWS).await?;
            Ok(run.per_second())
        },
    )
    .await?;
    lines.push(Line {
        comparison: format!("typed stream, prefetch {PREFETCH} (default), page 1000 vs Node.js fetch + response.json()"),
        ours: rate(median(&ours)),
        other: rate(median(&node_rates)),
        ratio: median(&ours) / median(&node_rates),
        target: Some((">=", 2.0)),
    });
    eprintln!(
        "bench: node done ({:.0} s)",
        started.elapsed().as_secs_f64()
    );

    let rss = |rows: usize| {
        let base = base.clone();
        async move {
            let output = tokio::process::Command::new(std::env::current_exe()?)
                .args(["stream-rss", &base, &rows.to_string()])
                .output()
                .await?;
            anyhow::ensure!(
                output.status.success(),
                "stream-rss failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            Ok(String::from_utf8_lossy(&output.stdout)
                .trim()
                .parse::<f64>()?)
        }
    };
    let all_rows = usize::try_from(TABLE_ROWS)?;
    let (small, large) = alternate(rounds, || rss(10_000), || rss(all_rows)).await?;
    lines.push(Line {
        comparison: "peak RSS streaming 1,000,000 rows vs 10,000 rows (ours)".to_owned(),
        ours: format!("{:.1} MiB", median(&large) / 1024.0),
        other: format!("{:.1} MiB", median(&small) / 1024.0),
        ratio: median(&large) / median(&small),
        target: Some(("<=", 1.2)),
    });
    eprintln!(
        "bench: memory done ({:.0} s)",
        started.elapsed().as_secs_f64()
    );

    if let Some(python) = &python {
        let script = peers_dir.join("pysnc_export.py");
        let pysnc_rss = std::sync::Mutex::new(Vec::new());
        let (ours, pysnc_rates) = alternate(
            rounds,
            || stream::typed_stream(&client, EXPORT_ROWS, 1_000, PREFETCH),
            || async {
                let run = peers::pysnc(python, &script, &base, 1_000, EXPORT_ROWS).await?;
                anyhow::ensure!(
                    run.rows == EXPORT_ROWS as u64,
                    "pysnc read {} rows",
                    run.rows
                );
                pysnc_rss
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .push(run.peak_rss_kb.unwrap_or(0) as f64);
                Ok(run.per_second())
            },
        )
        .await?;
        lines.push(Line {
            comparison: format!("typed stream, prefetch {PREFETCH} (default), page 1000 vs pysnc (Basic auth, batch 1000)"),
            ours: rate(median(&ours)),
            other: rate(median(&pysnc_rates)),
            ratio: median(&ours) / median(&pysnc_rates),
            target: Some((">=", 10.0)),
        });
        let pysnc_peak = median(&pysnc_rss.into_inner().unwrap_or_default());
        let (ours_rss, _) = alternate(1, || rss(EXPORT_ROWS), || async { Ok(0.0) }).await?;
        lines.push(Line {
            comparison: "peak RSS streaming 100,000 rows: pysnc vs ours".to_owned(),
            ours: format!("{:.1} MiB", median(&ours_rss) / 1024.0),
            other: format!("{:.1} MiB", pysnc_peak / 1024.0),
            ratio: pysnc_peak / median(&ours_rss),
            target: None,
        });
        eprintln!(
            "bench: pysnc done ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
    } else {
        eprintln!("bench: pysnc skipped (no --python)");
    }

    // Auth overhead: one-row GETs through AuthorizedTransport vs the raw transport.
    let raw = servicenow_http::ReqwestTransport::new()?;
    let fixed = bearer.header_value();
    let tables = client.tables();
    let authorized = tables.sender();
    // A control in the same rounds: a second raw transport against the first, whose ratio
    // shows how finely this machine can resolve the comparison.
    let control = servicenow_http::ReqwestTransport::new()?;
    let auth_rounds = 2 * rounds + 3;
    let (mut through, mut direct, mut control_ratios) = (Vec::new(), Vec::new(), Vec::new());
    let raw_side = auth::Side::Raw {
        transport: &raw,
        header: &fixed,
    };
    for _ in 0..auth_rounds {
        let authorized_side = auth::Side::Authorized(authorized);
        let (ours, theirs) = auth::gets_paired(&authorized_side, &raw_side, &base, 2_000).await?;
        through.push(ours);
        direct.push(theirs);
        let control_side = auth::Side::Raw {
            transport: &control,
            header: &fixed,
        };
        let (second, first) = auth::gets_paired(&control_side, &raw_side, &base, 2_000).await?;
        control_ratios.push(second / first);
    }
    lines.push(Line {
        comparison: "one-row GETs through AuthorizedTransport vs raw transport + fixed header"
            .to_owned(),
        ours: format!("{:.0} req/s", median(&through)),
        other: format!("{:.0} req/s", median(&direct)),
        ratio: median(&through) / median(&direct),
        target: Some((">=", 0.97)),
    });
    let spread = |values: &[f64]| {
        let low = values.iter().copied().fold(f64::INFINITY, f64::min);
        let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{low:.2}–{high:.2}× per round")
    };
    lines.push(Line {
        comparison:
            "control: one-row GETs through a second raw transport vs the first (same rounds)"
                .to_owned(),
        ours: spread(&control_ratios),
        other: format!(
            "auth: {}",
            spread(
                &through
                    .iter()
                    .zip(&direct)
                    .map(|(ours, theirs)| ours / theirs)
                    .collect::<Vec<_>>()
            )
        ),
        ratio: median(&control_ratios),
        target: None,
    });

    // The token hot path, measured by criterion before this run (`cargo xtask bench` passes
    // its medians).
    if let Some(path) = option(arguments, "--bearer") {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let rows: Vec<serde_json::Value> = serde_json::from_str(&text)?;
        for row in rows {
            let figure = |name: &str| {
                row[name]
                    .as_f64()
                    .with_context(|| format!("{path} has no {name}"))
            };
            let (bearer_ns, load_ns) = (figure("bearer_ns")?, figure("load_full_ns")?);
            lines.push(Line {
                comparison: format!(
                    "`TokenManager::bearer()` on a valid token vs `ArcSwap::load_full`, {} thread(s), criterion median (precise clock read: {:.1} ns, coarse: {:.1} ns)",
                    row["threads"],
                    figure("clock_ns")?,
                    figure("coarse_clock_ns")?
                ),
                ours: format!("{bearer_ns:.1} ns"),
                other: format!("{load_ns:.1} ns"),
                ratio: bearer_ns / load_ns,
                target: Some(("<=", 2.0)),
            });
        }
    } else {
        eprintln!("bench: bearer() figures skipped (no --bearer; `cargo xtask bench` passes them)");
    }

    // Many users: heap and tasks per idle user handle of one `Servicenow`, in a process of
    // its own whose allocator counts every byte.
    let handles = handle_memory(HANDLE_USERS).await?;
    lines.push(Line {
        comparison: format!(
            "heap per idle user handle, {HANDLE_USERS} users of one Servicenow, token held (just created: {:.0} B) vs a 2 KiB budget",
            handles.fresh
        ),
        ours: format!("{:.0} B", handles.with_token),
        other: "2048 B".to_owned(),
        ratio: handles.with_token / 2048.0,
        target: Some(("<=", 1.0)),
    });
    lines.push(Line {
        comparison: format!("tokio tasks alive per idle user handle, {HANDLE_USERS} users"),
        ours: format!("{}", handles.tasks),
        other: "0".to_owned(),
        ratio: handles.tasks,
        target: Some(("<=", 0.0)),
    });
    eprintln!(
        "bench: handles done ({:.0} s)",
        started.elapsed().as_secs_f64()
    );

    // Token storm.
    let ours_requests = std::sync::Mutex::new(Vec::new());
    let (storm_ours, storm_naive) = alternate(
        rounds,
        || async {
            let run = auth::storm_ours(&client, &clock, &emulator, STORM_CALLERS).await?;
            ours_requests
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .push(run.token_requests);
            Ok(run.seconds)
        },
        || async {
            Ok(auth::storm_naive(&http, &emulator, STORM_CALLERS)
                .await?
                .seconds)
        },
    )
    .await?;
    let most_requests = ours_requests
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .max()
        .unwrap_or(0);
    lines.push(Line {
        comparison: format!(
            "token storm, {STORM_CALLERS} callers: time until all hold the new token, naive / ours"
        ),
        ours: format!(
            "{:.1} ms, {most_requests} token request(s) at most",
            median(&storm_ours) * 1e3
        ),
        other: format!(
            "{:.1} ms, {STORM_CALLERS} token requests",
            median(&storm_naive) * 1e3
        ),
        ratio: median(&storm_naive) / median(&storm_ours),
        target: None,
    });
    lines.push(Line {
        comparison: "token storm: token requests sent by ours (must be 1)".to_owned(),
        ours: most_requests.to_string(),
        other: "1".to_owned(),
        ratio: most_requests as f64,
        target: Some(("<=", 1.0)),
    });

    let table = report::table(&lines);
    println!("{table}");
    let missed: Vec<&Line> = lines
        .iter()
        .filter(|line| line.met() == Some(false))
        .collect();
    if let Some(path) = write {
        let text = format!(
            "# Benchmarks\n\nFigures of {stamp}.\n\nMeasured by `cargo xtask bench` (crate `servicenow-bench`, release build) against one \
             emulator with {TABLE_ROWS} incidents, each comparison as alternating rounds (A B A B …: {rounds} rounds for the streams, the \
             peers and memory, {auth_rounds} for the auth comparison, whose rounds alternate request by request); figures are medians, ratios are ours / other unless the line says otherwise. The whole run took \
             {:.0} s; the `bearer()` lines are criterion medians (`cargo bench -p servicenow --bench bearer`), run by the same task just before.\n\n## Machine\n\n{}\n\n## Results\n\n{table}\n{}\n",
            started.elapsed().as_secs_f64(),
            report::machine(),
            if missed.is_empty() {
                "Every target is met.".to_owned()
            } else {
                format!(
                    "Targets missed: {}.",
                    missed
                        .iter()
                        .map(|line| line.comparison.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            },
        );
        // What a maintainer wrote below the marker (the analysis of the figures) is kept.
        let kept = std::fs::read_to_string(&path)
            .ok()
            .and_then(|old| old.find(ANALYSIS_MARKER).map(|at| old[at..].to_owned()))
            .unwrap_or_else(|| format!("{ANALYSIS_MARKER}\n"));
        std::fs::write(&path, format!("{text}\n{kept}"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    emulator.shutdown().await;
    anyhow::ensure!(missed.is_empty(), "{} target(s) missed", missed.len());
    Ok(())
}

/// The users of the handle measurement.
const HANDLE_USERS: usize = 10_000;

/// What `handle-memory` measured.
struct HandleCost {
    fresh: f64,
    with_token: f64,
    tasks: f64,
}

/// Runs the `handle-memory` binary (built beside this one) and reads its JSON line.
async fn handle_memory(users: usize) -> anyhow::Result<HandleCost> {
    let binary = std::env::current_exe()?
        .parent()
        .context("the bench binary has a directory")?
        .join("handle-memory");
    let output = tokio::process::Command::new(&binary)
        .arg(users.to_string())
        .output()
        .await
        .with_context(|| format!("running {}", binary.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "handle-memory failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let number = |name: &str| {
        value[name]
            .as_f64()
            .with_context(|| format!("handle-memory printed no {name}"))
    };
    anyhow::ensure!(
        value["handles"].as_u64() == Some(users as u64),
        "handle-memory measured another number of handles"
    );
    Ok(HandleCost {
        fresh: number("bytes_per_handle_fresh")?,
        with_token: number("bytes_per_handle_with_token")?,
        tasks: number("tasks_per_idle_handle")?,
    })
}

//! `servicenow-bench`: the measuring side of `cargo xtask bench`, every comparison side by side in one run on one emulator.
//!
//! `servicenow-bench suite --write docs/benchmarks.md [--python PATH] [--rounds N] [--cost-scale N]`
//! starts one emulator (and one with the `instance-like` cost model for the export benchmark),
//! runs each comparison as rounds in A B B A order, prints the table of medians with their
//! min–max and the ratios, writes it with the machine description and the export plot
//! (`benchmarks-export.svg` beside the file), and exits non-zero when a target is missed.
//! `servicenow-bench export INSTANCE` is the child process that measures our export; the
//! binaries `stream-memory` and `handle-memory` are the children that measure memory.
#![allow(clippy::print_stdout)] // A benchmark binary reports on stdout.

mod auth;
mod export;
mod incident;
mod measure;
mod peers;
mod plot;
mod report;
mod rss;
mod stream;

use std::{path::PathBuf, sync::Arc, time::Instant};

use anyhow::Context as _;
use servicenow::{Client, ManualClock, Servicenow};
use servicenow_emulator::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator};
use servicenow_oauth::{ClientId, ClientSecret, InstanceUrl, OAuthClient};

use futures::FutureExt as _;

use crate::{
    measure::{abba, alternate, median, spread},
    report::Line,
};

/// Rows in the emulator's incident table (the memory comparison streams all of them).
const TABLE_ROWS: u64 = 1_000_000;
/// Rows read by the throughput and peer comparisons.
const EXPORT_ROWS: usize = 100_000;
const STORM_CALLERS: usize = 1_000;
/// The stream's default prefetch depth: every "with prefetch" line and the memory child use it.
const PREFETCH: usize = servicenow::table::StreamConfig::DEFAULT_PREFETCH;
/// Tasks of the concurrent hand-written baseline: the threads of the `instance-like` cost
/// model (2 nodes × 4 `API_INT` threads).
const CONCURRENT_TASKS: usize = 8;
/// Rounds of every comparison unless `--rounds` says otherwise.
const DEFAULT_ROUNDS: usize = 7;
/// The common divisor of every time of the `instance-like` model in the export benchmark
/// (`--cost-scale`): ratios do not change under a uniform scale, and the run stays short.
const DEFAULT_COST_SCALE: u32 = 2;
/// Text below this line of `docs/benchmarks.md` is written by hand and kept across runs.
const ANALYSIS_MARKER: &str = "<!-- analysis: written by hand, kept by cargo xtask bench -->";

fn main() -> anyhow::Result<()> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    // The suite uses the multi-thread runtime for the emulator and the storm; the export child
    // too, as `sn export` does.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(arguments))
}

async fn run(arguments: Vec<String>) -> anyhow::Result<()> {
    match arguments.first().map(String::as_str) {
        Some("export") => {
            let instance = arguments.get(1).context("export INSTANCE")?;
            export::child(instance).await
        }
        Some("export-only") => {
            // The export benchmark alone, printed, nothing written: for working on the export.
            let arguments = &arguments[1..];
            let python = option(arguments, "--python").map(PathBuf::from);
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/pysnc_export.py");
            let lines = export::benchmark(export::Setup {
                rounds: option(arguments, "--rounds").map_or(Ok(3), |rounds| rounds.parse())?,
                divisor: option(arguments, "--cost-scale")
                    .map_or(Ok(DEFAULT_COST_SCALE), |divisor| divisor.parse())?,
                python: python.as_deref(),
                pysnc_script: &script,
                svg: None,
                stamp: "an unstamped run",
                single_stream_rss_kb: f64::NAN,
            })
            .await?;
            println!("{}", report::table(&lines));
            Ok(())
        }
        Some("suite") => suite(&arguments[1..]).await,
        _ => anyhow::bail!(
            "usage: servicenow-bench suite --write FILE [--python PATH] [--rounds N] [--cost-scale N] [--bearer FILE] [--stamp TEXT] | export-only [--rounds N] [--cost-scale N] [--python PATH] | export INSTANCE"
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

async fn suite(arguments: &[String]) -> anyhow::Result<()> {
    let started = Instant::now();
    let write = option(arguments, "--write").map(PathBuf::from);
    let stamp = option(arguments, "--stamp").unwrap_or_else(|| "an unstamped run".to_owned());
    let python = option(arguments, "--python").map(PathBuf::from);
    let rounds: usize =
        option(arguments, "--rounds").map_or(Ok(DEFAULT_ROUNDS), |rounds| rounds.parse())?;
    let cost_divisor: u32 = option(arguments, "--cost-scale")
        .map_or(Ok(DEFAULT_COST_SCALE), |divisor| divisor.parse())?;
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
    // the cores) and with 20 ms of server time per page (a real instance spends more). Each
    // round runs four contenders: our stream with offset paging and no prefetch (the same
    // requests as the baselines: like for like), our default stream (keyset paging, prefetch
    // one page), the sequential hand-written offset loop and the same loop in
    // CONCURRENT_TASKS tasks.
    for latency_ms in [0_u64, 20] {
        let latency = (latency_ms > 0).then(|| std::time::Duration::from_millis(latency_ms));
        emulator.update_settings(|settings| settings.faults.added_latency = latency);
        for page_size in [1_000_u32, 10_000] {
            let (client, http, base, authorization) = (&client, &http, &base, &authorization);
            let figures = abba(rounds, 4, |side| match side {
                0 => stream::typed_stream_offset(client, EXPORT_ROWS, page_size, 0).boxed_local(),
                1 => stream::typed_stream(client, EXPORT_ROWS, page_size, PREFETCH).boxed_local(),
                2 => stream::baseline(http, base, authorization, EXPORT_ROWS, page_size)
                    .boxed_local(),
                _ => stream::concurrent_baseline(
                    http,
                    base,
                    authorization,
                    EXPORT_ROWS,
                    page_size,
                    CONCURRENT_TASKS,
                    None,
                )
                .boxed_local(),
            })
            .await?;
            let [offset, default, sequential, concurrent] = &figures[..] else {
                anyhow::bail!("four contenders measured");
            };
            let sequential_text = "reqwest + serde_json, sequential offset pages";
            lines.push(Line {
                comparison: format!(
                    "typed stream, offset paging, no prefetch, page {page_size}, server time {latency_ms} ms vs {sequential_text} (the same requests)"
                ),
                ours: spread(offset, "rows/s", 0),
                other: spread(sequential, "rows/s", 0),
                ratio: median(offset) / median(sequential),
                target: Some((">=", if latency_ms == 0 { 0.97 } else { 0.95 })),
            });
            lines.push(Line {
                comparison: format!(
                    "typed stream, defaults (keyset paging, prefetch {PREFETCH}), page {page_size}, server time {latency_ms} ms vs {sequential_text}"
                ),
                ours: spread(default, "rows/s", 0),
                other: spread(sequential, "rows/s", 0),
                ratio: median(default) / median(sequential),
                target: (latency_ms > 0).then_some((">=", 1.5)),
            });
            lines.push(Line {
                comparison: format!(
                    "typed stream, defaults (keyset paging, prefetch {PREFETCH}), page {page_size}, server time {latency_ms} ms vs the same loop in {CONCURRENT_TASKS} concurrent tasks"
                ),
                ours: spread(default, "rows/s", 0),
                other: spread(concurrent, "rows/s", 0),
                ratio: median(default) / median(concurrent),
                target: None,
            });
            eprintln!(
                "bench: streaming page {page_size}, {latency_ms} ms done ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    emulator.update_settings(|settings| settings.faults.added_latency = None);

    // Node: the same sequential offset pages as our stream with offset paging and no prefetch.
    let node_script = peers_dir.join("node_export.mjs");
    let token = bearer.token().secret().to_owned();
    let (ours, node_rates) = alternate(
        rounds,
        || stream::typed_stream_offset(&client, EXPORT_ROWS, 1_000, 0),
        || async {
            let run = peers::node(&node_script, &base, &token, 1_000, EXPORT_ROWS).await?;
            anyhow::ensure!(
                run.rows == EXPORT_ROWS as u64,
                "the Node script read {} rows, not {EXPORT_ROWS}",
                run.rows
            );
            Ok(run.per_second())
        },
    )
    .await?;
    lines.push(Line {
        comparison: "typed stream, offset paging, no prefetch, page 1000 vs Node.js fetch + response.json() (the same requests)".to_owned(),
        ours: spread(&ours, "rows/s", 0),
        other: spread(&node_rates, "rows/s", 0),
        ratio: median(&ours) / median(&node_rates),
        target: Some((">=", 2.0)),
    });
    eprintln!(
        "bench: node done ({:.0} s)",
        started.elapsed().as_secs_f64()
    );

    // Peak RSS and peak live heap of one stream, each in a `stream-memory` process.
    let memory = |rows: usize| {
        let base = base.clone();
        async move {
            let binary = std::env::current_exe()?
                .parent()
                .context("the bench binary has a directory")?
                .join("stream-memory");
            let output = tokio::process::Command::new(&binary)
                .args([&base, &rows.to_string()])
                .output()
                .await
                .with_context(|| format!("running {}", binary.display()))?;
            anyhow::ensure!(
                output.status.success(),
                "stream-memory failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let value: serde_json::Value = serde_json::from_slice(&output.stdout)?;
            anyhow::ensure!(
                value["rows"].as_u64() == Some(rows as u64),
                "stream-memory streamed another number of rows"
            );
            let number = |name: &str| {
                value[name]
                    .as_f64()
                    .with_context(|| format!("stream-memory printed no {name}"))
            };
            anyhow::Ok((number("peak_rss_kb")?, number("peak_heap_bytes")?))
        }
    };
    let heaps = std::sync::Mutex::new((Vec::new(), Vec::new()));
    let rss = |rows: usize| {
        let heaps = &heaps;
        let memory = &memory;
        async move {
            let (rss, heap) = memory(rows).await?;
            if let Ok(mut heaps) = heaps.lock() {
                if rows == 10_000 {
                    heaps.0.push(heap / 1_048_576.0);
                } else {
                    heaps.1.push(heap / 1_048_576.0);
                }
            }
            Ok(rss)
        }
    };
    let all_rows = usize::try_from(TABLE_ROWS)?;
    let (small, large) = alternate(rounds, || rss(10_000), || rss(all_rows)).await?;
    let mib = |values: &[f64]| values.iter().map(|kb| kb / 1024.0).collect::<Vec<_>>();
    lines.push(Line {
        comparison: format!("peak RSS streaming 1,000,000 rows vs 10,000 rows (ours: defaults, page 1000, prefetch {PREFETCH})"),
        ours: spread(&mib(&large), "MiB", 1),
        other: spread(&mib(&small), "MiB", 1),
        ratio: median(&large) / median(&small),
        target: Some(("<=", 1.2)),
    });
    let (small_heap, large_heap) = heaps.into_inner().unwrap_or_default();
    lines.push(Line {
        comparison: "peak live heap (allocated, not yet freed) of the same runs: 1,000,000 rows vs 10,000 rows".to_owned(),
        ours: spread(&large_heap, "MiB", 2),
        other: spread(&small_heap, "MiB", 2),
        ratio: median(&large_heap) / median(&small_heap),
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
            || stream::typed_stream_offset(&client, EXPORT_ROWS, 1_000, 0),
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
            comparison: "typed stream, offset paging, no prefetch, page 1000 vs pysnc 1.2.1 (Basic auth, batch 1000)".to_owned(),
            ours: spread(&ours, "rows/s", 0),
            other: spread(&pysnc_rates, "rows/s", 0),
            ratio: median(&ours) / median(&pysnc_rates),
            target: Some((">=", 10.0)),
        });
        let pysnc_peak = median(&pysnc_rss.into_inner().unwrap_or_default());
        let (ours_rss, _) = memory(EXPORT_ROWS).await?;
        lines.push(Line {
            comparison: "peak RSS streaming 100,000 rows: pysnc vs ours".to_owned(),
            ours: format!("{:.1} MiB", ours_rss / 1024.0),
            other: format!("{:.1} MiB", pysnc_peak / 1024.0),
            ratio: pysnc_peak / ours_rss,
            target: None,
        });
        eprintln!(
            "bench: pysnc done ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
    } else {
        eprintln!("bench: pysnc skipped (no --python)");
    }

    // The export benchmark, on an emulator of its own with the cost model.
    let svg = write
        .as_ref()
        .map(|path| path.with_file_name("benchmarks-export.svg"));
    lines.extend(
        export::benchmark(export::Setup {
            rounds,
            divisor: cost_divisor,
            python: python.as_deref(),
            pysnc_script: &peers_dir.join("pysnc_export.py"),
            svg: svg.as_deref(),
            stamp: &stamp,
            single_stream_rss_kb: median(&large),
        })
        .await?,
    );
    eprintln!(
        "bench: export done ({:.0} s)",
        started.elapsed().as_secs_f64()
    );

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
        let pysnc = python
            .as_deref()
            .map_or_else(|| "not run".to_owned(), report::pysnc_version);
        let plot = if svg.is_some() {
            format!(
                "\n## Export: rows/s over time\n\nThe last round of each contender of the export benchmark above ({stamp}):\n\n![rows/s over time](benchmarks-export.svg)\n"
            )
        } else {
            String::new()
        };
        let text = format!(
            "# Benchmarks\n\nFigures of {stamp}.\n\nMeasured by `cargo xtask bench` (crate `servicenow-bench`, release build) against one \
             emulator with {TABLE_ROWS} incidents (and, for the export lines, one with the `instance-like` cost model, every time divided by {cost_divisor}, and {} incidents). \
             Each comparison runs {rounds} rounds in A B B A order (A B, B A, A B …; with more contenders, forward then backward), \
             {auth_rounds} for the auth comparison, whose rounds alternate request by request; figures are medians with the min–max of the rounds in brackets, \
             ratios are of medians, ours / other unless the line says otherwise. The whole run took \
             {:.0} s; the `bearer()` lines are criterion medians (`cargo bench -p servicenow --bench bearer`), run by the same task just before.\n\n## Machine\n\n{}\n- pysnc: {pysnc}\n\n## Results ({stamp})\n\n{table}\n{}\n{plot}",
            export::COST_TABLE_ROWS,
            started.elapsed().as_secs_f64(),
            report::machine(),
            if missed.is_empty() {
                "Every target is met.".to_owned()
            } else {
                format!(
                    "Targets **missed**: {}.",
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

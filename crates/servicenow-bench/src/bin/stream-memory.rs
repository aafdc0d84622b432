//! What one stream holds: streams ROWS incidents from INSTANCE with the defaults (page 1000) and prints its peak RSS and its peak live heap, counted by an instrumented allocator (a process of its own, so the count sees nothing else).
//!
//! `stream-memory INSTANCE ROWS` prints one JSON object: `rows`, `peak_rss_kb` (`VmHWM`) and
//! `peak_heap_bytes` (the most bytes allocated and not yet freed at any moment of the process,
//! kept by the allocator itself on every allocation, not sampled: the stream's pages, the
//! response in flight, the client).
//! Their difference is what the allocator keeps mapped beyond what the program holds.

#![allow(
    clippy::print_stdout,
    reason = "the measurement's output is its stdout"
)]

#[path = "../incident.rs"]
mod incident;

#[path = "../rss.rs"]
mod rss;

use std::{alloc::System, sync::Arc};

use anyhow::Context as _;
use futures::StreamExt as _;
use peakmem_alloc::{INSTRUMENTED_SYSTEM, PeakMemAlloc, PeakMemAllocTrait as _};
use servicenow::{
    Servicenow,
    oauth::{ClientId, ClientSecret, InstanceUrl, OAuthClient},
    table::{ReadOptions, StreamConfig},
};
use servicenow_emulator::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET};

/// Counts live bytes on every allocation and keeps their high-water mark (a reallocation counts
/// its growth or shrinking), so the peak cannot fall between two samples.
#[global_allocator]
static GLOBAL: &PeakMemAlloc<System> = &INSTRUMENTED_SYSTEM;

// One thread, as a command-line export would run.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut arguments = std::env::args().skip(1);
    let usage = "usage: stream-memory INSTANCE ROWS";
    let instance = arguments.next().context(usage)?;
    let rows: usize = arguments.next().context(usage)?.parse()?;
    let oauth = OAuthClient::confidential(
        ClientId::new(DEFAULT_CLIENT_ID)?,
        ClientSecret::new(DEFAULT_CLIENT_SECRET)?,
    );
    let client = Servicenow::builder(InstanceUrl::new(&instance)?, oauth)
        .store(servicenow::stores::open_memory()?)
        .clock(Arc::new(servicenow::SystemClock))
        .build()
        .await?
        .service();
    let incidents = client.table::<incident::Incident>("incident")?;
    let mut stream = std::pin::pin!(
        incidents
            .stream(None, ReadOptions::default(), StreamConfig::default())
            .take(rows)
    );
    let mut count = 0;
    while let Some(row) = stream.next().await {
        row.context("streaming incidents")?;
        count += 1;
    }
    let peak_heap = GLOBAL.get_peak_memory();
    anyhow::ensure!(count == rows, "the stream gave {count} rows, not {rows}");
    let peak_rss_kb = rss::peak_rss_kb()?;
    println!(
        "{}",
        serde_json::json!({
            "rows": count,
            "peak_rss_kb": peak_rss_kb,
            "peak_heap_bytes": peak_heap,
        })
    );
    Ok(())
}

//! Streaming throughput: the typed stream (with and without prefetch) against plain reqwest GETs parsed with serde_json, and the peak memory of a stream.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Instant,
};

use anyhow::Context as _;
use futures::StreamExt as _;
use serde::Deserialize;
use servicenow::{
    Client,
    table::{Paging, ReadOptions, StreamConfig},
};

pub(crate) use crate::incident::Incident;

#[derive(Deserialize)]
struct Envelope {
    result: Vec<Incident>,
}

/// Reads `rows` incidents through the client's typed stream; records per second.
pub(crate) async fn typed_stream(
    client: &Client,
    rows: usize,
    page_size: u32,
    prefetch: usize,
) -> anyhow::Result<f64> {
    let config = StreamConfig {
        page_size,
        prefetch,
        ..StreamConfig::default()
    };
    typed_stream_with(client, rows, config).await
}

/// [`typed_stream`] with offset paging (`sysparm_offset`, `ORDERBYsys_id` appended, counted):
/// the same requests as the hand-written baselines send.
pub(crate) async fn typed_stream_offset(
    client: &Client,
    rows: usize,
    page_size: u32,
    prefetch: usize,
) -> anyhow::Result<f64> {
    let mut config = StreamConfig {
        page_size,
        prefetch,
        ..StreamConfig::default()
    };
    config.paging = Paging::Offset;
    typed_stream_with(client, rows, config).await
}

async fn typed_stream_with(
    client: &Client,
    rows: usize,
    config: StreamConfig,
) -> anyhow::Result<f64> {
    let incidents = client.table::<Incident>("incident")?;
    let started = Instant::now();
    let mut stream = std::pin::pin!(
        incidents
            .stream(None, ReadOptions::default(), config)
            .take(rows)
    );
    let mut count = 0;
    while let Some(row) = stream.next().await {
        row.context("streaming incidents")?;
        count += 1;
    }
    anyhow::ensure!(count == rows, "the stream gave {count} rows, not {rows}");
    Ok(crate::measure::per_second(count, started))
}

/// The baseline: sequential plain GETs of the same pages (offset paging, ordered by `sys_id`,
/// counted), parsed into the same struct.
pub(crate) async fn baseline(
    http: &reqwest::Client,
    base: &str,
    authorization: &str,
    rows: usize,
    page_size: u32,
) -> anyhow::Result<f64> {
    concurrent_baseline(http, base, authorization, rows, page_size, 1, None).await
}

/// The strong baseline: `tasks` tasks each take the next offset and GET its page, parsed into
/// the same struct, until `rows` rows are read; `timeline` (when given) gets the time and the
/// rows read so far after every page.
pub(crate) async fn concurrent_baseline(
    http: &reqwest::Client,
    base: &str,
    authorization: &str,
    rows: usize,
    page_size: u32,
    tasks: usize,
    timeline: Option<&crate::plot::Timeline>,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let next_page = AtomicUsize::new(0);
    let count = AtomicUsize::new(0);
    let task = || async {
        loop {
            let offset = next_page.fetch_add(1, Ordering::Relaxed) * page_size as usize;
            if offset >= rows {
                return anyhow::Ok(());
            }
            let limit = (page_size as usize).min(rows - offset);
            let url = format!(
                "{base}/api/now/table/incident?sysparm_limit={limit}&sysparm_offset={offset}&sysparm_query=ORDERBYsys_id"
            );
            let body = http
                .get(&url)
                .header("authorization", authorization)
                .header("accept", "application/json")
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?;
            let page: Envelope = serde_json::from_slice(&body)?;
            anyhow::ensure!(
                page.result.len() == limit,
                "the baseline got {} rows at offset {offset}, not {limit}",
                page.result.len()
            );
            let so_far = count.fetch_add(limit, Ordering::Relaxed) + limit;
            if let Some(timeline) = timeline {
                timeline.record(started, so_far);
            }
        }
    };
    futures::future::try_join_all((0..tasks.max(1)).map(|_| task())).await?;
    let count = count.into_inner();
    anyhow::ensure!(count == rows, "the baseline read {count} rows, not {rows}");
    Ok(crate::measure::per_second(count, started))
}

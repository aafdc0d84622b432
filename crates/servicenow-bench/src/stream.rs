//! Streaming throughput: the typed stream (with and without prefetch) against plain reqwest GETs parsed with serde_json, and the peak memory of a stream.

use std::time::Instant;

use anyhow::Context as _;
use futures::StreamExt as _;
use serde::Deserialize;
use servicenow::{
    Client,
    table::{GlideDateTime, ReadOptions, StreamConfig, de},
};

/// The struct both sides parse rows into.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // Fields are parsed to be measured, not read.
pub(crate) struct Incident {
    sys_id: String,
    number: String,
    short_description: String,
    #[serde(deserialize_with = "de::number_from_string")]
    priority: u8,
    #[serde(deserialize_with = "de::bool_from_string")]
    active: bool,
    sys_updated_on: GlideDateTime,
}

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
    let incidents = client.table::<Incident>("incident")?;
    let started = Instant::now();
    let config = StreamConfig {
        page_size,
        prefetch,
        ..StreamConfig::default()
    };
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

/// The baseline: sequential plain GETs of the same pages, parsed into the same struct.
pub(crate) async fn baseline(
    http: &reqwest::Client,
    base: &str,
    authorization: &str,
    rows: usize,
    page_size: u32,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut count = 0;
    let mut offset = 0;
    while count < rows {
        let url = format!(
            "{base}/api/now/table/incident?sysparm_limit={page_size}&sysparm_offset={offset}&sysparm_query=ORDERBYsys_id"
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
            !page.result.is_empty(),
            "the baseline ran out of rows at {count}"
        );
        count += page.result.len();
        offset += page_size;
    }
    Ok(crate::measure::per_second(count.min(rows), started))
}

/// This process's peak resident set (`VmHWM`), in kB.
pub(crate) fn peak_rss_kb() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .context("no VmHWM in /proc/self/status")
}

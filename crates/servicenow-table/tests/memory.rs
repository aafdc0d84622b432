//! Constant memory: the peak resident memory of streaming 1,000,000 rows into typed structs is
//! about that of streaming 10,000, because only `page_size × (prefetch + 1)` rows are held.
//!
//! Each stream runs in a child process (this same test binary, in child mode) so that its
//! `VmHWM` (peak resident set, from `/proc/self/status`) measures the client alone; the
//! emulator runs in the parent.

mod emulator;

use std::{process::Command, time::Duration};

use futures::TryStreamExt;
use serde::Deserialize;
use servicenow_emulator::Emulator;
use servicenow_http::{ReqwestTransport, TransportConfig};
use servicenow_oauth::InstanceUrl;
use servicenow_table::{
    FieldName, GlideDateTime, Paging, ReadOptions, Reference, StreamConfig, TableClient, TableName,
    de,
};

const TEST_NAME: &str = "streaming_a_million_rows_peaks_at_about_the_memory_of_ten_thousand";
const CHILD_URL: &str = "SN_MEMORY_CHILD_URL";

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // The fields are read by deserialization; holding them is the point.
struct Incident {
    sys_id: String,
    number: String,
    short_description: String,
    #[serde(deserialize_with = "de::bool_from_string")]
    active: bool,
    #[serde(deserialize_with = "de::number_from_string")]
    priority: u8,
    #[serde(deserialize_with = "de::empty_as_none")]
    opened_at: Option<GlideDateTime>,
    #[serde(deserialize_with = "de::empty_as_none")]
    caller_id: Option<Reference>,
}

#[test]
fn streaming_a_million_rows_peaks_at_about_the_memory_of_ten_thousand() {
    if let Ok(url) = std::env::var(CHILD_URL) {
        child_streams_and_reports_its_peak(&url);
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let mut peaks = Vec::new();
    for rows in [10_000_u64, 1_000_000] {
        let emulator =
            runtime.block_on(emulator::start(Emulator::builder().rows("incident", rows)));
        let output = Command::new(std::env::current_exe().expect("this test binary"))
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_URL, emulator.base_url())
            .output()
            .expect("the child runs");
        runtime.block_on(emulator.shutdown());
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "child failed: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report = stdout
            .lines()
            .find_map(|line| line.split_once("MEMORY ").map(|(_, report)| report))
            .expect("the child reports");
        let mut numbers = report
            .split_whitespace()
            .filter_map(|word| word.split_once('='))
            .map(|(_, n)| n.parse::<u64>().unwrap_or(0));
        let (streamed, peak_kib) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
        assert_eq!(streamed, rows, "the child streamed every row");
        eprintln!("streamed {streamed:>9} typed rows: peak resident memory (VmHWM) {peak_kib} KiB");
        peaks.push(peak_kib as f64);
    }
    let ratio = peaks[1] / peaks[0];
    eprintln!("peak memory ratio 1,000,000 rows / 10,000 rows: {ratio:.3}");
    // Loose on purpose (allocator noise on a shared machine); the measured ratio is printed.
    assert!(ratio < 1.5, "memory grows with the table: ratio {ratio:.3}");
}

fn child_streams_and_reports_its_peak(url: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let streamed = runtime.block_on(async {
        let transport = ReqwestTransport::with_config(TransportConfig {
            total_timeout: Duration::from_secs(60),
            ..TransportConfig::default()
        })
        .expect("the transport builds");
        let client = TableClient::new(
            InstanceUrl::new(url).expect("loopback url"),
            emulator::BasicAuth::new(transport),
        );
        let fields = [
            "sys_id",
            "number",
            "short_description",
            "active",
            "priority",
            "opened_at",
            "caller_id",
        ];
        let options = ReadOptions {
            fields: fields
                .iter()
                .map(|name| FieldName::new(*name).expect("valid"))
                .collect(),
            ..ReadOptions::default()
        };
        let table = TableName::new("incident").expect("valid");
        let stream = client.stream::<Incident>(
            &table,
            None,
            options,
            StreamConfig {
                page_size: 1_000,
                prefetch: 2,
                paging: Paging::Offset,
            },
        );
        stream
            .try_fold(0_u64, |count, _incident| async move { Ok(count + 1) })
            .await
            .expect("the stream completes")
    });
    let status = std::fs::read_to_string("/proc/self/status").expect("linux /proc");
    let peak_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .expect("VmHWM in /proc/self/status");
    #[allow(clippy::print_stdout)] // The parent reads this line.
    {
        println!("\nMEMORY rows={streamed} vmhwm_kib={peak_kib}");
    }
}

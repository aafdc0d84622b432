//! Resident memory of the binary serving a million-row table (issue point 9: rows are computed
//! from their index, so `--rows incident=1000000` must stay under 200 MB).
//!
//! Starts the built binary, pages through the table (first, middle and last pages of 10,000
//! rows, a descending page, a filtered count), then reads VmHWM (peak resident set) from
//! `/proc/<pid>/status`. The figure is printed for the closing note.

use std::{
    io::{BufRead as _, BufReader},
    process::{Child, Command, Stdio},
};

const LIMIT_BYTES: u64 = 200 * 1024 * 1024;

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `/proc/<pid>/status` field in bytes (the file gives kB).
fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

#[tokio::test]
async fn a_million_incidents_stay_under_200_mb_resident() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("skipped: no /proc on this system, so resident memory cannot be read");
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_servicenow-emulator"))
        .args(["--listen", "127.0.0.1:0", "--rows", "incident=1000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = KillOnDrop(child);
    let mut lines = BufReader::new(stdout).lines();
    let first_line = lines.next().unwrap().unwrap();
    // Keep reading the rest of the summary so the child never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let base_url = first_line.rsplit(' ').next().unwrap().to_owned();
    assert!(base_url.starts_with("http://127.0.0.1:"), "{first_line}");
    let client = reqwest::Client::new();
    let paths = [
        "/api/now/table/incident?sysparm_limit=10000&sysparm_offset=0",
        "/api/now/table/incident?sysparm_limit=10000&sysparm_offset=500000",
        "/api/now/table/incident?sysparm_limit=10000&sysparm_offset=990000&sysparm_display_value=all",
        "/api/now/table/incident?sysparm_limit=10000&sysparm_query=ORDERBYDESCnumber",
        "/api/now/table/incident?sysparm_limit=1000&sysparm_query=active%3Dtrue%5Epriority%3C%3D2",
    ];
    let mut total_bytes = 0;
    for path in paths {
        let response = client
            .get(format!("{base_url}{path}"))
            .basic_auth("admin", Some("admin"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let count = response.headers()["X-Total-Count"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.bytes().await.unwrap();
        total_bytes += body.len();
        if !path.contains("active") {
            assert_eq!(count, "1000000");
        }
    }
    let pid = child.0.id();
    let peak = status_bytes(pid, "VmHWM:").unwrap();
    let resident = status_bytes(pid, "VmRSS:").unwrap();
    eprintln!(
        "memory with --rows incident=1000000: peak resident (VmHWM) {:.1} MB, resident now (VmRSS) {:.1} MB, \
         after serving {:.1} MB of JSON",
        peak as f64 / 1048576.0,
        resident as f64 / 1048576.0,
        total_bytes as f64 / 1048576.0
    );
    assert!(
        total_bytes > 30 * 1024 * 1024,
        "the pages were really served"
    );
    assert!(
        peak < LIMIT_BYTES,
        "peak resident memory {peak} bytes is over 200 MB"
    );
}

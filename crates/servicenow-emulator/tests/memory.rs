//! Resident memory of the binary serving a million-row table (issue point 9: rows are computed
//! from their index, so `--rows incident=1000000` must stay under 200 MB).
//!
//! Starts the built binary, pages through the table (first, middle and last pages of 10,000
//! rows, a descending page, a filtered count), then reads VmHWM (peak resident set) from
//! `/proc/<pid>/status`. The figure is printed for the closing note.
//!
//! Likewise a 200 MB attachment uploaded and downloaded through the binary must stay under
//! 32 MB: uploads stream to the temporary directory and downloads stream back from it.

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

/// Starts the binary with `args`; the child (killed on drop) and its base URL.
fn start_binary(args: &[&str]) -> (KillOnDrop, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_servicenow-emulator"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = KillOnDrop(child);
    let mut lines = BufReader::new(stdout).lines();
    let first_line = lines.next().unwrap().unwrap();
    std::thread::spawn(move || lines.for_each(drop));
    let base_url = first_line.rsplit(' ').next().unwrap().to_owned();
    assert!(base_url.starts_with("http://127.0.0.1:"), "{first_line}");
    (child, base_url)
}

/// A 1 MiB chunk of the upload: its index repeated, so every chunk differs.
fn upload_chunk(index: u32) -> Vec<u8> {
    index.to_le_bytes().repeat(256 * 1024)
}

#[tokio::test]
async fn a_200_mb_attachment_streams_through_the_binary_in_little_memory() {
    use sha2::{Digest as _, Sha256};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    const CHUNKS: u32 = 200;
    const LIMIT: u64 = 32 * 1024 * 1024;
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("skipped: no /proc on this system, so resident memory cannot be read");
        return;
    }
    let (child, base_url) = start_binary(&["--listen", "127.0.0.1:0", "--rows", "incident=10"]);
    let client = reqwest::Client::new();
    let listed = client
        .get(format!(
            "{base_url}/api/now/table/incident?sysparm_limit=1&sysparm_fields=sys_id"
        ))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let incident = listed["result"][0]["sys_id"].as_str().unwrap().to_owned();

    // The upload, written 1 MiB at a time on a raw socket: neither side holds it whole.
    let size = u64::from(CHUNKS) * 1024 * 1024;
    let address = base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/now/attachment/file?table_name=incident&table_sys_id={incident}&file_name=big.bin HTTP/1.1\r\n\
         Host: {address}\r\nAuthorization: Basic YWRtaW46YWRtaW4=\r\nAccept: application/json\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut sent = Sha256::new();
    for index in 0..CHUNKS {
        let chunk = upload_chunk(index);
        sent.update(&chunk);
        stream.write_all(&chunk).await.unwrap();
    }
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201 "), "{answer}");
    let expected: String = sent
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert!(
        answer.contains(&format!("\"hash\":\"{expected}\"")),
        "{answer}"
    );
    let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let record: serde_json::Value = serde_json::from_str(body).unwrap();
    let sys_id = record["result"]["sys_id"].as_str().unwrap();

    let mut response = client
        .get(format!("{base_url}/api/now/attachment/{sys_id}/file"))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.content_length(), Some(size));
    let mut received = Sha256::new();
    let mut received_bytes = 0_u64;
    while let Some(chunk) = response.chunk().await.unwrap() {
        received_bytes += chunk.len() as u64;
        received.update(&chunk);
    }
    assert_eq!(received_bytes, size);
    let received: String = received
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert_eq!(received, expected, "the download is the upload");

    let peak = status_bytes(child.0.id(), "VmHWM:").unwrap();
    eprintln!(
        "memory of a 200 MB attachment up and down: peak resident (VmHWM) {:.1} MB",
        peak as f64 / 1048576.0
    );
    assert!(
        peak < LIMIT,
        "peak resident memory {peak} bytes: the attachment was held in memory"
    );
}

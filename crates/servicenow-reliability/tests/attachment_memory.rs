//! Done when (issue 16): a 200 MB attachment goes up and comes back down through the facade's
//! authorizing transport with the transferring process's peak RSS under 32 MB, its SHA-256
//! verified.
//!
//! The transfer runs in a process of its own (`attachment-transfer`), so that its `VmHWM` is
//! the transfer's alone; the emulator runs in this test's process and keeps the blob on disk
//! (`AttachmentStorage::TempDir`, its default), so neither side holds the 200 MB in memory.

use std::io::{Read as _, Write as _};

use servicenow_emulator::{AttachmentStorage, Emulator};
use sha2::{Digest as _, Sha256};

const SIZE: usize = 200 * 1024 * 1024;
const PEAK_RSS_LIMIT_KB: u64 = 32 * 1024;

/// Writes `SIZE` bytes of varied content to `path` a mebibyte at a time; returns their SHA-256.
fn write_content(path: &std::path::Path) -> String {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create the file"));
    let mut hash = Sha256::new();
    let mut block = vec![0u8; 1024 * 1024];
    for index in 0..SIZE / block.len() {
        for (offset, byte) in block.iter_mut().enumerate() {
            *byte = (index.wrapping_mul(131) ^ offset.wrapping_mul(17) ^ (offset >> 9)) as u8;
        }
        hash.update(&block);
        file.write_all(&block).expect("write the file");
    }
    file.flush().expect("flush the file");
    hex::encode(hash.finalize())
}

fn sha256_of(path: &std::path::Path) -> (String, u64) {
    let mut file = std::fs::File::open(path).expect("open the copy");
    let mut hash = Sha256::new();
    let mut block = vec![0u8; 1024 * 1024];
    let mut length = 0u64;
    loop {
        let read = file.read(&mut block).expect("read the copy");
        if read == 0 {
            return (hex::encode(hash.finalize()), length);
        }
        hash.update(&block[..read]);
        length += read as u64;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_attachment_goes_up_and_down_through_the_authorizing_transport_in_under_32_mb() {
    let emulator = Emulator::builder()
        .rows("incident", 3)
        .attachment_storage(AttachmentStorage::TempDir)
        .configure(|settings| settings.client_credentials_enabled = true)
        .start()
        .await
        .expect("the emulator starts");
    let directory = tempfile::tempdir().expect("a temporary directory");
    let original = directory.path().join("big.bin");
    let copy = directory.path().join("copy.bin");
    let expected = write_content(&original);
    let incident = first_incident(&emulator).await;

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_attachment-transfer"))
        .arg(emulator.base_url())
        .arg(&incident)
        .arg(&original)
        .arg(&copy)
        .output()
        .await
        .expect("the transfer process runs");
    assert!(
        output.status.success(),
        "the transfer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the transfer prints its JSON");
    #[allow(clippy::print_stdout)] // The measured figure, for whoever runs the test.
    {
        println!("attachment-transfer: {report}");
    }

    assert_eq!(
        report["uploaded_sha256"],
        expected.as_str(),
        "the instance stored what was sent"
    );
    assert_eq!(report["downloaded_sha256"], expected.as_str());
    assert_eq!(
        report["verified"], true,
        "the download was checked against hash"
    );
    assert_eq!(
        sha256_of(&copy),
        (expected, SIZE as u64),
        "the copy on disk is whole"
    );
    let peak = report["peak_rss_kb"].as_u64().expect("a peak figure");
    assert!(
        peak < PEAK_RSS_LIMIT_KB,
        "the transfer peaked at {peak} kB of resident memory, over {PEAK_RSS_LIMIT_KB} kB"
    );
}

/// The `sys_id` of one incident, read with Basic auth as `admin` over a plain TCP request (the
/// test process itself moves no attachment bytes).
async fn first_incident(emulator: &servicenow_emulator::EmulatorHandle) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let address = emulator.local_addr();
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let request = format!(
        "GET /api/now/table/incident?sysparm_limit=1&sysparm_fields=sys_id HTTP/1.1\r\n\
         Host: {address}\r\nAuthorization: Basic YWRtaW46YWRtaW4=\r\nAccept: application/json\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let text = String::from_utf8_lossy(&answer);
    let start = text.find("\"sys_id\":\"").expect("a sys_id in the answer") + 10;
    text[start..start + 32].to_owned()
}

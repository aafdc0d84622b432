//! One process of `tests/attachment_memory.rs`: uploads a file as an attachment and downloads it
//! again through the facade's authorizing transport, then prints its own peak resident memory.
//!
//! `attachment-transfer INSTANCE INCIDENT_SYS_ID FILE COPY` prints one JSON object:
//! `peak_rss_kb` (`VmHWM`, the whole process's high-water mark), `uploaded_sha256` (the hash the
//! instance recorded, which the upload checked against what it sent), `downloaded_sha256` and
//! `verified` (the download checked against that hash). The instance must grant client
//! credentials to the emulator's default client.

#![allow(
    clippy::print_stdout,
    reason = "the measurement's output is its stdout"
)]

use std::sync::Arc;

use anyhow::Context as _;
use servicenow::{
    Servicenow,
    oauth::{ClientId, ClientSecret, InstanceUrl, OAuthClient},
    table::{
        SysId, TableName,
        attachment::{UploadTarget, file_body},
    },
};
use servicenow_emulator::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET};

// One thread, as a command-line transfer would run.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let usage = "usage: attachment-transfer INSTANCE INCIDENT_SYS_ID FILE COPY";
    let mut arguments = std::env::args().skip(1);
    let instance = arguments.next().context(usage)?;
    let incident = SysId::new(arguments.next().context(usage)?)?;
    let file = arguments.next().context(usage)?;
    let copy = arguments.next().context(usage)?;
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
    let attachments = client.attachments();
    let target = UploadTarget::new(TableName::new("incident")?, incident, "big.bin");
    let uploaded = attachments
        .upload(&target, file_body(&file).await.context("reading the file")?)
        .await
        .context("uploading")?;
    let downloaded = attachments
        .download_to_file(&uploaded.sys_id, &copy)
        .await
        .context("downloading")?;
    let status = std::fs::read_to_string("/proc/self/status")?;
    let peak_rss_kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .context("no VmHWM in /proc/self/status")?;
    println!(
        "{}",
        serde_json::json!({
            "peak_rss_kb": peak_rss_kb,
            "uploaded_sha256": uploaded.hash,
            "downloaded_sha256": downloaded.sha256,
            "bytes": downloaded.bytes,
            "verified": downloaded.verified,
        })
    );
    Ok(())
}

//! The peers a user would pick instead: the official Python client `pysnc`, and a Node.js script in the plain `fetch` style.

use std::{path::Path, process::Stdio};

use anyhow::Context as _;
use serde::Deserialize;

/// What a peer script printed.
#[derive(Debug, Deserialize)]
pub(crate) struct PeerRun {
    pub(crate) rows: u64,
    pub(crate) seconds: f64,
    #[serde(default)]
    pub(crate) peak_rss_kb: Option<u64>,
    /// Seconds since the start and rows read by then, after each page (pysnc only).
    #[serde(default)]
    pub(crate) timeline: Vec<(f64, usize)>,
}

impl PeerRun {
    pub(crate) fn per_second(&self) -> f64 {
        self.rows as f64 / self.seconds
    }
}

async fn run(program: &Path, arguments: &[&str]) -> anyhow::Result<PeerRun> {
    let output = tokio::process::Command::new(program)
        .args(arguments)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("starting {}", program.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "{} failed: {}",
        program.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().context("the peer printed nothing")?;
    serde_json::from_str(line).with_context(|| format!("reading the peer's figures {line:?}"))
}

/// The Node.js script: bearer token, `fetch` per page, `await response.json()`.
pub(crate) async fn node(
    script: &Path,
    base: &str,
    token: &str,
    page_size: u32,
    rows: usize,
) -> anyhow::Result<PeerRun> {
    let script = script.to_string_lossy();
    run(
        Path::new("node"),
        &[
            &script,
            base,
            token,
            &page_size.to_string(),
            &rows.to_string(),
        ],
    )
    .await
}

/// pysnc with Basic auth, from the virtual environment `cargo xtask bench` created.
pub(crate) async fn pysnc(
    python: &Path,
    script: &Path,
    base: &str,
    page_size: u32,
    rows: usize,
) -> anyhow::Result<PeerRun> {
    let script = script.to_string_lossy();
    run(
        python,
        &[
            &script,
            base,
            "admin",
            "admin",
            &page_size.to_string(),
            &rows.to_string(),
        ],
    )
    .await
}

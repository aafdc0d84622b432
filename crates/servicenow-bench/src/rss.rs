//! This process's peak resident set (`VmHWM` of `/proc/self/status`), shared by the suite and its measuring children (`#[path]`-included by `bin/stream-memory.rs`).

use anyhow::Context as _;

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

//! Starting, reading and killing `reliability-worker` processes from a test.

use std::{path::Path, process::Stdio, time::Duration};

use anyhow::{Context as _, bail};
use tokio::{
    io::{AsyncBufReadExt as _, BufReader, Lines},
    process::{Child, ChildStdout, Command},
};

use crate::stores::StoreSpec;

/// The longest a test waits for one line of a worker: a bound on a hang, not a timing claim.
pub const LINE_DEADLINE: Duration = Duration::from_secs(120);

/// A running worker process with its stdout lines.
#[derive(Debug)]
pub struct Worker {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Worker {
    /// Starts `worker` (the binary's path) with `arguments`, on `instance` and `store`.
    pub fn start(
        worker: &Path,
        instance: &str,
        store: &StoreSpec,
        arguments: &[&str],
    ) -> anyhow::Result<Self> {
        let mut child = Command::new(worker)
            .args(arguments)
            .env("SN_WORKER_INSTANCE", instance)
            .env("SN_WORKER_STORE", store.encode())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", worker.display()))?;
        let stdout = child
            .stdout
            .take()
            .context("the worker's stdout is piped")?;
        Ok(Self {
            child,
            lines: BufReader::new(stdout).lines(),
        })
    }

    /// Reads lines until one starts with `prefix`; returns it.
    pub async fn wait_for(&mut self, prefix: &str) -> anyhow::Result<String> {
        loop {
            let line = tokio::time::timeout(LINE_DEADLINE, self.lines.next_line())
                .await
                .with_context(|| {
                    format!("no `{prefix}` line from the worker in {LINE_DEADLINE:?}")
                })??;
            match line {
                Some(line) if line.starts_with(prefix) => return Ok(line),
                Some(_) => (),
                None => bail!("the worker exited before printing `{prefix}`"),
            }
        }
    }

    /// Writes one line to the worker's stdin.
    pub async fn send_line(&mut self, line: &str) -> anyhow::Result<()> {
        use tokio::io::AsyncWriteExt as _;
        let stdin = self
            .child
            .stdin
            .as_mut()
            .context("the worker's stdin is piped")?;
        stdin.write_all(format!("{line}\n").as_bytes()).await?;
        stdin.flush().await?;
        Ok(())
    }

    /// Kills the process with SIGKILL (no destructor, no flush, no lease release) and reaps it.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().await.context("sending SIGKILL")?;
        Ok(())
    }

    /// Waits for the process to exit; an error unless it exited with success.
    pub async fn finish(mut self) -> anyhow::Result<()> {
        let status = tokio::time::timeout(LINE_DEADLINE, self.child.wait())
            .await
            .context("the worker did not exit")??;
        anyhow::ensure!(status.success(), "the worker exited with {status}");
        Ok(())
    }
}

//! `sn attachment list|get|put|rm`: the Attachment API through the profile's client, transfers
//! streamed with the export's progress bar (bytes/s, ETA) once they last over a second.

use std::{
    path::{Path, PathBuf},
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use std::io::Write as _;

use futures::StreamExt as _;
use serde_json::{Map, Value};
use servicenow::{
    Client,
    table::{
        Condition, Query, SysId, TableName,
        attachment::{AttachmentListParams, UploadTarget, file_body},
    },
};
use tokio::io::AsyncWrite;

use crate::{
    auth_commands::profile_client,
    cli::{AttachmentCommand, Format, GlobalArgs, Progress, StatsFormat},
    export::{Reporter, Unit},
    failure::{CliError, CliResult},
    output::{CellSafety, output_error, write_records},
};

/// Runs `sn attachment …`.
pub(crate) async fn run(global: &GlobalArgs, command: &AttachmentCommand) -> CliResult<()> {
    let client = profile_client(global).await?;
    match command {
        AttachmentCommand::List {
            table,
            sys_id,
            limit,
            format,
        } => list(&client, table, sys_id, *limit, *format).await,
        AttachmentCommand::Get {
            sys_id,
            output,
            progress,
        } => get(&client, sys_id, output.as_deref(), *progress).await,
        AttachmentCommand::Put {
            table,
            sys_id,
            file,
            name,
            content_type,
            multipart,
            progress,
        } => {
            let target = UploadTarget::new(
                TableName::new(table.as_str())?,
                SysId::new(sys_id.as_str())?,
                match name {
                    Some(name) => name.clone(),
                    None => file_name_of(file)?,
                },
            )
            .with_content_type(content_type.clone());
            put(&client, &target, file, *multipart, *progress).await
        }
        AttachmentCommand::Rm { sys_id } => {
            client
                .attachments()
                .delete(&SysId::new(sys_id.as_str())?)
                .await?;
            eprintln!("deleted attachment {sys_id}");
            Ok(())
        }
    }
}

async fn list(
    client: &Client,
    table: &str,
    sys_id: &str,
    limit: u32,
    format: StatsFormat,
) -> CliResult<()> {
    let query = Query::new()
        .and("table_name", Condition::eq(TableName::new(table)?.as_str()))
        .and("table_sys_id", Condition::eq(SysId::new(sys_id)?.as_str()))
        .build()?;
    let page = client
        .attachments()
        .list(&AttachmentListParams {
            query: Some(query),
            limit: Some(limit),
            offset: None,
        })
        .await?;
    let rows: Vec<Map<String, Value>> = page
        .records
        .iter()
        .map(|attachment| {
            let mut row = Map::new();
            row.insert("sys_id".into(), attachment.sys_id.as_str().into());
            row.insert("file_name".into(), attachment.file_name.as_str().into());
            row.insert(
                "size_bytes".into(),
                attachment.size_bytes.map_or(Value::Null, Value::from),
            );
            row.insert(
                "content_type".into(),
                attachment.content_type.as_str().into(),
            );
            row
        })
        .collect();
    let format = match format {
        StatsFormat::Table => Format::Table,
        StatsFormat::Json => Format::Json,
    };
    write_records(
        &mut std::io::stdout().lock(),
        &rows,
        &[],
        format,
        CellSafety::default(),
    )
}

async fn get(
    client: &Client,
    sys_id: &str,
    output: Option<&Path>,
    mode: Progress,
) -> CliResult<()> {
    let sys_id = SysId::new(sys_id)?;
    let attachments = client.attachments();
    let metadata = attachments.metadata(&sys_id).await?;
    let total = metadata.size_bytes.unwrap_or(0);
    let moved = Arc::new(AtomicU64::new(0));
    let watcher = Watcher::start(mode, total, Arc::clone(&moved));
    let outcome = match output {
        Some(path) if path == Path::new("-") => {
            let mut out = Counting::new(tokio::io::stdout(), Arc::clone(&moved));
            attachments.download_to_writer(&sys_id, &mut out).await
        }
        Some(path) => download_counted(client, &sys_id, path, &moved).await,
        None => {
            let path = PathBuf::from(safe_file_name(&metadata.file_name)?);
            download_counted(client, &sys_id, &path, &moved).await
        }
    };
    let downloaded = watcher.finish(outcome).await?;
    eprintln!(
        "downloaded {} ({} bytes, sha-256 {}{})",
        metadata.file_name,
        downloaded.bytes,
        downloaded.sha256,
        if downloaded.verified {
            ", matches the instance's hash"
        } else {
            ", the instance sent no hash to check"
        }
    );
    Ok(())
}

/// A file download through `<path>.part`, its bytes counted for the progress bar as they land.
async fn download_counted(
    client: &Client,
    sys_id: &SysId,
    path: &Path,
    moved: &Arc<AtomicU64>,
) -> servicenow::Result<servicenow::table::attachment::Downloaded> {
    let counter = Arc::clone(moved);
    let ticker = tokio::spawn({
        let path = partial_of(path);
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if let Ok(metadata) = tokio::fs::metadata(&path).await {
                    counter.store(metadata.len(), Ordering::Relaxed);
                }
            }
        }
    });
    let outcome = client.attachments().download_to_file(sys_id, path).await;
    ticker.abort();
    if let Ok(downloaded) = &outcome {
        moved.store(downloaded.bytes, Ordering::Relaxed);
    }
    outcome
}

fn partial_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

async fn put(
    client: &Client,
    target: &UploadTarget,
    file: &Path,
    multipart: bool,
    mode: Progress,
) -> CliResult<()> {
    let body = file_body(file).await.map_err(|error| {
        CliError::local(format!("cannot read {}: {error}", file.display()), None)
    })?;
    let total = body.length().unwrap_or(0);
    let moved = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&moved);
    let body = body.wrap(Some(total), move |stream| {
        counter.store(0, Ordering::Relaxed);
        let counter = Arc::clone(&counter);
        Box::pin(stream.inspect(move |piece| {
            if let Ok(piece) = piece {
                counter.fetch_add(piece.len() as u64, Ordering::Relaxed);
            }
        }))
    });
    let watcher = Watcher::start(mode, total, Arc::clone(&moved));
    let attachments = client.attachments();
    let outcome = if multipart {
        attachments.upload_multipart(target, body).await
    } else {
        attachments.upload(target, body).await
    };
    let uploaded = watcher.finish(outcome).await?;
    eprintln!(
        "uploaded {} to {} {} as attachment {} ({} bytes)",
        file.display(),
        target.table,
        target.table_sys_id,
        uploaded.sys_id,
        uploaded.size_bytes.unwrap_or(total)
    );
    // The new sys_id alone on stdout, for scripts.
    writeln!(std::io::stdout().lock(), "{}", uploaded.sys_id).map_err(|error| output_error(&error))
}

/// The progress of one transfer: nothing for its first second, then the export's bar (or
/// lines), fed from a shared byte counter.
struct Watcher {
    task: tokio::task::JoinHandle<Option<Reporter>>,
    stop: Arc<AtomicU64>,
    moved: Arc<AtomicU64>,
}

impl Watcher {
    fn start(mode: Progress, total: u64, moved: Arc<AtomicU64>) -> Self {
        let stop = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn({
            let (stop, moved) = (Arc::clone(&stop), Arc::clone(&moved));
            async move {
                let started = Instant::now();
                let mut reporter: Option<Reporter> = None;
                while stop.load(Ordering::Relaxed) == 0 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if reporter.is_none() && started.elapsed() >= Duration::from_secs(1) {
                        reporter = Some(Reporter::new(mode, total, Unit::Bytes));
                    }
                    if let Some(reporter) = &mut reporter {
                        reporter.advance(moved.load(Ordering::Relaxed));
                    }
                }
                reporter
            }
        });
        Self { task, stop, moved }
    }

    async fn finish<T>(self, outcome: servicenow::Result<T>) -> CliResult<T> {
        self.stop.store(1, Ordering::Relaxed);
        let moved = self.moved.load(Ordering::Relaxed);
        let reporter = self.task.await.ok().flatten();
        if let Some(reporter) = reporter {
            match &outcome {
                Ok(_) => reporter.finish(moved),
                Err(_) => reporter.abandon(),
            }
        }
        Ok(outcome?)
    }
}

/// An `AsyncWrite` that counts what goes through it.
struct Counting<W> {
    inner: W,
    moved: Arc<AtomicU64>,
}

impl<W> Counting<W> {
    fn new(inner: W, moved: Arc<AtomicU64>) -> Self {
        Self { inner, moved }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Counting<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(context, buffer);
        if let Poll::Ready(Ok(count)) = &written {
            self.moved.fetch_add(*count as u64, Ordering::Relaxed);
        }
        written
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(context)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(context)
    }
}

/// The file name a local file may take from the instance's `file_name`: its last component,
/// refused when that is empty, `.` or `..` (a name from the server never picks a directory).
fn safe_file_name(name: &str) -> CliResult<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    if last.is_empty() || last == "." || last == ".." || last.chars().any(char::is_control) {
        return Err(CliError::usage(
            format!("the attachment's file name {name:?} cannot name a local file"),
            Some("choose one with --output FILE".to_owned()),
        ));
    }
    Ok(last.to_owned())
}

fn file_name_of(file: &Path) -> CliResult<String> {
    file.file_name()
        .and_then(|name| name.to_str())
        .map(str::to_owned)
        .ok_or_else(|| {
            CliError::usage(
                format!("{} has no file name to give the attachment", file.display()),
                Some("name it with --name NAME".to_owned()),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_from_the_instance_never_picks_a_directory() {
        assert_eq!(safe_file_name("report.pdf").unwrap(), "report.pdf");
        assert_eq!(safe_file_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(safe_file_name("C:\\temp\\a.txt").unwrap(), "a.txt");
        assert!(safe_file_name("..").is_err());
        assert!(safe_file_name("dir/").is_err());
        assert!(safe_file_name("a\nb").is_err());
    }
}

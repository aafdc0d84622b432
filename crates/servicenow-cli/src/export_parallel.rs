//! `sn export --parallel auto|N` (the default): the library's partitioned export, and the
//! checkpoint file of `--checkpoint`/`--resume`.
//!
//! After every page written the output is flushed and the checkpoint replaced (written to a
//! temporary file, then renamed over it): each range's cursor, the output's length and the
//! rows written. `--resume` cuts the output back to that length (dropping rows written after the
//! last checkpoint, which the export reads again) and continues every range after its cursor,
//! so a crash at any point leaves neither a repeated nor a missing row.

use std::{
    fs::{File, OpenOptions},
    io::{self, Seek as _, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use serde::{Deserialize, Serialize};
use servicenow::table::{
    EncodedQuery, ExportCheckpoint, ExportConfig, Partition, ReadOptions, Record,
};

use crate::{
    cli::{ExportArgs, ExportFormat},
    failure::{CliError, CliResult},
};

/// What `--checkpoint` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CheckpointFile {
    /// The format of this file (1).
    pub(crate) version: u32,
    /// Each range's cursor.
    pub(crate) export: ExportCheckpoint,
    /// The output's length when the checkpoint was written.
    pub(crate) output_bytes: u64,
    /// Rows written so far.
    pub(crate) rows: u64,
    /// The output format, which a resume must keep.
    pub(crate) format: String,
    /// The CSV columns (the header is written once).
    pub(crate) columns: Option<Vec<String>>,
}

impl CheckpointFile {
    /// Reads a checkpoint written by `sn export --checkpoint`.
    pub(crate) fn load(path: &Path) -> CliResult<Self> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            CliError::local(
                format!("cannot read the checkpoint {}: {error}", path.display()),
                None,
            )
        })?;
        let file: Self = serde_json::from_str(&text).map_err(|error| {
            CliError::local(
                format!(
                    "the checkpoint {} is not one sn export wrote: {error}",
                    path.display()
                ),
                None,
            )
        })?;
        if file.version != 1 {
            return Err(CliError::local(
                format!("the checkpoint {} has an unknown version", path.display()),
                None,
            ));
        }
        Ok(file)
    }

    /// Replaces the checkpoint: a temporary file beside it, then a rename (atomic on POSIX).
    pub(crate) fn save(&self, path: &Path) -> CliResult<()> {
        let temporary = temporary_path(path);
        let result = serde_json::to_vec(self)
            .map_err(io::Error::other)
            .and_then(|bytes| {
                let mut file = File::create(&temporary)?;
                file.write_all(&bytes)?;
                file.sync_data()
            })
            .and_then(|()| std::fs::rename(&temporary, path));
        result.map_err(|error| {
            CliError::local(
                format!("cannot write the checkpoint {}: {error}", path.display()),
                None,
            )
        })
    }
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// The format's name in a checkpoint.
pub(crate) fn format_name(format: ExportFormat) -> &'static str {
    match format {
        ExportFormat::Jsonl => "jsonl",
        ExportFormat::Csv => "csv",
    }
}

/// What `sn export` does, from its flags.
#[derive(Debug)]
pub(crate) enum Plan {
    /// One ordered stream (`--parallel off`, or an --order-by with `auto`).
    Ordered,
    /// The partitioned export, maybe checkpointed, maybe resumed.
    Parallel {
        /// Boxed: the settings are most of the plan's size, and `Ordered` carries nothing.
        config: Box<ExportConfig>,
        resume: Option<CheckpointFile>,
    },
}

/// Chooses between the ordered stream and the parallel export, and checks the checkpoint flags.
pub(crate) fn plan(args: &ExportArgs, query: Option<&EncodedQuery>) -> CliResult<Plan> {
    use crate::cli::Parallel;
    let ordered_query = query.is_some_and(EncodedQuery::has_order);
    let mut config = match args.parallel {
        Parallel::Off => None,
        Parallel::Auto if ordered_query => None,
        Parallel::Auto => Some(ExportConfig::default()),
        Parallel::Fixed(_) if ordered_query => {
            return Err(CliError::local(
                "a parallel export is unordered, so it cannot take --order-by",
                Some("drop --order-by, or pass --parallel off".to_owned()),
            ));
        }
        Parallel::Fixed(requests) => Some(ExportConfig::fixed(requests)),
    };
    if let (Some(config), Some(page_size)) = (config.as_mut(), args.page_size) {
        config.page_size = page_size.max(1);
    }
    if let Some(config) = config.as_mut() {
        config.split_ranges_above = args.split_ranges_above;
        config.partition = match args.partition_by {
            crate::cli::PartitionBy::SysId => Partition::SysId,
            crate::cli::PartitionBy::SysCreatedOn => Partition::CreatedOn,
        };
    }
    let Some(config) = config else {
        if args.partition_by != crate::cli::PartitionBy::SysId {
            return Err(CliError::local(
                "--partition-by needs a parallel export (not --parallel off or --order-by)",
                None,
            ));
        }
        if args.checkpoint.is_some() {
            return Err(CliError::local(
                "--checkpoint needs a parallel export (not --parallel off or --order-by)",
                None,
            ));
        }
        return Ok(Plan::Ordered);
    };
    let resume = match (&args.checkpoint, &args.output, args.resume) {
        (None, _, _) => None,
        (Some(_), None, _) => {
            return Err(CliError::local(
                "--checkpoint needs --output: standard output cannot be cut back on --resume",
                None,
            ));
        }
        (Some(checkpoint), Some(_), false) if checkpoint.exists() => {
            return Err(CliError::local(
                format!("the checkpoint {} already exists", checkpoint.display()),
                Some("pass --resume to continue that export, or remove the file".to_owned()),
            ));
        }
        (Some(_), Some(_), false) => None,
        (Some(checkpoint), Some(_), true) => {
            let file = CheckpointFile::load(checkpoint)?;
            if file.format != format_name(args.format) {
                return Err(CliError::local(
                    format!(
                        "the checkpoint is of a --format {} export; pass the same format",
                        file.format
                    ),
                    None,
                ));
            }
            Some(file)
        }
    };
    Ok(Plan::Parallel {
        config: Box::new(config),
        resume,
    })
}

/// The output file of a resumed export, cut back to what the checkpoint covers and positioned
/// at its end.
pub(crate) fn reopen_output(path: &Path, length: u64) -> CliResult<File> {
    let reopen = || -> io::Result<File> {
        let mut options = OpenOptions::new();
        options.write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            // As for a new export file: a symbolic link at the path is never followed.
            options.custom_flags(libc::O_NOFOLLOW);
        }
        let mut file = options.open(path)?;
        if file.metadata()?.len() < length {
            return Err(io::Error::other(
                "it is shorter than the checkpoint says: not the file this export wrote",
            ));
        }
        file.set_len(length)?;
        file.seek(SeekFrom::End(0))?;
        Ok(file)
    };
    reopen().map_err(|error| {
        CliError::local(
            format!("cannot resume into {}: {error}", path.display()),
            None,
        )
    })
}

/// A writer that counts the bytes it passed on (the output's length for the checkpoint).
pub(crate) struct CountingWriter<W> {
    inner: W,
    written: Arc<AtomicU64>,
}

impl<W> CountingWriter<W> {
    /// Counts from `start` (the length of a resumed output).
    pub(crate) fn new(inner: W, start: u64) -> (Self, Arc<AtomicU64>) {
        let written = Arc::new(AtomicU64::new(start));
        (
            Self {
                inner,
                written: Arc::clone(&written),
            },
            written,
        )
    }
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buffer)?;
        self.written.fetch_add(written as u64, Ordering::Relaxed);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The library's export of `table`, fresh or resumed.
pub(crate) fn start<'a>(
    table: &'a servicenow::Table<Record>,
    query: Option<EncodedQuery>,
    options: ReadOptions,
    config: ExportConfig,
    resume: Option<&CheckpointFile>,
) -> CliResult<servicenow::table::Export<'a, servicenow::ClientTransport, Record>> {
    Ok(match resume {
        Some(file) => table.resume_export(query, options, config, &file.export)?,
        None => table.export(query, options, config)?,
    })
}

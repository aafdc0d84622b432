//! `sn export TABLE`: every matching record as JSON Lines or CSV, read by the library's parallel
//! export (or one ordered stream) in bounded memory, resumable from a checkpoint, with a progress
//! bar (rows/s, ETA from one `X-Total-Count`) on a terminal.

use std::{
    io::{self, BufWriter, IsTerminal as _, Write},
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use serde_json::{Map, Value};
use servicenow::table::{Record, StreamConfig};

use crate::{
    auth_commands::profile_client,
    cli::{ExportArgs, ExportFormat, GlobalArgs, Progress},
    export_parallel::{self, CheckpointFile, CountingWriter, Plan},
    failure::{CliError, CliResult},
    output::{CellSafety, cell, output_error},
    table_commands::{encoded_query, read_options},
    untrusted::create_private_file,
};

/// Pages requested ahead of the one being written: the library's default.
const PREFETCH_PAGES: usize = StreamConfig::DEFAULT_PREFETCH;
/// Without a terminal (`--progress always`), a progress line every this many rows at most.
const PROGRESS_LINE_EVERY: u64 = 10_000;

/// Runs `sn export`.
pub(crate) async fn run(global: &GlobalArgs, args: &ExportArgs) -> CliResult<()> {
    let query = encoded_query(&args.filters)?;
    let options = read_options(&args.fields, &args.values)?;
    let plan = export_parallel::plan(args, query.as_ref())?;
    let client = profile_client(global).await?;
    let table = client.table::<Record>(&args.table)?;
    let total = table.count(query.as_ref()).await?;
    let resume = match &plan {
        Plan::Parallel { resume, .. } => resume.as_ref(),
        Plan::Ordered => None,
    };
    let destination: Box<dyn Write> = match (&args.output, resume) {
        (Some(path), Some(checkpoint)) => Box::new(export_parallel::reopen_output(
            path,
            checkpoint.output_bytes,
        )?),
        (Some(path), None) => {
            Box::new(create_private_file(path, args.overwrite).map_err(|error| {
                let hint = (error.kind() == io::ErrorKind::AlreadyExists)
                    .then(|| "pass --overwrite to replace it, or choose another file".to_owned());
                CliError::local(format!("cannot create {}: {error}", path.display()), hint)
            })?)
        }
        (None, _) => Box::new(io::stdout()),
    };
    let (destination, output_bytes) = CountingWriter::new(
        destination,
        resume.map_or(0, |checkpoint| checkpoint.output_bytes),
    );
    let destination: Box<dyn Write> = Box::new(destination);
    let safety = CellSafety {
        csv_formulas: global.csv_formulas,
        terminal: args.output.is_none() && io::stdout().is_terminal(),
    };
    let mut sink = match resume {
        Some(checkpoint) => {
            Sink::resumed(destination, args.format, safety, checkpoint.columns.clone())
        }
        None => Sink::with_columns(destination, args.format, &args.fields, safety)?,
    };
    let mut progress = Reporter::new(args.progress, total, Unit::Rows);
    let started = Instant::now();
    let mut written: u64 = resume.map_or(0, |checkpoint| checkpoint.rows);
    let mut summary = String::new();
    match plan {
        Plan::Ordered => {
            let config = StreamConfig {
                page_size: args.page_size.unwrap_or(1_000).max(1),
                prefetch: PREFETCH_PAGES,
                ..StreamConfig::default()
            };
            let mut records = std::pin::pin!(table.stream(query, options, config));
            while let Some(record) = records.next().await {
                let record = match record {
                    Ok(record) => record,
                    Err(error) => {
                        progress.abandon();
                        return Err(error.into());
                    }
                };
                sink.write(record.into_fields())?;
                written += 1;
                progress.advance(written);
            }
        }
        Plan::Parallel { config, resume } => {
            let mut export =
                export_parallel::start(&table, query, options, *config, resume.as_ref())?;
            while let Some(batch) = export.next_batch().await {
                let batch = match batch {
                    Ok(batch) => batch,
                    Err(error) => {
                        progress.abandon();
                        return Err(servicenow::Error::from(error).into());
                    }
                };
                for record in batch.rows {
                    sink.write(record.into_fields())?;
                    written += 1;
                }
                progress.advance(written);
                if let Some(path) = &args.checkpoint {
                    // The rows reach the file before the checkpoint that covers them.
                    sink.flush()?;
                    CheckpointFile {
                        version: 1,
                        export: export.checkpoint(),
                        output_bytes: output_bytes.load(Ordering::Relaxed),
                        rows: written,
                        format: export_parallel::format_name(args.format).to_owned(),
                        columns: sink.columns(),
                    }
                    .save(path)?;
                }
            }
            let stats = export.stats();
            summary = format!(
                ", {} requests, {} answered 429, {} ranges, {} at once at most",
                stats.requests, stats.throttled, stats.ranges, stats.peak_in_flight
            );
        }
    }
    sink.finish()?;
    progress.finish(written);
    let elapsed = started.elapsed();
    let rate = rows_per_second(written, elapsed);
    let memory = peak_memory_mib()
        .map(|mib| format!(", peak memory {mib} MiB"))
        .unwrap_or_default();
    let target = args
        .output
        .as_ref()
        .map(|path| path.display().to_string())
        .unwrap_or_else(|| "standard output".to_owned());
    eprintln!(
        "exported {written} rows of {} to {target} in {:.1} s ({rate:.0} rows/s{memory}{summary})",
        args.table,
        elapsed.as_secs_f64()
    );
    Ok(())
}

/// Where the records go, one at a time.
enum Sink {
    Jsonl(BufWriter<Box<dyn Write>>),
    Csv {
        writer: Box<csv::Writer<Box<dyn Write>>>,
        columns: Option<Vec<String>>,
        safety: CellSafety,
    },
}

impl Sink {
    fn new(destination: Box<dyn Write>, format: ExportFormat, safety: CellSafety) -> Self {
        match format {
            ExportFormat::Jsonl => Self::Jsonl(BufWriter::with_capacity(64 * 1024, destination)),
            ExportFormat::Csv => Self::Csv {
                writer: Box::new(csv::Writer::from_writer(destination)),
                columns: None,
                safety,
            },
        }
    }

    /// A sink with `--fields` as its CSV columns: the header is written at once.
    fn with_columns(
        destination: Box<dyn Write>,
        format: ExportFormat,
        fields: &[String],
        safety: CellSafety,
    ) -> CliResult<Self> {
        let mut sink = Self::new(destination, format, safety);
        if let (
            Self::Csv {
                writer, columns, ..
            },
            false,
        ) = (&mut sink, fields.is_empty())
        {
            writer
                .write_record(fields.iter().map(|field| safety.csv_cell(field)))
                .map_err(|error| output_error(&error))?;
            *columns = Some(fields.to_vec());
        }
        Ok(sink)
    }

    fn write(&mut self, record: Map<String, Value>) -> CliResult<()> {
        match self {
            Self::Jsonl(out) => serde_json::to_writer(&mut *out, &record)
                .map_err(io::Error::other)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|error| output_error(&error)),
            Self::Csv {
                writer,
                columns,
                safety,
            } => {
                let columns = match columns {
                    Some(columns) => columns,
                    None => {
                        // Without --fields, the first record's fields are the columns (every
                        // record of a Table API list has the same fields).
                        let header: Vec<String> = record.keys().cloned().collect();
                        writer
                            .write_record(header.iter().map(|field| safety.csv_cell(field)))
                            .map_err(|error| output_error(&error))?;
                        columns.insert(header)
                    }
                };
                writer
                    .write_record(columns.iter().map(|column| {
                        safety.csv_cell(&record.get(column).map(cell).unwrap_or_default())
                    }))
                    .map_err(|error| output_error(&error))
            }
        }
    }

    /// A sink continuing a resumed export: the CSV header is already in the file.
    fn resumed(
        destination: Box<dyn Write>,
        format: ExportFormat,
        safety: CellSafety,
        header: Option<Vec<String>>,
    ) -> Self {
        let mut sink = Self::new(destination, format, safety);
        if let Self::Csv { columns, .. } = &mut sink {
            *columns = header;
        }
        sink
    }

    /// The CSV columns once known (for a checkpoint).
    fn columns(&self) -> Option<Vec<String>> {
        match self {
            Self::Jsonl(_) => None,
            Self::Csv { columns, .. } => columns.clone(),
        }
    }

    /// Everything written so far, out of the buffers.
    fn flush(&mut self) -> CliResult<()> {
        match self {
            Self::Jsonl(out) => out.flush(),
            Self::Csv { writer, .. } => writer.flush(),
        }
        .map_err(|error| output_error(&error))
    }

    fn finish(self) -> CliResult<()> {
        match self {
            Self::Jsonl(mut out) => out.flush(),
            // With no record at all the output stays empty: there is no header to guess.
            Self::Csv { mut writer, .. } => writer.flush(),
        }
        .map_err(|error| output_error(&error))
    }
}

/// What progress counts: the rows of an export, the bytes of an attachment transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Rows,
    Bytes,
}

/// Shows progress: a bar on a terminal, lines in a log (`--progress always`), or nothing.
pub(crate) enum Reporter {
    Bar(ProgressBar),
    Lines {
        total: u64,
        started: Instant,
        next_line: u64,
        unit: Unit,
    },
    Silent,
}

impl Reporter {
    pub(crate) fn new(mode: Progress, total: u64, unit: Unit) -> Self {
        let terminal = io::stderr().is_terminal();
        match (mode, terminal) {
            (Progress::Never, _) | (Progress::Auto, false) => Self::Silent,
            (Progress::Auto | Progress::Always, true) => Self::Bar(bar(total, unit)),
            (Progress::Always, false) => Self::Lines {
                total,
                started: Instant::now(),
                next_line: line_step(total, unit),
                unit,
            },
        }
    }

    pub(crate) fn advance(&mut self, written: u64) {
        match self {
            Self::Bar(bar) => bar.set_position(written),
            Self::Lines {
                total,
                started,
                next_line,
                unit,
            } => {
                if written >= *next_line {
                    eprintln!(
                        "{}",
                        progress_line(written, *total, started.elapsed(), *unit)
                    );
                    *next_line = written + line_step(*total, *unit);
                }
            }
            Self::Silent => (),
        }
    }

    pub(crate) fn finish(&self, written: u64) {
        match self {
            Self::Bar(bar) => bar.finish(),
            Self::Lines {
                total,
                started,
                unit,
                ..
            } => {
                eprintln!(
                    "{}",
                    progress_line(written, *total, started.elapsed(), *unit)
                );
            }
            Self::Silent => (),
        }
    }

    pub(crate) fn abandon(&self) {
        if let Self::Bar(bar) = self {
            bar.abandon();
        }
    }
}

fn bar(total: u64, unit: Unit) -> ProgressBar {
    let template = match unit {
        Unit::Rows => "{spinner} {human_pos}/{human_len} rows [{bar:30}] {rows_per_sec} ETA {eta}",
        Unit::Bytes => "{spinner} {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec} ETA {eta}",
    };
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "rows_per_sec",
            |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = write!(out, "{:.0} rows/s", state.per_sec());
            },
        )
        .progress_chars("=> ");
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn line_step(total: u64, unit: Unit) -> u64 {
    match unit {
        Unit::Rows => (total / 10).clamp(1, PROGRESS_LINE_EVERY),
        Unit::Bytes => (total / 10).max(1),
    }
}

/// `progress: 10000/100000 rows (12345 rows/s, ETA 7 s)` (or bytes).
fn progress_line(written: u64, total: u64, elapsed: Duration, unit: Unit) -> String {
    let rate = rows_per_second(written, elapsed);
    let eta = if rate > 0.0 && total > written {
        format!("{:.0} s", (total - written) as f64 / rate)
    } else {
        "0 s".to_owned()
    };
    let unit = match unit {
        Unit::Rows => "rows",
        Unit::Bytes => "bytes",
    };
    format!("progress: {written}/{total} {unit} ({rate:.0} {unit}/s, ETA {eta})")
}

fn rows_per_second(rows: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        rows as f64 / seconds
    } else {
        0.0
    }
}

/// The process's peak resident memory (Linux `VmHWM`), to show that exports run in constant
/// memory.
fn peak_memory_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_tell_rows_rate_and_eta() {
        assert_eq!(
            progress_line(10_000, 100_000, Duration::from_secs(2), Unit::Rows),
            "progress: 10000/100000 rows (5000 rows/s, ETA 18 s)"
        );
        assert_eq!(line_step(100_000, Unit::Rows), 10_000);
        assert_eq!(line_step(50, Unit::Rows), 5);
        assert_eq!(line_step(0, Unit::Rows), 1);
        assert_eq!(
            progress_line(50_000_000, 200_000_000, Duration::from_secs(2), Unit::Bytes),
            "progress: 50000000/200000000 bytes (25000000 bytes/s, ETA 6 s)"
        );
        assert_eq!(line_step(200_000_000, Unit::Bytes), 20_000_000);
    }

    #[test]
    fn csv_export_takes_its_header_from_fields_or_the_first_record() {
        let record: Map<String, Value> =
            serde_json::from_str(r#"{"number":"INC1","priority":"2"}"#).unwrap();
        for (fields, expected) in [
            (vec![], "number,priority\nINC1,2\n"),
            (vec!["priority".to_owned()], "priority\n2\n"),
        ] {
            let file = tempfile::NamedTempFile::new().unwrap();
            let destination = Box::new(file.reopen().unwrap());
            let mut sink = Sink::with_columns(
                destination,
                ExportFormat::Csv,
                &fields,
                CellSafety::default(),
            )
            .unwrap();
            sink.write(record.clone()).unwrap();
            sink.finish().unwrap();
            assert_eq!(std::fs::read_to_string(file.path()).unwrap(), expected);
        }
    }
}

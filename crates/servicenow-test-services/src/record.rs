//! Where a service-backed test writes what happened to it, and how the report reads it back: one file per test, in a directory per `cargo test` invocation under the target directory.
//!
//! Every test binary of one `cargo test` is a child of the same cargo process, so the parent's
//! process id names the run: `<target>/<profile>/service-tests/run-<cargo pid>/`. The test
//! binaries live in `<target>/<profile>/deps/`, which is how a test and the report find the
//! same directory without any configuration.

use std::{
    fs, io,
    path::{Path, PathBuf},
    time::Duration,
};

/// What happened to a service-backed test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// It ran against the real service.
    Ran,
    /// It returned early without testing anything.
    Skipped,
}

/// One service-backed test of this run.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Record {
    /// Ran or skipped.
    pub outcome: Outcome,
    /// The package of the test (`CARGO_PKG_NAME`, which cargo sets when it runs a test).
    pub package: String,
    /// The test binary (`postgres` for `tests/postgres.rs`).
    pub binary: String,
    /// The test function.
    pub test: String,
    /// Why it was skipped, or which variable it ran with.
    pub detail: String,
}

/// Run directories older than this were left by runs whose report never ran (a `cargo test -p`
/// of one crate, say); the next report deletes them.
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// `<target>/<profile>/service-tests`, found from the running test binary's path.
fn records_root() -> Option<PathBuf> {
    let executable = std::env::current_exe().ok()?;
    let deps = executable.parent()?;
    if deps.file_name()? != "deps" {
        return None;
    }
    Some(deps.parent()?.join("service-tests"))
}

fn run_name() -> String {
    #[cfg(unix)]
    let id = std::os::unix::process::parent_id();
    #[cfg(not(unix))]
    let id = 0;
    format!("run-{id}")
}

/// The test binary's name without cargo's hash suffix.
fn binary_name() -> String {
    let stem = std::env::current_exe()
        .ok()
        .and_then(|path| {
            path.file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_owned(),
        _ => stem,
    }
}

/// Writes (or overwrites) the record of `test`.
///
/// # Panics
///
/// When the record cannot be written: a skip that no report would show must not pass.
pub(crate) fn write(test: &str, outcome: Outcome, detail: &str) {
    let Some(root) = records_root() else {
        // Not run from cargo's target directory (a copied binary): nobody reads a record.
        return;
    };
    let record = Record {
        outcome,
        package: std::env::var("CARGO_PKG_NAME").unwrap_or_else(|_| "(unknown package)".into()),
        binary: binary_name(),
        test: test.to_owned(),
        detail: detail.replace(['\n', '\r'], " "),
    };
    let directory = root.join(run_name());
    let file_name: String = format!("{}.{}.{}", record.package, record.binary, record.test)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let outcome = match record.outcome {
        Outcome::Ran => "ran",
        Outcome::Skipped => "skipped",
    };
    let text = format!(
        "{outcome}\n{}\n{}\n{}\n{}\n",
        record.package, record.binary, record.test, record.detail
    );
    if let Err(error) =
        fs::create_dir_all(&directory).and_then(|()| fs::write(directory.join(file_name), text))
    {
        panic!(
            "recording the outcome of {test} in {} failed: {error}",
            directory.display()
        );
    }
}

fn read(path: &Path) -> io::Result<Record> {
    let text = fs::read_to_string(path)?;
    let mut lines = text.lines();
    let mut next = || lines.next().unwrap_or_default().to_owned();
    let outcome = match next().as_str() {
        "ran" => Outcome::Ran,
        "skipped" => Outcome::Skipped,
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} holds an unknown outcome {other:?}", path.display()),
            ));
        }
    };
    Ok(Record {
        outcome,
        package: next(),
        binary: next(),
        test: next(),
        detail: next(),
    })
}

/// Every record written by the test binaries of this `cargo test` invocation, sorted by
/// outcome, package, binary and test.
///
/// # Errors
///
/// When a record cannot be read.
pub fn records_of_this_run() -> io::Result<Vec<Record>> {
    let Some(root) = records_root() else {
        return Ok(Vec::new());
    };
    let directory = root.join(run_name());
    let entries = match fs::read_dir(&directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut records = Vec::new();
    for entry in entries {
        records.push(read(&entry?.path())?);
    }
    records.sort();
    Ok(records)
}

/// Deletes this run's records (they have been reported) and the directories of runs that
/// ended more than an hour ago without a report.
///
/// # Errors
///
/// When a directory cannot be listed or deleted.
pub fn forget_this_run() -> io::Result<()> {
    let Some(root) = records_root() else {
        return Ok(());
    };
    let this_run = root.join(run_name());
    let entries = match fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    for entry in entries {
        let path = entry?.path();
        let stale = fs::metadata(&path)?
            .modified()?
            .elapsed()
            .is_ok_and(|age| age > STALE_AFTER);
        if path == this_run || stale {
            fs::remove_dir_all(&path)?;
        }
    }
    Ok(())
}

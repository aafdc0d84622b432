//! `cargo xtask fuzz [TARGET] [--seconds N] [--build-only]`: builds and runs the libFuzzer targets of `fuzz/`.
//!
//! The targets live in a crate outside the workspace (`fuzz/Cargo.toml` has its own
//! `[workspace]`), built by `cargo-fuzz` on the stable toolchain with `RUSTC_BOOTSTRAP=1` (the
//! nightly-only `-Z` flags libFuzzer needs). Every target reads its committed seed corpus in
//! `fuzz/corpus/<target>/` and keeps what it finds in `fuzz/artifacts/<target>/corpus/` (not
//! committed); crashes land in `fuzz/artifacts/<target>/` with the input that caused them.
//!
//! The machine is shared: each target runs alone, at the lowest priority (`nice -n 19`), as one
//! libFuzzer job with one worker. The code under test is safe Rust (`unsafe_code = "forbid"`),
//! so targets are built without a sanitizer (`--sanitizer none`, about twice the executions per
//! second); overflow checks and debug assertions stay on. `--sanitizer address` restores ASan.

use std::{fs, path::Path, process::Command, time::Instant};

use anyhow::{Context, bail};

const USAGE: &str = "\
usage: cargo xtask fuzz [TARGET] [--seconds N] [--sanitizer none|address] [--build-only]

Runs every target of fuzz/Cargo.toml one after the other (or only TARGET) for N seconds each
(default 60), niced, one job, one worker. --build-only builds the targets and stops.";

struct Options {
    target: Option<String>,
    seconds: u64,
    sanitizer: String,
    build_only: bool,
}

/// Runs the task with its arguments (after `fuzz`).
pub(crate) fn run(root: &Path, arguments: &[String]) -> anyhow::Result<()> {
    let options = parse_arguments(arguments)?;
    let fuzz_dir = root.join("fuzz");
    let targets = targets(&fuzz_dir)?;
    let selected: Vec<String> = match &options.target {
        Some(target) if targets.contains(target) => vec![target.clone()],
        Some(target) => bail!(
            "no fuzz target `{target}`; the targets are: {}",
            targets.join(", ")
        ),
        None => targets,
    };
    ensure_cargo_fuzz()?;
    build(&fuzz_dir, &options)?;
    if options.build_only {
        eprintln!("fuzz: built {} target(s)", selected.len());
        return Ok(());
    }
    let mut failures = Vec::new();
    for target in &selected {
        let outcome = run_target(&fuzz_dir, target, &options)?;
        eprintln!("{}", outcome.summary(target));
        if !outcome.success {
            failures.push(target.clone());
        }
    }
    if !failures.is_empty() {
        bail!(
            "fuzz: {} target(s) found a failure: {} (inputs in fuzz/artifacts/<target>/)",
            failures.len(),
            failures.join(", ")
        );
    }
    Ok(())
}

fn parse_arguments(arguments: &[String]) -> anyhow::Result<Options> {
    let mut options = Options {
        target: None,
        seconds: 60,
        sanitizer: "none".to_owned(),
        build_only: false,
    };
    let mut iterator = arguments.iter();
    while let Some(argument) = iterator.next() {
        match argument.as_str() {
            "--seconds" => {
                let value = iterator.next().context("--seconds needs a number")?;
                options.seconds = value
                    .parse()
                    .with_context(|| format!("--seconds {value}: not a number of seconds"))?;
            }
            "--sanitizer" => {
                options.sanitizer = iterator.next().context("--sanitizer needs a name")?.clone();
            }
            "--build-only" => options.build_only = true,
            "-h" | "--help" => {
                eprintln!("{USAGE}");
                std::process::exit(0);
            }
            other if other.starts_with('-') => bail!("unknown option `{other}`\n{USAGE}"),
            other => options.target = Some(other.to_owned()),
        }
    }
    Ok(options)
}

/// The `[[bin]]` names of `fuzz/Cargo.toml`, in file order.
fn targets(fuzz_dir: &Path) -> anyhow::Result<Vec<String>> {
    let manifest =
        fs::read_to_string(fuzz_dir.join("Cargo.toml")).context("reading fuzz/Cargo.toml")?;
    let mut in_bin = false;
    let mut names = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
            continue;
        }
        if let Some(value) = line.strip_prefix("name = ").filter(|_| in_bin) {
            names.push(value.trim_matches('"').to_owned());
        }
    }
    anyhow::ensure!(
        !names.is_empty(),
        "fuzz/Cargo.toml declares no [[bin]] target"
    );
    Ok(names)
}

fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    let installed = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    if installed {
        return Ok(());
    }
    eprintln!("fuzz: installing cargo-fuzz from crates.io");
    crate::run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))
}

/// `nice -n 19 cargo fuzz <subcommand> --fuzz-dir fuzz/ --release --debug-assertions --sanitizer S`.
fn cargo_fuzz(fuzz_dir: &Path, subcommand: &str, options: &Options) -> Command {
    let mut command = Command::new("nice");
    command
        .args(["-n", "19", "cargo", "fuzz", subcommand, "--fuzz-dir"])
        .arg(fuzz_dir)
        .args(["--release", "--debug-assertions", "--sanitizer"])
        .arg(&options.sanitizer)
        .env("RUSTC_BOOTSTRAP", "1")
        .env("RUSTUP_TOOLCHAIN", "stable");
    command
}

fn build(fuzz_dir: &Path, options: &Options) -> anyhow::Result<()> {
    let started = Instant::now();
    crate::run(cargo_fuzz(fuzz_dir, "build", options).current_dir(fuzz_dir))?;
    eprintln!("fuzz: build took {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

struct Outcome {
    success: bool,
    /// Wall time of `cargo fuzz run`, the build included.
    seconds: f64,
    /// `(runs, seconds)` from libFuzzer's summary: the fuzzing itself.
    done: Option<(u64, u64)>,
    corpus_files: usize,
}

impl Outcome {
    fn summary(&self, target: &str) -> String {
        let verdict = if self.success { "no crash" } else { "FAILED" };
        let done = self.done.map_or_else(
            || "no libFuzzer summary".to_owned(),
            |(runs, seconds)| format!("{runs} runs in {seconds} s of fuzzing"),
        );
        format!(
            "fuzz: {target}: {verdict}, {done} ({:.0} s with the build), corpus {} files",
            self.seconds, self.corpus_files
        )
    }
}

fn run_target(fuzz_dir: &Path, target: &str, options: &Options) -> anyhow::Result<Outcome> {
    let seeds = fuzz_dir.join("corpus").join(target);
    let work_dir = fuzz_dir.join("artifacts").join(target);
    // New inputs go to the first (ignored) directory; the committed seeds are only read.
    let corpus = work_dir.join("corpus");
    fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
    let log = work_dir.join("fuzz-0.log");
    let _ = fs::remove_file(&log);
    let crashes_before = crash_files(&work_dir);
    eprintln!("fuzz: {target} for {} s", options.seconds);
    let started = Instant::now();
    let status = cargo_fuzz(fuzz_dir, "run", options)
        .arg(target)
        .arg(&corpus)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={}", options.seconds))
        .arg(format!("-artifact_prefix={}/", work_dir.display()))
        .args([
            "-jobs=1",
            "-workers=1",
            "-max_len=16384",
            "-rss_limit_mb=2048",
        ])
        .current_dir(&work_dir)
        .status()
        .context("starting cargo fuzz run")?;
    let seconds = started.elapsed().as_secs_f64();
    let log_text = fs::read_to_string(&log).unwrap_or_default();
    let crashed = log_text.contains("==ERROR")
        || log_text.contains("panicked at")
        || crash_files(&work_dir).len() > crashes_before.len();
    Ok(Outcome {
        success: status.success() && !crashed,
        seconds,
        done: done_summary(&log_text),
        corpus_files: fs::read_dir(&corpus).map(Iterator::count).unwrap_or(0),
    })
}

/// `Done 123456 runs in 60 second(s)`, libFuzzer's last line, as `(runs, seconds)`.
fn done_summary(log: &str) -> Option<(u64, u64)> {
    let line = log
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("Done "))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [runs, "runs", "in", seconds, ..] => Some((runs.parse().ok()?, seconds.parse().ok()?)),
        _ => None,
    }
}

/// The inputs libFuzzer saved for crashes, out-of-memory runs, timeouts and leaks.
fn crash_files(work_dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(work_dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            ["crash-", "oom-", "timeout-", "leak-"]
                .iter()
                .any(|prefix| name.starts_with(prefix))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fuzz_target_has_a_committed_seed_corpus() {
        let fuzz_dir = crate::project_root().join("fuzz");
        let targets = targets(&fuzz_dir).unwrap();
        assert!(targets.len() >= 10, "one target per parser: {targets:?}");
        for target in targets {
            let seeds = fs::read_dir(fuzz_dir.join("corpus").join(&target))
                .map(Iterator::count)
                .unwrap_or(0);
            assert!(
                seeds > 0,
                "fuzz target {target} has no seed in fuzz/corpus/{target}/"
            );
            assert!(
                fuzz_dir
                    .join("fuzz_targets")
                    .join(format!("{target}.rs"))
                    .exists(),
                "fuzz target {target} has no source file"
            );
        }
    }

    #[test]
    fn libfuzzer_summary_line_gives_runs_and_seconds() {
        let log = "#1024 pulse cov: 10\nDone 123456 runs in 61 second(s)\n";
        assert_eq!(done_summary(log), Some((123_456, 61)));
        assert_eq!(done_summary("no summary"), None);
    }
}

//! Maintainer tasks, run as `cargo xtask <task>` (see <https://github.com/matklad/cargo-xtask/>).

mod bench;
mod fuzz;
mod mutants;
mod tidy;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  ci      run exactly what CI runs (`.ci/run`: fmt check, clippy -D warnings, cargo doc -D warnings
          (also as docs.rs builds it), the test command, every feature combination of depth 2
          (cargo-hack, installed when missing), cargo package of the publishable crates, fuzz build)
  tidy    check the house rules (also run by `cargo test`)
  bench   measure throughput, memory, auth overhead and the token storm against peers, side by
          side on one emulator; writes docs/benchmarks.md, fails when a target ratio is missed
  fuzz    [TARGET] [--seconds N]: run the libFuzzer targets of fuzz/ (cargo-fuzz)
  mutants put deliberate bugs into servicenow-auth one at a time and require the property
          tests to catch each; prints a kill table, fails if a mutation survives
";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    let root = project_root();
    match task.as_str() {
        "ci" => run(Command::new("bash")
            .arg(root.join(".ci/run"))
            .current_dir(&root)),
        "tidy" => {
            let problems = tidy::check(&root)?;
            if problems.is_empty() {
                eprintln!("tidy: ok");
                return Ok(());
            }
            for problem in &problems {
                eprintln!("{problem}\n");
            }
            bail!("tidy: {} problem(s)", problems.len())
        }
        "bench" => bench::run(&root, &rest),
        "fuzz" => fuzz::run(&root, &rest),
        "mutants" => mutants::run(&root, &rest),
        "" | "help" | "--help" | "-h" => {
            eprint!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown task `{other}`\n{USAGE}"),
    }
}

/// The workspace root: the parent of this crate's manifest directory.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("starting {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

//! `cargo xtask bench [--rounds N] [--no-pysnc]`: builds the harness (`crates/servicenow-bench`) in release, prepares the pysnc virtual environment, runs the suite, writes `docs/benchmarks.md`, and fails when a target ratio is missed.
//!
//! The measuring code lives in its own crate so that this one keeps its two dependencies.

use std::{path::Path, process::Command};

use anyhow::{Context, bail};

const USAGE: &str = "\
usage: cargo xtask bench [--rounds N] [--no-pysnc]

Builds crates/servicenow-bench (release), creates target/bench-venv with pysnc (pip, PyPI) unless
--no-pysnc, runs every comparison as N alternating rounds (default 3) on one emulator, prints the
table and writes docs/benchmarks.md. Exits non-zero when a target ratio is missed.";

/// Runs the task with its arguments (after `bench`).
pub(crate) fn run(root: &Path, arguments: &[String]) -> anyhow::Result<()> {
    let mut rounds = "3".to_owned();
    let mut with_pysnc = true;
    let mut iterator = arguments.iter();
    while let Some(argument) = iterator.next() {
        match argument.as_str() {
            "--rounds" => rounds = iterator.next().context("--rounds needs a number")?.clone(),
            "--no-pysnc" => with_pysnc = false,
            "-h" | "--help" => {
                eprintln!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown option `{other}`\n{USAGE}"),
        }
    }
    crate::run(
        Command::new("cargo")
            .args(["build", "--release", "-p", "servicenow-bench"])
            .current_dir(root),
    )?;
    let mut suite = Command::new(root.join("target/release/servicenow-bench"));
    suite
        .args(["suite", "--rounds", &rounds, "--write"])
        .arg(root.join("docs/benchmarks.md"))
        .current_dir(root);
    if with_pysnc {
        suite.arg("--python").arg(pysnc_python(root)?);
    }
    crate::run(&mut suite)
}

/// The Python of `target/bench-venv`, created with `python3 -m venv` and given pysnc by pip
/// when it does not have it yet.
fn pysnc_python(root: &Path) -> anyhow::Result<std::path::PathBuf> {
    let venv = root.join("target/bench-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        crate::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    let has_pysnc = Command::new(&python)
        .args(["-c", "import pysnc"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !has_pysnc {
        eprintln!("bench: installing pysnc into {}", venv.display());
        crate::run(Command::new(&python).args(["-m", "pip", "install", "--quiet", "pysnc"]))?;
    }
    Ok(python)
}

//! `cargo xtask bench [--rounds N] [--no-pysnc]`: builds the harness (`crates/servicenow-bench`) in release, prepares the pysnc virtual environment, runs the suite, writes `docs/benchmarks.md`, and fails when a target ratio is missed.
//!
//! The measuring code lives in its own crate so that this one keeps its two dependencies.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

const USAGE: &str = "\
usage: cargo xtask bench [--rounds N] [--no-pysnc]

Runs the criterion benchmark of the token hot path (`bearer()` against ArcSwap::load_full), builds
crates/servicenow-bench (release), creates target/bench-venv with pysnc (pip, PyPI) unless
--no-pysnc, runs every comparison as N alternating rounds (default 3) on one emulator, prints the
table and writes docs/benchmarks.md. Exits non-zero when a target ratio is missed.
Honours CARGO_TARGET_DIR.";

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
    let target = target_dir(root);
    let bearer = bearer_figures(root, &target)?;
    crate::run(
        Command::new("cargo")
            .args(["build", "--release", "-p", "servicenow-bench"])
            .current_dir(root),
    )?;
    let mut suite = Command::new(target.join("release/servicenow-bench"));
    suite
        .args([
            "suite",
            "--rounds",
            &rounds,
            "--stamp",
            &stamp(root)?,
            "--bearer",
        ])
        .arg(&bearer)
        .arg("--write")
        .arg(root.join("docs/benchmarks.md"))
        .current_dir(root);
    if with_pysnc {
        suite.arg("--python").arg(pysnc_python(root)?);
    }
    crate::run(&mut suite)
}

/// The commit the figures belong to (with `+changes` when the work tree differs from it) and
/// the date, for the report's header.
fn stamp(root: &Path) -> anyhow::Result<String> {
    let output = |arguments: &[&str]| -> anyhow::Result<String> {
        let out = Command::new(arguments[0])
            .args(&arguments[1..])
            .current_dir(root)
            .output()
            .with_context(|| format!("running {}", arguments.join(" ")))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let commit = output(&["git", "rev-parse", "--short", "HEAD"])?;
    let dirty = !output(&["git", "status", "--porcelain", "--untracked-files=no"])?.is_empty();
    let date = output(&["date", "-u", "+%Y-%m-%d %H:%M UTC"])?;
    Ok(format!(
        "commit {commit}{} on {date}",
        if dirty { "+changes" } else { "" }
    ))
}

/// Where cargo builds: `CARGO_TARGET_DIR` when set (relative to the workspace), else `target/`.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// Runs the criterion benchmark of `bearer()` (group `bearer` of
/// `crates/servicenow/benches/bearer.rs`) and writes its medians to `bench-bearer.json` in the
/// target directory, for the suite to report as ratios.
fn bearer_figures(root: &Path, target: &Path) -> anyhow::Result<PathBuf> {
    crate::run(
        Command::new("cargo")
            .args([
                "bench",
                "-p",
                "servicenow",
                "--bench",
                "bearer",
                "--",
                "--noplot",
                "^bearer/",
            ])
            .current_dir(root),
    )?;
    let median_ns = |function: &str, threads: u32| -> anyhow::Result<f64> {
        let path = target
            .join("criterion/bearer")
            .join(function)
            .join(threads.to_string())
            .join("new/estimates.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let estimates: serde_json::Value = serde_json::from_str(&text)?;
        estimates["median"]["point_estimate"]
            .as_f64()
            .with_context(|| format!("{} has no median", path.display()))
    };
    let mut rows = Vec::new();
    for threads in [1, 2] {
        rows.push(serde_json::json!({
            "threads": threads,
            "bearer_ns": median_ns("token_manager_bearer", threads)?,
            "load_full_ns": median_ns("baseline_atomic_arc_load", threads)?,
            "clock_ns": median_ns("system_clock_now", threads)?,
            "coarse_clock_ns": median_ns("system_clock_now_coarse", threads)?,
        }));
    }
    let path = target.join("bench-bearer.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&rows)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The Python of `target/bench-venv`, created with `python3 -m venv` and given pysnc by pip
/// when it does not have it yet.
fn pysnc_python(root: &Path) -> anyhow::Result<PathBuf> {
    let venv = target_dir(root).join("bench-venv");
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

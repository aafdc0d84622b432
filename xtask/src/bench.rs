//! `cargo xtask bench [--rounds N] [--cost-scale N] [--no-pysnc]`: builds the harness (`crates/servicenow-bench`) in release, prepares the peers (pysnc pinned in a virtual environment, Node checked), runs the suite, writes `docs/benchmarks.md` and its plot, and fails when a target ratio is missed.
//!
//! The measuring code lives in its own crate so that this one keeps its two dependencies.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

/// The pysnc release the benchmark measures (installed by pip into the target directory).
const PYSNC_VERSION: &str = "1.2.1";

const USAGE: &str = "\
usage: cargo xtask bench [--rounds N] [--cost-scale N] [--no-pysnc]

Runs the criterion benchmark of the token hot path (`bearer()` against ArcSwap::load_full), builds
crates/servicenow-bench (release), creates bench-venv in the target directory with pysnc 1.2.1
(pip, PyPI) unless --no-pysnc, checks that Node.js is installed, runs every comparison as N rounds
in A B B A order (default 7) on one emulator, and the export benchmark on one with the
instance-like cost model, every time divided by --cost-scale (default 2), prints the table and
writes docs/benchmarks.md and docs/benchmarks-export.svg. Exits non-zero when a target ratio is
missed. Honours CARGO_TARGET_DIR.";

/// Runs the task with its arguments (after `bench`).
pub(crate) fn run(root: &Path, arguments: &[String]) -> anyhow::Result<()> {
    let mut rounds = "7".to_owned();
    let mut cost_scale = "2".to_owned();
    let mut with_pysnc = true;
    let mut iterator = arguments.iter();
    while let Some(argument) = iterator.next() {
        match argument.as_str() {
            "--rounds" => rounds = iterator.next().context("--rounds needs a number")?.clone(),
            "--cost-scale" => {
                cost_scale = iterator
                    .next()
                    .context("--cost-scale needs a number")?
                    .clone();
            }
            "--no-pysnc" => with_pysnc = false,
            "-h" | "--help" => {
                eprintln!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown option `{other}`\n{USAGE}"),
        }
    }
    let target = target_dir(root);
    eprintln!("bench: target directory {}", target.display());
    let node = Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .context(
            "the benchmark compares with a Node.js script: install Node.js (`node` on PATH)",
        )?;
    eprintln!(
        "bench: node {}",
        String::from_utf8_lossy(&node.stdout).trim()
    );
    let python = if with_pysnc {
        Some(pysnc_python(&target)?)
    } else {
        None
    };
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
            "--cost-scale",
            &cost_scale,
            "--stamp",
            &stamp(root)?,
            "--bearer",
        ])
        .arg(&bearer)
        .arg("--write")
        .arg(root.join("docs/benchmarks.md"))
        .current_dir(root);
    if let Some(python) = python {
        suite.arg("--python").arg(python);
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

/// The Python of `bench-venv` in the target directory, created with `python3 -m venv` and
/// given pysnc [`PYSNC_VERSION`] by pip unless it has exactly that version; prints the version.
fn pysnc_python(target: &Path) -> anyhow::Result<PathBuf> {
    let venv = target.join("bench-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        crate::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    let version = || {
        Command::new(&python)
            .args([
                "-c",
                "import importlib.metadata as m; print(m.version('pysnc'))",
            ])
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    if version().as_deref() != Some(PYSNC_VERSION) {
        eprintln!(
            "bench: installing pysnc {PYSNC_VERSION} into {}",
            venv.display()
        );
        crate::run(Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            &format!("pysnc=={PYSNC_VERSION}"),
        ]))?;
    }
    let installed = version().context("pysnc is not importable after pip install")?;
    anyhow::ensure!(
        installed == PYSNC_VERSION,
        "bench-venv has pysnc {installed}, not {PYSNC_VERSION}"
    );
    eprintln!("bench: pysnc {installed} ({})", python.display());
    Ok(python)
}

//! The table of medians and ratios, printed and written to `docs/benchmarks.md` with the machine description.

use std::fmt::Write as _;

/// One line of the table.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub(crate) comparison: String,
    pub(crate) ours: String,
    pub(crate) other: String,
    pub(crate) ratio: f64,
    /// `(">=", 1.5)`: the ratio must be at least 1.5; `("<=", 1.2)`: at most; `("<", 1.0)`: below;
    /// `None`: reported only.
    pub(crate) target: Option<(&'static str, f64)>,
}

impl Line {
    pub(crate) fn met(&self) -> Option<bool> {
        self.target.map(|(direction, bound)| match direction {
            ">=" => self.ratio >= bound,
            "<" => self.ratio < bound,
            _ => self.ratio <= bound,
        })
    }

    fn target_text(&self) -> String {
        self.target.map_or_else(
            || "reported".to_owned(),
            |(direction, bound)| format!("{direction} {bound}×"),
        )
    }

    fn verdict(&self) -> &'static str {
        match self.met() {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "",
        }
    }
}

/// The Markdown table.
pub(crate) fn table(lines: &[Line]) -> String {
    let mut text = String::from(
        "| comparison | ours (median) | other (median) | ratio | target | verdict |\n|---|---|---|---|---|---|\n",
    );
    for line in lines {
        let _ = writeln!(
            text,
            "| {} | {} | {} | {:.2}× | {} | {} |",
            line.comparison,
            line.ours,
            line.other,
            line.ratio,
            line.target_text(),
            line.verdict()
        );
    }
    text
}

/// The machine the figures were measured on.
pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|line| {
                line.strip_prefix("model name")
                    .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .next()
                .map(|line| line.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or_else(
            || "unknown".to_owned(),
            |kb| format!("{:.1} GiB", kb as f64 / 1_048_576.0),
        );
    let version = |program: &str, argument: &str| {
        std::process::Command::new(program)
            .arg(argument)
            .output()
            .ok()
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .unwrap_or_else(|| "absent".to_owned())
    };
    format!(
        "- CPU: {cpu}, {cores} cores visible (shared with other builds while measuring)\n\
         - memory: {memory}\n\
         - kernel: {}\n\
         - rustc: {}\n\
         - node: {}\n\
         - python: {}",
        version("uname", "-r"),
        version("rustc", "--version"),
        version("node", "--version"),
        version("python3", "--version"),
    )
}

/// The pysnc version installed for `python`, as pip recorded it.
pub(crate) fn pysnc_version(python: &std::path::Path) -> String {
    std::process::Command::new(python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('pysnc'))",
        ])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

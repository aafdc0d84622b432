//! House rules checked by `cargo test` (rust-analyzer style tidy): file headers, banned test attributes, layering.
//!
//! Every failure names the rule and says why it exists, with a pointer to `docs/architecture.md`.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::Context;

/// The normal (non-dev, non-build) dependencies each crate may have: the layering of
/// `docs/architecture.md`, kept in this one place so a layer cannot grow a forbidden edge.
///
/// Adding an external crate to a line is an ordinary change; adding an internal crate to a line
/// changes the architecture and needs `docs/architecture.md` updated in the same commit.
// A data table: one crate per entry reads better than one dependency per line.
#[rustfmt::skip]
const ALLOWED_DEPENDENCIES: &[(&str, &[&str])] = &[
    (
        "servicenow-oauth",
        &[
            "base64", "form_urlencoded", "http", "percent-encoding", "rand_core", "serde",
            "serde_json", "sha2", "subtle", "thiserror", "url", "zeroize",
        ],
    ),
    (
        "servicenow-auth",
        &[
            "servicenow-oauth", "http", "rand_core", "rand_chacha", "serde", "serde_json",
            "thiserror", "zeroize", "base64", "subtle",
        ],
    ),
    (
        "servicenow-http",
        &[
            "servicenow-oauth", "async-trait", "bytes", "http", "http-body", "http-body-util",
            "hyper", "hyper-util", "hyper-rustls", "reqwest", "rustls", "thiserror", "tokio", "tracing", "futures-util",
            "url", "pin-project-lite", "tower-service", "webpki-roots", "rustls-native-certs",
        ],
    ),
    (
        "servicenow-store",
        &[
            "servicenow-oauth", "async-trait", "chacha20poly1305", "aes-gcm", "rand", "rand_core",
            "getrandom", "serde", "serde_json", "thiserror", "tokio", "zeroize", "base64",
            "rusqlite", "tokio-postgres", "deadpool-postgres", "redis", "fs4", "fd-lock",
            "tracing", "hex", "sha2", "uuid", "futures", "futures-util", "tempfile",
        ],
    ),
    (
        "servicenow-table",
        &[
            "servicenow-oauth", "servicenow-http", "httpdate", "rand_chacha", "async-trait",
            "bytes", "futures", "futures-core", "futures-util",
            "http", "serde", "serde_json", "thiserror", "tokio", "tracing", "url",
            "percent-encoding", "form_urlencoded", "time", "rand", "pin-project-lite",
            "async-stream",
        ],
    ),
    (
        "servicenow",
        &[
            "servicenow-oauth", "servicenow-auth", "servicenow-http", "servicenow-store",
            "servicenow-table", "arc-swap", "async-trait", "bytes", "futures", "futures-util",
            "http", "tokio", "tracing", "thiserror", "rand", "rand_core", "rand_chacha",
            "getrandom", "serde", "serde_json", "directories", "zeroize", "sha2", "rustix",
        ],
    ),
    (
        "servicenow-emulator",
        &[
            "tokio", "hyper", "hyper-util", "http", "http-body-util", "bytes", "serde",
            "serde_json", "rand", "rand_chacha", "rand_core", "sha2", "base64", "url",
            "form_urlencoded", "percent-encoding", "thiserror", "tracing", "tracing-subscriber",
            "clap", "futures", "futures-util", "time", "httpdate", "anyhow", "parking_lot",
            "subtle",
        ],
    ),
    (
        "servicenow-testkit",
        &[
            "servicenow-oauth", "servicenow-auth", "http", "serde", "serde_json", "rand",
            "rand_core", "rand_chacha", "proptest", "base64", "form_urlencoded",
        ],
    ),
    (
        "servicenow-cli",
        &[
            "servicenow", "servicenow-oauth", "servicenow-auth", "servicenow-http",
            "servicenow-store", "servicenow-table", "servicenow-emulator", "anyhow", "clap",
            "tokio", "serde", "serde_json", "csv", "indicatif", "directories", "rpassword",
            "webbrowser", "toml", "tracing", "tracing-subscriber", "futures", "futures-util",
            "http", "bytes", "url", "form_urlencoded", "reqwest", "hyper", "hyper-util",
            "http-body-util", "tempfile", "time", "is-terminal", "thiserror",
        ],
    ),
    (
        "xtask",
        &[
            "anyhow", "serde_json",
        ],
    ),
    (
        "servicenow-reliability",
        &[
            "servicenow", "servicenow-auth", "servicenow-emulator", "servicenow-http",
            "servicenow-oauth", "servicenow-store", "servicenow-table", "anyhow", "async-trait",
            "bytes", "futures", "getrandom", "hex", "http", "rand", "rand_chacha", "serde_json",
            "sha2", "tokio",
        ],
    ),
    (
        "servicenow-bench",
        &[
            "servicenow", "servicenow-auth", "servicenow-emulator", "servicenow-http",
            "servicenow-oauth", "servicenow-store", "servicenow-table", "anyhow", "async-trait",
            "bytes", "futures", "http", "reqwest", "serde", "serde_json", "tokio", "stats_alloc",
        ],
    ),
    (
        "web-login",
        &[
            "servicenow", "servicenow-emulator", "axum", "tokio", "serde", "serde_json", "anyhow",
            "tracing", "tracing-subscriber", "rand", "getrandom", "base64", "cookie", "time",
            "tower", "tower-http", "http", "clap", "html-escape",
        ],
    ),
];

/// Crates whose sources must never read a clock, an OS RNG, or touch an async runtime or HTTP
/// client: the sans-IO layers (`docs/architecture.md`, "Architecture Invariant").
const SANS_IO_CRATES: &[&str] = &["servicenow-oauth", "servicenow-auth"];

const SANS_IO_BANNED: &[(&str, &str)] = &[
    (
        "Instant::now",
        "time is an input: take `now` as an argument",
    ),
    (
        "SystemTime::now",
        "time is an input: take `now` as an argument",
    ),
    (
        "OsRng",
        "randomness comes from a caller-supplied RNG or bytes",
    ),
    (
        "thread_rng",
        "randomness comes from a caller-supplied RNG or bytes",
    ),
    ("tokio", "the sans-IO layers have no async runtime"),
    ("reqwest", "the sans-IO layers never do HTTP themselves"),
    ("hyper", "the sans-IO layers never do HTTP themselves"),
];

/// Workspace crates the emulator must not depend on (in any kind of dependency), so that a
/// misunderstanding in the client cannot hide in a shared parser.
const EMULATOR_FORBIDDEN: &[&str] = &[
    "servicenow-oauth",
    "servicenow-auth",
    "servicenow-http",
    "servicenow-store",
    "servicenow-table",
    "servicenow",
    "servicenow-cli",
    "servicenow-testkit",
];

/// Runs every check and returns the problems found, each a self-explaining message.
pub(crate) fn check(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let sources = rust_sources(root)?;
    for path in &sources {
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let shown = path
            .strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string();
        check_header(&shown, &text, &mut problems);
        check_test_attributes(&shown, &text, &mut problems);
        check_trailing_whitespace(&shown, &text, &mut problems);
        check_sans_io(&shown, &text, &mut problems);
    }
    check_dependencies(root, &mut problems)?;
    Ok(problems)
}

fn check_header(shown: &str, text: &str, problems: &mut Vec<String>) {
    let first = text
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("");
    if !first.starts_with("//!") {
        problems.push(format!(
            "rule `file-header`: {shown} does not start with a `//!` line.\n  \
             why: every file says what it is for in its first line, so a reader never opens a file blind."
        ));
    }
}

fn check_test_attributes(shown: &str, text: &str, problems: &mut Vec<String>) {
    // The needles are split so that this file does not trip its own rule.
    let banned = [
        (
            concat!("#[", "ignore"),
            "assert the current (wrong) behaviour and add a FIXME instead of ignoring a test",
        ),
        (
            concat!("#[", "should_panic"),
            "assert on `Err`/`None`; a panic is never the expected outcome of input",
        ),
    ];
    for (needle, why) in banned {
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with(needle) {
                problems.push(format!(
                    "rule `test-attributes`: {shown}:{} uses `{needle}]`.\n  why: {why}.",
                    number + 1
                ));
            }
        }
    }
}

fn check_trailing_whitespace(shown: &str, text: &str, problems: &mut Vec<String>) {
    for (number, line) in text.lines().enumerate() {
        if line.ends_with(' ') || line.ends_with('\t') {
            problems.push(format!(
                "rule `trailing-whitespace`: {shown}:{} ends with whitespace.\n  why: it makes diffs noisy.",
                number + 1
            ));
        }
    }
}

fn check_sans_io(shown: &str, text: &str, problems: &mut Vec<String>) {
    let Some(krate) = SANS_IO_CRATES
        .iter()
        .find(|krate| shown.starts_with(&format!("crates/{krate}/src/")))
    else {
        return;
    };
    for (number, line) in text.lines().enumerate() {
        for (needle, why) in SANS_IO_BANNED {
            if line.contains(needle) {
                problems.push(format!(
                    "rule `sans-io`: {shown}:{} mentions `{needle}` in {krate}.\n  \
                     why: {why} (docs/architecture.md, Architecture Invariant of {krate}).",
                    number + 1
                ));
            }
        }
    }
}

fn check_dependencies(root: &Path, problems: &mut Vec<String>) -> anyhow::Result<()> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    anyhow::ensure!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED_DEPENDENCIES.iter().copied().collect();
    let packages = metadata["packages"]
        .as_array()
        .context("metadata has no packages")?;
    for package in packages {
        let name = package["name"].as_str().unwrap_or_default();
        let dependencies = package["dependencies"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if name == "servicenow-emulator" {
            for dependency in &dependencies {
                let dependency_name = dependency["name"].as_str().unwrap_or_default();
                if EMULATOR_FORBIDDEN.contains(&dependency_name) {
                    problems.push(format!(
                        "rule `emulator-independent`: servicenow-emulator depends on {dependency_name}.\n  \
                         why: the emulator shares no code with the client crates, so a misunderstanding \
                         in the client cannot hide in a shared parser (docs/architecture.md)."
                    ));
                }
            }
        }
        let Some(list) = allowed.get(name) else {
            problems.push(format!(
                "rule `dependency-allow-list`: crate {name} has no line in xtask/src/tidy.rs ALLOWED_DEPENDENCIES.\n  \
                 why: every crate's place in the layering is written down in one place."
            ));
            continue;
        };
        for dependency in &dependencies {
            let is_normal = dependency["kind"].is_null();
            let dependency_name = dependency["name"].as_str().unwrap_or_default();
            if is_normal && !list.contains(&dependency_name) {
                problems.push(format!(
                    "rule `dependency-allow-list`: {name} depends on {dependency_name}, which its line in \
                     xtask/src/tidy.rs does not allow.\n  why: layers point downward only \
                     (docs/architecture.md); extend the list only with the architecture doc in the same commit."
                ));
            }
        }
    }
    Ok(())
}

fn rust_sources(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for top in ["crates", "xtask", "examples"] {
        collect(&root.join(top), &mut files)?;
    }
    files.sort();
    Ok(files)
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default();
        if name == "target" || name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect(&path, files)?;
        } else if name.ends_with(".rs") {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy() {
        let problems = check(&crate::project_root()).unwrap();
        assert!(
            problems.is_empty(),
            "tidy found problems:\n\n{}",
            problems.join("\n\n")
        );
    }

    #[test]
    fn header_rule_catches_a_missing_doc_line() {
        let mut problems = Vec::new();
        check_header("x.rs", "use std::fs;\n", &mut problems);
        assert_eq!(problems.len(), 1);
        check_header("y.rs", "//! What y is for.\n", &mut problems);
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn sans_io_rule_catches_a_clock_read_in_the_machine() {
        let mut problems = Vec::new();
        check_sans_io(
            "crates/servicenow-auth/src/machine.rs",
            "let t = SystemTime::now();",
            &mut problems,
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        check_sans_io(
            "crates/servicenow-http/src/lib.rs",
            "let t = SystemTime::now();",
            &mut problems,
        );
        assert_eq!(problems.len(), 1, "other crates may read the clock");
    }

    #[test]
    fn test_attribute_rule_catches_ignored_tests() {
        let mut problems = Vec::new();
        let source = format!("{}]\nfn slow() {{}}", concat!("#[", "ignore"));
        check_test_attributes("t.rs", &source, &mut problems);
        assert_eq!(problems.len(), 1);
    }
}

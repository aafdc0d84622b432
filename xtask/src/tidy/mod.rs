//! House rules checked by `cargo test` (rust-analyzer style tidy): file headers, banned test attributes, trailing whitespace, clock and RNG reads, the sans-IO layers, and the layering.
//!
//! Every failure names the rule and says why it exists, with a pointer to `docs/architecture.md`.
//! Every rule has a test below (or in its module) that plants a violation and watches it fire.

mod dependencies;
mod tokens;

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::Context;

use self::tokens::Lexed;

/// Crates allowed to read a clock or the operating system's RNG in the code they ship, and why
/// (docs/architecture.md, "Time" and "Randomness"). Every other crate is checked; tests,
/// benches and `#[cfg(test)]` items of any crate may read them.
pub(crate) const CLOCK_AND_RNG_ALLOWED: &[(&str, &str)] = &[
    ("servicenow", "the facade's `Clock` (`SystemClock`)"),
    (
        "servicenow-store",
        "lease expiries, sealing nonces and fresh sealing keys",
    ),
    (
        "servicenow-http",
        "request timeouts, and the `machine` helpers' OS seed and wall clock for a driver",
    ),
    (
        "servicenow-emulator",
        "a server: its clock, tokens, codes and session ids",
    ),
    (
        "servicenow-cli",
        "a binary: the facade's clock and seed, progress and timing output",
    ),
    ("web-login", "a binary: session ids and cookies"),
    ("servicenow-bench", "measuring is reading the clock"),
    (
        "servicenow-reliability",
        "test processes that kill and time each other",
    ),
    ("servicenow-testkit", "test support"),
    (
        "servicenow-test-services",
        "test support: the age of old skip records",
    ),
    ("xtask", "maintainer tasks"),
];

/// Runs every check and returns the problems found, each a self-explaining message.
pub(crate) fn check(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    for path in rust_sources(root)? {
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let shown = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        check_file(&shown, &text, &mut problems);
    }
    let metadata = dependencies::metadata(root)?;
    dependencies::check(&metadata, dependencies::ALLOWED_DEPENDENCIES, &mut problems);
    Ok(problems)
}

/// Every rule that reads one file, `shown` being its path from the workspace root.
fn check_file(shown: &str, text: &str, problems: &mut Vec<String>) {
    check_header(shown, text, problems);
    check_trailing_whitespace(shown, text, problems);
    let lexed = match Lexed::new(text) {
        Ok(lexed) => lexed,
        Err(error) => {
            problems.push(format!(
                "rule `rust-tokens`: {shown} is not valid Rust tokens ({error}).\n  \
                 why: the attribute, clock and sans-IO rules read tokens."
            ));
            return;
        }
    };
    tokens::check_test_attributes(shown, &lexed, problems);
    let Some(place) = Place::of(shown) else {
        return;
    };
    if place.shipped
        && !CLOCK_AND_RNG_ALLOWED
            .iter()
            .any(|(krate, _)| *krate == place.krate)
    {
        tokens::check_clock_and_rng(shown, place.krate, &lexed.without_test_items(), problems);
    }
    if place.shipped && dependencies::SANS_IO_CRATES.contains(&place.krate) {
        tokens::check_sans_io(shown, place.krate, &lexed, problems);
    }
}

/// Which crate a file belongs to, and whether it is code the crate ships (its `src/` and build
/// script) rather than its tests, benches or examples.
#[derive(Debug, PartialEq, Eq)]
struct Place<'a> {
    krate: &'a str,
    shipped: bool,
}

impl<'a> Place<'a> {
    fn of(shown: &'a str) -> Option<Self> {
        let mut parts = shown.split(['/', '\\']);
        let krate = match parts.next()? {
            "crates" | "examples" => parts.next()?,
            "xtask" => "xtask",
            _ => return None,
        };
        let shipped = matches!(parts.next()?, "src" | "build.rs");
        Some(Self { krate, shipped })
    }
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

    fn problems_of(shown: &str, text: &str) -> Vec<String> {
        let mut problems = Vec::new();
        check_file(shown, text, &mut problems);
        problems
    }

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
    fn the_header_rule_fires_on_a_missing_doc_line() {
        let found = problems_of("crates/x/src/lib.rs", "use std::fs;\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("rule `file-header`"), "{found:?}");
        assert_eq!(
            problems_of("crates/x/src/lib.rs", "\n//! What x is for.\n"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn the_whitespace_rule_fires_on_a_trailing_space_or_tab() {
        let found = problems_of(
            "crates/x/src/lib.rs",
            "//! X.\nfn f() {} \nfn g() {}\t\nfn h() {}\n",
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].contains("crates/x/src/lib.rs:2 ends with whitespace"),
            "{found:?}"
        );
        assert!(
            found[1].contains("crates/x/src/lib.rs:3 ends with whitespace"),
            "{found:?}"
        );
    }

    #[test]
    fn the_attribute_rule_runs_on_every_file() {
        let source = format!("//! X.\n#[test]\n#[{}]\nfn slow() {{}}\n", "ignore");
        let found = problems_of("examples/web-login/tests/browser.rs", &source);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("rule `test-attributes`"), "{found:?}");
    }

    #[test]
    fn the_clock_rule_checks_shipped_code_of_crates_not_allowed_to_read_clocks() {
        let source = "//! X.\nfn f() { let _ = std::time::SystemTime::now(); }\n";
        for checked in [
            "crates/servicenow-table/src/client.rs",
            "crates/servicenow-oauth/src/lib.rs",
            "crates/servicenow-auth/src/machine.rs",
            "crates/servicenow-auth/build.rs",
            "crates/servicenow-new/src/lib.rs",
        ] {
            let found = problems_of(checked, source);
            assert_eq!(found.len(), 1, "{checked}: {found:?}");
            assert!(found[0].starts_with("rule `clock-and-rng`"), "{found:?}");
        }
        for free in [
            "crates/servicenow/src/clock.rs",
            "crates/servicenow-store/src/lease.rs",
            "crates/servicenow-table/tests/retry.rs",
            "crates/servicenow-auth/benches/machine.rs",
            "examples/web-login/src/sessions.rs",
            "xtask/src/bench.rs",
        ] {
            assert_eq!(problems_of(free, source), Vec::<String>::new(), "{free}");
        }
    }

    #[test]
    fn the_sans_io_rule_checks_the_sources_of_the_sans_io_crates_only() {
        let source = "//! X.\nuse tokio::sync::Mutex;\n";
        let found = problems_of("crates/servicenow-oauth/src/lib.rs", source);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("rule `sans-io`"), "{found:?}");
        assert_eq!(
            problems_of("crates/servicenow-table/src/lib.rs", source),
            Vec::<String>::new()
        );
        assert_eq!(
            problems_of("crates/servicenow-auth/tests/story.rs", source),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_file_that_is_not_rust_tokens_is_a_problem() {
        let found = problems_of("crates/x/src/lib.rs", "//! X.\nfn f() {\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("rule `rust-tokens`"), "{found:?}");
    }

    #[test]
    fn every_allowed_clock_reader_is_a_crate_with_a_dependency_line() {
        for (krate, _) in CLOCK_AND_RNG_ALLOWED {
            assert!(
                dependencies::ALLOWED_DEPENDENCIES
                    .iter()
                    .any(|(line, _)| line == krate),
                "{krate} is allowed to read clocks but is no crate of the allow-list"
            );
        }
    }
}

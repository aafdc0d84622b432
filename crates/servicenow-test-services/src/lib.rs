//! The rule for tests that need a real service (PostgreSQL, Redis, chromedriver): they run when their `SN_TEST_*` variable is set, fail under `SN_REQUIRE_SERVICES=1` when it is not, and otherwise skip in a way the end of `cargo test` reports.
//!
//! A skipped test still counts as passed for the test harness, which also hides what a passing
//! test prints. So every service-backed test records what happened to it ([`Outcome::Ran`] or
//! [`Outcome::Skipped`] with the reason) in a file under the target directory, in a directory
//! of its own per `cargo test` invocation; the last test binary of the workspace
//! (`xtask/tests/service_tests.rs`, which needs no harness and so prints straight to the
//! terminal) reads them with [`records_of_this_run`] and prints [`report`].
#![warn(missing_docs)]

mod record;

use std::{fmt::Display, io::Write as _};

pub use record::{Outcome, Record, forget_this_run, records_of_this_run};

/// The PostgreSQL URL of the tests, for example `postgres://postgres@127.0.0.1:5432/test`.
pub const POSTGRES_VARIABLE: &str = "SN_TEST_POSTGRES_URL";
/// The Redis URL of the tests, for example `redis://127.0.0.1:6379`.
pub const REDIS_VARIABLE: &str = "SN_TEST_REDIS_URL";
/// The path of chromedriver, for the browser test of `examples/web-login`.
pub const CHROMEDRIVER_VARIABLE: &str = "SN_TEST_CHROMEDRIVER";
/// The path of `gnome-keyring-daemon` (a Secret Service implementation), for the OS keyring
/// tests; each test starts it on a private D-Bus session bus.
pub const SECRET_SERVICE_VARIABLE: &str = "SN_TEST_SECRET_SERVICE";
/// The Python 3 interpreter of the peer-client test (PySNC against the emulator); `python3` on
/// `PATH` when unset. Unlike the services above it is looked for without being asked for, since
/// most machines have it.
pub const PYTHON_VARIABLE: &str = "SN_TEST_PYTHON";
/// Set to `1` (as `.ci/run` does), a missing or unreachable service fails its test.
pub const REQUIRE_VARIABLE: &str = "SN_REQUIRE_SERVICES";

/// Whether `SN_REQUIRE_SERVICES=1`: a missing or unreachable service is a failure, not a skip.
pub fn services_required() -> bool {
    std::env::var(REQUIRE_VARIABLE).is_ok_and(|value| value == "1")
}

/// The value of `variable` (a URL or a path) for `test`, recording that the test ran; or
/// `None` after recording that it was skipped because the variable is not set.
///
/// # Panics
///
/// When the variable is missing and `SN_REQUIRE_SERVICES=1` (CI requires every service), or
/// when the record cannot be written (a skip nobody would see must not pass).
pub fn service_url(variable: &str, test: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => {
            record::write(test, Outcome::Ran, &format!("with {variable}"));
            Some(value)
        }
        _ => {
            assert!(
                !services_required(),
                "{test}: {variable} is not set and {REQUIRE_VARIABLE}=1 requires it"
            );
            skip(test, &format!("{variable} is not set"));
            None
        }
    }
}

/// Records that `test` found its configured service (`what`) unreachable and is skipped.
///
/// # Panics
///
/// Under `SN_REQUIRE_SERVICES=1`, where an unreachable service is a failure.
pub fn unreachable(test: &str, what: &str, error: &dyn Display) {
    assert!(
        !services_required(),
        "{test}: {what} is unreachable: {error}"
    );
    skip(test, &format!("{what} is unreachable: {error}"));
}

/// Records that `test` found what it needs (`detail` says what) and ran, for a test whose
/// service is a program found on the machine rather than a variable.
///
/// # Panics
///
/// When the record cannot be written.
pub fn ran(test: &str, detail: &str) {
    record::write(test, Outcome::Ran, detail);
}

/// Records that `test` is skipped because `what` (a program) is not installed.
///
/// # Panics
///
/// Under `SN_REQUIRE_SERVICES=1`, where a missing program is a failure.
pub fn missing(test: &str, what: &str) {
    assert!(
        !services_required(),
        "{test}: {what} is not installed and {REQUIRE_VARIABLE}=1 requires it"
    );
    skip(test, &format!("{what} is not installed"));
}

fn skip(test: &str, reason: &str) {
    record::write(test, Outcome::Skipped, reason);
    // libtest captures `eprintln!` and hides it for a passing test, but not a write to the
    // stderr handle itself: this line shows next to the test's own line as it runs.
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {reason}");
}

/// The text the last test binary prints: how many service-backed tests ran, and every one
/// that was skipped with its reason.
pub fn report(records: &[Record]) -> String {
    if records.is_empty() {
        return "service-backed tests: none was part of this run.\n".to_owned();
    }
    let skipped: Vec<&Record> = records
        .iter()
        .filter(|record| record.outcome == Outcome::Skipped)
        .collect();
    let ran = records.len() - skipped.len();
    if skipped.is_empty() {
        return format!("service-backed tests: all {ran} ran, none was skipped.\n");
    }
    let rule = "=".repeat(78);
    let mut text = format!(
        "\n{rule}\nservice-backed tests: {} SKIPPED, {ran} ran.\n\
         These tests are counted as passed above, but did not run:\n",
        skipped.len()
    );
    for record in skipped {
        text.push_str(&format!(
            "  SKIPPED {} ({}) {}: {}\n",
            record.package, record.binary, record.test, record.detail
        ));
    }
    text.push_str(&format!(
        "Set {POSTGRES_VARIABLE}, {REDIS_VARIABLE}, {CHROMEDRIVER_VARIABLE} and \
         {SECRET_SERVICE_VARIABLE} (as .ci/run does) to run them, and install python3 with venv \
         (or set {PYTHON_VARIABLE}) and reach PyPI for the PySNC test; {REQUIRE_VARIABLE}=1 \
         makes a missing service fail.\n{rule}\n"
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(outcome: Outcome, test: &str) -> Record {
        Record {
            outcome,
            package: "servicenow-store".to_owned(),
            binary: "postgres".to_owned(),
            test: test.to_owned(),
            detail: "SN_TEST_POSTGRES_URL is not set".to_owned(),
        }
    }

    #[test]
    fn the_report_names_every_skipped_test_and_counts_the_ones_that_ran() {
        let text = report(&[
            record(Outcome::Skipped, "conformance"),
            record(Outcome::Ran, "corrupted_row"),
            record(Outcome::Skipped, "lost_mid_operation"),
        ]);
        assert!(text.contains("2 SKIPPED, 1 ran"), "{text}");
        assert!(
            text.contains(
                "SKIPPED servicenow-store (postgres) conformance: SN_TEST_POSTGRES_URL is not set"
            ),
            "{text}"
        );
        assert!(text.contains("lost_mid_operation"), "{text}");
        assert!(
            !text.contains("corrupted_row"),
            "a test that ran is no skip: {text}"
        );
    }

    #[test]
    fn a_run_without_skips_says_so_in_one_line() {
        let text = report(&[record(Outcome::Ran, "conformance")]);
        assert_eq!(text, "service-backed tests: all 1 ran, none was skipped.\n");
    }
}

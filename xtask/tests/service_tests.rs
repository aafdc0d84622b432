//! The last test binary of `cargo test --workspace`: lists the service-backed tests of this run that were skipped (and how many ran), where a person sees it.
//!
//! libtest hides what a passing test prints, and a skipped service-backed test passes; so each
//! one records its outcome (`servicenow-test-services`), and this binary, which has no harness
//! and so prints straight to the terminal, reports them. Under `SN_REQUIRE_SERVICES=1` a
//! recorded skip fails the run.
#![allow(clippy::print_stdout)] // Printing the report is this binary's job.

use std::process::ExitCode;

fn main() -> ExitCode {
    // `cargo test -- --list` (and tools that enumerate tests) expect a list, not a report.
    if std::env::args().any(|argument| argument == "--list") {
        return ExitCode::SUCCESS;
    }
    let records = match servicenow_test_services::records_of_this_run() {
        Ok(records) => records,
        Err(error) => {
            eprintln!("service_tests: reading the records of this run failed: {error}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", servicenow_test_services::report(&records));
    if let Err(error) = servicenow_test_services::forget_this_run() {
        eprintln!("service_tests: deleting the records of this run failed: {error}");
        return ExitCode::FAILURE;
    }
    let skipped = records
        .iter()
        .filter(|record| record.outcome == servicenow_test_services::Outcome::Skipped)
        .count();
    if skipped > 0 && servicenow_test_services::services_required() {
        eprintln!(
            "service_tests: {skipped} service-backed test(s) skipped although \
             SN_REQUIRE_SERVICES=1 requires every service"
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

//! The SN_TEST_* / SN_REQUIRE_SERVICES rules: a test needing PostgreSQL or Redis runs when its variable is set, is skipped (said on stderr) when not, and fails when services are required.

/// The PostgreSQL URL for tests, `SN_TEST_POSTGRES_URL`.
pub const POSTGRES_VARIABLE: &str = "SN_TEST_POSTGRES_URL";
/// The Redis URL for tests, `SN_TEST_REDIS_URL`.
pub const REDIS_VARIABLE: &str = "SN_TEST_REDIS_URL";

/// The URL in `variable`, or `None` after saying on stderr why the test is skipped.
///
/// # Panics
///
/// When the variable is missing and `SN_REQUIRE_SERVICES=1`: CI requires every service.
pub fn service_url(variable: &str, test: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                !services_required(),
                "{test}: {variable} is not set and SN_REQUIRE_SERVICES=1 requires it"
            );
            eprintln!(
                "{test}: skipped, {variable} is not set (set it to run against the real service)"
            );
            None
        }
    }
}

/// Whether `SN_REQUIRE_SERVICES=1`: a missing or unreachable service is a failure, not a skip.
pub fn services_required() -> bool {
    std::env::var("SN_REQUIRE_SERVICES").is_ok_and(|value| value == "1")
}

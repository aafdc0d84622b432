//! The SN_TEST_* / SN_REQUIRE_SERVICES rules: a test needing PostgreSQL or Redis runs when its variable is set, is skipped (said on stderr) when not, and fails when services are required; unique names and clean-up for the schema or key prefix a test owns.

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

/// Reports a service that is configured but unreachable.
///
/// # Panics
///
/// When `SN_REQUIRE_SERVICES=1`: a configured service that cannot be reached is a failure.
/// Otherwise the skip is said on stderr.
pub fn unreachable(test: &str, what: &str, error: &dyn std::fmt::Display) {
    assert!(
        !services_required(),
        "{test}: {what} is unreachable: {error}"
    );
    eprintln!("{test}: skipped, {what} is unreachable: {error}");
}

/// A name unique to this run, for a schema or key prefix: `prefix_<16 hex digits>`.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{:016x}", rand::random::<u64>())
}

/// Runs `test` on its own task, then `cleanup` whether or not it panicked, then re-raises the
/// panic, so that a failing test still drops its schema or keys.
pub async fn with_cleanup<F, C>(test: F, cleanup: C)
where
    F: Future<Output = ()> + Send + 'static,
    C: Future<Output = ()>,
{
    let outcome = tokio::spawn(test).await;
    cleanup.await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

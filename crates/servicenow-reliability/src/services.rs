//! The service rule for this crate's tests, and unique names and clean-up for the schema or key prefix a test owns.
//!
//! The rule itself (run when `SN_TEST_*` is set, fail under `SN_REQUIRE_SERVICES=1`, otherwise
//! a skip that the end of `cargo test` reports) is `servicenow-test-services`, shared by every
//! crate with a service-backed test.

pub use servicenow_test_services::{
    POSTGRES_VARIABLE, REDIS_VARIABLE, service_url, services_required, unreachable,
};

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

//! The conformance suite against the in-memory backend.

use std::sync::Arc;

use servicenow_store::{MemoryBackend, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_backend_passes_the_conformance_suite() {
    conformance::run_all(Arc::new(MemoryBackend::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_backend_rotates_keys() {
    conformance::rotation::run_on_empty(Arc::new(MemoryBackend::new())).await;
}

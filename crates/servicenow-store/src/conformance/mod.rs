//! The conformance suite every backend passes: call [`run_all`] with a backend in a test.
//!
//! Enabled by the `__testing` feature: test support for this workspace and for third-party
//! backends, outside the crate's semver promise (the leading underscores say so; it may change
//! in any release). The cases use credential keys unique to the run, so one backend (one
//! schema, one key prefix) can hold several runs at once.

pub mod leases;
pub mod rotation;
pub mod values;

use std::sync::Arc;

use async_trait::async_trait;

use crate::{Backend, CredentialKey, Keyring, SealedStore, SealingKey, StoreError};

/// Read access to the raw storage medium, for the at-rest encryption check: the file bytes, the
/// database rows, the Redis values, read directly and not through [`Backend`].
#[async_trait]
pub trait RawPeek: Send + Sync {
    /// Every stored byte string (records, pending logins and leases), as held at rest.
    async fn raw_bytes(&self) -> Result<Vec<Vec<u8>>, StoreError>;
}

#[async_trait]
impl RawPeek for crate::MemoryBackend {
    async fn raw_bytes(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(Self::raw_bytes(self))
    }
}

/// What the cases run against: one backend, the raw view of it, and this run's keys.
#[derive(Debug, Clone)]
pub struct Harness {
    backend: Arc<dyn Backend>,
    peek: Arc<dyn RawPeekDebug>,
    keyring: Keyring,
    run: String,
}

/// [`RawPeek`] with `Debug`, so the harness can derive it.
trait RawPeekDebug: RawPeek + std::fmt::Debug {}
impl<T: RawPeek + std::fmt::Debug> RawPeekDebug for T {}

impl Harness {
    /// A harness over `backend` with a fresh random key and a fresh run id.
    pub fn new<B: Backend + RawPeek + 'static>(backend: Arc<B>) -> Self {
        let mut run = [0u8; 8];
        getrandom::fill(&mut run).expect("the operating system's random generator works");
        Self {
            backend: backend.clone(),
            peek: backend,
            keyring: Keyring::new(
                SealingKey::generate(1).expect("the operating system's random generator works"),
            ),
            run: hex::encode(run),
        }
    }

    /// A store over the backend with this run's keyring.
    pub fn store(&self) -> SealedStore {
        self.store_with(self.keyring.clone())
    }

    /// A store over the same backend with another keyring.
    pub fn store_with(&self, keyring: Keyring) -> SealedStore {
        SealedStore::from_shared(keyring, self.backend.clone())
    }

    /// The backend, to tamper with records.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// A credential key unique to this run.
    pub fn key(&self, subject: &str) -> CredentialKey {
        CredentialKey::new(
            "https://conformance.invalid",
            format!("client-{}", self.run),
            subject,
        )
        .expect("conformance keys are valid")
    }

    /// Everything stored at rest.
    pub async fn raw_bytes(&self) -> Vec<Vec<u8>> {
        self.peek
            .raw_bytes()
            .await
            .expect("the raw storage can be read")
    }

    /// A marker unique to this run, to search the raw storage for.
    pub fn marker(&self, what: &str) -> String {
        format!("{what}-PLAINTEXT-{}", self.run)
    }
}

/// Runs every case against `backend`, printing each name; panics with the failing case's
/// message. The backend should be fresh or shared only with other conformance runs.
pub async fn run_all<B: Backend + RawPeek + 'static>(backend: Arc<B>) {
    let harness = Harness::new(backend);
    macro_rules! run {
        ($($case:path),* $(,)?) => {$(
            eprintln!("conformance: {}", stringify!($case));
            $case(&harness).await;
        )*};
    }
    run!(
        values::round_trip,
        values::compare_and_swap_conflicts,
        values::delete,
        values::concurrent_writers_lose_no_update,
        values::raw_storage_holds_no_plaintext,
        values::wrong_key_is_an_error_and_deletes_nothing,
        values::key_rotation,
        values::tampered_records_are_typed_errors_and_stay_stored,
        leases::lease_is_exclusive,
        leases::lease_expires_and_the_old_holder_cannot_release,
        leases::acquire_lease_waits_then_gives_up,
        leases::pending_login_is_taken_once,
        leases::pending_login_expires,
    );
}

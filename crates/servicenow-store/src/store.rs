//! The `TokenStore` trait, refresh leases, and `SealedStore`: the sealing layer over any backend.

use std::{
    fmt,
    sync::{Arc, PoisonError, RwLock},
    time::{Duration, Instant},
};

use async_trait::async_trait;

use crate::{
    Backend, CredentialKey, DeleteOutcome, Keyring, PendingId, RawRecord, SaveOutcome, SecretBytes,
    StoreError, Version, Versioned,
    seal::{self, SealContext},
};

/// Where credentials live: versioned values with compare-and-swap saves, a refresh lease per
/// credential, and single-use pending logins.
///
/// Object-safe: `Arc<dyn TokenStore>` works. Every implementation in this crate is a
/// [`SealedStore`], so values are encrypted before any backend sees them.
#[async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// The value stored for `key` and its version, or `None`.
    async fn load(&self, key: &CredentialKey) -> Result<Option<Versioned>, StoreError>;

    /// Compare-and-swap: stores `value` if the current version is `expected` (`None`: there must
    /// be no value yet) and returns the new version.
    ///
    /// A stale writer gets [`StoreError::Conflict`] with the current value; nothing is overwritten.
    async fn save(
        &self,
        key: &CredentialKey,
        value: SecretBytes,
        expected: Option<Version>,
    ) -> Result<Version, StoreError>;

    /// Deletes the value of `key`: unconditionally with `expected = None` (logout must always
    /// succeed), or only if the current version is `expected` (otherwise
    /// [`StoreError::Conflict`]). Returns whether a value was deleted.
    async fn delete(
        &self,
        key: &CredentialKey,
        expected: Option<Version>,
    ) -> Result<bool, StoreError>;

    /// Takes the refresh lease of `key` for `ttl` if nobody holds it (or its holder's lease
    /// expired); `None` when it is held.
    async fn try_acquire_lease(
        &self,
        key: &CredentialKey,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError>;

    /// Releases a lease; [`StoreError::LeaseNotHeld`] when it expired and another holder took it.
    ///
    /// Releasing an expired lease that nobody took since is accepted.
    async fn release_lease(&self, lease: Lease) -> Result<(), StoreError>;

    /// Stores a pending login under `id` for `ttl`, replacing one with the same id.
    async fn put_pending(
        &self,
        key: &CredentialKey,
        id: &PendingId,
        value: SecretBytes,
        ttl: Duration,
    ) -> Result<(), StoreError>;

    /// Removes and returns the pending login `id`: at most one caller gets it, across every
    /// process sharing the store; `None` once taken or expired.
    async fn take_pending(
        &self,
        key: &CredentialKey,
        id: &PendingId,
    ) -> Result<Option<SecretBytes>, StoreError>;

    /// Waits up to `wait` for the refresh lease of `key`, polling with capped, jittered backoff;
    /// [`StoreError::LeaseBusy`] when it is still held after `wait`.
    async fn acquire_lease(
        &self,
        key: &CredentialKey,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Lease, StoreError> {
        let started = Instant::now();
        let mut backoff = Duration::from_millis(10);
        loop {
            if let Some(lease) = self.try_acquire_lease(key, ttl).await? {
                return Ok(lease);
            }
            let waited = started.elapsed();
            if waited >= wait {
                return Err(StoreError::LeaseBusy { waited });
            }
            let pause = (backoff + jitter(backoff / 2)).min(wait - waited);
            tokio::time::sleep(pause).await;
            backoff = (backoff * 2).min(Duration::from_millis(250));
        }
    }
}

/// Up to `max` of random extra delay, so waiting replicas do not poll in lockstep.
fn jitter(max: Duration) -> Duration {
    let mut bytes = [0u8; 2];
    if getrandom::fill(&mut bytes).is_err() {
        return Duration::ZERO;
    }
    max.mul_f64(f64::from(u16::from_be_bytes(bytes)) / f64::from(u16::MAX))
}

/// The random token that identifies the holder of a lease; only it can release the lease.
#[derive(Clone, PartialEq, Eq)]
pub struct LeaseHolder(String);

impl LeaseHolder {
    /// A fresh holder token: 128 random bits as hex.
    pub fn generate() -> Result<Self, StoreError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|_| StoreError::Random)?;
        Ok(Self(hex::encode(bytes)))
    }

    /// The token, as backends store it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for LeaseHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LeaseHolder([redacted])")
    }
}

/// A held refresh lease. Release it with [`TokenStore::release_lease`]; if it is dropped (or its
/// process dies) it expires by itself after its time to live.
#[derive(Debug)]
pub struct Lease {
    key: CredentialKey,
    holder: LeaseHolder,
    ttl: Duration,
    acquired_at: Instant,
}

impl Lease {
    /// The credential the lease is for.
    pub fn key(&self) -> &CredentialKey {
        &self.key
    }

    /// The holder token.
    pub fn holder(&self) -> &LeaseHolder {
        &self.holder
    }

    /// The time to live it was taken with.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A conservative local deadline: the lease is surely held until then (measured from just
    /// before it was requested), so a holder should finish its refresh before it.
    pub fn deadline(&self) -> Instant {
        self.acquired_at + self.ttl
    }
}

/// A [`TokenStore`] that seals every value with a [`Keyring`] before handing it to a
/// [`Backend`], and opens what the backend returns: backends only ever hold ciphertext.
///
/// Clones share the keyring: a rotation through one clone ([`SealedStore::rotate_key`]) is seen
/// by all of them.
#[derive(Clone)]
pub struct SealedStore {
    keyring: Arc<RwLock<Arc<Keyring>>>,
    backend: Arc<dyn Backend>,
    /// Where the keys came from, to name it when a value needs a key the keyring lacks.
    pub(crate) origin: Option<Arc<str>>,
}

impl SealedStore {
    /// Seals with `keyring` over `backend`.
    pub fn new(keyring: Keyring, backend: impl Backend + 'static) -> Self {
        Self::from_shared(keyring, Arc::new(backend))
    }

    /// Seals with `keyring` over a backend shared with other stores (for example two keyrings
    /// over one database during a test of key rotation).
    pub fn from_shared(keyring: Keyring, backend: Arc<dyn Backend>) -> Self {
        Self {
            keyring: Arc::new(RwLock::new(Arc::new(keyring))),
            backend,
            origin: None,
        }
    }

    /// The keyring in use now.
    pub fn keyring(&self) -> Arc<Keyring> {
        Arc::clone(&self.keyring.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Makes `keyring` the one every clone of this store seals and opens with.
    pub(crate) fn set_keyring(&self, keyring: Keyring) {
        *self.keyring.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keyring);
    }

    /// A value needing a key the keyring lacks: say where the keys were looked for.
    pub(crate) fn name_missing_key(&self, error: StoreError) -> StoreError {
        match (error, &self.origin) {
            (StoreError::UnknownKeyId { key_id }, Some(origin)) => StoreError::MissingKey {
                key_ids: vec![key_id],
                looked_in: origin.to_string(),
            },
            (error, _) => error,
        }
    }

    /// The backend, which sees envelopes only.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// Re-seals the value of `key` with the current key when an older key sealed it, so that a
    /// retired key can leave the keyring once every credential is re-sealed. Returns whether it
    /// rewrote the value (a compare-and-swap save: a concurrent writer wins with a
    /// [`StoreError::Conflict`], and its value is sealed with its own current key anyway).
    pub async fn reseal(&self, key: &CredentialKey) -> Result<bool, StoreError> {
        let Some(record) = self.backend.load(&key.storage_id()).await? else {
            return Ok(false);
        };
        if seal::envelope_key_id(&record.envelope) == Some(self.keyring().current_key_id()) {
            return Ok(false);
        }
        let version = record.version;
        let current = self.open_record(key, record)?;
        self.save(key, current.value, Some(version)).await?;
        Ok(true)
    }

    fn open_record(&self, key: &CredentialKey, record: RawRecord) -> Result<Versioned, StoreError> {
        let value = self
            .keyring()
            .open(&SealContext::Credential(key), &record.envelope)
            .map_err(|error| self.name_missing_key(error))?;
        Ok(Versioned {
            version: record.version,
            value,
        })
    }

    fn conflict(&self, key: &CredentialKey, current: Option<RawRecord>) -> StoreError {
        match current
            .map(|record| self.open_record(key, record))
            .transpose()
        {
            Ok(current) => StoreError::Conflict { current },
            // The current value does not open: report that rather than a conflict the caller
            // could not resolve.
            Err(error) => error,
        }
    }
}

impl fmt::Debug for SealedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedStore")
            .field("current_key_id", &self.keyring().current_key_id())
            .field("backend", &self.backend)
            .finish()
    }
}

#[async_trait]
impl TokenStore for SealedStore {
    async fn load(&self, key: &CredentialKey) -> Result<Option<Versioned>, StoreError> {
        match self.backend.load(&key.storage_id()).await? {
            Some(record) => self.open_record(key, record).map(Some),
            None => Ok(None),
        }
    }

    async fn save(
        &self,
        key: &CredentialKey,
        value: SecretBytes,
        expected: Option<Version>,
    ) -> Result<Version, StoreError> {
        let version = match expected {
            Some(expected) => expected.next(),
            None => Version::random_initial()?,
        };
        let envelope = self.keyring().seal(&SealContext::Credential(key), &value)?;
        let record = RawRecord { version, envelope };
        match self
            .backend
            .save(&key.storage_id(), record, expected)
            .await?
        {
            SaveOutcome::Saved => Ok(version),
            SaveOutcome::Conflict(current) => Err(self.conflict(key, current)),
        }
    }

    async fn delete(
        &self,
        key: &CredentialKey,
        expected: Option<Version>,
    ) -> Result<bool, StoreError> {
        match self.backend.delete(&key.storage_id(), expected).await? {
            DeleteOutcome::Deleted => Ok(true),
            DeleteOutcome::Absent => Ok(false),
            DeleteOutcome::Conflict(current) => Err(self.conflict(key, current)),
        }
    }

    async fn try_acquire_lease(
        &self,
        key: &CredentialKey,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let holder = LeaseHolder::generate()?;
        let acquired_at = Instant::now();
        let ttl = ttl.max(Duration::from_millis(1));
        if self
            .backend
            .try_acquire_lease(&key.storage_id(), &holder, ttl)
            .await?
        {
            Ok(Some(Lease {
                key: key.clone(),
                holder,
                ttl,
                acquired_at,
            }))
        } else {
            Ok(None)
        }
    }

    async fn release_lease(&self, lease: Lease) -> Result<(), StoreError> {
        if self
            .backend
            .release_lease(&lease.key.storage_id(), &lease.holder)
            .await?
        {
            Ok(())
        } else {
            Err(StoreError::LeaseNotHeld)
        }
    }

    async fn put_pending(
        &self,
        key: &CredentialKey,
        id: &PendingId,
        value: SecretBytes,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let envelope = self
            .keyring()
            .seal(&SealContext::Pending(key, id), &value)?;
        let ttl = ttl.max(Duration::from_millis(1));
        self.backend
            .put_pending(&key.pending_storage_id(id), envelope, ttl)
            .await
    }

    async fn take_pending(
        &self,
        key: &CredentialKey,
        id: &PendingId,
    ) -> Result<Option<SecretBytes>, StoreError> {
        match self
            .backend
            .take_pending(&key.pending_storage_id(id))
            .await?
        {
            Some(envelope) => self
                .keyring()
                .open(&SealContext::Pending(key, id), &envelope)
                .map(Some)
                .map_err(|error| self.name_missing_key(error)),
            None => Ok(None),
        }
    }
}

/// Milliseconds of a duration for backends that store integers, saturating.
// Only the optional backends (and the testing suite) use this.
#[cfg_attr(
    not(any(
        feature = "file",
        feature = "sqlite",
        feature = "postgres",
        feature = "redis"
    )),
    allow(dead_code)
)]
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Milliseconds since the Unix epoch on this machine's wall clock (for backends without a
/// server clock); a clock before 1970 reads as 0.
#[cfg(any(feature = "file", feature = "sqlite"))]
pub(crate) fn wall_clock_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(millis)
        .unwrap_or(0)
}

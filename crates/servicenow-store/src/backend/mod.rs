//! The byte-level `Backend` trait every storage engine implements, and the engines themselves.
//!
//! Backends store sealed envelopes under opaque [`StorageId`]s; they never see plaintext or
//! credential names. [`crate::SealedStore`] turns a backend into a [`crate::TokenStore`].

use std::{fmt, time::Duration};

use async_trait::async_trait;

use crate::{LeaseHolder, StorageId, StoreError, Version};

#[cfg(feature = "file")]
pub(crate) mod file;
pub(crate) mod memory;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "redis")]
pub(crate) mod redis;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;
#[cfg(any(feature = "postgres", feature = "redis"))]
pub(crate) mod tls;

/// A stored credential as a backend holds it: a version and a sealed envelope.
#[derive(Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// The version, for compare-and-swap.
    pub version: Version,
    /// The sealed value.
    pub envelope: Vec<u8>,
}

impl fmt::Debug for RawRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawRecord")
            .field("version", &self.version)
            .field("envelope_len", &self.envelope.len())
            .finish()
    }
}

/// The result of a compare-and-swap save.
#[derive(Debug)]
pub enum SaveOutcome {
    /// The record was written.
    Saved,
    /// The current version was not the expected one; this is what is stored now.
    Conflict(Option<RawRecord>),
}

/// The result of a delete.
#[derive(Debug)]
pub enum DeleteOutcome {
    /// A record was deleted.
    Deleted,
    /// There was nothing to delete (unconditional delete only).
    Absent,
    /// The current version was not the expected one; this is what is stored now.
    Conflict(Option<RawRecord>),
}

/// A storage engine for sealed records, leases and pending logins.
///
/// Every operation must be atomic with respect to every other process using the same storage:
/// a save compares and writes in one step, a lease is taken by one holder at a time and expires
/// after its time to live, a pending login is taken at most once and not after its time to live.
#[async_trait]
pub trait Backend: Send + Sync + fmt::Debug {
    /// The record stored under `id`.
    async fn load(&self, id: &StorageId) -> Result<Option<RawRecord>, StoreError>;

    /// Writes `record` if the current version is `expected` (`None`: no record exists).
    async fn save(
        &self,
        id: &StorageId,
        record: RawRecord,
        expected: Option<Version>,
    ) -> Result<SaveOutcome, StoreError>;

    /// Deletes the record: unconditionally when `expected` is `None`.
    async fn delete(
        &self,
        id: &StorageId,
        expected: Option<Version>,
    ) -> Result<DeleteOutcome, StoreError>;

    /// Makes `holder` the lease holder of `id` for `ttl` if there is none or it expired.
    async fn try_acquire_lease(
        &self,
        id: &StorageId,
        holder: &LeaseHolder,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Removes the lease of `id` if `holder` holds it; `false` otherwise.
    async fn release_lease(&self, id: &StorageId, holder: &LeaseHolder)
    -> Result<bool, StoreError>;

    /// Stores a pending login envelope for `ttl`, replacing any under the same id.
    async fn put_pending(
        &self,
        id: &StorageId,
        envelope: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), StoreError>;

    /// Removes and returns the pending login envelope, unless it is absent or expired.
    async fn take_pending(&self, id: &StorageId) -> Result<Option<Vec<u8>>, StoreError>;
}

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

/// Which records a listing covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordKind {
    /// Stored credentials (token sets and other values saved with compare-and-swap).
    Credential,
    /// Pending logins that have not expired.
    Pending,
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

    /// The ids of every stored record of `kind`, for a key rotation and for the check that a
    /// store is empty before a new key is made. Backends that cannot list return
    /// [`StoreError::Unsupported`] (the default), which makes both refuse.
    async fn list(&self, kind: RecordKind) -> Result<Vec<StorageId>, StoreError> {
        let _ = kind;
        Err(StoreError::Unsupported {
            backend: "this",
            operation: "listing records",
        })
    }

    /// The pending login envelope under `id` without taking it, unless it is absent or expired.
    async fn peek_pending(&self, id: &StorageId) -> Result<Option<Vec<u8>>, StoreError> {
        let _ = id;
        Err(StoreError::Unsupported {
            backend: "this",
            operation: "reading a pending login without taking it",
        })
    }

    /// Replaces the pending login envelope under `id` with `envelope`, keeping its expiry, if it
    /// is still `expected` (not taken, expired or replaced since); returns whether it did.
    async fn replace_pending(
        &self,
        id: &StorageId,
        expected: &[u8],
        envelope: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let _ = (id, expected, envelope);
        Err(StoreError::Unsupported {
            backend: "this",
            operation: "re-sealing a pending login",
        })
    }
}

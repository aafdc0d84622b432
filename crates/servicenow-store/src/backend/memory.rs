//! `MemoryBackend`: records in a process-local map, for tests and single-process programs.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use async_trait::async_trait;

use crate::{
    Backend, DeleteOutcome, LeaseHolder, RawRecord, RecordKind, SaveOutcome, StorageId, StoreError,
    Version,
};

/// Sealed records in memory; gone when the process ends.
///
/// Still sealed: a memory dump or a debugger shows envelopes, not tokens.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    records: HashMap<StorageId, RawRecord>,
    leases: HashMap<StorageId, (LeaseHolder, Instant)>,
    pending: HashMap<StorageId, (Vec<u8>, Instant)>,
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-written map entry (every change is
        // a single insert or remove), so a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every envelope held, for the conformance suite's at-rest check.
    #[cfg(feature = "__testing")]
    pub(crate) fn raw_bytes(&self) -> Vec<Vec<u8>> {
        let state = self.state();
        let records = state.records.values().map(|record| record.envelope.clone());
        let pending = state.pending.values().map(|(envelope, _)| envelope.clone());
        records.chain(pending).collect()
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    async fn load(&self, id: &StorageId) -> Result<Option<RawRecord>, StoreError> {
        Ok(self.state().records.get(id).cloned())
    }

    async fn save(
        &self,
        id: &StorageId,
        record: RawRecord,
        expected: Option<Version>,
    ) -> Result<SaveOutcome, StoreError> {
        let mut state = self.state();
        let current = state.records.get(id);
        if current.map(|current| current.version) != expected {
            return Ok(SaveOutcome::Conflict(current.cloned()));
        }
        state.records.insert(id.clone(), record);
        Ok(SaveOutcome::Saved)
    }

    async fn delete(
        &self,
        id: &StorageId,
        expected: Option<Version>,
    ) -> Result<DeleteOutcome, StoreError> {
        let mut state = self.state();
        let current = state.records.get(id);
        if let Some(expected) = expected {
            if current.map(|current| current.version) != Some(expected) {
                return Ok(DeleteOutcome::Conflict(current.cloned()));
            }
        }
        Ok(match state.records.remove(id) {
            Some(_) => DeleteOutcome::Deleted,
            None => DeleteOutcome::Absent,
        })
    }

    async fn try_acquire_lease(
        &self,
        id: &StorageId,
        holder: &LeaseHolder,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let now = Instant::now();
        if let Some((_, expires_at)) = state.leases.get(id) {
            if *expires_at > now {
                return Ok(false);
            }
        }
        state.leases.insert(id.clone(), (holder.clone(), now + ttl));
        Ok(true)
    }

    async fn release_lease(
        &self,
        id: &StorageId,
        holder: &LeaseHolder,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        match state.leases.get(id) {
            Some((current, _)) if current == holder => {
                state.leases.remove(id);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn put_pending(
        &self,
        id: &StorageId,
        envelope: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        let now = Instant::now();
        state.pending.retain(|_, (_, expires_at)| *expires_at > now);
        state.pending.insert(id.clone(), (envelope, now + ttl));
        Ok(())
    }

    async fn take_pending(&self, id: &StorageId) -> Result<Option<Vec<u8>>, StoreError> {
        let taken = self.state().pending.remove(id);
        Ok(taken
            .and_then(|(envelope, expires_at)| (expires_at > Instant::now()).then_some(envelope)))
    }

    async fn list(&self, kind: RecordKind) -> Result<Vec<StorageId>, StoreError> {
        let state = self.state();
        let now = Instant::now();
        Ok(match kind {
            RecordKind::Credential => state.records.keys().cloned().collect(),
            RecordKind::Pending => state
                .pending
                .iter()
                .filter(|(_, (_, expires_at))| *expires_at > now)
                .map(|(id, _)| id.clone())
                .collect(),
        })
    }

    async fn peek_pending(&self, id: &StorageId) -> Result<Option<Vec<u8>>, StoreError> {
        let state = self.state();
        Ok(state
            .pending
            .get(id)
            .filter(|(_, expires_at)| *expires_at > Instant::now())
            .map(|(envelope, _)| envelope.clone()))
    }

    async fn replace_pending(
        &self,
        id: &StorageId,
        expected: &[u8],
        envelope: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        match state.pending.get_mut(id) {
            Some((current, expires_at)) if current == expected && *expires_at > Instant::now() => {
                *current = envelope;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

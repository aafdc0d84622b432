//! A token store that enters the `after-persist` phase once a save has succeeded, so a worker can be killed (and the kill confirmed) between persisting a refreshed token set and the end of the refresh.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use servicenow_store::{
    CredentialKey, Lease, PendingId, SecretBytes, StoreError, TokenStore, Version, Versioned,
};

use crate::phases::{Phase, PhaseLog};

/// Wraps a store; every successful `save` enters [`Phase::AfterPersist`].
#[derive(Debug)]
pub struct PhaseStore {
    inner: Arc<dyn TokenStore>,
    log: PhaseLog,
}

impl PhaseStore {
    /// Wraps `inner`, recording in `log`.
    pub fn new(inner: Arc<dyn TokenStore>, log: PhaseLog) -> Self {
        Self { inner, log }
    }
}

#[async_trait]
impl TokenStore for PhaseStore {
    async fn load(&self, key: &CredentialKey) -> Result<Option<Versioned>, StoreError> {
        self.inner.load(key).await
    }

    async fn save(
        &self,
        key: &CredentialKey,
        value: SecretBytes,
        expected: Option<Version>,
    ) -> Result<Version, StoreError> {
        let version = self.inner.save(key, value, expected).await?;
        self.log.enter(Phase::AfterPersist).await;
        Ok(version)
    }

    async fn delete(
        &self,
        key: &CredentialKey,
        expected: Option<Version>,
    ) -> Result<bool, StoreError> {
        self.inner.delete(key, expected).await
    }

    async fn try_acquire_lease(
        &self,
        key: &CredentialKey,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        self.inner.try_acquire_lease(key, ttl).await
    }

    async fn release_lease(&self, lease: Lease) -> Result<(), StoreError> {
        self.inner.release_lease(lease).await
    }

    async fn put_pending(
        &self,
        key: &CredentialKey,
        id: &PendingId,
        value: SecretBytes,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.inner.put_pending(key, id, value, ttl).await
    }

    async fn take_pending(
        &self,
        key: &CredentialKey,
        id: &PendingId,
    ) -> Result<Option<SecretBytes>, StoreError> {
        self.inner.take_pending(key, id).await
    }

    async fn acquire_lease(
        &self,
        key: &CredentialKey,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Lease, StoreError> {
        self.inner.acquire_lease(key, ttl, wait).await
    }
}

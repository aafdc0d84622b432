//! Opening a store from a [`KeySource`] without ever making a new key over existing ciphertext,
//! and rotating its key: every record re-sealed, the old key kept until that is done.
//!
//! A rotation writes its steps to the key source in an order that survives a kill at any point:
//!
//! 1. the key set `{new (current), old…}` replaces `{old}` (one atomic write: a file rename, a
//!    keyring entry replaced), before any record changes;
//! 2. every credential and pending login sealed with an old key is re-sealed with the new one
//!    (a compare-and-swap per record, so a concurrent writer wins and is sealed anyway);
//! 3. only when nothing is left under an old key, `{new}` alone replaces the set.
//!
//! Killed before 1, every record is under the old key and the source has it; between 1 and 3, the
//! source has both; after 3, every record is under the new key. Running the rotation again after
//! a kill makes yet another key and finishes the job.

use std::{collections::BTreeMap, sync::Arc};

use crate::{
    KeySource, Keyring, RawRecord, RecordKind, SaveOutcome, SealedStore, StorageId, StoreError,
    seal::{self, SealContext},
};

/// What a rotation did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rotation {
    /// The id of the key every record is sealed with now.
    pub new_key_id: u32,
    /// The ids of the keys retired from the key source (empty when some are still needed).
    pub retired_key_ids: Vec<u32>,
    /// Records re-sealed (credentials and pending logins).
    pub resealed: usize,
    /// Records already sealed with the new key (written meanwhile, or a rerun).
    pub already_current: usize,
    /// Records of the first envelope format, which only their own credential key opens: they
    /// keep their old key (which is therefore not retired) until their next save re-seals them.
    pub left_in_format_1: usize,
}

impl SealedStore {
    /// Opens a store over `backend` with the keys of `source`.
    ///
    /// When the source has no key: if the store holds anything, fails with
    /// [`StoreError::MissingKey`] naming the key ids the stored values need and the source (a
    /// new key would make them unreadable); if the store is empty and the source creates keys
    /// ([`KeySource::creates_missing_key`]), a fresh key with a random id is written there;
    /// otherwise fails with [`StoreError::KeySource`] (a deployment must give the key).
    ///
    /// A co-located key file logs its warning ([`KeySource::warning`]) on every open.
    pub async fn open(
        source: &KeySource,
        backend: Arc<dyn crate::Backend>,
    ) -> Result<Self, StoreError> {
        let mut store = Self::from_shared(Keyring::generate()?, backend);
        store.origin = Some(Arc::from(source.to_string()));
        let keyring = match source.read().await? {
            Some(keyring) => keyring,
            None => {
                let in_use = store.key_ids_in_use().await.map_err(|error| match error {
                    StoreError::Unsupported { .. } => StoreError::KeySource {
                        operation: "read",
                        source_name: source.to_string(),
                        reason: "there is no key, and this backend cannot list its records to \
                                 show that it is empty, so no new key is made"
                            .to_owned(),
                    },
                    other => other,
                })?;
                if !in_use.is_empty() {
                    return Err(StoreError::MissingKey {
                        key_ids: in_use.into_keys().collect(),
                        looked_in: source.to_string(),
                    });
                }
                if !source.creates_missing_key() {
                    return Err(StoreError::KeySource {
                        operation: "read",
                        source_name: source.to_string(),
                        reason: "it holds no key set; give one (for example from `sn store \
                                 new-key`) through the deployment's secret manager"
                            .to_owned(),
                    });
                }
                let created = source.create_first(&Keyring::generate()?).await?;
                tracing::info!(source = %source, key_id = created.current_key_id(), "created a new store sealing key");
                created
            }
        };
        if let Some(warning) = source.warning() {
            tracing::warn!(source = %source, "{warning}");
        }
        store.set_keyring(keyring);
        Ok(store)
    }

    /// How many stored records (credentials and pending logins) each key id sealed.
    pub async fn key_ids_in_use(&self) -> Result<BTreeMap<u32, usize>, StoreError> {
        let mut counts = BTreeMap::new();
        for (_, envelope) in self.sealed_records(RecordKind::Credential).await? {
            *counts.entry(key_id(&envelope)).or_insert(0) += 1;
        }
        for (_, envelope) in self.sealed_records(RecordKind::Pending).await? {
            *counts.entry(key_id(&envelope)).or_insert(0) += 1;
        }
        Ok(counts)
    }

    /// Rotates the sealing key: a fresh key (new id) becomes current in `source` with the old
    /// ones kept, every record is re-sealed with it, and then the old keys are removed from
    /// `source`. Crash-safe (see the module documentation): a kill at any point leaves every
    /// record readable with the keys in `source`.
    ///
    /// With an [`KeySource::Environment`] source, which this program cannot write, the
    /// deployment rotates: it sets a key set whose current key is new and which still holds the
    /// old ones, restarts, and calls this to re-seal; retiring the old keys is then its job
    /// (the [`Rotation`] says which ids are no longer used).
    ///
    /// Every process using the store must use the new key set before the old keys are retired:
    /// run a rotation while other writers are stopped (the CLI), or deploy the new key set to
    /// every replica first (servers).
    pub async fn rotate_key(&self, source: &KeySource) -> Result<Rotation, StoreError> {
        let writable = !matches!(source, KeySource::Environment { .. });
        let rotated = if writable {
            let rotated = self.keyring().rotated()?;
            source.write(&rotated).await?;
            rotated
        } else {
            source.read().await?.ok_or_else(|| StoreError::KeySource {
                operation: "read",
                source_name: source.to_string(),
                reason: "it holds no key set".to_owned(),
            })?
        };
        self.set_keyring(rotated.clone());
        let new_key_id = rotated.current_key_id();
        let mut rotation = Rotation {
            new_key_id,
            retired_key_ids: Vec::new(),
            resealed: 0,
            already_current: 0,
            left_in_format_1: 0,
        };
        for kind in [RecordKind::Credential, RecordKind::Pending] {
            for id in self.backend().list(kind).await? {
                match self.reseal_stored(kind, &id, &rotated).await? {
                    Resealed::Done => rotation.resealed += 1,
                    Resealed::AlreadyCurrent | Resealed::Gone => rotation.already_current += 1,
                    Resealed::FormatOne => rotation.left_in_format_1 += 1,
                }
            }
        }
        let still_needed: Vec<u32> = self
            .key_ids_in_use()
            .await?
            .into_keys()
            .filter(|id| *id != new_key_id)
            .collect();
        if still_needed.is_empty() {
            rotation.retired_key_ids = rotated
                .key_ids()
                .into_iter()
                .filter(|id| *id != new_key_id)
                .collect();
            let retired = rotated.current_only();
            if writable {
                source.write(&retired).await?;
            }
            self.set_keyring(retired);
        }
        tracing::info!(
            new_key_id,
            resealed = rotation.resealed,
            retired = ?rotation.retired_key_ids,
            "rotated the store sealing key"
        );
        Ok(rotation)
    }

    /// Re-seals one record with the current key of `keyring`, retrying when a concurrent writer
    /// changed it in between.
    async fn reseal_stored(
        &self,
        kind: RecordKind,
        id: &StorageId,
        keyring: &Keyring,
    ) -> Result<Resealed, StoreError> {
        let context = SealContext::Stored(id);
        loop {
            let (envelope, version) = match kind {
                RecordKind::Credential => match self.backend().load(id).await? {
                    Some(record) => (record.envelope, Some(record.version)),
                    None => return Ok(Resealed::Gone),
                },
                _ => match self.backend().peek_pending(id).await? {
                    Some(envelope) => (envelope, None),
                    None => return Ok(Resealed::Gone),
                },
            };
            if seal::envelope_key_id(&envelope) == Some(keyring.current_key_id()) {
                return Ok(Resealed::AlreadyCurrent);
            }
            if seal::is_format_v1(&envelope) {
                return Ok(Resealed::FormatOne);
            }
            let plaintext = keyring
                .open(&context, &envelope)
                .map_err(|error| self.name_missing_key(error))?;
            let sealed = keyring.seal(&context, &plaintext)?;
            let replaced = match version {
                // A compare-and-swap on the version: a writer in between wins, and we look again.
                Some(version) => {
                    let next = RawRecord {
                        version: version.next(),
                        envelope: sealed,
                    };
                    matches!(
                        self.backend().save(id, next, Some(version)).await?,
                        SaveOutcome::Saved
                    )
                }
                None => {
                    self.backend()
                        .replace_pending(id, &envelope, sealed)
                        .await?
                }
            };
            if replaced {
                return Ok(Resealed::Done);
            }
        }
    }

    /// Every stored envelope of `kind` with its id.
    async fn sealed_records(
        &self,
        kind: RecordKind,
    ) -> Result<Vec<(StorageId, Vec<u8>)>, StoreError> {
        let mut records = Vec::new();
        for id in self.backend().list(kind).await? {
            let envelope = match kind {
                RecordKind::Credential => self.backend().load(&id).await?.map(|r| r.envelope),
                _ => self.backend().peek_pending(&id).await?,
            };
            if let Some(envelope) = envelope {
                records.push((id, envelope));
            }
        }
        Ok(records)
    }
}

/// The key id an envelope names; 0 (never a generated id) for one too short to name any.
fn key_id(envelope: &[u8]) -> u32 {
    seal::envelope_key_id(envelope).unwrap_or(0)
}

enum Resealed {
    Done,
    AlreadyCurrent,
    Gone,
    FormatOne,
}

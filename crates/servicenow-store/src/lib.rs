//! Encrypted token stores: where ServiceNow credentials live between requests and across processes.
//!
//! This crate does not know what a token is, does not talk to ServiceNow and does not refresh
//! anything. It stores opaque plaintext bytes (the facade serializes token sets and pending
//! logins into them), encrypted before any backend sees them, with:
//!
//! - **compare-and-swap saves** on a version number, so a stale writer gets
//!   [`StoreError::Conflict`] instead of overwriting a rotated refresh token;
//! - a **refresh lease** per credential that serializes refreshes across processes, expires by
//!   itself if its holder dies, and can be released only by its holder;
//! - **pending logins** with a time to live and an atomic take, so an OAuth `state` is usable
//!   once even with many replicas.
//!
//! ```text
//!  caller ── SecretBytes ──▶ SealedStore ── envelope (ChaCha20-Poly1305) ──▶ Backend
//!                            (Keyring)                                       memory │ file │ sqlite
//!                                                                            postgres │ redis
//! ```
//!
//! ```
//! # fn main() -> Result<(), servicenow_store::StoreError> {
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime").block_on(async {
//! use std::time::Duration;
//! use servicenow_store::{CredentialKey, Keyring, MemoryBackend, SealedStore, SealingKey, SecretBytes, TokenStore};
//!
//! let keyring = Keyring::new(SealingKey::generate(1)?);
//! let store = SealedStore::new(keyring, MemoryBackend::new());
//! let key = CredentialKey::new("https://dev1.service-now.com", "client-id", "alice")?;
//!
//! // Refresh under the lease: reload inside it, another process may have refreshed already.
//! let lease = store.acquire_lease(&key, Duration::from_secs(30), Duration::from_secs(10)).await?;
//! let current = store.load(&key).await?;
//! let refreshed = SecretBytes::new(b"{\"refresh_token\":\"...\"}".to_vec());
//! let version = store.save(&key, refreshed, current.map(|stored| stored.version)).await?;
//! store.release_lease(lease).await?;
//! assert_eq!(store.load(&key).await?.map(|stored| stored.version), Some(version));
//! # Ok(()) })
//! # }
//! ```
//!
//! # Backends
//!
//! | feature | backend | for |
//! |---|---|---|
//! | (always) | [`MemoryBackend`] | tests, one process |
//! | `file` | `FileBackend` | one machine, no database; one sealed file per credential |
//! | `sqlite` (default) | `SqliteBackend` | servers and CLIs: one database file, any number of processes |
//! | `postgres` | `PostgresBackend` | many replicas |
//! | `redis` | `RedisBackend` | many replicas |
//!
//! # Keys
//!
//! A [`SealingKey`] is 32 bytes with an id: from the caller ([`SealingKey::from_bytes`], e.g. out
//! of a secret manager) or from a key file created with mode 0600 on first use
//! ([`SealingKey::load_or_create`]; a key file others can read is refused). To rotate, make the
//! new key current and keep the old one as previous
//! (`Keyring::new(new).with_previous(old)?`): old values still open, every write seals with the
//! new key, and [`SealedStore::reseal`] rewrites a credential ahead of its next refresh.
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backend;
mod error;
mod key;
mod seal;
mod secret;
mod store;

#[cfg(feature = "__testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "__testing")))]
pub mod conformance;

#[cfg(feature = "file")]
#[cfg_attr(docsrs, doc(cfg(feature = "file")))]
pub use backend::file::FileBackend;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use backend::postgres::{PostgresBackend, PostgresOptions};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use backend::redis::{RedisBackend, RedisOptions};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use backend::sqlite::SqliteBackend;
#[cfg(any(feature = "postgres", feature = "redis"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "postgres", feature = "redis"))))]
pub use backend::tls::StoreTls;
pub use backend::{Backend, DeleteOutcome, RawRecord, SaveOutcome, memory::MemoryBackend};
pub use error::StoreError;
pub use key::{CredentialKey, PendingId, StorageId, Version, Versioned};
pub use seal::{Keyring, SealingKey};
pub use secret::SecretBytes;
pub use store::{Lease, LeaseHolder, SealedStore, TokenStore};

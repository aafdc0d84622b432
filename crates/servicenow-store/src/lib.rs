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
//! # async fn demo() -> Result<(), servicenow_store::StoreError> {
//! use servicenow_store::{CredentialKey, Keyring, MemoryBackend, SealedStore, SealingKey, SecretBytes, TokenStore};
//!
//! let keyring = Keyring::new(SealingKey::generate(1)?);
//! let store = SealedStore::new(keyring, MemoryBackend::new());
//! let key = CredentialKey::new("https://dev1.service-now.com", "client-id", "alice")?;
//! let version = store.save(&key, SecretBytes::new(b"{\"tokens\":1}".to_vec()), None).await?;
//! let stored = store.load(&key).await?.expect("just saved");
//! assert_eq!(stored.version, version);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod backend;
mod error;
mod key;
mod seal;
mod secret;
mod store;

#[cfg(feature = "testing")]
pub mod conformance;

#[cfg(feature = "file")]
pub use backend::file::FileBackend;
#[cfg(feature = "postgres")]
pub use backend::postgres::{PostgresBackend, PostgresOptions};
#[cfg(feature = "redis")]
pub use backend::redis::{RedisBackend, RedisOptions};
#[cfg(feature = "sqlite")]
pub use backend::sqlite::SqliteBackend;
pub use backend::{Backend, DeleteOutcome, RawRecord, SaveOutcome, memory::MemoryBackend};
pub use error::StoreError;
pub use key::{CredentialKey, PendingId, StorageId, Version, Versioned};
pub use seal::{Keyring, SealingKey};
pub use secret::SecretBytes;
pub use store::{Lease, LeaseHolder, SealedStore, TokenStore};

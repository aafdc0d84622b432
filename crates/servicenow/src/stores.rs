//! Opening token stores with their sealing keys where they belong: [`Store`], the default SQLite
//! store in the user's data directory, and an in-memory store for tests.

use std::{collections::BTreeMap, sync::Arc};

use servicenow_store::{Backend, KeySource, MemoryBackend, Rotation, SealedStore, TokenStore};

use crate::error::Result;

/// The name of the database file inside a store directory.
pub const DATABASE_FILE: &str = "tokens.sqlite3";
/// The name of a co-located key file inside a store directory (only when chosen explicitly, with
/// [`KeySource::colocated_file`]).
pub const KEY_FILE: &str = "tokens.key";
/// The service name of this project's entries in the operating system's keyring.
pub const KEYRING_SERVICE: &str = "servicenow-rs";

/// A token store opened with the source of its sealing keys: hand
/// [`token_store`](Self::token_store) to [`ServicenowBuilder::store`](crate::ServicenowBuilder::store),
/// keep the `Store` to [`rotate_key`](Self::rotate_key).
///
/// Opening never makes a new key over existing ciphertext: a key missing from its source while
/// the store holds values is [`StoreError::MissingKey`](servicenow_store::StoreError::MissingKey),
/// naming the key ids and the source.
///
/// ```no_run
/// # async fn example() -> servicenow::Result<()> {
/// use servicenow::{store::KeySource, stores::Store};
///
/// // A server: the key comes from the secret manager, never from beside the data.
/// let store = Store::sqlite("/var/lib/my-app/tokens", KeySource::environment("SN_STORE_KEY")).await?;
/// let rotation = store.rotate_key().await?; // crash-safe; the old key goes once all is re-sealed
/// # let _ = rotation; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Store {
    sealed: SealedStore,
    source: KeySource,
}

impl Store {
    /// Opens `backend` with the keys of `source` (see [`SealedStore::open`]).
    pub async fn open(backend: Arc<dyn Backend>, source: KeySource) -> Result<Self> {
        let sealed = SealedStore::open(&source, backend).await?;
        Ok(Self { sealed, source })
    }

    /// Opens (creating on first use) the encrypted SQLite store in `directory`, created with
    /// mode 0700 (an existing directory others may read is refused), with the keys of `source`.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub async fn sqlite(directory: impl AsRef<std::path::Path>, source: KeySource) -> Result<Self> {
        let directory = directory.as_ref();
        create_private_directory(directory)?;
        let backend = servicenow_store::SqliteBackend::open(directory.join(DATABASE_FILE)).await?;
        Self::open(Arc::new(backend), source).await
    }

    /// Where the keys come from.
    pub fn key_source(&self) -> &KeySource {
        &self.source
    }

    /// The store, for [`ServicenowBuilder::store`](crate::ServicenowBuilder::store). It shares
    /// this `Store`'s keys, so a rotation here is seen there.
    pub fn token_store(&self) -> Arc<dyn TokenStore> {
        Arc::new(self.sealed.clone())
    }

    /// How many stored values each key id sealed.
    pub async fn key_ids_in_use(&self) -> Result<BTreeMap<u32, usize>> {
        Ok(self.sealed.key_ids_in_use().await?)
    }

    /// Re-seals every stored value under a new key, keeping the old key in the source until that
    /// is done, then removing it: a kill at any point leaves every value readable (see
    /// [`SealedStore::rotate_key`], which also says what an environment-variable source needs).
    pub async fn rotate_key(&self) -> Result<Rotation> {
        Ok(self.sealed.rotate_key(&self.source).await?)
    }
}

/// The key source of a store in `directory` when the caller chose none: the deployment's
/// (`SN_STORE_KEY`, then `SN_STORE_KEY_FILE`), else (feature `os-keyring`) the operating
/// system's keyring entry `servicenow-rs` / `store-key:DIRECTORY`. Never a key file beside the
/// data: that is only ever chosen explicitly.
pub fn default_key_source(directory: &std::path::Path) -> Result<KeySource> {
    if let Some(source) = KeySource::from_environment() {
        return Ok(source);
    }
    #[cfg(feature = "os-keyring")]
    {
        Ok(KeySource::os_keyring(
            KEYRING_SERVICE,
            format!("store-key:{}", directory.display()),
        ))
    }
    #[cfg(not(feature = "os-keyring"))]
    {
        Err(crate::ConfigError::NoKeySource {
            path: directory.display().to_string(),
        }
        .into())
    }
}

/// Opens the default store: the encrypted SQLite store in the user's data directory with
/// [`default_key_source`] (feature `sqlite`, on by default), or, without that feature, an
/// in-memory store (tokens are lost when the process ends).
pub async fn open_default() -> Result<Arc<dyn TokenStore>> {
    #[cfg(feature = "sqlite")]
    {
        let directory = default_directory()?;
        let source = default_key_source(&directory)?;
        Ok(Store::sqlite(&directory, source).await?.token_store())
    }
    #[cfg(not(feature = "sqlite"))]
    {
        open_memory()
    }
}

/// An in-memory store sealed with a random key: for tests and single-process tools.
pub fn open_memory() -> Result<Arc<dyn TokenStore>> {
    Ok(Arc::new(SealedStore::new(
        servicenow_store::Keyring::generate()?,
        MemoryBackend::new(),
    )))
}

/// `$XDG_DATA_HOME/servicenow-rs` (or the platform's equivalent).
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub fn default_directory() -> Result<std::path::PathBuf> {
    directories::ProjectDirs::from("", "", "servicenow-rs")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .ok_or_else(|| crate::ConfigError::NoHomeDirectory.into())
}

/// Creates `directory` with mode 0700, or refuses an existing one that others may read or enter.
#[cfg(feature = "sqlite")]
fn create_private_directory(directory: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};

    if !directory.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(directory)
            .map_err(|error| {
                crate::Error::from(crate::ConfigError::StoreDirectory {
                    path: directory.display().to_string(),
                    reason: error.to_string(),
                })
            })?;
    }
    let mode = std::fs::metadata(directory)
        .map(|metadata| metadata.permissions().mode() & 0o777)
        .map_err(|error| {
            crate::Error::from(crate::ConfigError::StoreDirectory {
                path: directory.display().to_string(),
                reason: error.to_string(),
            })
        })?;
    if mode & 0o077 != 0 {
        return Err(servicenow_store::StoreError::Permissions {
            path: directory.to_path_buf(),
            mode,
            expected: 0o700,
        }
        .into());
    }
    Ok(())
}

//! Opening the default token store: the encrypted SQLite database in the user's data directory.

use std::sync::Arc;

use servicenow_store::{MemoryBackend, TokenStore};

use crate::error::Result;

/// The name of the database file inside a store directory.
pub const DATABASE_FILE: &str = "tokens.sqlite3";
/// The name of the sealing-key file inside a store directory (32 random bytes, mode 0600).
pub const KEY_FILE: &str = "tokens.key";

/// Opens (creating on first use) the encrypted SQLite store in `directory`: the directory is
/// created with mode 0700, the key file with mode 0600, and every value is sealed with
/// ChaCha20-Poly1305 before SQLite sees it.
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub async fn open_sqlite(directory: &std::path::Path) -> Result<Arc<dyn TokenStore>> {
    use servicenow_store::{Keyring, SealedStore, SealingKey, SqliteBackend};

    create_private_directory(directory)?;
    let key = SealingKey::load_or_create(&directory.join(KEY_FILE), 1)?;
    let backend = SqliteBackend::open(directory.join(DATABASE_FILE)).await?;
    Ok(Arc::new(SealedStore::new(Keyring::new(key), backend)))
}

/// Opens the default store: the encrypted SQLite store in the user's data directory (feature
/// `sqlite`, on by default), or, without that feature, an in-memory store (tokens are lost when
/// the process ends).
pub async fn open_default() -> Result<Arc<dyn TokenStore>> {
    #[cfg(feature = "sqlite")]
    {
        open_sqlite(&default_directory()?).await
    }
    #[cfg(not(feature = "sqlite"))]
    {
        open_memory()
    }
}

/// An in-memory store sealed with a random key: for tests and single-process tools.
pub fn open_memory() -> Result<Arc<dyn TokenStore>> {
    let key = servicenow_store::SealingKey::generate(1)?;
    Ok(Arc::new(servicenow_store::SealedStore::new(
        servicenow_store::Keyring::new(key),
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
        .unwrap_or(0);
    if mode & 0o077 != 0 {
        tracing::warn!(
            directory = %directory.display(),
            mode = format!("{mode:o}"),
            "the token store directory is readable by others; the key file inside is still 0600"
        );
    }
    Ok(())
}

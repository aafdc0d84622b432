//! Where a store's sealing keys live: the operating system's keyring, an environment variable or a
//! file given by the deployment, or (only when chosen) a key file beside the data.
//!
//! Every source holds the same text, a *key set*: the current key and the previous keys a
//! rotation still needs, each with its id,
//! `{"format":2,"current":ID,"keys":[{"key_id":ID,"key":"BASE64"},…]}`. The single-key text
//! of earlier key files (`{"format":1,"key_id":ID,"key":"BASE64"}`) is still read.

use std::{
    fmt, fs,
    io::Write as _,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
};

use base64::Engine as _;
use zeroize::Zeroizing;

#[cfg(feature = "os-keyring")]
use crate::OsKeyringEntry;
use crate::{Keyring, SealingKey, StoreError};

/// Mode bits a key file may have: read and write for its owner only.
const KEY_FILE_MODE: u32 = 0o600;
/// The environment variable [`KeySource::from_environment`] reads a key set from.
pub const KEY_VARIABLE: &str = "SN_STORE_KEY";
/// The environment variable [`KeySource::from_environment`] reads a key file path from.
pub const KEY_FILE_VARIABLE: &str = "SN_STORE_KEY_FILE";

/// The warning every open of a co-located key file logs (and the CLI prints).
pub const COLOCATED_WARNING: &str = "the sealing key is in a file beside the token database: \
this protects the tokens in a copy of the database alone (a dump, a replica, a table read by a \
database administrator), not against anyone who can read the store directory (a backup, a synced \
folder, a stolen disk hold the key and the data together); keep the key in the OS keyring or give \
it from a secret manager (SN_STORE_KEY, SN_STORE_KEY_FILE) instead";

/// Where a store's sealing keys come from.
///
/// | source | for | a missing key |
/// |---|---|---|
/// | [`OsKeyring`](Self::OsKeyring) (feature `os-keyring`) | the CLI, desktop programs | created on first use of an empty store |
/// | [`Environment`](Self::Environment) | servers, containers (from a secret manager) | an error |
/// | [`File`](Self::File) | servers, containers (a mounted secret) | an error |
/// | [`ColocatedFile`](Self::ColocatedFile) | only when chosen: protects a database copy alone | created on first use of an empty store; every open warns |
///
/// A source never creates a key over existing ciphertext: [`crate::SealedStore::open`] makes a
/// new key only when the store holds nothing, and otherwise fails with
/// [`StoreError::MissingKey`] naming the key ids the stored values need and this source.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// An entry of the operating system's keyring: the Secret Service on Linux (GNOME Keyring,
    /// KWallet, KeePassXC), the Keychain on macOS, the Credential Manager on Windows.
    #[cfg(feature = "os-keyring")]
    #[cfg_attr(docsrs, doc(cfg(feature = "os-keyring")))]
    OsKeyring {
        /// The entry's service name (`servicenow-rs` for this project's programs).
        service: String,
        /// The entry's account name (which store the key seals).
        account: String,
    },
    /// An environment variable holding a key set, set by the deployment from its secret manager.
    /// Read-only: a rotation needs a new key set deployed first (see `docs/security.md`).
    Environment {
        /// The variable's name.
        variable: String,
    },
    /// A key file the deployment provides (a mounted secret); never created here, refused when
    /// others than its owner may read it.
    File {
        /// The file.
        path: PathBuf,
    },
    /// A key file beside the data, created (mode 0600) on first use of an empty store. Protects
    /// a copy of the database alone; every open logs [`COLOCATED_WARNING`].
    ColocatedFile {
        /// The file.
        path: PathBuf,
    },
}

impl KeySource {
    /// The entry `account` of the operating system's keyring under `service`.
    #[cfg(feature = "os-keyring")]
    #[cfg_attr(docsrs, doc(cfg(feature = "os-keyring")))]
    pub fn os_keyring(service: impl Into<String>, account: impl Into<String>) -> Self {
        Self::OsKeyring {
            service: service.into(),
            account: account.into(),
        }
    }

    /// The key set in the environment variable `variable`.
    pub fn environment(variable: impl Into<String>) -> Self {
        Self::Environment {
            variable: variable.into(),
        }
    }

    /// The key file `path`, given by the deployment.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self::File { path: path.into() }
    }

    /// A key file beside the data at `path`, created on first use (see [`COLOCATED_WARNING`]).
    pub fn colocated_file(path: impl Into<PathBuf>) -> Self {
        Self::ColocatedFile { path: path.into() }
    }

    /// The deployment's choice, when it made one: [`KEY_VARIABLE`] (`SN_STORE_KEY`) holding a
    /// key set, else [`KEY_FILE_VARIABLE`] (`SN_STORE_KEY_FILE`) naming a key file; `None` when
    /// neither is set.
    pub fn from_environment() -> Option<Self> {
        let set = |variable: &str| std::env::var_os(variable).filter(|value| !value.is_empty());
        if set(KEY_VARIABLE).is_some() {
            return Some(Self::environment(KEY_VARIABLE));
        }
        set(KEY_FILE_VARIABLE).map(|path| Self::file(PathBuf::from(path)))
    }

    /// Whether a missing key is created (on first use of an empty store) rather than an error.
    pub fn creates_missing_key(&self) -> bool {
        match self {
            #[cfg(feature = "os-keyring")]
            Self::OsKeyring { .. } => true,
            Self::ColocatedFile { .. } => true,
            Self::Environment { .. } | Self::File { .. } => false,
        }
    }

    /// The warning to show on every open, for a co-located key file.
    pub fn warning(&self) -> Option<&'static str> {
        matches!(self, Self::ColocatedFile { .. }).then_some(COLOCATED_WARNING)
    }

    /// Reads the key set; `None` when the source has none (no entry, no file, variable unset).
    pub async fn read(&self) -> Result<Option<Keyring>, StoreError> {
        match self {
            #[cfg(feature = "os-keyring")]
            Self::OsKeyring { service, account } => {
                let text = OsKeyringEntry::new(service, account).read().await?;
                text.map(|text| parse_key_set(&text, &self.to_string()))
                    .transpose()
            }
            Self::Environment { variable } => match std::env::var(variable) {
                Ok(text) if !text.is_empty() => {
                    let text = Zeroizing::new(text);
                    parse_key_set(&text, &self.to_string()).map(Some)
                }
                Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(self.failure("read", "the variable is not valid UTF-8".to_owned()))
                }
            },
            Self::File { path } | Self::ColocatedFile { path } => {
                let path = path.clone();
                blocking(move || read_key_file(&path)).await
            }
        }
    }

    /// Writes `keyring` (a first key, or a step of a rotation). A file is replaced atomically;
    /// an environment variable cannot be written ([`StoreError::KeySource`]).
    pub async fn write(&self, keyring: &Keyring) -> Result<(), StoreError> {
        let text = encode_key_set(keyring);
        match self {
            #[cfg(feature = "os-keyring")]
            Self::OsKeyring { service, account } => {
                OsKeyringEntry::new(service, account).write(text).await
            }
            Self::Environment { .. } => Err(self.failure(
                "write",
                "an environment variable is set by the deployment, not by this program: deploy \
                 the new key set there"
                    .to_owned(),
            )),
            Self::File { path } | Self::ColocatedFile { path } => {
                let path = path.clone();
                blocking(move || write_key_file(&path, &text, false)).await
            }
        }
    }

    /// Creates the first key of an empty store unless the source already has one (another
    /// process may have created it first): returns the key set in the source afterwards.
    pub(crate) async fn create_first(&self, keyring: &Keyring) -> Result<Keyring, StoreError> {
        match self {
            Self::File { path } | Self::ColocatedFile { path } => {
                let (path, text) = (path.clone(), encode_key_set(keyring));
                blocking(move || write_key_file(&path, &text, true)).await?;
            }
            _ => self.write(keyring).await?,
        }
        self.read().await?.ok_or_else(|| {
            self.failure("read back", "the key just written is not there".to_owned())
        })
    }

    /// Removes the key set (a test's cleanup, or after deleting a store); absent is fine.
    pub async fn remove(&self) -> Result<(), StoreError> {
        match self {
            #[cfg(feature = "os-keyring")]
            Self::OsKeyring { service, account } => {
                OsKeyringEntry::new(service, account).remove().await
            }
            Self::Environment { .. } => Ok(()),
            Self::File { path } | Self::ColocatedFile { path } => match fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(error) => Err(key_file_error("remove", path, &error)),
            },
        }
    }

    fn failure(&self, operation: &'static str, reason: String) -> StoreError {
        StoreError::KeySource {
            operation,
            source_name: self.to_string(),
            reason,
        }
    }
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(feature = "os-keyring")]
            Self::OsKeyring { service, account } => OsKeyringEntry::new(service, account).fmt(f),
            Self::Environment { variable } => write!(f, "the environment variable {variable}"),
            Self::File { path } => write!(f, "the key file {}", path.display()),
            Self::ColocatedFile { path } => {
                write!(f, "the key file {} beside the data", path.display())
            }
        }
    }
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeySource({self})")
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| StoreError::backend("key source", "run a blocking task", error))?
}

impl Keyring {
    /// The key-set text every [`KeySource`] holds, for a deployment to put into its secret
    /// manager (`SN_STORE_KEY`, a key file). It is key material: handle it as a secret.
    pub fn to_key_set_text(&self) -> Zeroizing<String> {
        encode_key_set(self)
    }
}

/// The text every source holds for `keyring`.
pub(crate) fn encode_key_set(keyring: &Keyring) -> Zeroizing<String> {
    let engine = base64::engine::general_purpose::STANDARD;
    let keys: Vec<String> = keyring
        .keys()
        .map(|key| {
            format!(
                "{{\"key_id\":{},\"key\":\"{}\"}}",
                key.id(),
                engine.encode(key.bytes())
            )
        })
        .collect();
    Zeroizing::new(format!(
        "{{\"format\":2,\"current\":{},\"keys\":[{}]}}\n",
        keyring.current_key_id(),
        keys.join(",")
    ))
}

/// Parses a key set (format 2) or a single key (format 1); errors never echo the text.
pub(crate) fn parse_key_set(text: &str, source_name: &str) -> Result<Keyring, StoreError> {
    #[derive(serde::Deserialize)]
    struct Entry {
        key_id: u32,
        key: String,
    }
    #[derive(serde::Deserialize)]
    struct Text {
        format: u8,
        current: Option<u32>,
        keys: Option<Vec<Entry>>,
        key_id: Option<u32>,
        key: Option<String>,
    }
    let failure = |reason: String| StoreError::KeySource {
        operation: "parse",
        source_name: source_name.to_owned(),
        reason,
    };
    let parsed: Text = serde_json::from_str(text.trim()).map_err(|error| {
        failure(format!(
            "not a sealing key set ({})",
            match error.classify() {
                serde_json::error::Category::Io => "io",
                serde_json::error::Category::Syntax => "syntax error",
                serde_json::error::Category::Data => "unexpected fields",
                serde_json::error::Category::Eof => "truncated",
            }
        ))
    })?;
    let decode = |entry: Entry| -> Result<SealingKey, StoreError> {
        let key_id = entry.key_id;
        let encoded = Zeroizing::new(entry.key);
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(encoded.as_bytes())
                .map_err(|_| failure(format!("key {key_id} is not base64")))?,
        );
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| failure(format!("key {key_id} has {} bytes, not 32", decoded.len())))?;
        Ok(SealingKey::from_bytes(key_id, bytes))
    };
    let (current, entries) = match (parsed.format, parsed.current, parsed.keys) {
        (1, _, _) => match (parsed.key_id, parsed.key) {
            (Some(key_id), Some(key)) => (key_id, vec![Entry { key_id, key }]),
            _ => return Err(failure("format 1 needs key_id and key".to_owned())),
        },
        (2, Some(current), Some(keys)) => (current, keys),
        (2, _, _) => return Err(failure("format 2 needs current and keys".to_owned())),
        (format, _, _) => return Err(failure(format!("unknown key set format {format}"))),
    };
    let mut keys = Vec::with_capacity(entries.len());
    for entry in entries {
        keys.push(decode(entry)?);
    }
    let Some(position) = keys.iter().position(|key| key.id() == current) else {
        return Err(failure(format!(
            "the current key {current} is not in the set"
        )));
    };
    let mut keyring = Keyring::new(keys.swap_remove(position));
    for key in keys {
        keyring = keyring.with_previous(key)?;
    }
    Ok(keyring)
}

/// Reads a key file, refusing it when others than its owner may read it; `None` when absent.
fn read_key_file(path: &Path) -> Result<Option<Keyring>, StoreError> {
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(key_file_error("read", path, &error)),
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(StoreError::Permissions {
            path: path.to_path_buf(),
            mode,
            expected: KEY_FILE_MODE,
        });
    }
    let text = Zeroizing::new(
        fs::read_to_string(path).map_err(|error| key_file_error("read", path, &error))?,
    );
    parse_key_set(&text, &format!("the key file {}", path.display())).map(Some)
}

/// Writes a key file atomically (temporary file, mode 0600, fsync, rename); with `only_if_absent`
/// an existing file wins and is left alone.
fn write_key_file(path: &Path, text: &str, only_if_absent: bool) -> Result<(), StoreError> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let failed = |error: &std::io::Error| key_file_error("write", path, error);
    let mut temporary = tempfile::NamedTempFile::new_in(directory).map_err(|e| failed(&e))?;
    // `tempfile` creates files with mode 0600; set it anyway so the intent is visible.
    fs::set_permissions(temporary.path(), fs::Permissions::from_mode(KEY_FILE_MODE))
        .map_err(|e| failed(&e))?;
    temporary
        .write_all(text.as_bytes())
        .and_then(|()| temporary.as_file().sync_all())
        .map_err(|e| failed(&e))?;
    let persisted = if only_if_absent {
        match temporary.persist_noclobber(path) {
            Err(error) if error.error.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
            other => other.map_err(|error| failed(&error.error)),
        }
    } else {
        temporary
            .persist(path)
            .map_err(|error| failed(&error.error))
    };
    persisted?;
    if let Ok(directory) = fs::File::open(directory) {
        // Make the rename itself durable; a failure here leaves the file written anyway.
        let _ = directory.sync_all();
    }
    Ok(())
}

fn key_file_error(operation: &'static str, path: &Path, error: &std::io::Error) -> StoreError {
    StoreError::KeyFile {
        operation,
        path: PathBuf::from(path),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests;

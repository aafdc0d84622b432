//! The one sealing layer: ChaCha20-Poly1305 envelopes, keyrings for rotation, and key files.
//!
//! Envelope (format 1): `[format = 1][key id: u32 big-endian][nonce: 12 bytes][ciphertext + tag]`.
//! The associated data binds the header and the credential key (and pending-login id), so a
//! ciphertext copied into another credential's row fails to open.

use std::{
    fmt, fs,
    io::Write,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use base64::Engine;
use chacha20poly1305::{
    ChaCha20Poly1305, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use zeroize::Zeroizing;

use crate::{CredentialKey, PendingId, SecretBytes, StoreError};

/// The envelope format this build writes and reads.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + 4;
/// The smallest envelope: header, nonce and the tag of an empty plaintext.
const MIN_ENVELOPE_LEN: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;
/// Mode bits a key file may have: read and write for its owner only.
const KEY_FILE_MODE: u32 = 0o600;

/// A 32-byte ChaCha20-Poly1305 key with the id written into every envelope it seals.
///
/// Zeroized on drop; `Debug` shows the id only.
#[derive(Clone)]
pub struct SealingKey {
    id: u32,
    bytes: Zeroizing<[u8; 32]>,
}

impl SealingKey {
    /// A key from 32 bytes the caller keeps (for example from a secret manager).
    pub fn from_bytes(id: u32, bytes: [u8; 32]) -> Self {
        Self {
            id,
            bytes: Zeroizing::new(bytes),
        }
    }

    /// A fresh key from the operating system's random number generator.
    pub fn generate(id: u32) -> Result<Self, StoreError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|_| StoreError::Random)?;
        Ok(Self { id, bytes })
    }

    /// Reads the key file at `path`, refusing it when others than its owner may read it.
    pub fn load(path: &Path) -> Result<Self, StoreError> {
        check_key_file_mode(path)?;
        let text = Zeroizing::new(
            fs::read_to_string(path).map_err(|error| key_file_error("read", path, error))?,
        );
        parse_key_file(path, &text)
    }

    /// Reads the key file at `path`, or creates it (mode 0600, a fresh random key with id
    /// `id_if_created`) when it does not exist.
    ///
    /// Creation is atomic: concurrent processes all end up with the key of the first one.
    pub fn load_or_create(path: &Path, id_if_created: u32) -> Result<Self, StoreError> {
        if path.exists() {
            return Self::load(path);
        }
        let key = Self::generate(id_if_created)?;
        let directory = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let mut temporary = tempfile::NamedTempFile::new_in(directory)
            .map_err(|error| key_file_error("create", path, error))?;
        // `tempfile` creates files with mode 0600; set it anyway so the intent is visible.
        fs::set_permissions(temporary.path(), fs::Permissions::from_mode(KEY_FILE_MODE))
            .map_err(|error| key_file_error("create", path, error))?;
        let text = Zeroizing::new(format!(
            "{{\"format\":1,\"key_id\":{},\"key\":\"{}\"}}\n",
            key.id,
            base64::engine::general_purpose::STANDARD.encode(key.bytes.as_ref())
        ));
        temporary
            .write_all(text.as_bytes())
            .map_err(|error| key_file_error("create", path, error))?;
        temporary
            .as_file()
            .sync_all()
            .map_err(|error| key_file_error("create", path, error))?;
        match temporary.persist_noclobber(path) {
            Ok(_) => {
                tracing::info!(path = %path.display(), key_id = key.id, "created a new store sealing key file");
                Ok(key)
            }
            // Another process created it first: use theirs.
            Err(error) if error.error.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::load(path)
            }
            Err(error) => Err(key_file_error("create", path, error.error)),
        }
    }

    /// The id written into envelopes sealed with this key.
    pub fn id(&self) -> u32 {
        self.id
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(self.bytes.as_ref().into())
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKey")
            .field("id", &self.id)
            .field("bytes", &"[redacted]")
            .finish()
    }
}

/// The keys a store seals and opens with: new writes use the current key, old keys still open
/// what they sealed, so keys rotate without rewriting anything.
#[derive(Clone, Debug)]
pub struct Keyring {
    current: SealingKey,
    previous: Vec<SealingKey>,
}

impl Keyring {
    /// A keyring that seals and opens with `current` only.
    pub fn new(current: SealingKey) -> Self {
        Self {
            current,
            previous: Vec::new(),
        }
    }

    /// Adds a retired key that still opens values sealed with it; its id must be new here.
    pub fn with_previous(mut self, previous: SealingKey) -> Result<Self, StoreError> {
        if self.key(previous.id).is_some() {
            return Err(StoreError::InvalidKey {
                reason: "two sealing keys in one keyring share a key id",
            });
        }
        self.previous.push(previous);
        Ok(self)
    }

    /// The id of the key new writes use.
    pub fn current_key_id(&self) -> u32 {
        self.current.id
    }

    fn key(&self, id: u32) -> Option<&SealingKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.id == id)
    }

    /// Seals `plaintext` for `context` with the current key and a fresh random nonce.
    pub(crate) fn seal(
        &self,
        context: &SealContext<'_>,
        plaintext: &SecretBytes,
    ) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| StoreError::Random)?;
        let mut envelope = Vec::with_capacity(MIN_ENVELOPE_LEN + plaintext.len());
        envelope.push(FORMAT_V1);
        envelope.extend_from_slice(&self.current.id.to_be_bytes());
        let aad = context.associated_data(&envelope);
        let ciphertext = self
            .current
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.expose_secret(),
                    aad: &aad,
                },
            )
            .map_err(|_| StoreError::Encrypt)?;
        envelope.extend_from_slice(&nonce);
        envelope.extend_from_slice(&ciphertext);
        Ok(envelope)
    }

    /// Opens an envelope sealed for `context`; every malformed input is a typed error.
    pub(crate) fn open(
        &self,
        context: &SealContext<'_>,
        envelope: &[u8],
    ) -> Result<SecretBytes, StoreError> {
        let Some(&format) = envelope.first() else {
            return Err(StoreError::Truncated { len: 0 });
        };
        if format != FORMAT_V1 {
            return Err(StoreError::UnknownFormat { version: format });
        }
        if envelope.len() < MIN_ENVELOPE_LEN {
            return Err(StoreError::Truncated {
                len: envelope.len(),
            });
        }
        let (header, rest) = envelope.split_at(HEADER_LEN);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let key_id = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        let Some(key) = self.key(key_id) else {
            return Err(StoreError::UnknownKeyId { key_id });
        };
        let aad = context.associated_data(header);
        let plaintext = key
            .cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| StoreError::Decrypt)?;
        Ok(SecretBytes::new(plaintext))
    }
}

/// The key id of a format-1 envelope, `None` for anything else.
pub(crate) fn envelope_key_id(envelope: &[u8]) -> Option<u32> {
    match envelope {
        [FORMAT_V1, a, b, c, d, ..] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

/// What a sealed value belongs to; bound into the associated data.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SealContext<'a> {
    /// The token set of a credential.
    Credential(&'a CredentialKey),
    /// A pending login of a credential.
    Pending(&'a CredentialKey, &'a PendingId),
}

impl SealContext<'_> {
    fn associated_data(&self, header: &[u8]) -> Vec<u8> {
        let mut aad = header.to_vec();
        aad.extend_from_slice(b"servicenow-store/v1/");
        match self {
            Self::Credential(key) => {
                aad.extend_from_slice(b"credential\0");
                aad.extend_from_slice(&key.canonical_bytes());
            }
            Self::Pending(key, pending) => {
                aad.extend_from_slice(b"pending\0");
                aad.extend_from_slice(&key.canonical_bytes());
                aad.extend_from_slice(pending.as_str().as_bytes());
            }
        }
        aad
    }
}

fn check_key_file_mode(path: &Path) -> Result<(), StoreError> {
    let metadata = fs::metadata(path).map_err(|error| key_file_error("read", path, error))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(StoreError::Permissions {
            path: path.to_path_buf(),
            mode,
            expected: KEY_FILE_MODE,
        });
    }
    Ok(())
}

fn parse_key_file(path: &Path, text: &str) -> Result<SealingKey, StoreError> {
    #[derive(serde::Deserialize)]
    struct KeyFile {
        format: u8,
        key_id: u32,
        key: String,
    }
    let parse_error = |reason: String| StoreError::KeyFile {
        operation: "parse",
        path: path.to_path_buf(),
        reason,
    };
    let file: KeyFile = serde_json::from_str(text).map_err(|error| {
        parse_error(format!("not a store key file ({})", error.classify_name()))
    })?;
    let encoded = Zeroizing::new(file.key);
    if file.format != 1 {
        return Err(parse_error(format!(
            "unknown key file format {}",
            file.format
        )));
    }
    let decoded = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_bytes())
            .map_err(|_| parse_error("the key is not base64".to_owned()))?,
    );
    let bytes: [u8; 32] = decoded
        .as_slice()
        .try_into()
        .map_err(|_| parse_error(format!("the key has {} bytes, not 32", decoded.len())))?;
    Ok(SealingKey::from_bytes(file.key_id, bytes))
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected fields",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

fn key_file_error(operation: &'static str, path: &Path, error: std::io::Error) -> StoreError {
    StoreError::KeyFile {
        operation,
        path: PathBuf::from(path),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests;

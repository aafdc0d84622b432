//! What a stored value is filed under: credential keys, pending-login ids, versions, storage ids.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::{SecretBytes, StoreError};

/// Longest accepted credential key part, in bytes.
const MAX_PART_LEN: usize = 1024;
/// Longest accepted pending-login id, in bytes.
const MAX_PENDING_ID_LEN: usize = 256;

/// The identity a credential is stored under: instance origin, OAuth client id and subject
/// (a user name, or the service identity for client credentials).
///
/// Backends never see these strings: they file values under [`CredentialKey::storage_id`],
/// a SHA-256 digest, so no name reaches a file name, a SQL row or a Redis key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CredentialKey {
    instance: String,
    client_id: String,
    subject: String,
}

impl CredentialKey {
    /// Builds a key; each part must be non-empty, at most 1024 bytes, with no control characters.
    pub fn new(
        instance: impl Into<String>,
        client_id: impl Into<String>,
        subject: impl Into<String>,
    ) -> Result<Self, StoreError> {
        let key = Self {
            instance: instance.into(),
            client_id: client_id.into(),
            subject: subject.into(),
        };
        for part in [&key.instance, &key.client_id, &key.subject] {
            if part.is_empty() {
                return Err(StoreError::InvalidKey {
                    reason: "a credential key part is empty",
                });
            }
            if part.len() > MAX_PART_LEN {
                return Err(StoreError::InvalidKey {
                    reason: "a credential key part is longer than 1024 bytes",
                });
            }
            if part.chars().any(char::is_control) {
                return Err(StoreError::InvalidKey {
                    reason: "a credential key part contains a control character",
                });
            }
        }
        Ok(key)
    }

    /// The instance origin, for example `https://dev12345.service-now.com`.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The OAuth client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The subject the credential belongs to.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The id backends file this credential's value and lease under.
    pub fn storage_id(&self) -> StorageId {
        StorageId::digest(b"credential", &self.canonical_bytes(), b"")
    }

    /// The id backends file the pending login `pending` of this credential under.
    pub fn pending_storage_id(&self, pending: &PendingId) -> StorageId {
        StorageId::digest(b"pending", &self.canonical_bytes(), pending.0.as_bytes())
    }

    /// An unambiguous encoding (length-prefixed parts), used as digest input and associated data.
    pub(crate) fn canonical_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(
            self.instance.len() + self.client_id.len() + self.subject.len() + 24,
        );
        for part in [&self.instance, &self.client_id, &self.subject] {
            bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
            bytes.extend_from_slice(part.as_bytes());
        }
        bytes
    }
}

impl fmt::Debug for CredentialKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialKey")
            .field("instance", &self.instance)
            .field("client_id", &self.client_id)
            .field("subject", &self.subject)
            .finish()
    }
}

/// The id of one pending login, computed by the caller (the facade passes the SHA-256 hex of
/// the OAuth `state`, so the raw state never becomes a database key).
///
/// At most 256 bytes of `[A-Za-z0-9._~-]`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct PendingId(String);

impl PendingId {
    /// Validates `id`.
    pub fn new(id: impl Into<String>) -> Result<Self, StoreError> {
        let id = id.into();
        if id.is_empty() {
            return Err(StoreError::InvalidKey {
                reason: "a pending-login id is empty",
            });
        }
        if id.len() > MAX_PENDING_ID_LEN {
            return Err(StoreError::InvalidKey {
                reason: "a pending-login id is longer than 256 bytes",
            });
        }
        if !id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"._~-".contains(&byte))
        {
            return Err(StoreError::InvalidKey {
                reason: "a pending-login id has characters outside [A-Za-z0-9._~-]",
            });
        }
        Ok(Self(id))
    }

    /// The id as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The opaque name a backend files a record under: 64 lowercase hex digits of a SHA-256 digest.
///
/// Safe as a file name, a SQL key and a Redis key.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct StorageId(String);

impl StorageId {
    fn digest(domain: &[u8], credential: &[u8], extra: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"servicenow-store/v1/");
        hasher.update(domain);
        hasher.update([0]);
        hasher.update(credential);
        hasher.update(extra);
        Self(hex::encode(hasher.finalize()))
    }

    /// An id read back from storage (a file name, a row, a Redis key): `None` unless it is 64
    /// lowercase hex digits.
    pub fn from_stored(text: &str) -> Option<Self> {
        (text.len() == 64
            && text
                .bytes()
                .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| Self(text.to_owned()))
    }

    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StorageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The version of a stored credential, for compare-and-swap.
///
/// A new record starts at a random version (below 2^53, so every backend holds it exactly) and
/// each save adds one; a writer that saw a record before it was deleted and created again
/// therefore cannot overwrite the new one by accident.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Version(u64);

impl Version {
    /// Largest version a backend stores (2^53 - 1: exact in a Lua number and in `i64`).
    pub const MAX: u64 = (1 << 53) - 1;

    /// Wraps a version read from storage; `None` when it is zero or above [`Version::MAX`].
    pub fn new(version: u64) -> Option<Self> {
        (1..=Self::MAX).contains(&version).then_some(Self(version))
    }

    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The version the next save writes; wraps to 1 after [`Version::MAX`].
    pub fn next(self) -> Self {
        if self.0 >= Self::MAX {
            Self(1)
        } else {
            Self(self.0 + 1)
        }
    }

    /// A random first version for a new record, in `1..=2^52`, leaving room to count up.
    pub(crate) fn random_initial() -> Result<Self, StoreError> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|_| StoreError::Random)?;
        Ok(Self((u64::from_be_bytes(bytes) >> 12) + 1))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A stored value with the version to pass to the next compare-and-swap save.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Versioned {
    /// The version of `value`.
    pub version: Version,
    /// The plaintext.
    pub value: SecretBytes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_key_refuses_empty_long_and_control_parts() {
        assert!(CredentialKey::new("", "client", "alice").is_err());
        assert!(CredentialKey::new("https://a", "client", "x".repeat(1025)).is_err());
        assert!(CredentialKey::new("https://a", "cli\nent", "alice").is_err());
        assert!(CredentialKey::new("https://a", "client", "alice").is_ok());
    }

    #[test]
    fn storage_ids_do_not_collide_when_parts_shift() {
        let left = CredentialKey::new("https://a", "bc", "d").expect("valid key");
        let right = CredentialKey::new("https://a", "b", "cd").expect("valid key");
        assert_ne!(left.storage_id(), right.storage_id());
        assert_eq!(left.storage_id().as_str().len(), 64);
        let pending = PendingId::new("abc").expect("valid id");
        assert_ne!(left.pending_storage_id(&pending), left.storage_id());
    }

    #[test]
    fn pending_id_refuses_path_characters() {
        assert!(PendingId::new("../etc/passwd").is_err());
        assert!(PendingId::new("a b").is_err());
        assert!(PendingId::new("").is_err());
        assert!(PendingId::new("0f3a-._~").is_ok());
    }

    #[test]
    fn versions_start_random_and_stay_in_range() {
        let first = Version::random_initial().expect("os random");
        assert!(first.get() >= 1 && first.get() <= 1 << 52);
        assert_eq!(
            Version::new(Version::MAX).map(Version::next),
            Version::new(1)
        );
        assert_eq!(Version::new(0), None);
    }
}

//! The one error type of the crate: what went wrong while loading, saving, sealing or leasing.

use std::{path::PathBuf, time::Duration};

use crate::Versioned;

/// Everything a token store can fail with.
///
/// No variant ever holds plaintext: [`Versioned`] values inside [`StoreError::Conflict`] keep
/// their bytes behind a redacted `Debug`, and backend errors carry driver messages only.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A credential key or pending-login id was empty, too long or used forbidden characters.
    #[error("build store key: {reason}")]
    InvalidKey {
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A compare-and-swap save or delete found another version than the expected one.
    ///
    /// The current value is returned so that the caller can merge or retry; nothing was written.
    #[error(
        "save credential: the stored version is not the expected one (a concurrent writer won)"
    )]
    Conflict {
        /// The value stored now, or `None` when there is none.
        current: Option<Versioned>,
    },
    /// The refresh lease stayed held by another holder for the whole wait.
    #[error("acquire refresh lease: still held by another holder after waiting {waited:?}")]
    LeaseBusy {
        /// How long the caller waited.
        waited: Duration,
    },
    /// The lease being released is no longer held by this holder (it expired and was taken).
    #[error("release refresh lease: this holder no longer holds the lease")]
    LeaseNotHeld,
    /// A sealed value names a key id that the keyring does not have.
    #[error("open sealed value: key id {key_id} is not in the keyring")]
    UnknownKeyId {
        /// The key id written in the envelope.
        key_id: u32,
    },
    /// Authentication of a sealed value failed: a wrong key, corrupted bytes, or a value copied
    /// from another credential's row.
    #[error(
        "open sealed value: authentication failed (wrong key, corrupted bytes or a value moved from another credential)"
    )]
    Decrypt,
    /// A sealed value starts with an envelope format version this build does not know.
    #[error("open sealed value: unknown envelope format version {version}")]
    UnknownFormat {
        /// The first byte of the envelope.
        version: u8,
    },
    /// A sealed value is shorter than the smallest possible envelope.
    #[error("open sealed value: envelope truncated to {len} bytes")]
    Truncated {
        /// Its length.
        len: usize,
    },
    /// Sealing a value failed (the AEAD refuses only absurdly large inputs).
    #[error("seal value: encryption failed")]
    Encrypt,
    /// The operating system's random number generator failed.
    #[error("draw random bytes: the operating system's generator failed")]
    Random,
    /// The stored values need a sealing key that the key source does not have. No key was
    /// created: a new key over existing ciphertext would make every stored value unreadable.
    #[error(
        "open store: the sealing key {} that sealed the stored values is not in {looked_in}; no new \
         key was created over them (restore that key there, or delete the store to start over)",
        key_id_list(key_ids)
    )]
    MissingKey {
        /// The key ids the stored values name (empty when the source was never given a key and
        /// the store was not checked).
        key_ids: Vec<u32>,
        /// Where the key was looked for.
        looked_in: String,
    },
    /// A key source could not be read, written or parsed (an unreachable keyring service, an
    /// unset variable, a malformed key set).
    #[error("{operation} sealing key in {source_name}: {reason}")]
    KeySource {
        /// What was being done (`read`, `write`, `parse`, `remove`).
        operation: &'static str,
        /// The source, as [`crate::KeySource`] prints it.
        source_name: String,
        /// Why it failed (never key material).
        reason: String,
    },
    /// The backend cannot do this (a third-party backend without listing, for example).
    #[error("{backend} store: {operation} is not supported by this backend")]
    Unsupported {
        /// Which backend.
        backend: &'static str,
        /// What was asked.
        operation: &'static str,
    },
    /// A key file could not be read, created or parsed.
    #[error("{operation} key file {path}: {reason}")]
    KeyFile {
        /// What was being done (`read`, `create`, `parse`).
        operation: &'static str,
        /// The key file.
        path: PathBuf,
        /// Why it failed.
        reason: String,
    },
    /// A key file or store directory is readable or writable by others than its owner.
    #[error(
        "check permissions of {path}: mode {mode:o} is too open, expected {expected:o} (run `chmod {expected:o} {path}`)"
    )]
    Permissions {
        /// The file or directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// The permission bits required.
        expected: u32,
    },
    /// The backend itself failed: IO, the database, the network.
    #[error("{backend} store: {operation} failed")]
    Backend {
        /// Which backend (`file`, `sqlite`, `postgres`, `redis`).
        backend: &'static str,
        /// What it was doing.
        operation: &'static str,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored record does not have the shape this crate writes (a corrupted file or row).
    #[error("{backend} store: {operation}: stored record is malformed: {reason}")]
    Corrupt {
        /// Which backend.
        backend: &'static str,
        /// What it was doing.
        operation: &'static str,
        /// What is wrong with the record.
        reason: String,
    },
}

fn key_id_list(ids: &[u32]) -> String {
    match ids {
        [] => "(no key id recorded)".to_owned(),
        [id] => format!("with id {id}"),
        ids => format!(
            "with ids {}",
            ids.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

// Only the optional backends (and the testing suite) build these errors.
#[cfg_attr(
    not(any(
        feature = "file",
        feature = "sqlite",
        feature = "postgres",
        feature = "redis"
    )),
    allow(dead_code)
)]
impl StoreError {
    /// Wraps a driver error of `backend` during `operation`.
    pub(crate) fn backend(
        backend: &'static str,
        operation: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Backend {
            backend,
            operation,
            source: source.into(),
        }
    }

    /// A malformed record found by `backend` during `operation`.
    pub(crate) fn corrupt(
        backend: &'static str,
        operation: &'static str,
        reason: impl Into<String>,
    ) -> Self {
        Self::Corrupt {
            backend,
            operation,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SecretBytes, Version};

    #[test]
    fn a_conflict_error_never_prints_the_value_it_carries() {
        let current = Versioned {
            version: Version::new(7).expect("valid version"),
            value: SecretBytes::new(b"{\"refresh_token\":\"rt-very-secret\"}".to_vec()),
        };
        let error = StoreError::Conflict {
            current: Some(current),
        };
        for printed in [
            format!("{error}"),
            format!("{error:?}"),
            format!("{error:#?}"),
        ] {
            assert!(!printed.contains("rt-very-secret"), "{printed}");
        }
        assert!(format!("{error:?}").contains("redacted"));
    }
}

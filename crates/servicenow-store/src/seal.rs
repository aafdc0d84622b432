//! The one sealing layer: ChaCha20-Poly1305 envelopes, keyrings for rotation, and key files.
//!
//! Envelope: `[format][key id: u32 big-endian][nonce: 12 bytes][ciphertext + tag]`. The associated
//! data binds the header and what the value belongs to, so a ciphertext copied into another
//! credential's row fails to open: format 2 (written since key rotation exists) binds the
//! storage id (the SHA-256 of the credential key and pending-login id), which a backend knows,
//! so a rotation can re-seal every record without knowing whose it is; format 1 (still read)
//! bound the credential key itself.

use std::fmt;

use chacha20poly1305::{
    ChaCha20Poly1305, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use zeroize::Zeroizing;

use crate::{CredentialKey, PendingId, SecretBytes, StorageId, StoreError};

/// The first envelope format, still read: associated data bound to the credential key.
const FORMAT_V1: u8 = 1;
/// The envelope format this build writes: associated data bound to the storage id.
const FORMAT_V2: u8 = 2;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + 4;
/// The smallest envelope: header, nonce and the tag of an empty plaintext.
const MIN_ENVELOPE_LEN: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;

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

    /// A fresh key with a random id (never 0) that is none of `taken`, so keys made at different
    /// times or places carry distinct ids.
    pub fn generate_fresh(taken: &[u32]) -> Result<Self, StoreError> {
        loop {
            let mut id = [0u8; 4];
            getrandom::fill(&mut id).map_err(|_| StoreError::Random)?;
            let id = u32::from_be_bytes(id);
            if id != 0 && !taken.contains(&id) {
                return Self::generate(id);
            }
        }
    }

    /// The key bytes, for the key-source encoding only.
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
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

    /// A keyring of one fresh key with a random id.
    pub fn generate() -> Result<Self, StoreError> {
        Ok(Self::new(SealingKey::generate_fresh(&[])?))
    }

    /// The id of the key new writes use.
    pub fn current_key_id(&self) -> u32 {
        self.current.id
    }

    /// The ids of every key, the current one first.
    pub fn key_ids(&self) -> Vec<u32> {
        self.keys().map(SealingKey::id).collect()
    }

    /// Whether a key with this id is in the keyring.
    pub fn contains(&self, id: u32) -> bool {
        self.key(id).is_some()
    }

    /// The first step of a rotation: a fresh key (with an id none of these keys has) becomes
    /// current, and every key of this keyring stays to open what it sealed.
    pub fn rotated(&self) -> Result<Self, StoreError> {
        let fresh = SealingKey::generate_fresh(&self.key_ids())?;
        Ok(Self {
            current: fresh,
            previous: self.keys().cloned().collect(),
        })
    }

    /// The last step of a rotation: the current key alone, once nothing is sealed with the others.
    pub fn current_only(&self) -> Self {
        Self::new(self.current.clone())
    }

    /// The current key, then the previous ones.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &SealingKey> {
        std::iter::once(&self.current).chain(&self.previous)
    }

    fn key(&self, id: u32) -> Option<&SealingKey> {
        self.keys().find(|key| key.id == id)
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
        envelope.push(FORMAT_V2);
        envelope.extend_from_slice(&self.current.id.to_be_bytes());
        let aad = context.associated_data(&envelope)?;
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
        if format != FORMAT_V1 && format != FORMAT_V2 {
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
        let aad = context.associated_data(header)?;
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

/// The key id of an envelope of a known format, `None` for anything else.
pub(crate) fn envelope_key_id(envelope: &[u8]) -> Option<u32> {
    match envelope {
        [FORMAT_V1 | FORMAT_V2, a, b, c, d, ..] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

/// Whether an envelope has the first format, which only its credential key opens (a rotation
/// cannot re-seal it from the storage id alone).
pub(crate) fn is_format_v1(envelope: &[u8]) -> bool {
    envelope.first() == Some(&FORMAT_V1)
}

/// What a sealed value belongs to; bound into the associated data.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SealContext<'a> {
    /// The token set of a credential.
    Credential(&'a CredentialKey),
    /// A pending login of a credential.
    Pending(&'a CredentialKey, &'a PendingId),
    /// A record known by its storage id alone (a rotation's re-seal): format 2 only.
    Stored(&'a StorageId),
}

impl SealContext<'_> {
    fn storage_id(&self) -> StorageId {
        match self {
            Self::Credential(key) => key.storage_id(),
            Self::Pending(key, pending) => key.pending_storage_id(pending),
            Self::Stored(id) => (*id).clone(),
        }
    }

    fn associated_data(&self, header: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut aad = header.to_vec();
        if header.first() == Some(&FORMAT_V2) {
            aad.extend_from_slice(b"servicenow-store/v2/");
            aad.extend_from_slice(self.storage_id().as_str().as_bytes());
            return Ok(aad);
        }
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
            Self::Stored(_) => return Err(StoreError::UnknownFormat { version: FORMAT_V1 }),
        }
        Ok(aad)
    }
}

#[cfg(test)]
mod tests;

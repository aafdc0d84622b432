//! `SecretBytes`: the plaintext a caller stores, zeroized on drop and never printed.

use std::fmt;

use zeroize::Zeroizing;

/// Plaintext bytes handed to or returned by a store (a serialized token set or pending login).
///
/// Zeroized when dropped, `Debug` prints `SecretBytes([redacted])`, no `Display`.
/// Read the bytes with [`SecretBytes::expose_secret`], so every use can be found with grep.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps `bytes`; they are zeroized when the value is dropped.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The plaintext.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_bytes() {
        let secret = SecretBytes::new(b"refresh-token-abc".to_vec());
        let printed = format!("{secret:?}");
        assert_eq!(printed, "SecretBytes([redacted])");
        assert_eq!(secret.expose_secret(), b"refresh-token-abc");
    }
}

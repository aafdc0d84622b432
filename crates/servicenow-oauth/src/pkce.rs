//! PKCE with S256 only (RFC 7636): the code verifier, a secret, and its challenge.
//!
//! The `plain` method does not exist here: RFC 9700 §2.1.1 says S256 is the method to use, and
//! a client able to use it must not downgrade.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroize as _;

use crate::Error;
use crate::secret::new_secret_type;

new_secret_type! {
    /// The PKCE code verifier (RFC 7636 §4.1): 43 to 128 characters from
    /// `[A-Z a-z 0-9 - . _ ~]`, kept secret until the token request.
    ///
    /// Deliberately not `Clone`, so a verifier is used for one authorization only.
    PkceVerifier, what = "PKCE code verifier", validate = verifier_syntax,
}

impl PkceVerifier {
    /// Generates a verifier from 32 bytes of the caller's cryptographically secure RNG
    /// (RFC 7636 §4.1 recommends exactly this: 32 octets, base64url-encoded, 43 characters).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0_u8; 32];
        rng.fill_bytes(&mut bytes);
        let verifier = Self::from_bytes(bytes);
        bytes.zeroize();
        verifier
    }

    /// The verifier for 32 given random bytes: their base64url encoding without padding
    /// (RFC 7636 §4.1). The bytes must come from a CSPRNG; this constructor exists for callers
    /// with their own randomness and for the RFC 7636 Appendix B test vector.
    #[must_use]
    pub fn from_bytes(mut bytes: [u8; 32]) -> Self {
        let encoded = zeroize::Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes));
        bytes.zeroize();
        Self(encoded)
    }

    /// The S256 challenge for this verifier: `BASE64URL(SHA256(ASCII(code_verifier)))`
    /// (RFC 7636 §4.2).
    #[must_use]
    pub fn challenge(&self) -> PkceChallenge {
        PkceChallenge(URL_SAFE_NO_PAD.encode(Sha256::digest(self.secret().as_bytes())))
    }
}

/// The PKCE code challenge sent in the authorization request (RFC 7636 §4.2, §4.3), always
/// with `code_challenge_method=S256`. Not a secret.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PkceChallenge(String);

impl PkceChallenge {
    /// The only method this crate implements, sent as `code_challenge_method`.
    pub const METHOD: &'static str = "S256";

    /// Wraps a challenge computed elsewhere (for example by a server checking one): 43
    /// base64url characters, the length of a SHA-256 digest.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] for any other shape.
    pub fn new(value: impl Into<String>) -> Result<Self, Error> {
        let value = value.into();
        let base64url = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_';
        if value.len() != 43 || !value.bytes().all(base64url) {
            return Err(Error::InvalidValue {
                what: "PKCE code challenge",
                problem: "must be 43 base64url characters (an unpadded SHA-256 digest)",
            });
        }
        Ok(Self(value))
    }

    /// The challenge as sent in `code_challenge`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PkceChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PkceChallenge").field(&self.0).finish()
    }
}

impl fmt::Display for PkceChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PkceChallenge {
    type Error = Error;

    fn try_from(value: String) -> Result<Self, Error> {
        Self::new(value)
    }
}

impl From<PkceChallenge> for String {
    fn from(value: PkceChallenge) -> Self {
        value.0
    }
}

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`, `unreserved = ALPHA / DIGIT / "-" / "." /
/// "_" / "~"`.
fn verifier_syntax(what: &'static str, value: &str) -> Result<(), Error> {
    let unreserved =
        |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~');
    if !(43..=128).contains(&value.len()) || !value.bytes().all(unreserved) {
        return Err(Error::InvalidValue {
            what,
            problem: "must be 43 to 128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.1)",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B, byte for byte.
    #[test]
    fn rfc7636_appendix_b_vector() {
        let octets = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212,
            37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        let verifier = PkceVerifier::from_bytes(octets);
        assert_eq!(
            verifier.secret(),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
        assert_eq!(
            Sha256::digest(verifier.secret().as_bytes()).as_slice(),
            [
                19, 211, 30, 150, 26, 26, 216, 236, 47, 22, 177, 12, 76, 152, 46, 8, 118, 168, 120,
                173, 109, 241, 68, 86, 110, 225, 137, 74, 203, 112, 249, 195
            ]
        );
        assert_eq!(
            verifier.challenge().as_str(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn a_verifier_read_back_must_have_the_rfc_shape() {
        assert!(PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").is_ok());
        assert!(PkceVerifier::new("too-short").is_err());
        assert!(PkceVerifier::new("a".repeat(129)).is_err());
        assert!(PkceVerifier::new(format!("{}+", "a".repeat(43))).is_err());
    }
}

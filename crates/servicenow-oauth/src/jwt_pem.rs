//! [`PemSigner`], the default [`AssertionSigner`]: RS256 or ES256 with a private key read from
//! PEM, over RustCrypto's `rsa` and `p256` (feature `jwt`).
//!
//! Both sign deterministically and draw no randomness: RSASSA-PKCS1-v1_5 is deterministic, and
//! `p256` derives ECDSA nonces from the key and message (RFC 6979). That is what lets the sans-IO
//! machine call the signer, and what makes a signed assertion a fixed snapshot.

use p256::ecdsa::signature::Signer as _;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::signature::SignatureEncoding as _;
use rsa::traits::PublicKeyParts as _;

use crate::{
    AssertionClaims, AssertionSigner, Error, JwsAlgorithm, JwtAssertion, encode_compact_jwt,
};

/// The smallest RSA modulus accepted, in bits (NIST SP 800-131A; RFC 7518 §3.3 asks 2048).
const MIN_RSA_BITS: usize = 2048;

/// Signs assertions with an RSA (RS256) or P-256 (ES256) private key read from PEM.
///
/// Accepted: PKCS#8 (`BEGIN PRIVATE KEY`) of either kind, PKCS#1 (`BEGIN RSA PRIVATE KEY`) and
/// SEC1 (`BEGIN EC PRIVATE KEY`); RSA keys of at least 2048 bits. Encrypted PKCS#8 is refused
/// with a message saying to decrypt it first. The key is zeroized on drop, and `Debug` shows
/// only the algorithm and `kid`.
pub struct PemSigner {
    key: SigningKey,
    key_id: Option<String>,
}

enum SigningKey {
    Rs256(Box<rsa::pkcs1v15::SigningKey<sha2::Sha256>>),
    Es256(Box<p256::ecdsa::SigningKey>),
}

impl std::fmt::Debug for PemSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PemSigner")
            .field("algorithm", &self.algorithm())
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl PemSigner {
    /// Reads a private key from PEM text; the algorithm follows from the key (RSA → RS256,
    /// P-256 → ES256). `key_id` is the `kid` header: the "Kid" of the instance's JWT verifier
    /// map that holds the matching certificate.
    ///
    /// # Errors
    ///
    /// [`Error::SigningKey`] naming the problem (never echoing the key): not PEM, encrypted,
    /// another key type or curve, an RSA key under 2048 bits.
    pub fn from_pem(pem: &str, key_id: Option<String>) -> Result<Self, Error> {
        let label = pem_label(pem).ok_or(Error::SigningKey {
            problem: "the text is not a PEM private key (no -----BEGIN ...----- line)",
        })?;
        let key = match label {
            "RSA PRIVATE KEY" => rsa_key(rsa::RsaPrivateKey::from_pkcs1_pem(pem).map_err(|_| {
                Error::SigningKey {
                    problem: "the PKCS#1 RSA private key could not be read",
                }
            })?)?,
            "EC PRIVATE KEY" => SigningKey::Es256(Box::new(
                p256::SecretKey::from_sec1_pem(pem)
                    .map_err(|_| Error::SigningKey {
                        problem: "the SEC1 EC private key could not be read (only P-256 is supported)",
                    })?
                    .into(),
            )),
            "PRIVATE KEY" => {
                if let Ok(key) = rsa::RsaPrivateKey::from_pkcs8_pem(pem) {
                    rsa_key(key)?
                } else if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
                    SigningKey::Es256(Box::new(key))
                } else {
                    return Err(Error::SigningKey {
                        problem: "the PKCS#8 key is neither RSA nor EC P-256",
                    });
                }
            }
            "ENCRYPTED PRIVATE KEY" => {
                return Err(Error::SigningKey {
                    problem: "the key is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN)",
                });
            }
            _ => {
                return Err(Error::SigningKey {
                    problem: "the PEM block is not a private key",
                });
            }
        };
        Ok(Self { key, key_id })
    }
}

fn rsa_key(key: rsa::RsaPrivateKey) -> Result<SigningKey, Error> {
    if key.size() * 8 < MIN_RSA_BITS {
        return Err(Error::SigningKey {
            problem: "the RSA key is shorter than 2048 bits",
        });
    }
    Ok(SigningKey::Rs256(Box::new(rsa::pkcs1v15::SigningKey::new(
        key,
    ))))
}

/// The label of the first PEM block (`BEGIN <label>`), if any.
fn pem_label(pem: &str) -> Option<&str> {
    let start = pem.find("-----BEGIN ")? + "-----BEGIN ".len();
    let rest = &pem[start..];
    let end = rest.find("-----")?;
    Some(&rest[..end])
}

impl AssertionSigner for PemSigner {
    fn algorithm(&self) -> JwsAlgorithm {
        match self.key {
            SigningKey::Rs256(_) => JwsAlgorithm::Rs256,
            SigningKey::Es256(_) => JwsAlgorithm::Es256,
        }
    }

    fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    fn sign(&self, claims: &AssertionClaims) -> Result<JwtAssertion, Error> {
        encode_compact_jwt(
            self.algorithm(),
            self.key_id(),
            claims,
            |input| match &self.key {
                SigningKey::Rs256(key) => {
                    let signature = key.try_sign(input).map_err(|_| Error::Signing {
                        problem: "the RSA key could not sign",
                    })?;
                    Ok(signature.to_vec())
                }
                SigningKey::Es256(key) => {
                    let signature: p256::ecdsa::Signature =
                        key.try_sign(input).map_err(|_| Error::Signing {
                            problem: "the P-256 key could not sign",
                        })?;
                    Ok(signature.to_bytes().to_vec())
                }
            },
        )
    }
}

//! The JWT bearer grant's assertion (RFC 7523 §2.1, §3): its claims, the [`AssertionSigner`]
//! that turns them into a compact JWS, and [`JwtBearer`], which makes a fresh assertion for each
//! token request from a time and a random generator the caller supplies.
//!
//! ServiceNow checks `iss`, `sub`, `aud` and `exp` (and `iat` against its clock skew) and, with
//! "Enable JTI Verification" on (the default), refuses a `jti` it has seen: every token request
//! needs a new assertion, which is why this module builds assertions per request rather than
//! holding one (see `servicenow-api-more.md` §5).

use std::{fmt, sync::Arc, time::Duration};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::CryptoRng;
use serde::Serialize;

use crate::secret::{new_secret_type, visible_ascii};
use crate::{ClientId, Error};

new_secret_type! {
    /// A signed JWT in compact serialization (`header.claims.signature`), sent once as the
    /// `assertion` of a JWT bearer token request. Whoever holds it can obtain a token until its
    /// `exp`, so it is a secret like a password.
    #[derive(Clone)]
    JwtAssertion, what = "JWT assertion", validate = visible_ascii,
}

/// The JWS algorithms ServiceNow's JWT verifier accepts and this crate can sign with
/// (RS256 and ES256; the docs also list RS384/512 and ES384/512).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwsAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3): the algorithm of ServiceNow's sample.
    Rs256,
    /// ECDSA on P-256 with SHA-256 (RFC 7518 §3.4), signature as `r || s`.
    Es256,
}

impl JwsAlgorithm {
    /// The `alg` header value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
        }
    }
}

/// A JWT id (`jti`, RFC 7519 §4.1.7): unique per assertion, because ServiceNow refuses one it
/// has already seen. Not a secret.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct JwtId(String);

impl JwtId {
    /// A random version-4 UUID (the form of ServiceNow's sample) from 122 bits of `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0_u8; 16];
        rng.fill_bytes(&mut bytes);
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        Self(format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        ))
    }

    /// A given id (for tests and for callers with their own scheme).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when `value` is empty.
    pub fn new(value: impl Into<String>) -> Result<Self, Error> {
        let value = value.into();
        crate::secret::non_empty("JWT id", &value)?;
        Ok(Self(value))
    }

    /// The id as it appears in the claims.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The claims of one assertion (RFC 7523 §3), serialized in this order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AssertionClaims {
    /// `iss`: who made the assertion; ServiceNow recommends the client id.
    pub iss: String,
    /// `sub`: the user the token acts for, matched against the registry's "User Field".
    pub sub: String,
    /// `aud`: the client id (ServiceNow's endpoint page) or the token endpoint (its grant page).
    pub aud: String,
    /// `iat`: when the assertion was made, in unix seconds.
    pub iat: u64,
    /// `exp`: when it stops being accepted, in unix seconds.
    pub exp: u64,
    /// `jti`: unique per assertion.
    pub jti: JwtId,
}

/// The protected header of an assertion: `alg`, `typ` and, when the key has one, `kid`
/// (ServiceNow picks the JWT verifier map by `kid`).
#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
}

/// Signs assertion claims into a compact JWT. [`PemSigner`](crate::PemSigner) (feature `jwt`)
/// signs with a private key read from PEM; implement this trait to sign elsewhere (a hardware
/// module, a cloud key service, the operating system's keyring), usually with
/// [`encode_compact_jwt`] doing the encoding.
///
/// Implementations must be deterministic functions of the claims and the key: they are called
/// by the sans-IO machine, which reads no clock and no operating-system randomness (ECDSA
/// nonces from RFC 6979, no RSA blinding from an OS generator).
pub trait AssertionSigner: Send + Sync + fmt::Debug {
    /// The `alg` this signer produces.
    fn algorithm(&self) -> JwsAlgorithm;

    /// The `kid` header: the "Kid" of the instance's JWT verifier map for this key.
    fn key_id(&self) -> Option<&str>;

    /// Signs `claims`, returning the compact JWT.
    ///
    /// # Errors
    ///
    /// [`Error::Signing`] when the key cannot sign.
    fn sign(&self, claims: &AssertionClaims) -> Result<JwtAssertion, Error>;
}

/// The compact serialization (RFC 7515 §7.1) of `claims` with the header of `algorithm` and
/// `key_id`, the signature made by `sign` over the signing input (`base64url(header) "."
/// base64url(claims)`), for [`AssertionSigner`] implementations.
///
/// # Errors
///
/// What `sign` returns; [`Error::Signing`] if the claims cannot be encoded.
pub fn encode_compact_jwt(
    algorithm: JwsAlgorithm,
    key_id: Option<&str>,
    claims: &AssertionClaims,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, Error>,
) -> Result<JwtAssertion, Error> {
    let header = Header {
        alg: algorithm.as_str(),
        typ: "JWT",
        kid: key_id,
    };
    let mut compact = segment(&header)?;
    compact.push('.');
    compact.push_str(&segment(claims)?);
    let signature = sign(compact.as_bytes())?;
    compact.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut compact);
    JwtAssertion::new(compact)
}

/// One base64url-encoded JSON segment of a compact JWS.
fn segment<T: Serialize>(value: &T) -> Result<String, Error> {
    let json = serde_json::to_vec(value).map_err(|_| Error::Signing {
        problem: "the claims could not be encoded as JSON",
    })?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// Whose `aud` the assertion names: the sources disagree (`servicenow-api-more.md` §5), so it
/// is a choice, the client id by default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtAudience {
    /// The client id: ServiceNow's "Create a JWT endpoint" page and its sample JWT.
    #[default]
    ClientId,
    /// Any other value, such as the token endpoint URL (ServiceNow's JWT bearer grant page).
    Custom(String),
}

/// How a credential makes its assertions: who it acts for (`sub`), the signer, and the claim
/// choices. Cheap to clone (the signer is shared).
///
/// [`assertion`](Self::assertion) makes a fresh one, with its own `jti`, `iat` and `exp`, from a
/// time and a random generator the caller supplies: the sans-IO machine passes its `now` and
/// its seeded generator, so tests get byte-identical assertions.
#[derive(Clone, Debug)]
pub struct JwtBearer {
    subject: String,
    signer: Arc<dyn AssertionSigner>,
    audience: JwtAudience,
    issuer: Option<String>,
    lifetime: Duration,
}

impl JwtBearer {
    /// How long an assertion is valid by default: 60 s, as in ServiceNow's sample (`iat = exp -
    /// 60`). It is used once, right away.
    pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);

    /// Assertions for `subject` (the value of the user field the instance matches `sub`
    /// against, such as a user name or an email address), signed by `signer`; `iss` and `aud`
    /// are the client id.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when `subject` is empty.
    pub fn new(
        subject: impl Into<String>,
        signer: Arc<dyn AssertionSigner>,
    ) -> Result<Self, Error> {
        let subject = subject.into();
        crate::secret::non_empty("JWT subject", &subject)?;
        Ok(Self {
            subject,
            signer,
            audience: JwtAudience::default(),
            issuer: None,
            lifetime: Self::DEFAULT_LIFETIME,
        })
    }

    /// Names another `aud`.
    #[must_use]
    pub fn with_audience(mut self, audience: JwtAudience) -> Self {
        self.audience = audience;
        self
    }

    /// Names another `iss` than the client id (the instance then needs a claim validation).
    #[must_use]
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Another assertion lifetime (at least one second).
    #[must_use]
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime.max(Duration::from_secs(1));
        self
    }

    /// The `sub` of every assertion.
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The signer.
    #[must_use]
    pub fn signer(&self) -> &Arc<dyn AssertionSigner> {
        &self.signer
    }

    /// The claims of an assertion made at `now_unix_seconds` with id `jti`.
    #[must_use]
    pub fn claims(
        &self,
        client_id: &ClientId,
        now_unix_seconds: u64,
        jti: JwtId,
    ) -> AssertionClaims {
        let aud = match &self.audience {
            JwtAudience::ClientId => client_id.as_str().to_owned(),
            JwtAudience::Custom(audience) => audience.clone(),
        };
        AssertionClaims {
            iss: self
                .issuer
                .clone()
                .unwrap_or_else(|| client_id.as_str().to_owned()),
            sub: self.subject.clone(),
            aud,
            iat: now_unix_seconds,
            exp: now_unix_seconds.saturating_add(self.lifetime.as_secs()),
            jti,
        }
    }

    /// A fresh signed assertion: `iat` is `now_unix_seconds`, `exp` one lifetime later, `jti` a
    /// new UUID from `rng`.
    ///
    /// # Errors
    ///
    /// What the signer returns ([`Error::Signing`]).
    pub fn assertion<R: CryptoRng + ?Sized>(
        &self,
        client_id: &ClientId,
        now_unix_seconds: u64,
        rng: &mut R,
    ) -> Result<JwtAssertion, Error> {
        let claims = self.claims(client_id, now_unix_seconds, JwtId::generate(rng));
        self.signer.sign(&claims)
    }
}

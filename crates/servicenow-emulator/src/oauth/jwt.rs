//! The JWT bearer grant as ServiceNow verifies it (`servicenow-api-more.md` §5): a registered
//! public key per `kid` (the "JWT Verifier Maps"), RS256 or ES256, the required `iss`, `sub`,
//! `aud` and `exp`, `iat` within the clock skew, and (on the caller's side) the `jti` replay
//! check and the user lookup by the configured user field.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Verifier as _;
use p256::pkcs8::DecodePublicKey as _;

/// The JWT verification of one registry entry ("Create an OAuth JWT API endpoint for external
/// clients"): which keys, how the user is found, how time and replays are checked.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JwtEndpoint {
    /// The JWT Verifier Maps: one public key per `kid`.
    pub verifier_keys: Vec<JwtVerifierKey>,
    /// The `sys_user` field `sub` is matched against ("User Field"). Default: the user name.
    pub user_field: JwtUserField,
    /// "Clock Skew": how far `exp` may be past and `iat` ahead. Default 300 s (the JWT endpoint
    /// page's; the Machine Identity Console's is 0 s).
    pub clock_skew: Duration,
    /// "Enable JTI Verification": every token request needs a new `jti`. Default on.
    pub jti_verification: bool,
    /// What `aud` must be. Default: the client id (the JWT endpoint page and its sample).
    pub audience: JwtAudienceRule,
}

impl JwtEndpoint {
    /// Verification with these keys and every default.
    pub fn new(verifier_keys: Vec<JwtVerifierKey>) -> Self {
        Self {
            verifier_keys,
            user_field: JwtUserField::UserName,
            clock_skew: Duration::from_secs(300),
            jti_verification: true,
            audience: JwtAudienceRule::ClientId,
        }
    }

    /// Matches `sub` against this user field.
    pub fn with_user_field(mut self, user_field: JwtUserField) -> Self {
        self.user_field = user_field;
        self
    }

    /// Another clock skew.
    pub fn with_clock_skew(mut self, clock_skew: Duration) -> Self {
        self.clock_skew = clock_skew;
        self
    }

    /// Another `aud` rule.
    pub fn with_audience(mut self, audience: JwtAudienceRule) -> Self {
        self.audience = audience;
        self
    }
}

/// The `sys_user` field a JWT's `sub` names the user by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtUserField {
    /// `user_name`.
    UserName,
    /// `email`.
    Email,
}

/// What a JWT's `aud` must be; the sources disagree, so both are possible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtAudienceRule {
    /// The client id ("Create a JWT endpoint" page).
    ClientId,
    /// The token endpoint URL, `{instance}/oauth_token.do` ("JWT bearer grant" page).
    TokenEndpoint,
    /// Either of them.
    Either,
}

/// One JWT Verifier Map: a `kid` and the public key whose signatures it accepts.
#[derive(Clone)]
pub struct JwtVerifierKey {
    kid: String,
    key: PublicKey,
}

#[derive(Clone)]
enum PublicKey {
    Rs256(rsa::pkcs1v15::VerifyingKey<sha2::Sha256>),
    Es256(p256::ecdsa::VerifyingKey),
}

impl std::fmt::Debug for JwtVerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let algorithm = match self.key {
            PublicKey::Rs256(_) => "RS256",
            PublicKey::Es256(_) => "ES256",
        };
        f.debug_struct("JwtVerifierKey")
            .field("kid", &self.kid)
            .field("algorithm", &algorithm)
            .finish()
    }
}

impl JwtVerifierKey {
    /// A verifier map for `kid` from a public key in PEM (`BEGIN PUBLIC KEY`, RSA or P-256):
    /// what the instance's certificate holds.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Config`] when the PEM is no RSA or P-256 public key.
    pub fn from_pem(kid: impl Into<String>, pem: &str) -> Result<Self, crate::Error> {
        let key = if let Ok(key) = rsa::RsaPublicKey::from_public_key_pem(pem) {
            PublicKey::Rs256(rsa::pkcs1v15::VerifyingKey::new(key))
        } else if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            PublicKey::Es256(key)
        } else {
            return Err(crate::Error::Config(
                "a JWT verifier key must be an RSA or P-256 public key in PEM (BEGIN PUBLIC KEY)"
                    .to_owned(),
            ));
        };
        Ok(Self {
            kid: kid.into(),
            key,
        })
    }

    /// The `kid` this key answers to.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    fn verifies(&self, algorithm: &str, signing_input: &[u8], signature: &[u8]) -> bool {
        match (&self.key, algorithm) {
            (PublicKey::Rs256(key), "RS256") => rsa::pkcs1v15::Signature::try_from(signature)
                .is_ok_and(|signature| {
                    rsa::signature::Verifier::verify(key, signing_input, &signature).is_ok()
                }),
            (PublicKey::Es256(key), "ES256") => p256::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify(signing_input, &signature).is_ok()),
            _ => false,
        }
    }
}

/// Why an assertion was refused; each is one `error_description` in the RFC 6749 mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JwtProblem {
    Malformed,
    UnsupportedAlgorithm,
    UnknownKid,
    BadSignature,
    MissingClaim,
    WrongIssuer,
    WrongAudience,
    Expired,
    IssuedInTheFuture,
    Replayed,
    UnknownUser,
}

impl JwtProblem {
    pub(crate) fn description(self) -> &'static str {
        match self {
            Self::Malformed => "the assertion is not a compact JWS with JSON header and claims",
            Self::UnsupportedAlgorithm => "the JWT algorithm is not RS256 or ES256",
            Self::UnknownKid => "no JWT verifier map has the JWT's kid",
            Self::BadSignature => "the JWT signature does not verify with the registered key",
            Self::MissingClaim => "the JWT lacks one of iss, sub, aud, exp (or jti)",
            Self::WrongIssuer => "the JWT iss is not the client id",
            Self::WrongAudience => "the JWT aud does not match",
            Self::Expired => "the JWT has expired",
            Self::IssuedInTheFuture => "the JWT iat is in the future",
            Self::Replayed => "the JWT id (jti) was already used",
            Self::UnknownUser => "the JWT sub matches no user",
        }
    }
}

/// A verified assertion: who it is for, and the `jti` to remember until `exp`.
pub(crate) struct VerifiedJwt {
    pub(crate) subject: String,
    pub(crate) jti: Option<String>,
    pub(crate) expires_at: SystemTime,
}

/// Verifies `assertion` for the registry entry `client_id` at `now`: signature, `iss`, `sub`,
/// `aud`, `exp`, `iat`. The replay and user checks need the server's state and come after.
pub(crate) fn verify(
    endpoint: &JwtEndpoint,
    client_id: &str,
    token_endpoint: &str,
    assertion: &str,
    now: SystemTime,
) -> Result<VerifiedJwt, JwtProblem> {
    let mut parts = assertion.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtProblem::Malformed);
    };
    let json = |part: &str| -> Result<serde_json::Map<String, serde_json::Value>, JwtProblem> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| JwtProblem::Malformed)?;
        match serde_json::from_slice(&bytes) {
            Ok(serde_json::Value::Object(object)) => Ok(object),
            _ => Err(JwtProblem::Malformed),
        }
    };
    let header_json = json(header)?;
    let claims_json = json(claims)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwtProblem::Malformed)?;
    let algorithm = header_json
        .get("alg")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    if !matches!(algorithm, "RS256" | "ES256") {
        return Err(JwtProblem::UnsupportedAlgorithm);
    }
    // Without `kid` (behaviour unknown on an instance) the only registered key is used.
    let key = match header_json.get("kid").and_then(serde_json::Value::as_str) {
        Some(kid) => endpoint.verifier_keys.iter().find(|key| key.kid == kid),
        None if endpoint.verifier_keys.len() == 1 => endpoint.verifier_keys.first(),
        None => None,
    }
    .ok_or(JwtProblem::UnknownKid)?;
    let signing_input = &assertion[..header.len() + 1 + claims.len()];
    if !key.verifies(algorithm, signing_input.as_bytes(), &signature) {
        return Err(JwtProblem::BadSignature);
    }
    let text = |name: &str| claims_json.get(name).and_then(serde_json::Value::as_str);
    let seconds = |name: &str| claims_json.get(name).and_then(serde_json::Value::as_u64);
    let (Some(issuer), Some(subject), Some(audience), Some(exp)) =
        (text("iss"), text("sub"), text("aud"), seconds("exp"))
    else {
        return Err(JwtProblem::MissingClaim);
    };
    let jti = text("jti").map(str::to_owned);
    if endpoint.jti_verification && jti.is_none() {
        return Err(JwtProblem::MissingClaim);
    }
    if issuer != client_id {
        return Err(JwtProblem::WrongIssuer);
    }
    let audience_matches = match endpoint.audience {
        JwtAudienceRule::ClientId => audience == client_id,
        JwtAudienceRule::TokenEndpoint => audience == token_endpoint,
        JwtAudienceRule::Either => audience == client_id || audience == token_endpoint,
    };
    if !audience_matches {
        return Err(JwtProblem::WrongAudience);
    }
    let now_seconds = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let skew = endpoint.clock_skew.as_secs();
    if exp.saturating_add(skew) <= now_seconds {
        return Err(JwtProblem::Expired);
    }
    if seconds("iat").is_some_and(|iat| iat > now_seconds.saturating_add(skew)) {
        return Err(JwtProblem::IssuedInTheFuture);
    }
    Ok(VerifiedJwt {
        subject: subject.to_owned(),
        jti,
        expires_at: UNIX_EPOCH + Duration::from_secs(exp.saturating_add(skew)),
    })
}

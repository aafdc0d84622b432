//! OAuth 2.0 as ServiceNow speaks it: validated protocol types, request builders and response
//! parsers, with no IO.
//!
//! This crate is the protocol as data. It gives you:
//! - newtypes for every protocol string, validated at construction ([`InstanceUrl`],
//!   [`ClientId`], [`RedirectUri`], [`Scope`] and [`ScopeSet`], …);
//! - the one origin rule: [`InstanceUrl::same_origin`] (may this request carry the instance's
//!   token?), [`is_loopback_host`] (may this host be reached over plain `http`?) and
//!   [`origin_of`] (where was a request going, for an error message);
//! - secrets as types ([`ClientSecret`], [`AuthorizationCode`], [`PkceVerifier`], [`State`],
//!   [`AccessToken`], [`RefreshToken`]): `Debug` prints `TypeName([redacted])`, there is no
//!   `Display` and no `Serialize`, the value is reached through `.secret()`, and it is zeroized
//!   on drop; storage opts in explicitly through [`expose_secret`];
//! - PKCE with S256 only (RFC 7636) and a `state` generator;
//! - the authorization URL for `GET {instance}/oauth_auth.do` ([`AuthorizationRequest::url`]);
//! - token requests for `POST {instance}/oauth_token.do` ([`token_request`]) as
//!   `http::Request<Bytes>`, with `client_secret_post` (the default) or `client_secret_basic`;
//! - the JWT bearer grant (RFC 7523): the assertion's claims, the [`AssertionSigner`] trait,
//!   [`JwtBearer`] which makes a fresh assertion (new `jti`, `iat`, `exp`) per token request
//!   from a caller-supplied time and RNG, and [`PemSigner`] (feature `jwt`: RS256 and ES256
//!   from PEM keys, over RustCrypto's `rsa` and `p256`);
//! - revocation requests ([`revocation_request`]);
//! - parsers for the token response ([`parse_token_response`]) and for the redirect's query
//!   string ([`parse_callback_query`]);
//! - redacting `Debug` views of requests and responses ([`RedactedRequest`],
//!   [`RedactedResponse`]), because `http`'s own `Debug` prints bodies and URIs that hold
//!   secrets.
//!
//! `examples/protocol-types` in the repository is a whole program using this crate alone (with
//! `ureq` sending the request), run against the emulator by `cargo test`.
//!
//! What it deliberately does not do: it sends nothing, reads no clock, and draws no randomness
//! of its own (randomness comes from a caller-supplied [`rand_core::CryptoRng`] or from bytes).
//!
//! # Your RNG, without a version trap
//!
//! The generators take a `rand_core` 0.9 [`CryptoRng`](rand_core::CryptoRng); this crate
//! re-exports that `rand_core` (and the [`http`] and [`bytes`] crates its requests are made
//! of), so an RNG is always named through the trait the generators take. `rand` 0.9's
//! `rand::rng()` works as it is; an RNG of another `rand` version (or none) either implements
//! the re-exported traits, or hands 32 bytes to [`State::from_bytes`] and
//! [`PkceVerifier::from_bytes`]:
//!
//! ```
//! use servicenow_oauth::rand_core::{CryptoRng, RngCore};
//! use servicenow_oauth::{PkceVerifier, State};
//!
//! /// The application's own CSPRNG (here a stand-in counter: never do this for real).
//! struct AppRng(u8);
//!
//! impl RngCore for AppRng {
//!     fn next_u32(&mut self) -> u32 { u32::from(self.next()) }
//!     fn next_u64(&mut self) -> u64 { u64::from(self.next()) }
//!     fn fill_bytes(&mut self, dest: &mut [u8]) { dest.iter_mut().for_each(|byte| *byte = self.next()) }
//! }
//! impl CryptoRng for AppRng {}
//! impl AppRng {
//!     fn next(&mut self) -> u8 { self.0 = self.0.wrapping_add(1); self.0 }
//! }
//!
//! let state = State::generate(&mut AppRng(0));
//! assert_eq!(state.secret().len(), State::GENERATED_LENGTH);
//! let verifier = PkceVerifier::generate(&mut AppRng(0));
//! // The same 32 bytes through the byte constructors, for an RNG that implements no trait.
//! let bytes: [u8; 32] = std::array::from_fn(|index| index as u8 + 1);
//! assert!(PkceVerifier::from_bytes(bytes).challenge() == verifier.challenge());
//! assert_eq!(State::from_bytes(bytes).secret().len(), 64);
//! ```
//! It keeps no state: checking that a callback's `state` is the one issued, scheduling refreshes
//! and storing tokens belong to the layers above (`servicenow-auth`, `servicenow-store`).
//!
//! ```
//! use rand_core::SeedableRng as _;
//! use servicenow_oauth::{
//!     AuthorizationRequest, AuthorizationResponse, ClientId, InstanceUrl, OAuthClient,
//!     PkceVerifier, RedirectUri, ScopeSet, State, TokenGrant, parse_callback_query,
//!     token_request,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
//! // `rng` is any cryptographically secure RNG the application owns.
//! let instance = InstanceUrl::new("https://example.service-now.com")?;
//! let client_id = ClientId::new("3f2a9c")?;
//! let redirect_uri = RedirectUri::new("http://127.0.0.1:8400/callback")?;
//! let state = State::generate(&mut rng);
//! let verifier = PkceVerifier::generate(&mut rng);
//!
//! let login_url = AuthorizationRequest {
//!     client_id: &client_id,
//!     redirect_uri: &redirect_uri,
//!     scope: &ScopeSet::parse("useraccount")?,
//!     state: &state,
//!     pkce_challenge: &verifier.challenge(),
//! }
//! .url(&instance);
//! assert!(login_url.as_str().starts_with("https://example.service-now.com/oauth_auth.do?"));
//!
//! // The browser comes back to the redirect URI with `?code=…&state=…`.
//! let callback = format!("code=abc123&state={}", state.secret());
//! let AuthorizationResponse::Success(success) = parse_callback_query(&callback)? else {
//!     return Err("the user denied access".into());
//! };
//! assert!(success.state == state, "compare in constant time, then exchange the code");
//!
//! let request = token_request(
//!     &instance,
//!     &OAuthClient::public(client_id),
//!     &TokenGrant::AuthorizationCode {
//!         code: &success.code,
//!         redirect_uri: &redirect_uri,
//!         code_verifier: &verifier,
//!     },
//! )?;
//! assert_eq!(request.uri(), "https://example.service-now.com/oauth_token.do");
//! # Ok(())
//! # }
//! ```
//!
//! # Standards
//!
//! Item docs cite sections of:
//! [RFC 6749](https://www.rfc-editor.org/rfc/rfc6749) (OAuth 2.0),
//! [RFC 6750](https://www.rfc-editor.org/rfc/rfc6750) (bearer tokens),
//! [RFC 7009](https://www.rfc-editor.org/rfc/rfc7009) (revocation),
//! [RFC 7636](https://www.rfc-editor.org/rfc/rfc7636) (PKCE),
//! [RFC 8252](https://www.rfc-editor.org/rfc/rfc8252) (native apps),
//! [RFC 9207](https://www.rfc-editor.org/rfc/rfc9207) (issuer identification) and
//! [RFC 9700](https://www.rfc-editor.org/rfc/rfc9700) (OAuth 2.0 security best current practice).
//!
//! # Cargo features
//!
//! - `jwt` (off by default): [`PemSigner`], the default [`AssertionSigner`] (RS256 and ES256
//!   with a private key from PEM). The trait and the JWT bearer request need no feature.
//! - `password-grant` (off by default): `TokenGrant::Password` and its
//!   `ResourceOwnerUsername` / `ResourceOwnerPassword` types. RFC 9700 §2.4 says the resource
//!   owner password grant MUST NOT be used; it exists because ServiceNow's own examples use it.
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod authorize;
mod callback;
mod error;
mod error_response;
pub mod expose_secret;
mod instance_url;
mod jwt;
#[cfg(feature = "jwt")]
mod jwt_pem;
mod origin;
mod pkce;
mod redact;
mod revocation;
mod secret;
mod state;
mod token_request;
mod token_response;
mod types;

/// The `bytes` crate: [`Bytes`](bytes::Bytes) is the body of every request built here.
pub use bytes;
/// The `http` crate, whose `Request`, `Response` and `Uri` this crate's functions take and return.
pub use http;
/// The `rand_core` (0.9) whose [`CryptoRng`](rand_core::CryptoRng) the generators take.
pub use rand_core;

pub use crate::authorize::AuthorizationRequest;
pub use crate::callback::{
    AuthorizationError, AuthorizationResponse, AuthorizationSuccess, parse_callback_query,
    parse_callback_uri,
};
pub use crate::error::{CallbackProblem, Error, InstanceUrlProblem};
pub use crate::error_response::{ErrorCode, ErrorResponse};
pub use crate::instance_url::InstanceUrl;
pub use crate::jwt::{
    AssertionClaims, AssertionSigner, JwsAlgorithm, JwtAssertion, JwtAudience, JwtBearer, JwtId,
    encode_compact_jwt,
};
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub use crate::jwt_pem::PemSigner;
pub use crate::origin::{is_loopback_host, origin_of};
pub use crate::pkce::{PkceChallenge, PkceVerifier};
pub use crate::redact::{RedactedRequest, RedactedResponse};
pub use crate::revocation::{RevocableToken, RevocationStyle, revocation_request};
pub use crate::secret::SecretValue;
pub use crate::state::State;
pub use crate::token_request::{
    ClientAuthMethod, JWT_BEARER_GRANT_TYPE, OAuthClient, TokenGrant, token_request,
};
pub use crate::token_response::{
    FailureClass, TokenEndpointError, TokenErrorKind, TokenResponse, TokenResponseOptions,
    TokenResponseProblem, parse_token_response, parse_token_response_body,
};
pub use crate::types::{
    AccessToken, AuthorizationCode, ClientId, ClientSecret, RedirectUri, RefreshToken, Scope,
    ScopeSet,
};
#[cfg(feature = "password-grant")]
#[cfg_attr(docsrs, doc(cfg(feature = "password-grant")))]
pub use crate::types::{ResourceOwnerPassword, ResourceOwnerUsername};

//! How one machine is configured: the client, the credential kind, and the timing rules.

use std::time::Duration;

use servicenow_oauth::{
    InstanceUrl, OAuthClient, RedirectUri, RevocationStyle, ScopeSet, TokenResponseOptions,
};

use crate::backoff::BackoffPolicy;

/// Everything a machine needs to know that is not state: one per credential.
///
/// Fields are public and there is no `Default`: the instance and client must be named. The
/// constructors fill [`Timing::SERVICENOW`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AuthConfig {
    /// The ServiceNow instance, authorization and token server both.
    pub instance: InstanceUrl,
    /// The OAuth client registered in the instance's Application Registry: its id, its secret
    /// (none for a public client) and how it authenticates (`client_secret_post` by default, as
    /// ServiceNow documents).
    pub client: OAuthClient,
    /// Which grant obtains tokens.
    pub credential: Credential,
    /// Scopes to ask for; empty means the registry's default (`useraccount`).
    pub scopes: ScopeSet,
    /// The issuer identifier a login callback's `iss` must equal when the callback carries one
    /// (RFC 9207); `None` skips the check (ServiceNow does not send `iss`).
    pub expected_issuer: Option<String>,
    /// How logout sends revocations (the RFC 7009 POST form by default).
    pub revocation_style: RevocationStyle,
    /// How token responses are read (the `expires_in` assumed when a response has none).
    pub token_response: TokenResponseOptions,
    /// When to refresh, how long logins live, how to back off.
    pub timing: Timing,
}

impl AuthConfig {
    /// A user credential: authorization code + PKCE S256 login, then refresh tokens.
    pub fn authorization_code(
        instance: InstanceUrl,
        client: OAuthClient,
        redirect_uri: RedirectUri,
    ) -> Self {
        Self::with_credential(
            instance,
            client,
            Credential::AuthorizationCode { redirect_uri },
        )
    }

    /// A service credential ("integration as a service"): the client credentials grant, no refresh
    /// token; the machine acquires a new token before the old one expires.
    pub fn client_credentials(instance: InstanceUrl, client: OAuthClient) -> Self {
        Self::with_credential(instance, client, Credential::ClientCredentials)
    }

    /// A user credential by the JWT bearer grant (RFC 7523): each acquisition sends a new
    /// assertion made by `jwt` (a new `jti`, `iat` = the machine's `now`); ServiceNow issues no
    /// refresh token for it, so the machine acquires again before the access token expires,
    /// like client credentials.
    pub fn jwt_bearer(
        instance: InstanceUrl,
        client: OAuthClient,
        jwt: servicenow_oauth::JwtBearer,
    ) -> Self {
        Self::with_credential(instance, client, Credential::JwtBearer(jwt))
    }

    /// A user credential by the resource owner password grant, which RFC 9700 §2.4 forbids:
    /// only for integrations that cannot do better.
    #[cfg(feature = "password-grant")]
    #[cfg_attr(docsrs, doc(cfg(feature = "password-grant")))]
    pub fn password(
        instance: InstanceUrl,
        client: OAuthClient,
        username: servicenow_oauth::ResourceOwnerUsername,
        password: servicenow_oauth::ResourceOwnerPassword,
    ) -> Self {
        Self::with_credential(
            instance,
            client,
            Credential::Password { username, password },
        )
    }

    fn with_credential(instance: InstanceUrl, client: OAuthClient, credential: Credential) -> Self {
        Self {
            instance,
            client,
            credential,
            scopes: ScopeSet::default(),
            expected_issuer: None,
            revocation_style: RevocationStyle::default(),
            token_response: TokenResponseOptions::default(),
            timing: Timing::SERVICENOW,
        }
    }
}

/// The grant a machine obtains its tokens with.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Credential {
    /// A user logs in through the browser (authorization code + PKCE S256); refresh tokens keep
    /// the session alive.
    AuthorizationCode {
        /// Where the instance sends the browser back (must be registered in the instance).
        redirect_uri: RedirectUri,
    },
    /// The client acts as itself (`client_credentials`); tokens are re-acquired before expiry.
    ClientCredentials,
    /// The client acts for the assertion's `sub` (JWT bearer, RFC 7523): a new signed assertion
    /// per acquisition, no refresh token, re-acquired before expiry.
    JwtBearer(servicenow_oauth::JwtBearer),
    /// The resource owner password grant (feature `password-grant`).
    #[cfg(feature = "password-grant")]
    #[cfg_attr(docsrs, doc(cfg(feature = "password-grant")))]
    Password {
        /// The ServiceNow user name.
        username: servicenow_oauth::ResourceOwnerUsername,
        /// The user's password.
        password: servicenow_oauth::ResourceOwnerPassword,
    },
}

impl Credential {
    /// Whether tokens can be obtained without a person (client credentials, JWT bearer,
    /// password).
    pub fn is_non_interactive(&self) -> bool {
        !matches!(self, Self::AuthorizationCode { .. })
    }
}

/// The machine's clock rules.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct Timing {
    /// An access token is handed out only while `now < expires_at - refresh_skew`. For tokens
    /// that live less than twice this, half the token's lifetime is used instead, so that a
    /// server issuing short tokens does not cause a refresh loop.
    pub refresh_skew: Duration,
    /// The proactive refresh happens a random amount in `[0, refresh_jitter]` (from the seeded
    /// RNG, capped at a quarter of the token's lifetime) before the skew point, so that replicas
    /// sharing a token set do not refresh in lockstep.
    pub refresh_jitter: Duration,
    /// How long a begun login can be completed.
    pub login_lifetime: Duration,
    /// How long the machine waits for an answer before counting a request as failed.
    pub request_timeout: Duration,
    /// The refresh token's lifetime from its first issue (ServiceNow's default is 100 days);
    /// `None` if it never expires. ServiceNow returns the same refresh token string on refresh
    /// without extending its life, so this is never reset by a refresh that repeats the string.
    pub refresh_token_lifetime: Option<Duration>,
    /// How to space retries after transient failures.
    pub backoff: BackoffPolicy,
    /// The most logins pending at once; beginning one more forgets the oldest.
    pub max_pending_logins: usize,
}

impl Timing {
    /// ServiceNow's defaults and this crate's: 60 s skew, up to 30 s jitter, 10-minute logins,
    /// 30 s request timeout, 100-day refresh tokens, backoff from 1 s to 5 min, 32 pending logins.
    pub const SERVICENOW: Self = Self {
        refresh_skew: Duration::from_secs(60),
        refresh_jitter: Duration::from_secs(30),
        login_lifetime: Duration::from_secs(10 * 60),
        request_timeout: Duration::from_secs(30),
        refresh_token_lifetime: Some(Duration::from_secs(8_640_000)),
        backoff: BackoffPolicy::DEFAULT,
        max_pending_logins: 32,
    };
}

impl Default for Timing {
    fn default() -> Self {
        Self::SERVICENOW
    }
}

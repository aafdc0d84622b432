//! `Servicenow`: the app-level object, one per program, holding the one transport (one connection pool), the store and the clock that every credential handle shares.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
};

use servicenow_auth::{AuthConfig, Timing};
use servicenow_http::HttpTransport;
use servicenow_oauth::{InstanceUrl, JwtAudience, OAuthClient, RedirectUri, ScopeSet};
use servicenow_store::{CredentialKey, TokenStore};
use servicenow_table::RetryPolicy;

use crate::{
    client::Client,
    clock::{Clock, SystemClock},
    drive::{TokenEndpoint, os_seed},
    error::{ConfigError, Result},
    login::Login,
    manager::{self, ManagerOptions, ManagerShared, TokenManager},
    stores,
};

/// A ServiceNow integration: one per program (like quinn's `Endpoint`), holding the
/// configuration, one transport (one connection pool), the token store and the clock.
///
/// From it come cheap per-credential handles, [`Client`]s, that share all of it:
/// [`user`](Self::user) for a person signed in with the authorization code flow,
/// [`service`](Self::service) for the client credentials grant; and [`login`](Self::login) for
/// the web flow. An idle handle costs a few hundred bytes and no task; two handles of the same
/// credential share one token manager, so one refresh serves both.
///
/// ```no_run
/// # async fn example() -> servicenow::Result<()> {
/// use servicenow::{Servicenow, oauth::{ClientId, ClientSecret, InstanceUrl, OAuthClient}};
///
/// let instance = InstanceUrl::new("https://dev12345.service-now.com")?;
/// let oauth_client = OAuthClient::confidential(ClientId::new("3f2a…")?, ClientSecret::new("…")?);
/// // Integration as a service: the client credentials grant, tokens in the default SQLite store.
/// let app = Servicenow::builder(instance, oauth_client).build().await?;
/// let incidents = app.service().table::<servicenow::table::Record>("incident")?;
/// let open = incidents.first(None).await?;
/// # let _ = open; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Servicenow {
    app: Arc<App>,
}

/// What every handle of one [`Servicenow`] shares.
pub(crate) struct App {
    pub(crate) instance: InstanceUrl,
    /// The transport of Table API requests (token requests use `managers.endpoint`).
    pub(crate) transport: Arc<dyn HttpTransport>,
    pub(crate) retry: RetryPolicy,
    pub(crate) managers: Arc<ManagerShared>,
    /// The authorization code configuration, when a redirect URI was configured.
    pub(crate) user_config: Option<Arc<AuthConfig>>,
    service_config: Arc<AuthConfig>,
    /// Built once, so that asking for the service handle cannot fail.
    service_key: CredentialKey,
    live: Mutex<HashMap<CredentialKey, Weak<manager::Inner>>>,
    /// Seeds the Table API clients' retry jitter (from the operating system, once).
    pub(crate) jitter_seed: [u8; 32],
    /// The `aud` of JWT bearer assertions.
    jwt_audience: JwtAudience,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Servicenow")
            .field("instance", &self.instance)
            .field("managers", &self.managers)
            .finish_non_exhaustive()
    }
}

/// Which credential a handle uses; turned into the store key's subject, so that the kinds can
/// never collide (a user named like a service credential is still a user).
#[derive(Clone, Debug)]
pub(crate) enum CredentialKind<'a> {
    User(&'a str),
    Service,
    Jwt(&'a str),
    #[cfg(feature = "password-grant")]
    Password(&'a str),
}

impl CredentialKind<'_> {
    /// The store key of this credential of `client` on `instance`.
    fn key(&self, instance: &InstanceUrl, client: &OAuthClient) -> Result<CredentialKey> {
        Ok(CredentialKey::new(
            instance.origin(),
            client.client_id.as_str(),
            self.subject(),
        )?)
    }

    fn subject(&self) -> String {
        match self {
            Self::User(subject) => format!("user:{subject}"),
            Self::Service => "service:client-credentials".to_owned(),
            Self::Jwt(subject) => format!("jwt:{subject}"),
            #[cfg(feature = "password-grant")]
            Self::Password(username) => format!("password:{username}"),
        }
    }
}

impl App {
    /// The store key of a credential of this app.
    pub(crate) fn key(&self, kind: &CredentialKind<'_>) -> Result<CredentialKey> {
        kind.key(&self.instance, &self.service_config.client)
    }

    /// The live manager of `key`, or a new one registered for it.
    fn manager(&self, key: CredentialKey, config: &Arc<AuthConfig>) -> TokenManager {
        let mut live = self
            .live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(manager) = live.get(&key).and_then(TokenManager::upgrade) {
            return manager;
        }
        // Forget handles dropped since; amortized over the registrations.
        if live.len() >= 64 && live.len().is_power_of_two() {
            live.retain(|_, weak| weak.strong_count() > 0);
        }
        let manager =
            TokenManager::lazy(key.clone(), Arc::clone(config), Arc::clone(&self.managers));
        live.insert(key, manager.downgrade());
        manager
    }

    /// The live manager of `key`, if a handle holds one (to reload it after a login or logout).
    pub(crate) fn live_manager(&self, key: &CredentialKey) -> Option<TokenManager> {
        let live = self
            .live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        live.get(key).and_then(TokenManager::upgrade)
    }
}

impl Servicenow {
    pub(crate) fn from_app(app: Arc<App>) -> Self {
        Self { app }
    }

    /// Starts configuring an integration with `instance` and the OAuth client registered there.
    pub fn builder(instance: InstanceUrl, client: OAuthClient) -> ServicenowBuilder {
        ServicenowBuilder {
            instance,
            client,
            redirect_uri: None,
            store: StoreChoice::Default,
            transport: None,
            transport_config: servicenow_http::TransportConfig::default(),
            clock: None,
            scopes: ScopeSet::default(),
            timing: Timing::SERVICENOW,
            options: ManagerOptions::default(),
            retry: RetryPolicy::default(),
            jwt_audience: JwtAudience::default(),
        }
    }

    /// The instance this integration talks to.
    pub fn instance(&self) -> &InstanceUrl {
        &self.app.instance
    }

    /// The handle of a person's credential (authorization code + PKCE, then refresh tokens):
    /// `subject` is your application's own id for the user. Tokens exist once the user has
    /// signed in through [`login`](Self::login).
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoRedirectUri`] when no redirect URI was configured.
    pub fn user(&self, subject: &str) -> Result<Client> {
        let config = self.user_config()?;
        let kind = CredentialKind::User(subject);
        let key = self.app.key(&kind)?;
        let manager = self.app.manager(key, &config);
        Ok(Client::new(Arc::clone(&self.app), manager))
    }

    /// The handle of the integration's own credential: the client credentials grant ("integration
    /// as a service"; the instance must allow it:
    /// `glide.oauth.inbound.client.credential.grant_type.enabled`).
    pub fn service(&self) -> Client {
        let key = self.app.service_key.clone();
        let manager = self.app.manager(key, &self.app.service_config);
        Client::new(Arc::clone(&self.app), manager)
    }

    /// The handle of the JWT bearer grant (RFC 7523) for `subject`, the user the instance finds by
    /// its JWT endpoint's "User Field" (a user name or an email address): every acquisition sends
    /// a new assertion signed by `signer` (a new `jti`, `iat` now, `exp` a minute later, `iss`
    /// the client id, `aud` as [`ServicenowBuilder::jwt_audience`] says), there is no refresh
    /// token, and a new token is acquired before the old one expires. No shared secret is needed
    /// beyond the client's, and none if the registry entry is a public client.
    ///
    /// `signer` is usually a [`PemSigner`](servicenow_oauth::PemSigner) (feature `jwt`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`](crate::Error::InvalidValue) when `subject` is empty.
    pub fn jwt_bearer(
        &self,
        subject: &str,
        signer: Arc<dyn servicenow_oauth::AssertionSigner>,
    ) -> Result<Client> {
        let jwt = servicenow_oauth::JwtBearer::new(subject, signer)?
            .with_audience(self.app.jwt_audience.clone());
        let key = self.app.key(&CredentialKind::Jwt(subject))?;
        let mut config = (*self.app.service_config).clone();
        config.credential = servicenow_auth::Credential::JwtBearer(jwt);
        let manager = self.app.manager(key, &Arc::new(config));
        Ok(Client::new(Arc::clone(&self.app), manager))
    }

    /// The handle of the resource owner password grant for `username`, which RFC 9700 §2.4
    /// forbids: only when nothing else is possible.
    #[cfg(feature = "password-grant")]
    #[cfg_attr(docsrs, doc(cfg(feature = "password-grant")))]
    pub fn password(
        &self,
        username: servicenow_oauth::ResourceOwnerUsername,
        password: servicenow_oauth::ResourceOwnerPassword,
    ) -> Result<Client> {
        let kind = CredentialKind::Password(username.as_str());
        let key = self.app.key(&kind)?;
        let mut config = (*self.app.service_config).clone();
        config.credential = servicenow_auth::Credential::Password { username, password };
        let manager = self.app.manager(key, &Arc::new(config));
        Ok(Client::new(Arc::clone(&self.app), manager))
    }

    /// The web flow's helper: begin a user's login, complete it from the callback, log out.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoRedirectUri`] when no redirect URI was configured.
    pub fn login(&self) -> Result<Login> {
        Login::new(Arc::clone(&self.app))
    }

    fn user_config(&self) -> Result<Arc<AuthConfig>> {
        self.app
            .user_config
            .clone()
            .ok_or_else(|| ConfigError::NoRedirectUri.into())
    }
}

enum StoreChoice {
    Default,
    #[cfg(feature = "sqlite")]
    SqliteDirectory(std::path::PathBuf),
    Given(Arc<dyn TokenStore>),
}

/// Configures a [`Servicenow`]: the redirect URI, the store, the transport, the clock, the
/// policies.
#[must_use]
pub struct ServicenowBuilder {
    instance: InstanceUrl,
    client: OAuthClient,
    redirect_uri: Option<RedirectUri>,
    store: StoreChoice,
    transport: Option<Arc<dyn HttpTransport>>,
    transport_config: servicenow_http::TransportConfig,
    clock: Option<Arc<dyn Clock>>,
    scopes: ScopeSet,
    timing: Timing,
    options: ManagerOptions,
    retry: RetryPolicy,
    jwt_audience: JwtAudience,
}

impl std::fmt::Debug for ServicenowBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServicenowBuilder")
            .field("instance", &self.instance)
            .field("client", &self.client)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl ServicenowBuilder {
    /// Signs users in with the authorization code flow, the instance sending them back to
    /// `redirect_uri` (registered in its Application Registry). Needed by
    /// [`Servicenow::user`] and [`Servicenow::login`].
    pub fn redirect_uri(mut self, redirect_uri: RedirectUri) -> Self {
        self.redirect_uri = Some(redirect_uri);
        self
    }

    /// Keeps tokens in this store (PostgreSQL or Redis for many replicas, memory for tests).
    pub fn store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = StoreChoice::Given(store);
        self
    }

    /// Keeps tokens in the encrypted SQLite store in `directory` (created with mode 0700) instead
    /// of the user's data directory, its sealing key from
    /// [`stores::default_key_source`](crate::stores::default_key_source). For another key
    /// source, open a [`stores::Store`](crate::stores::Store) and pass it to
    /// [`store`](Self::store).
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub fn store_directory(mut self, directory: impl Into<std::path::PathBuf>) -> Self {
        self.store = StoreChoice::SqliteDirectory(directory.into());
        self
    }

    /// Sends every request through this transport, token requests included (default: the
    /// hardened reqwest transport, with a 64 KiB body cap on token responses). Replaces
    /// [`transport_config`](Self::transport_config).
    pub fn transport(mut self, transport: Arc<dyn HttpTransport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Builds the default transports with this configuration: the trust (the OS trust store
    /// by default, plus a CA file), a client certificate for mutual TLS, the proxy, the limits.
    /// Token requests use it with the token endpoint's smaller limits
    /// ([`TransportConfig::with_token_endpoint_limits`](servicenow_http::TransportConfig::with_token_endpoint_limits)).
    ///
    /// ```no_run
    /// # async fn example() -> servicenow::Result<()> {
    /// use servicenow::{Servicenow, oauth::{ClientId, ClientSecret, InstanceUrl, OAuthClient}};
    /// use servicenow::transport::{Proxy, ProxyUrl, TransportConfig};
    ///
    /// let instance = InstanceUrl::new("https://acme.service-now.com")?;
    /// let client = OAuthClient::confidential(ClientId::new("3f2a…")?, ClientSecret::new("…")?);
    /// let app = Servicenow::builder(instance, client)
    ///     .transport_config(TransportConfig {
    ///         ca_file: Some("/etc/acme/inspection-ca.pem".into()),
    ///         proxy: Proxy::Url(ProxyUrl::new("http://proxy.acme.internal:3128")?),
    ///         ..TransportConfig::default()
    ///     })
    ///     .build()
    ///     .await?;
    /// # let _ = app; Ok(()) }
    /// ```
    pub fn transport_config(mut self, config: servicenow_http::TransportConfig) -> Self {
        self.transport_config = config;
        self
    }

    /// Reads time from this clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Asks for these scopes (default: the registry's, `useraccount`).
    pub fn scopes(mut self, scopes: ScopeSet) -> Self {
        self.scopes = scopes;
        self
    }

    /// Refresh skew, jitter, login lifetime and backoff (default: [`Timing::SERVICENOW`]).
    pub fn timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// Lease and retry settings of the token managers.
    pub fn manager_options(mut self, options: ManagerOptions) -> Self {
        self.options = options;
        self
    }

    /// How the Table API retries idempotent requests (default: [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The `aud` of JWT bearer assertions ([`Servicenow::jwt_bearer`]): the client id by default
    /// (ServiceNow's JWT endpoint page), or e.g. the token endpoint URL (its grant page); the
    /// sources disagree, see `docs/servicenow-setup.md`.
    pub fn jwt_audience(mut self, audience: JwtAudience) -> Self {
        self.jwt_audience = audience;
        self
    }

    /// Opens the store and builds the integration. No request is sent until a token is needed.
    pub async fn build(self) -> Result<Servicenow> {
        let store = match self.store {
            StoreChoice::Given(store) => store,
            #[cfg(feature = "sqlite")]
            StoreChoice::SqliteDirectory(directory) => {
                let source = stores::default_key_source(&directory)?;
                stores::Store::sqlite(&directory, source)
                    .await?
                    .token_store()
            }
            StoreChoice::Default => stores::open_default().await?,
        };
        let (transport, token_transport) = match self.transport {
            Some(transport) => (Arc::clone(&transport), transport),
            None => (
                transport_with(self.transport_config.clone())?,
                transport_with(self.transport_config.with_token_endpoint_limits())?,
            ),
        };
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let configure = |mut config: AuthConfig| {
            config.scopes = self.scopes.clone();
            config.timing = self.timing;
            Arc::new(config)
        };
        let service_config = configure(AuthConfig::client_credentials(
            self.instance.clone(),
            self.client.clone(),
        ));
        let user_config = self.redirect_uri.map(|redirect_uri| {
            configure(AuthConfig::authorization_code(
                self.instance.clone(),
                self.client.clone(),
                redirect_uri,
            ))
        });
        let service_key = CredentialKind::Service.key(&self.instance, &self.client)?;
        let app = App {
            instance: self.instance,
            transport,
            retry: self.retry,
            managers: Arc::new(ManagerShared {
                endpoint: TokenEndpoint {
                    transport: token_transport,
                    store,
                    clock,
                },
                options: self.options,
            }),
            user_config,
            service_config,
            service_key,
            live: Mutex::new(HashMap::new()),
            jitter_seed: os_seed()?,
            jwt_audience: self.jwt_audience,
        };
        Ok(Servicenow { app: Arc::new(app) })
    }
}

/// The default transport of Table API requests: hardened reqwest (feature `reqwest`), else hyper
/// (feature `hyper`).
pub fn default_transport() -> Result<Arc<dyn HttpTransport>> {
    transport_with(servicenow_http::TransportConfig::default())
}

#[allow(
    unused_variables,
    reason = "without a transport feature the config is unused"
)]
fn transport_with(config: servicenow_http::TransportConfig) -> Result<Arc<dyn HttpTransport>> {
    #[cfg(feature = "reqwest")]
    {
        Ok(Arc::new(servicenow_http::ReqwestTransport::with_config(
            config,
        )?))
    }
    #[cfg(all(not(feature = "reqwest"), feature = "hyper"))]
    {
        Ok(Arc::new(servicenow_http::HyperTransport::with_config(
            config,
        )?))
    }
    #[cfg(not(any(feature = "reqwest", feature = "hyper")))]
    {
        Err(ConfigError::NoTransport.into())
    }
}

//! `Client` and its builder: one credential, a store, a transport, and the Table API on top.

use std::{marker::PhantomData, sync::Arc};

use futures::Stream;
use serde::{Serialize, de::DeserializeOwned};
use servicenow_auth::{AuthConfig, AuthMachine, Credential, Timing};
use servicenow_http::HttpTransport;
use servicenow_oauth::{InstanceUrl, OAuthClient, RedirectUri, ScopeSet};
use servicenow_store::TokenStore;
use servicenow_table::{
    Created, EncodedQuery, InstanceBase, ListParams, Page, ReadOptions, RetryPolicy, StreamConfig,
    SysId, TableClient, TableName, WriteOptions,
};

use crate::{
    authorized::AuthorizedTransport,
    clock::{Clock, SystemClock},
    error::{Error, Result},
    exchange,
    login::{Login, credential_key},
    manager::{ManagerOptions, TokenManager},
    stores,
};

/// The transport a [`Client`] hands the Table API: the configured transport behind the
/// authorizing layer.
pub type ClientTransport = AuthorizedTransport<Arc<dyn HttpTransport>>;

/// A ServiceNow client for one credential: tokens managed (stored encrypted, refreshed once at a
/// time across tasks and processes) and the Table API on top.
///
/// ```no_run
/// # async fn example() -> servicenow::Result<()> {
/// use servicenow::{Client, oauth::{ClientId, ClientSecret, InstanceUrl, OAuthClient}};
///
/// let instance = InstanceUrl::new("https://dev12345.service-now.com")?;
/// let oauth_client = OAuthClient::confidential(ClientId::new("3f2a…")?, ClientSecret::new("…")?);
/// // Integration as a service: the client credentials grant, tokens in the default SQLite store.
/// let client = Client::builder(instance, oauth_client).client_credentials().build().await?;
/// let incidents = client.table::<servicenow::table::Record>("incident")?;
/// let open = incidents.first(None).await?;
/// # let _ = open; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    instance: InstanceUrl,
    manager: TokenManager,
    tables: TableClient<ClientTransport>,
    login: Option<Login>,
    subject: String,
}

impl Client {
    /// Starts configuring a client for `instance` with the OAuth client registered there.
    pub fn builder(instance: InstanceUrl, client: OAuthClient) -> ClientBuilder {
        ClientBuilder {
            instance,
            client,
            credential: None,
            store: StoreChoice::Default,
            transport: None,
            clock: None,
            scopes: ScopeSet::default(),
            timing: Timing::SERVICENOW,
            options: ManagerOptions::default(),
            retry: RetryPolicy::default(),
        }
    }

    /// The instance this client talks to.
    pub fn instance(&self) -> &InstanceUrl {
        &self.instance
    }

    /// The subject whose tokens this client uses.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The token manager (for [`bearer`](TokenManager::bearer), stats, background refresh).
    pub fn token_manager(&self) -> &TokenManager {
        &self.manager
    }

    /// The login helper, for an authorization-code credential.
    pub fn login(&self) -> Option<&Login> {
        self.login.as_ref()
    }

    /// The Table API client, authorized by this client's tokens.
    pub fn tables(&self) -> &TableClient<ClientTransport> {
        &self.tables
    }

    /// A typed handle on one table: `T` is a `serde` struct of the fields you read, or
    /// [`table::Record`](servicenow_table::Record) for any field.
    pub fn table<T>(&self, name: &str) -> Result<Table<T>> {
        Ok(Table {
            tables: self.tables.clone(),
            name: TableName::new(name)?,
            records: PhantomData,
        })
    }
}

/// A typed handle on one table of a [`Client`]; cheap to clone.
#[derive(Debug)]
pub struct Table<T> {
    tables: TableClient<ClientTransport>,
    name: TableName,
    records: PhantomData<fn() -> T>,
}

impl<T> Clone for Table<T> {
    fn clone(&self) -> Self {
        Self {
            tables: self.tables.clone(),
            name: self.name.clone(),
            records: PhantomData,
        }
    }
}

/// A Table API error, with the facade's own error lifted out when the authorizing layer is what
/// failed: callers match on [`Error::ReauthorizationRequired`] rather than digging through the
/// transport error that carried it.
fn lift(error: servicenow_table::TableError) -> Error {
    use servicenow_http::TransportError;
    use servicenow_table::TableError;

    match error {
        TableError::Transport {
            source:
                TransportError::Unauthorized {
                    source: Some(source),
                    ..
                },
            ..
        } if source.is::<Error>() => match source.downcast::<Error>() {
            Ok(facade) => match *facade {
                Error::Shared(shared) => crate::manager::unshare(&shared),
                other => other,
            },
            Err(_) => {
                Error::Config("unreachable: the source was checked to be a facade error".to_owned())
            }
        },
        other => Error::Table(other),
    }
}

impl<T: DeserializeOwned + Send + 'static> Table<T> {
    /// The table's name.
    pub fn name(&self) -> &TableName {
        &self.name
    }

    /// One page of records.
    pub async fn list(&self, params: &ListParams) -> Result<Page<T>> {
        self.tables.list(&self.name, params).await.map_err(lift)
    }

    /// Every record matching `query`, page after page in constant memory (see
    /// [`TableClient::stream`]).
    pub fn stream(
        &self,
        query: Option<EncodedQuery>,
        options: ReadOptions,
        config: StreamConfig,
    ) -> impl Stream<Item = std::result::Result<T, servicenow_table::TableError>> + Send + '_ {
        self.tables.stream::<T>(&self.name, query, options, config)
    }

    /// The record with this `sys_id`.
    pub async fn get(&self, sys_id: &SysId, options: &ReadOptions) -> Result<T> {
        self.tables
            .get(&self.name, sys_id, options)
            .await
            .map_err(lift)
    }

    /// How many records match `query` (from `X-Total-Count`).
    pub async fn count(&self, query: Option<&EncodedQuery>) -> Result<u64> {
        self.tables.count(&self.name, query).await.map_err(lift)
    }

    /// The first record matching `query`, if any.
    pub async fn first(&self, query: Option<EncodedQuery>) -> Result<Option<T>> {
        self.tables
            .first(&self.name, query, ReadOptions::default())
            .await
            .map_err(lift)
    }

    /// Inserts a record (201 + `Location`).
    pub async fn create<B: Serialize + Sync>(
        &self,
        record: &B,
        options: &WriteOptions,
    ) -> Result<Created<T>> {
        self.tables
            .create(&self.name, record, options)
            .await
            .map_err(lift)
    }

    /// Changes some fields of a record (PATCH).
    pub async fn update<B: Serialize + Sync>(
        &self,
        sys_id: &SysId,
        changes: &B,
        options: &WriteOptions,
    ) -> Result<T> {
        self.tables
            .update(&self.name, sys_id, changes, options)
            .await
            .map_err(lift)
    }

    /// Replaces a record (PUT).
    pub async fn replace<B: Serialize + Sync>(
        &self,
        sys_id: &SysId,
        record: &B,
        options: &WriteOptions,
    ) -> Result<T> {
        self.tables
            .replace(&self.name, sys_id, record, options)
            .await
            .map_err(lift)
    }

    /// Deletes a record (204).
    pub async fn delete(&self, sys_id: &SysId) -> Result<()> {
        self.tables.delete(&self.name, sys_id).await.map_err(lift)
    }
}

enum CredentialChoice {
    User {
        subject: String,
        redirect_uri: RedirectUri,
    },
    ClientCredentials,
    #[cfg(feature = "password-grant")]
    Password {
        username: servicenow_oauth::ResourceOwnerUsername,
        password: servicenow_oauth::ResourceOwnerPassword,
    },
}

enum StoreChoice {
    Default,
    #[cfg(feature = "sqlite")]
    SqliteDirectory(std::path::PathBuf),
    Given(Arc<dyn TokenStore>),
}

/// Configures a [`Client`]: the credential, the store, the transport, the clock.
#[must_use]
pub struct ClientBuilder {
    instance: InstanceUrl,
    client: OAuthClient,
    credential: Option<CredentialChoice>,
    store: StoreChoice,
    transport: Option<Arc<dyn HttpTransport>>,
    clock: Option<Arc<dyn Clock>>,
    scopes: ScopeSet,
    timing: Timing,
    options: ManagerOptions,
    retry: RetryPolicy,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("instance", &self.instance)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// A user's credential (authorization code + PKCE, then refresh tokens): `subject` is your
    /// application's id for the user, and `redirect_uri` the callback registered in the instance.
    pub fn user(mut self, subject: impl Into<String>, redirect_uri: RedirectUri) -> Self {
        self.credential = Some(CredentialChoice::User {
            subject: subject.into(),
            redirect_uri,
        });
        self
    }

    /// "Integration as a service": the client credentials grant (must be enabled on the
    /// instance: `glide.oauth.inbound.client.credential.grant_type.enabled`).
    pub fn client_credentials(mut self) -> Self {
        self.credential = Some(CredentialChoice::ClientCredentials);
        self
    }

    /// The resource owner password grant, which RFC 9700 §2.4 forbids: only when nothing else
    /// is possible.
    #[cfg(feature = "password-grant")]
    pub fn password(
        mut self,
        username: servicenow_oauth::ResourceOwnerUsername,
        password: servicenow_oauth::ResourceOwnerPassword,
    ) -> Self {
        self.credential = Some(CredentialChoice::Password { username, password });
        self
    }

    /// Keeps tokens in this store (PostgreSQL or Redis for many replicas, memory for tests).
    pub fn store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = StoreChoice::Given(store);
        self
    }

    /// Keeps tokens in the encrypted SQLite store in `directory` (created with mode 0700, with
    /// its key file beside the database) instead of the user's data directory.
    #[cfg(feature = "sqlite")]
    pub fn store_directory(mut self, directory: impl Into<std::path::PathBuf>) -> Self {
        self.store = StoreChoice::SqliteDirectory(directory.into());
        self
    }

    /// Sends requests through this transport (default: the hardened reqwest transport).
    pub fn transport(mut self, transport: Arc<dyn HttpTransport>) -> Self {
        self.transport = Some(transport);
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

    /// Lease and retry settings of the token manager.
    pub fn manager_options(mut self, options: ManagerOptions) -> Self {
        self.options = options;
        self
    }

    /// How the Table API retries idempotent requests (default: [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Opens the store and builds the client. No request is sent until a token is needed.
    pub async fn build(self) -> Result<Client> {
        let credential = self.credential.ok_or_else(|| {
            Error::Config("choose a credential: user, client_credentials or password".to_owned())
        })?;
        let (mut config, subject) = match credential {
            CredentialChoice::User {
                subject,
                redirect_uri,
            } => (
                AuthConfig::authorization_code(
                    self.instance.clone(),
                    self.client.clone(),
                    redirect_uri,
                ),
                subject,
            ),
            CredentialChoice::ClientCredentials => (
                AuthConfig::client_credentials(self.instance.clone(), self.client.clone()),
                String::from("client-credentials"),
            ),
            #[cfg(feature = "password-grant")]
            CredentialChoice::Password { username, password } => {
                let subject = format!("password:{}", username.as_str());
                (
                    AuthConfig::password(
                        self.instance.clone(),
                        self.client.clone(),
                        username,
                        password,
                    ),
                    subject,
                )
            }
        };
        config.scopes = self.scopes;
        config.timing = self.timing;
        let store = match self.store {
            StoreChoice::Given(store) => store,
            #[cfg(feature = "sqlite")]
            StoreChoice::SqliteDirectory(directory) => stores::open_sqlite(&directory).await?,
            StoreChoice::Default => stores::open_default().await?,
        };
        let transport = match self.transport {
            Some(transport) => transport,
            None => default_transport()?,
        };
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let key = credential_key(&self.instance, &config, &subject)?;
        let machine = AuthMachine::new(config.clone(), clock.now(), exchange::os_seed()?);
        let manager = TokenManager::new(
            key,
            machine,
            Arc::clone(&store),
            Arc::clone(&transport),
            Arc::clone(&clock),
            self.options,
        );
        let login = matches!(config.credential, Credential::AuthorizationCode { .. }).then(|| {
            Login::new(
                config.clone(),
                Arc::clone(&store),
                Arc::clone(&transport),
                clock,
            )
        });
        let authorized = AuthorizedTransport::new(transport, manager.clone(), &self.instance);
        let base = InstanceBase::new(self.instance.origin())?;
        Ok(Client {
            instance: self.instance,
            manager,
            tables: TableClient::new(base, authorized).with_retry_policy(self.retry),
            login,
            subject,
        })
    }
}

/// The default transport: hardened reqwest (feature `reqwest`), else hyper (feature `hyper`).
pub fn default_transport() -> Result<Arc<dyn HttpTransport>> {
    #[cfg(feature = "reqwest")]
    {
        Ok(Arc::new(servicenow_http::ReqwestTransport::new()?))
    }
    #[cfg(all(not(feature = "reqwest"), feature = "hyper"))]
    {
        Ok(Arc::new(servicenow_http::HyperTransport::new()?))
    }
    #[cfg(not(any(feature = "reqwest", feature = "hyper")))]
    {
        Err(Error::Config(
            "no transport: enable the `reqwest` or `hyper` feature, or pass one with `transport`"
                .to_owned(),
        ))
    }
}

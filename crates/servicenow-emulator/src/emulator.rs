//! Starting the emulator in-process ([`Emulator::builder`]) and controlling it while it runs
//! ([`EmulatorHandle`]): base URL, clock, counters, runtime knobs, dropped connections, restart
//! on the same port, shutdown.

use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
};

use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use crate::{
    ClientRegistration, CountersSnapshot, Dataset, EmulatorClock, Error, FaultKind, Settings,
    UserAccount,
    config::{
        DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PUBLIC_CLIENT_ID, DEFAULT_REDIRECT_URIS,
        DEFAULT_ROWS, DEFAULT_USERS, EmulatorConfig, MAX_GENERATED_ROWS,
    },
    cost::{CostModel, CostState},
    counters::Counters,
    data::{Database, schema},
    faults::FaultState,
    oauth::OAuthState,
    rate_limit::RateLimitState,
    server::{ServerTask, Shared},
};

/// Entry point: `Emulator::builder()…start().await`.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// A builder with the defaults: an ephemeral port on 127.0.0.1, seed 1, the default
    /// clients (`emulator-client` / `emulator-secret`, `emulator-public-client`), users
    /// (`admin:admin`, `itil:itil`) and table sizes.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }
}

/// Collects the start-up configuration.
#[derive(Clone, Debug)]
pub struct EmulatorBuilder {
    config: EmulatorConfig,
    settings: Settings,
    clock: EmulatorClock,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        let redirect_uris: Vec<String> = DEFAULT_REDIRECT_URIS
            .iter()
            .map(|uri| (*uri).to_owned())
            .collect();
        let mut builder = Self::empty()
            .client(ClientRegistration::confidential(
                DEFAULT_CLIENT_ID,
                DEFAULT_CLIENT_SECRET,
                redirect_uris.clone(),
            ))
            .client(ClientRegistration::public(
                DEFAULT_PUBLIC_CLIENT_ID,
                redirect_uris,
            ));
        for (name, password) in DEFAULT_USERS {
            builder = builder.user(UserAccount::new(*name, *password));
        }
        builder
    }
}

impl EmulatorBuilder {
    /// A builder with no clients and no users (table sizes and settings at their defaults).
    pub fn empty() -> Self {
        Self {
            config: EmulatorConfig {
                listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                seed: 1,
                rows: DEFAULT_ROWS
                    .iter()
                    .map(|(table, rows)| ((*table).to_owned(), *rows))
                    .collect(),
                clients: Vec::new(),
                users: Vec::new(),
                public_url: None,
                tls: None,
                dataset: Dataset::Generated,
                allow_remote: false,
                cost_model: None,
                attachment_storage: crate::AttachmentStorage::default(),
            },
            settings: Settings::default(),
            clock: EmulatorClock::new(),
        }
    }

    /// The address to listen on (default `127.0.0.1:0`, an ephemeral port).
    pub fn listen(mut self, address: SocketAddr) -> Self {
        self.config.listen = address;
        self
    }

    /// Allows a listen address other than loopback. Off by default: the emulator accepts the
    /// well-known `admin:admin` and prints its client secret, so anyone who can reach it can use
    /// it. [`start`](Self::start) refuses a non-loopback address (`0.0.0.0`, a LAN address)
    /// unless this is set.
    pub fn allow_remote(mut self, allow: bool) -> Self {
        self.config.allow_remote = allow;
        self
    }

    /// The seed for generated data and random faults (default 1).
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// The records to start with (default [`Dataset::Generated`]; [`Dataset::Pdi`] adds a
    /// personal developer instance's well-known demo records).
    pub fn dataset(mut self, dataset: Dataset) -> Self {
        self.config.dataset = dataset;
        self
    }

    /// How many rows to generate for a built-in table (`incident`, `problem`,
    /// `change_request`, `sys_user`, `cmdb_ci`, `sys_user_group`, `sys_user_grmember`,
    /// `sys_metadata`, `sys_attachment`).
    pub fn rows(mut self, table: impl Into<String>, rows: u64) -> Self {
        self.config.rows.insert(table.into(), rows);
        self
    }

    /// Registers a client, replacing one with the same id.
    pub fn client(mut self, client: ClientRegistration) -> Self {
        self.config
            .clients
            .retain(|existing| existing.client_id != client.client_id);
        self.config.clients.push(client);
        self
    }

    /// Adds a user, replacing one with the same name.
    pub fn user(mut self, user: UserAccount) -> Self {
        self.config
            .users
            .retain(|existing| existing.user_name != user.user_name);
        self.config.users.push(user);
        self
    }

    /// The origin to write into `Link` and `Location` headers instead of the listening address.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.config.public_url = Some(url.into());
        self
    }

    /// Makes Table API requests cost what the model says (see [`CostModel`]); off by default,
    /// so tests stay fast.
    pub fn cost_model(mut self, model: CostModel) -> Self {
        self.config.cost_model = Some(model);
        self
    }

    /// Serves HTTPS with this certificate chain (PEM, leaf first) and its private key (PEM:
    /// PKCS#8, PKCS#1 or SEC1) instead of plain HTTP; the base URL becomes
    /// `https://127.0.0.1:PORT`, so the certificate should name `127.0.0.1` (and `localhost`
    /// if clients use that name). The scripted user agent speaks plain HTTP only.
    pub fn tls(mut self, cert_chain_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        let client_ca = self.config.tls.take().and_then(|tls| tls.client_ca);
        self.config.tls = Some(crate::tls::TlsPem {
            cert_chain: cert_chain_pem.into(),
            key: key_pem.into(),
            client_ca,
        });
        self
    }

    /// With [`tls`](Self::tls): refuses every client that does not present a certificate
    /// signed by one of the CAs in `ca_pem` (mutual TLS). Without `tls`, `start` fails.
    pub fn require_client_certificate(mut self, ca_pem: impl Into<Vec<u8>>) -> Self {
        let tls = self.config.tls.get_or_insert_with(|| crate::tls::TlsPem {
            cert_chain: Vec::new(),
            key: Vec::new(),
            client_ca: None,
        });
        tls.client_ca = Some(ca_pem.into());
        self
    }

    /// Replaces the runtime settings the emulator starts with.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Adjusts the runtime settings the emulator starts with.
    pub fn configure(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        change(&mut self.settings);
        self
    }

    /// Uses this clock (e.g. one already frozen or shared with other fakes).
    pub fn clock(mut self, clock: EmulatorClock) -> Self {
        self.clock = clock;
        self
    }

    /// Where uploaded attachment content is kept (default: files in a temporary directory).
    pub fn attachment_storage(mut self, storage: crate::AttachmentStorage) -> Self {
        self.config.attachment_storage = storage;
        self
    }

    /// Binds the socket and starts serving on the current tokio runtime.
    pub async fn start(self) -> Result<EmulatorHandle, Error> {
        for (table, rows) in &self.config.rows {
            if schema::built_in(table).is_none() {
                return Err(Error::Config(format!(
                    "rows can be generated only for built-in tables; {table} is not one (create it with POST)"
                )));
            }
            if *rows > MAX_GENERATED_ROWS {
                return Err(Error::Config(format!(
                    "at most {MAX_GENERATED_ROWS} generated rows per table"
                )));
            }
        }
        let tls = match &self.config.tls {
            None => None,
            Some(pem) if pem.cert_chain.is_empty() => {
                return Err(Error::Config(
                    "a client certificate can be required only when serving TLS (--tls-cert and --tls-key)"
                        .to_owned(),
                ));
            }
            Some(pem) => Some(pem.acceptor()?),
        };
        if !self.config.listen.ip().is_loopback() && !self.config.allow_remote {
            return Err(Error::Config(format!(
                "refusing to listen on {}: it is not a loopback address, and the emulator \
                 accepts well-known passwords (admin:admin) and prints its client secret; listen \
                 on 127.0.0.1 or [::1], or pass --allow-remote (EmulatorBuilder::allow_remote) \
                 if other machines must reach it",
                self.config.listen
            )));
        }
        let listener = ServerTask::bind(self.config.listen).await?;
        let local_address = listener.local_addr().map_err(|source| Error::Bind {
            address: self.config.listen,
            source,
        })?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base_url = format!("{scheme}://{local_address}");
        let (connection_epoch, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            seed: self.config.seed,
            base_url: base_url.clone(),
            public_url: self.config.public_url.clone(),
            clock: self.clock.clone(),
            counters: Counters::default(),
            settings: RwLock::new(self.settings),
            oauth: Mutex::new(OAuthState::new(&self.config.clients, &self.config.users)),
            database: RwLock::new(Database::new(
                self.config.seed,
                &self.config.rows,
                self.config.dataset,
            )),
            faults: Mutex::new(FaultState::new(self.config.seed)),
            rate_limits: Mutex::new(RateLimitState::default()),
            query_cache: Mutex::default(),
            attachments: crate::attachment::AttachmentStore::new(self.config.attachment_storage),
            cost: self.config.cost_model.clone().map(CostState::new),
            connection_epoch,
            tls,
        });
        let server = ServerTask::spawn(listener, Arc::clone(&shared));
        tracing::info!(%base_url, "servicenow emulator listening");
        Ok(EmulatorHandle {
            shared,
            server: tokio::sync::Mutex::new(Some(server)),
            local_address,
            config: self.config,
        })
    }
}

/// A running emulator. Dropping it stops the server; [`shutdown`](Self::shutdown) also waits
/// for the connections to close.
#[derive(Debug)]
pub struct EmulatorHandle {
    shared: Arc<Shared>,
    server: tokio::sync::Mutex<Option<ServerTask>>,
    local_address: SocketAddr,
    config: EmulatorConfig,
}

impl EmulatorHandle {
    /// `http://127.0.0.1:PORT` (`https://` when serving TLS), without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_address
    }

    /// The full URL of a path on the emulator (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.shared.base_url)
    }

    /// The emulator's clock: advance it to expire tokens and codes.
    pub fn clock(&self) -> &EmulatorClock {
        &self.shared.clock
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> CountersSnapshot {
        self.shared.counters.snapshot()
    }

    /// Sets every counter back to zero.
    pub fn reset_counters(&self) {
        self.shared.counters.reset();
    }

    /// The current runtime settings.
    pub fn settings(&self) -> Settings {
        self.shared.settings.read().clone()
    }

    /// Changes runtime settings; the next request sees the change.
    pub fn update_settings(&self, change: impl FnOnce(&mut Settings)) {
        change(&mut self.shared.settings.write());
    }

    /// Makes the next `count` REST requests (Table, Aggregate, Batch calls and their items,
    /// Attachment) fail with `kind` (before any random fault).
    pub fn inject_table_faults(&self, kind: FaultKind, count: usize) {
        self.shared.faults.lock().queue(kind, count);
    }

    /// Forgets queued faults (random faults stay as configured in [`Settings::faults`]).
    pub fn clear_injected_faults(&self) {
        self.shared.faults.lock().clear();
    }

    /// Revokes every issued token, as an administrator would in Manage Tokens.
    pub fn revoke_all_tokens(&self) {
        self.shared.oauth.lock().revoke_everything();
    }

    /// Closes every open connection now (requests in flight get no response); new
    /// connections are accepted as before.
    pub fn drop_connections(&self) {
        self.shared.drop_connections();
    }

    /// Stops listening and closes every connection, keeping all state (tokens, records).
    /// Connections are refused until [`resume`](Self::resume).
    pub async fn pause(&self) {
        if let Some(server) = self.server.lock().await.take() {
            server.stop().await;
        }
    }

    /// Listens again on the same address after [`pause`](Self::pause).
    pub async fn resume(&self) -> Result<(), Error> {
        let mut server = self.server.lock().await;
        if server.is_none() {
            let listener = ServerTask::bind(self.local_address).await?;
            *server = Some(ServerTask::spawn(listener, Arc::clone(&self.shared)));
        }
        Ok(())
    }

    /// Simulates an instance restart: every connection dropped, the port closed and opened
    /// again; state is kept.
    pub async fn restart(&self) -> Result<(), Error> {
        self.pause().await;
        self.resume().await
    }

    /// The registered clients.
    pub fn clients(&self) -> Vec<ClientRegistration> {
        self.config.clients.clone()
    }

    /// The users.
    pub fn users(&self) -> Vec<UserAccount> {
        self.config.users.clone()
    }

    /// Rows generated per table at start.
    pub fn generated_rows(&self) -> BTreeMap<String, u64> {
        self.config.rows.clone()
    }

    /// The sys_ids of the live rows of `table` in natural order, read from the emulator's
    /// database rather than through the Table API: what a test compares a client's export
    /// with. `None` for an unknown table.
    pub fn live_sys_ids(&self, table: &str) -> Option<Vec<String>> {
        let database = self.shared.database.read();
        let table = database.tables.get(table)?;
        Some(
            table
                .live_ids_from(0)
                .map(|id| database.sys_id(table, id))
                .collect(),
        )
    }

    /// Every stored value (not display values) of the live row `sys_id` of `table`, by field
    /// name, read from the database; `None` when there is no such row.
    pub fn row_values(&self, table: &str, sys_id: &str) -> Option<BTreeMap<String, String>> {
        let database = self.shared.database.read();
        let table = database.tables.get(table)?;
        let id = table.id_of_sys_id(sys_id)?;
        Some(
            table
                .columns
                .iter()
                .enumerate()
                .map(|(index, column)| {
                    (
                        column.name.clone(),
                        database.value(table, id, index).into_owned(),
                    )
                })
                .collect(),
        )
    }

    /// The data set it started with.
    pub fn dataset(&self) -> Dataset {
        self.config.dataset
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    /// Stops the server and waits until every connection is closed.
    pub async fn shutdown(self) {
        self.pause().await;
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if let Ok(server) = self.server.try_lock() {
            if let Some(server) = server.as_ref() {
                server.signal_stop();
            }
        }
    }
}

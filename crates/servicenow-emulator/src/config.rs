//! Start-up configuration: the application registry, users, table sizes, and (feature `cli`) the
//! command-line options of the `servicenow-emulator` binary (embeddable with `#[command(flatten)]`).

use std::{collections::BTreeMap, net::SocketAddr, time::Duration};

#[cfg(feature = "cli")]
use crate::EmulatorBuilder;
use crate::{Dataset, JwtEndpoint, Secret};

/// Default client id of the confidential client registered at start.
pub const DEFAULT_CLIENT_ID: &str = "emulator-client";
/// Default client secret of the confidential client.
pub const DEFAULT_CLIENT_SECRET: &str = "emulator-secret";
/// Client id of the public (PKCE, no secret) client registered at start.
pub const DEFAULT_PUBLIC_CLIENT_ID: &str = "emulator-public-client";
/// Redirect URIs registered for both default clients (the first is the fallback).
pub const DEFAULT_REDIRECT_URIS: &[&str] = &[
    "http://127.0.0.1:8765/callback",
    "http://localhost:8765/callback",
];
/// Users present at start, as `(user name, password)`.
pub const DEFAULT_USERS: &[(&str, &str)] = &[("admin", "admin"), ("itil", "itil")];
/// Default access token lifespan (ServiceNow's default).
pub const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(1800);
/// Default refresh token lifespan (ServiceNow's default, 100 days).
pub const DEFAULT_REFRESH_TOKEN_TTL: Duration = Duration::from_secs(8_640_000);
/// Rows generated per table when not configured.
pub const DEFAULT_ROWS: &[(&str, u64)] = &[
    ("incident", 1000),
    ("problem", 100),
    ("change_request", 100),
    ("sys_user", 200),
    ("cmdb_ci", 500),
    ("sys_user_group", 24),
    ("sys_user_grmember", 300),
    ("sys_metadata", 2000),
    ("sys_attachment", 100),
];
/// The largest number of generated rows per table (sys_ids and numbers stay ordered below it).
pub const MAX_GENERATED_ROWS: u64 = 10_000_000;

/// An entry of the application registry (`oauth_entity`).
#[derive(Clone, Debug)]
pub struct ClientRegistration {
    /// The client id.
    pub client_id: String,
    /// The secret of a confidential client; `None` for a public (PKCE) client.
    pub client_secret: Option<Secret>,
    /// Registered redirect URLs; the first is used when a request's URL matches none.
    pub redirect_uris: Vec<String>,
    /// Access token lifespan.
    pub access_token_ttl: Duration,
    /// Refresh token lifespan.
    pub refresh_token_ttl: Duration,
    /// The user client-credentials tokens act as ("OAuth Application User").
    pub application_user: String,
    /// Name shown on the consent page.
    pub display_name: String,
    /// The JWT bearer grant's verification ("OAuth JWT API endpoint for external clients"),
    /// when this entry accepts it.
    pub jwt: Option<JwtEndpoint>,
}

impl ClientRegistration {
    /// A confidential client (authenticates with its secret).
    pub fn confidential(
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
        redirect_uris: Vec<String>,
    ) -> Self {
        let client_id = client_id.into();
        Self {
            display_name: client_id.clone(),
            client_id,
            client_secret: Some(client_secret.into()),
            redirect_uris,
            access_token_ttl: DEFAULT_ACCESS_TOKEN_TTL,
            refresh_token_ttl: DEFAULT_REFRESH_TOKEN_TTL,
            application_user: "admin".to_owned(),
            jwt: None,
        }
    }

    /// A public client: no secret, PKCE S256 required.
    pub fn public(client_id: impl Into<String>, redirect_uris: Vec<String>) -> Self {
        Self {
            client_secret: None,
            ..Self::confidential(client_id, "", redirect_uris)
        }
    }

    /// Sets both token lifespans.
    pub fn with_token_ttls(mut self, access: Duration, refresh: Duration) -> Self {
        self.access_token_ttl = access;
        self.refresh_token_ttl = refresh;
        self
    }

    /// Accepts the JWT bearer grant, verified as `jwt` says.
    pub fn with_jwt(mut self, jwt: JwtEndpoint) -> Self {
        self.jwt = Some(jwt);
        self
    }

    /// Whether the client is public (no secret, PKCE required).
    pub fn is_public(&self) -> bool {
        self.client_secret.is_none()
    }
}

/// A user who can log in on the login page, use the password grant and HTTP Basic.
#[derive(Clone, Debug)]
pub struct UserAccount {
    /// The `user_name`.
    pub user_name: String,
    /// The password.
    pub password: Secret,
    /// The `email` field (a JWT's `sub` can be matched against it).
    pub email: String,
}

impl UserAccount {
    /// A user with a password.
    pub fn new(user_name: impl Into<String>, password: impl Into<Secret>) -> Self {
        let user_name = user_name.into();
        Self {
            email: format!("{user_name}@example.com"),
            user_name,
            password: password.into(),
        }
    }

    /// The same user with another email address (default: `NAME@example.com`).
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.email = email.into();
        self
    }
}

/// The `servicenow-emulator` command-line options; `sn emulator` flattens the same struct.
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
#[derive(Clone, Debug, clap::Args)]
#[non_exhaustive]
pub struct EmulatorArgs {
    /// Address to listen on, ADDR:PORT (port 0 picks a free port). Default: 127.0.0.1:8080 for
    /// the binary; an embedding program chooses its own.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Allow a --listen address other than loopback (0.0.0.0, a LAN address). The emulator
    /// accepts well-known passwords and prints its client secret: anyone who reaches it can use it.
    #[arg(long)]
    pub allow_remote: bool,
    /// Seed for generated data and injected faults.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Rows to generate for a table, TABLE=N (repeatable), e.g. --rows incident=1000000.
    #[arg(long = "rows", value_name = "TABLE=N", value_parser = parse_rows)]
    pub rows: Vec<(String, u64)>,
    /// Client id of the confidential client.
    #[arg(long, default_value = DEFAULT_CLIENT_ID)]
    pub client_id: String,
    /// Client secret of the confidential client.
    #[arg(long, default_value = DEFAULT_CLIENT_SECRET)]
    pub client_secret: String,
    /// Client id of the public (PKCE) client.
    #[arg(long, default_value = DEFAULT_PUBLIC_CLIENT_ID)]
    pub public_client_id: String,
    /// A registered redirect URI (repeatable; replaces the defaults; the first is the fallback).
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// A user, NAME:PASSWORD (repeatable; replaces the defaults admin:admin and itil:itil).
    #[arg(long = "user", value_name = "NAME:PASSWORD", value_parser = parse_user)]
    pub users: Vec<(String, String)>,
    /// Access token lifespan in seconds.
    #[arg(long, default_value_t = DEFAULT_ACCESS_TOKEN_TTL.as_secs(), value_name = "SECS")]
    pub access_token_ttl: u64,
    /// Refresh token lifespan in seconds.
    #[arg(long, default_value_t = DEFAULT_REFRESH_TOKEN_TTL.as_secs(), value_name = "SECS")]
    pub refresh_token_ttl: u64,
    /// Rotate refresh tokens on every refresh (ServiceNow does not).
    #[arg(long)]
    pub rotate_refresh_tokens: bool,
    /// Enable the client_credentials grant (off on a real instance unless enabled).
    #[arg(long)]
    pub enable_client_credentials: bool,
    /// Show an error page for unregistered redirect URIs instead of falling back.
    #[arg(long)]
    pub strict_redirect_uri: bool,
    /// Answer token endpoint failures with RFC 6749 error codes.
    #[arg(long)]
    pub rfc6749_errors: bool,
    /// Public base URL to write into Link and Location headers (e.g. behind a proxy).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Accept the JWT bearer grant on the confidential client, verifying assertions whose `kid`
    /// is KID with the public key (PEM, RSA or P-256) in FILE (repeatable: one verifier map each).
    #[arg(long = "jwt-key", value_name = "KID=FILE", value_parser = parse_jwt_key)]
    pub jwt_keys: Vec<crate::JwtVerifierKey>,
    /// The user field a JWT's `sub` is matched against: user_name or email.
    #[arg(long, value_name = "FIELD", default_value = "user_name", value_parser = parse_user_field)]
    pub jwt_user_field: crate::JwtUserField,
    /// Serve HTTPS with this certificate chain (PEM, leaf first); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Require a client certificate signed by a CA in this PEM file (mutual TLS); needs --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<std::path::PathBuf>,
    /// Keep uploaded attachments in memory, at most this many bytes together, instead of in a
    /// temporary directory.
    #[arg(long, value_name = "BYTES")]
    pub attachments_in_memory: Option<u64>,
    /// The largest attachment an upload may carry (`com.glide.attachment.max_size`).
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub attachment_max_bytes: u64,
    /// The records to start with: `generated` rows only, or `pdi`, which adds a personal
    /// developer instance's well-known demo records (the admin user's published sys_id, the
    /// demo groups and people).
    #[arg(long, value_enum, default_value_t = Dataset::Generated)]
    pub dataset: Dataset,
    /// Make Table API requests cost what an instance's would: the preset `instance-like`, or a
    /// JSON FILE of fields (see docs/emulator.md, "Cost model"). Off by default.
    #[arg(long, value_name = "PRESET|FILE", value_parser = parse_cost_model)]
    pub cost_model: Option<crate::CostModel>,
    /// Divide every time of the cost model by N (ratios between clients do not change).
    #[arg(long, value_name = "N", requires = "cost_model")]
    pub cost_scale: Option<u32>,
    /// Answer a Table API page of more than N rows with "Transaction cancelled: maximum
    /// execution time exceeded", as an instance does when a page takes past its quota.
    #[arg(long, value_name = "N")]
    pub cancel_pages_over: Option<u64>,
}

#[cfg(feature = "cli")]
impl EmulatorArgs {
    /// The options with every default, as if given an empty command line.
    pub fn defaults() -> Self {
        Self {
            listen: None,
            allow_remote: false,
            seed: 1,
            rows: Vec::new(),
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
            public_client_id: DEFAULT_PUBLIC_CLIENT_ID.to_owned(),
            redirect_uris: Vec::new(),
            users: Vec::new(),
            access_token_ttl: DEFAULT_ACCESS_TOKEN_TTL.as_secs(),
            refresh_token_ttl: DEFAULT_REFRESH_TOKEN_TTL.as_secs(),
            rotate_refresh_tokens: false,
            enable_client_credentials: false,
            strict_redirect_uri: false,
            rfc6749_errors: false,
            public_url: None,
            jwt_keys: Vec::new(),
            jwt_user_field: crate::JwtUserField::UserName,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            attachments_in_memory: None,
            attachment_max_bytes: 1024 * 1024 * 1024,
            dataset: Dataset::Generated,
            cost_model: None,
            cost_scale: None,
            cancel_pages_over: None,
        }
    }

    /// A builder configured from these options (an ephemeral port when `listen` is unset),
    /// after reading the TLS files named by `--tls-cert`, `--tls-key` and `--tls-client-ca`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) when a TLS file cannot be read.
    pub fn into_builder(self) -> Result<EmulatorBuilder, crate::Error> {
        let read = |path: &std::path::Path, flag: &str| {
            std::fs::read(path).map_err(|error| {
                crate::Error::Config(format!("reading {flag} {} failed: {error}", path.display()))
            })
        };
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some((read(cert, "--tls-cert")?, read(key, "--tls-key")?)),
            (None, None) => None,
            _ => {
                return Err(crate::Error::Config(
                    "--tls-cert and --tls-key go together".to_owned(),
                ));
            }
        };
        let client_ca = match &self.tls_client_ca {
            Some(path) => Some(read(path, "--tls-client-ca")?),
            None => None,
        };
        let mut builder = self.builder_without_files();
        if let Some((cert, key)) = tls {
            builder = builder.tls(cert, key);
        }
        if let Some(client_ca) = client_ca {
            builder = builder.require_client_certificate(client_ca);
        }
        Ok(builder)
    }

    fn builder_without_files(self) -> EmulatorBuilder {
        let redirect_uris = if self.redirect_uris.is_empty() {
            DEFAULT_REDIRECT_URIS
                .iter()
                .map(|uri| (*uri).to_owned())
                .collect()
        } else {
            self.redirect_uris
        };
        let ttl = (
            Duration::from_secs(self.access_token_ttl),
            Duration::from_secs(self.refresh_token_ttl),
        );
        let mut confidential = ClientRegistration::confidential(
            self.client_id,
            self.client_secret,
            redirect_uris.clone(),
        )
        .with_token_ttls(ttl.0, ttl.1);
        if !self.jwt_keys.is_empty() {
            confidential = confidential
                .with_jwt(JwtEndpoint::new(self.jwt_keys).with_user_field(self.jwt_user_field));
        }
        let public = ClientRegistration::public(self.public_client_id, redirect_uris)
            .with_token_ttls(ttl.0, ttl.1);
        let mut builder = EmulatorBuilder::empty()
            .seed(self.seed)
            .dataset(self.dataset)
            .client(confidential)
            .client(public);
        if let Some(listen) = self.listen {
            builder = builder.listen(listen);
        }
        builder = builder.allow_remote(self.allow_remote);
        if self.users.is_empty() {
            for (name, password) in DEFAULT_USERS {
                builder = builder.user(UserAccount::new(*name, *password));
            }
        }
        for (name, password) in self.users {
            builder = builder.user(UserAccount::new(name, password));
        }
        for (table, rows) in self.rows {
            builder = builder.rows(table, rows);
        }
        if let Some(max_total_bytes) = self.attachments_in_memory {
            builder =
                builder.attachment_storage(crate::AttachmentStorage::Memory { max_total_bytes });
        }
        if let Some(public_url) = self.public_url {
            builder = builder.public_url(public_url);
        }
        if let Some(model) = self.cost_model {
            let divisor = self.cost_scale.unwrap_or(model.time_divisor);
            builder = builder.cost_model(model.scaled_down(divisor));
        }
        builder.configure(|settings| {
            settings.attachment_max_bytes = self.attachment_max_bytes;
            settings.rotate_refresh_tokens = self.rotate_refresh_tokens;
            settings.client_credentials_enabled = self.enable_client_credentials;
            settings.strict_redirect_uri = self.strict_redirect_uri;
            settings.rfc6749_errors = self.rfc6749_errors;
            settings.transaction_timeout_above_rows = self.cancel_pages_over;
        })
    }
}

#[cfg(feature = "cli")]
impl Default for EmulatorArgs {
    fn default() -> Self {
        Self::defaults()
    }
}

#[cfg(feature = "cli")]
fn parse_rows(text: &str) -> Result<(String, u64), String> {
    let (table, count) = text
        .split_once('=')
        .ok_or("expected TABLE=N, e.g. incident=100000")?;
    let count: u64 = count
        .trim()
        .parse()
        .map_err(|_| format!("{count:?} is not a row count"))?;
    if count > MAX_GENERATED_ROWS {
        return Err(format!(
            "at most {MAX_GENERATED_ROWS} generated rows per table"
        ));
    }
    if !crate::data::is_valid_table_name(table) {
        return Err(format!("{table:?} is not a table name ([a-z0-9_]+)"));
    }
    Ok((table.to_owned(), count))
}

#[cfg(feature = "cli")]
fn parse_jwt_key(text: &str) -> Result<crate::JwtVerifierKey, String> {
    let (kid, path) = text
        .split_once('=')
        .ok_or("expected KID=FILE, e.g. --jwt-key my-key=public.pem")?;
    let pem = std::fs::read_to_string(path)
        .map_err(|error| format!("reading the JWT public key {path} failed: {error}"))?;
    crate::JwtVerifierKey::from_pem(kid, &pem).map_err(|error| error.to_string())
}

#[cfg(feature = "cli")]
fn parse_user_field(text: &str) -> Result<crate::JwtUserField, String> {
    match text {
        "user_name" => Ok(crate::JwtUserField::UserName),
        "email" => Ok(crate::JwtUserField::Email),
        _ => Err("expected user_name or email".to_owned()),
    }
}

#[cfg(feature = "cli")]
fn parse_cost_model(text: &str) -> Result<crate::CostModel, String> {
    if let Some(model) = crate::CostModel::preset(text) {
        return Ok(model);
    }
    let json = std::fs::read_to_string(text).map_err(|error| {
        format!("{text:?} is neither the preset instance-like nor a readable file: {error}")
    })?;
    crate::CostModel::from_json(&json).map_err(|reason| format!("cost model {text:?}: {reason}"))
}

#[cfg(feature = "cli")]
fn parse_user(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((name, password)) if !name.is_empty() => Ok((name.to_owned(), password.to_owned())),
        _ => Err("expected NAME:PASSWORD".to_owned()),
    }
}

/// The full start-up configuration the builder collects.
#[derive(Clone, Debug)]
pub(crate) struct EmulatorConfig {
    pub(crate) listen: SocketAddr,
    pub(crate) seed: u64,
    pub(crate) rows: BTreeMap<String, u64>,
    pub(crate) clients: Vec<ClientRegistration>,
    pub(crate) users: Vec<UserAccount>,
    pub(crate) public_url: Option<String>,
    pub(crate) tls: Option<crate::tls::TlsPem>,
    pub(crate) dataset: Dataset,
    pub(crate) allow_remote: bool,
    pub(crate) cost_model: Option<crate::CostModel>,
    pub(crate) attachment_storage: crate::AttachmentStorage,
}

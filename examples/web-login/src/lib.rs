//! Example web app: "Connect ServiceNow" sends the user to the instance's `/oauth_auth.do`, the
//! callback is validated and exchanged on the server, the tokens stay in the server's encrypted
//! store (per user), and the page shows the user's open incidents. The browser only ever holds an
//! opaque session cookie (`HttpOnly`, `SameSite=Lax`, `Max-Age`, and `Secure` with the `__Host-`
//! name outside plain-http loopback). The session id and subject are replaced at `/connect` and
//! the id again after the callback (no fixation); sessions expire when idle and after a fixed
//! lifetime, and the server keeps a bounded number; every POST carries the session's CSRF token
//! and, when the browser sends one, this app's `Origin`; `/logout` revokes before it clears.
//!
//! ```text
//!  browser ── POST /connect ──▶ app: Login::begin(subject) ── 303 ──▶ instance /oauth_auth.do
//!  browser ◀───────────── 302 /callback?code&state ◀── login + Allow on the instance
//!  browser ── GET /callback ──▶ app: Login::complete(subject, query) → tokens stored ── 303 /
//!  browser ── GET / ──▶ app: client(subject).table("incident").list(…) → HTML
//!  browser ── POST /logout ──▶ app: Login::logout(subject) → revocation sent, tokens deleted,
//!                                  then the session ends
//! ```
#![warn(missing_docs)]

pub mod network;
mod pages;
mod routes;
mod sessions;

use std::{path::Path, sync::Arc};

use servicenow::{
    Client, Login, Servicenow,
    oauth::{InstanceUrl, OAuthClient, RedirectUri, is_loopback_host},
    store::TokenStore,
    stores,
};

pub use crate::sessions::SessionLimits;
use crate::sessions::Sessions;

/// Everything the app needs to know.
#[derive(Debug)]
pub struct AppConfig {
    /// The ServiceNow instance.
    pub instance: InstanceUrl,
    /// The OAuth client registered on the instance for this app.
    pub oauth_client: OAuthClient,
    /// This app's callback URL, registered exactly on the instance.
    pub redirect_uri: RedirectUri,
    /// Where the users' tokens are kept (encrypted).
    pub store: Arc<dyn TokenStore>,
    /// The app's own origin as browsers see it, e.g. `https://app.example.com`; decides whether
    /// the session cookie is `Secure` and `__Host-` (always, except on plain-http loopback), and
    /// is the only `Origin` a POST may come from.
    pub public_url: String,
    /// Trust, client certificate and proxy for the requests to the instance.
    pub network: servicenow::transport::TransportConfig,
    /// How long browser sessions live and how many are kept.
    pub sessions: SessionLimits,
}

/// The app: cheap to clone, shared by every request.
#[derive(Clone, Debug)]
pub struct App {
    inner: Arc<AppInner>,
}

#[derive(Debug)]
struct AppInner {
    config: AppConfig,
    /// One integration for every user: one connection pool, one store, one clock.
    servicenow: Servicenow,
    login: Login,
    sessions: Sessions,
    /// `scheme://host[:port]` of `public_url`: the `Origin` of this app's own pages.
    origin: String,
}

impl App {
    /// Builds the app (no request is sent yet).
    pub async fn new(config: AppConfig) -> anyhow::Result<Self> {
        let servicenow = Servicenow::builder(config.instance.clone(), config.oauth_client.clone())
            .redirect_uri(config.redirect_uri.clone())
            .store(Arc::clone(&config.store))
            .transport_config(config.network.clone())
            .build()
            .await?;
        let login = servicenow.login()?;
        let secure_cookies = !is_loopback_http(&config.public_url);
        let origin = origin_of(&config.public_url)?;
        // Connected sessions that expire or give way are logged out in the background: their
        // subject is unreachable afterwards, and their tokens must not outlive them.
        let (retired, mut to_log_out) = tokio::sync::mpsc::channel::<String>(1024);
        let logout = login.clone();
        tokio::spawn(async move {
            while let Some(subject) = to_log_out.recv().await {
                if let Err(error) = logout.logout(&subject).await {
                    tracing::warn!(%error, "logging out an ended session failed");
                }
            }
        });
        let sessions = Sessions::new(config.sessions, secure_cookies, retired);
        Ok(Self {
            inner: Arc::new(AppInner {
                config,
                servicenow,
                login,
                sessions,
                origin,
            }),
        })
    }

    /// The routes: `/`, `POST /connect`, `/callback`, `POST /logout`.
    pub fn router(&self) -> axum::Router {
        routes::router(self.clone())
    }

    /// Serves the app on `listener` until the process ends.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }

    /// The subjects (this app's user ids) of the sessions that are connected to ServiceNow; for
    /// operators and tests (they are ids, not secrets).
    pub async fn connected_subjects(&self) -> Vec<String> {
        self.inner.sessions.connected_subjects().await
    }

    /// The token store.
    pub fn store(&self) -> &Arc<dyn TokenStore> {
        &self.inner.config.store
    }

    /// The login helper (for the store key of a subject).
    pub fn login(&self) -> &Login {
        &self.inner.login
    }

    /// The handle reading records for `subject`: cheap, sharing the app's connection pool;
    /// handles of one user share one token manager while any of them is alive.
    fn client_for(&self, subject: &str) -> servicenow::Result<Client> {
        self.inner.servicenow.user(subject)
    }
}

/// Where to keep tokens: `sqlite:DIR` (default), `postgres://…` or `redis://…`. The sealing key
/// lives in `key_file` (created with mode 0600 on first use) for the database engines; the SQLite
/// store keeps its key beside the database.
pub async fn open_store(spec: &str, key_file: &Path) -> anyhow::Result<Arc<dyn TokenStore>> {
    use servicenow::store::{
        Keyring, PostgresBackend, PostgresOptions, RedisBackend, RedisOptions, SealedStore,
        SealingKey,
    };

    if let Some(directory) = spec.strip_prefix("sqlite:") {
        return Ok(stores::open_sqlite(Path::new(directory)).await?);
    }
    let keyring = || -> anyhow::Result<Keyring> {
        Ok(Keyring::new(SealingKey::load_or_create(key_file, 1)?))
    };
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        let backend = PostgresBackend::connect(spec, PostgresOptions::new("web_login")?).await?;
        return Ok(Arc::new(SealedStore::new(keyring()?, backend)));
    }
    if spec.starts_with("redis://") {
        let backend = RedisBackend::connect(spec, RedisOptions::new("web-login:")?).await?;
        return Ok(Arc::new(SealedStore::new(keyring()?, backend)));
    }
    anyhow::bail!("unknown store {spec:?}: use sqlite:DIR, postgres://… or redis://…")
}

/// The origin (`scheme://host[:port]`, as browsers send it in `Origin`) of `url`.
fn origin_of(url: &str) -> anyhow::Result<String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|error| anyhow::anyhow!("the public URL {url:?} is not a URL: {error}"))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme @ ("http" | "https")), Some(authority)) => {
            let host = authority.host().to_ascii_lowercase();
            let default_port = if scheme == "https" { 443 } else { 80 };
            Ok(match authority.port_u16() {
                Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
                _ => format!("{scheme}://{host}"),
            })
        }
        _ => anyhow::bail!("the public URL {url:?} must be http:// or https:// with a host"),
    }
}

/// Whether `url` is plain http on a loopback host (the one place a cookie may lack `Secure`).
fn is_loopback_http(url: &str) -> bool {
    url.parse::<http::Uri>().is_ok_and(|uri| {
        uri.scheme_str() == Some("http") && uri.host().is_some_and(is_loopback_host)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_secure_everywhere_but_plain_http_loopback() {
        assert!(is_loopback_http("http://127.0.0.1:3000"));
        assert!(is_loopback_http("http://localhost:3000/"));
        assert!(is_loopback_http("http://[::1]:3000"));
        assert!(!is_loopback_http("https://127.0.0.1:3000"));
        assert!(!is_loopback_http("http://app.example.com"));
        assert!(!is_loopback_http("https://app.example.com"));
    }

    #[test]
    fn the_origin_is_scheme_host_and_a_non_default_port() {
        assert_eq!(
            origin_of("http://127.0.0.1:3000/").unwrap(),
            "http://127.0.0.1:3000"
        );
        assert_eq!(
            origin_of("https://App.Example.com:443/base").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            origin_of("https://app.example.com:8443").unwrap(),
            "https://app.example.com:8443"
        );
        assert!(origin_of("app.example.com").is_err());
        assert!(origin_of("ftp://app.example.com").is_err());
    }
}

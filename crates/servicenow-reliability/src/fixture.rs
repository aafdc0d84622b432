//! Emulator, client and login fixtures shared by the tests and the worker process.

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use servicenow::{Client, Clock, ManagerOptions, Servicenow};
use servicenow_emulator::{
    ClientRegistration, DEFAULT_ACCESS_TOKEN_TTL, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
    DEFAULT_REDIRECT_URIS, DEFAULT_REFRESH_TOKEN_TTL, Emulator, EmulatorHandle,
    user_agent::{ConsentDecision, ScriptedUserAgent},
};
use servicenow_http::HttpTransport;
use servicenow_oauth::{ClientId, ClientSecret, InstanceUrl, OAuthClient, RedirectUri};
use servicenow_store::TokenStore;

/// The subject (the application's user id) every test logs in as.
pub const SUBJECT: &str = "alice";

/// An emulator with `rows` generated incidents on a free loopback port.
pub async fn start_emulator(rows: u64) -> anyhow::Result<EmulatorHandle> {
    start_emulator_with_access_ttl(rows, DEFAULT_ACCESS_TOKEN_TTL).await
}

/// An emulator whose default client's access tokens live `access_token_ttl` (for tests that
/// move the emulator's clock by hours and do not want tokens to expire meanwhile).
pub async fn start_emulator_with_access_ttl(
    rows: u64,
    access_token_ttl: Duration,
) -> anyhow::Result<EmulatorHandle> {
    let redirect_uris = DEFAULT_REDIRECT_URIS
        .iter()
        .map(|uri| (*uri).to_owned())
        .collect();
    Emulator::builder()
        .seed(9)
        .rows("incident", rows)
        .client(
            ClientRegistration::confidential(
                DEFAULT_CLIENT_ID,
                DEFAULT_CLIENT_SECRET,
                redirect_uris,
            )
            .with_token_ttls(access_token_ttl, DEFAULT_REFRESH_TOKEN_TTL),
        )
        .start()
        .await
        .context("starting the emulator")
}

/// The emulator's default confidential client.
pub fn oauth_client() -> anyhow::Result<OAuthClient> {
    Ok(OAuthClient::confidential(
        ClientId::new(DEFAULT_CLIENT_ID)?,
        ClientSecret::new(DEFAULT_CLIENT_SECRET)?,
    ))
}

/// Manager options with a short refresh lease, so that a process killed while holding it
/// delays the next one by `lease_ttl` at most.
pub fn manager_options(lease_ttl: Duration) -> ManagerOptions {
    let mut options = ManagerOptions::default();
    options.lease_ttl = lease_ttl;
    options.lease_wait = Duration::from_secs(60);
    options
}

/// A user credential (`SUBJECT`) on `instance` with this store, clock and transport.
pub async fn user_client(
    instance: &str,
    store: Arc<dyn TokenStore>,
    clock: Arc<dyn Clock>,
    transport: Option<Arc<dyn HttpTransport>>,
    options: ManagerOptions,
) -> anyhow::Result<Client> {
    let redirect = DEFAULT_REDIRECT_URIS
        .first()
        .context("the emulator registers a redirect URI")?;
    let mut builder = Servicenow::builder(InstanceUrl::new(instance)?, oauth_client()?)
        .redirect_uri(RedirectUri::new(*redirect)?)
        .store(store)
        .clock(clock)
        .manager_options(options);
    if let Some(transport) = transport {
        builder = builder.transport(transport);
    }
    Ok(builder.build().await?.user(SUBJECT)?)
}

/// Logs `SUBJECT` in through the emulator's login and consent pages (as a browser would) and
/// stores the token set.
pub async fn log_in(client: &Client) -> anyhow::Result<()> {
    let login = client.servicenow().login()?;
    let authorization_url = login.begin(SUBJECT).await?;
    let redirect = ScriptedUserAgent::new()
        .authorize(&authorization_url, "admin", "admin", ConsentDecision::Allow)
        .await
        .context("logging in on the emulator's pages")?;
    login.complete(SUBJECT, redirect.query()).await?;
    Ok(())
}

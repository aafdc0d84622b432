//! Logging a user in against the emulator over real sockets: the credential, the scripted user agent, the manager.

use std::sync::Arc;

use servicenow::{Clock, ManualClock, Servicenow, TokenManager};
use servicenow_auth::{AuthConfig, AuthMachine, TokenSet};
use servicenow_emulator::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URIS,
    user_agent::{ConsentDecision, ScriptedUserAgent},
};
use servicenow_http::HttpTransport;
use servicenow_oauth::{ClientId, ClientSecret, InstanceUrl, OAuthClient, RedirectUri};
use servicenow_store::{CredentialKey, TokenStore};

/// The emulator's confidential client as an authorization-code credential.
pub(crate) fn config(base_url: &str) -> AuthConfig {
    AuthConfig::authorization_code(
        InstanceUrl::new(base_url).expect("the emulator's loopback url is an instance url"),
        OAuthClient::confidential(
            ClientId::new(DEFAULT_CLIENT_ID).expect("valid client id"),
            ClientSecret::new(DEFAULT_CLIENT_SECRET).expect("valid secret"),
        ),
        RedirectUri::new(DEFAULT_REDIRECT_URIS[0]).expect("valid redirect uri"),
    )
}

/// Logs `subject` in as the emulator's `admin` user through a `Servicenow` on `store`,
/// `transport` and `clock`: `Login::begin`, the login and consent pages through the scripted user
/// agent, `Login::complete`. Returns the token set stored and the store key it is under.
pub(crate) async fn log_in(
    config: &AuthConfig,
    store: &Arc<dyn TokenStore>,
    transport: &Arc<dyn HttpTransport>,
    clock: &ManualClock,
    subject: &str,
) -> (TokenSet, CredentialKey) {
    let servicenow = Servicenow::builder(config.instance.clone(), config.client.clone())
        .redirect_uri(RedirectUri::new(DEFAULT_REDIRECT_URIS[0]).expect("valid redirect uri"))
        .store(Arc::clone(store))
        .transport(Arc::clone(transport))
        .clock(Arc::new(clock.clone()))
        .build()
        .await
        .expect("the integration builds");
    let login = servicenow.login().expect("users are configured");
    let authorization_url = login.begin(subject).await.expect("login begins");
    let redirect = ScriptedUserAgent::new()
        .authorize(&authorization_url, "admin", "admin", ConsentDecision::Allow)
        .await
        .expect("the user logs in and allows access");
    let token_set = login
        .complete(subject, redirect.query())
        .await
        .expect("the callback completes the login");
    let key = login.credential_key(subject).expect("a valid key");
    (token_set, key)
}

/// A manager for the credential stored under `key` in `store`, seeded from the operating system.
pub(crate) fn manager(
    config: &AuthConfig,
    key: &CredentialKey,
    store: &Arc<dyn TokenStore>,
    transport: &Arc<dyn HttpTransport>,
    clock: &ManualClock,
) -> TokenManager {
    let key = key.clone();
    let mut seed = [0_u8; 32];
    getrandom::fill(&mut seed).expect("os randomness");
    TokenManager::new(
        key,
        AuthMachine::new(config.clone(), clock.now(), seed),
        Arc::clone(store),
        Arc::clone(transport),
        Arc::new(clock.clone()),
        super::quick_options(),
    )
}

//! Logging a user in against the emulator over real sockets: the credential, the scripted user agent, the manager.

use std::sync::Arc;

use servicenow::{Clock, Login, ManualClock, TokenManager};
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

/// Logs `subject` in as the emulator's `admin` user: `Login::begin`, the login and consent pages
/// through the scripted user agent, `Login::complete`. The token set ends up in `store`.
pub(crate) async fn log_in(
    config: &AuthConfig,
    store: &Arc<dyn TokenStore>,
    transport: &Arc<dyn HttpTransport>,
    clock: &ManualClock,
    subject: &str,
) -> TokenSet {
    let login = Login::new(
        config.clone(),
        Arc::clone(store),
        Arc::clone(transport),
        Arc::new(clock.clone()),
    );
    let authorization_url = login.begin(subject).await.expect("login begins");
    let redirect = ScriptedUserAgent::new()
        .authorize(&authorization_url, "admin", "admin", ConsentDecision::Allow)
        .await
        .expect("the user logs in and allows access");
    login
        .complete(subject, redirect.query())
        .await
        .expect("the callback completes the login")
}

/// A manager for `subject`'s credential in `store`, seeded from the operating system.
pub(crate) fn manager(
    config: &AuthConfig,
    subject: &str,
    store: &Arc<dyn TokenStore>,
    transport: &Arc<dyn HttpTransport>,
    clock: &ManualClock,
) -> TokenManager {
    let key = credential_key(config, subject);
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

/// The store key of `subject`'s tokens under `config`'s instance and client.
pub(crate) fn credential_key(config: &AuthConfig, subject: &str) -> CredentialKey {
    CredentialKey::new(
        config.instance.origin(),
        config.client.client_id.as_str(),
        subject,
    )
    .expect("valid key")
}

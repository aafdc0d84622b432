//! Shared helpers of the facade's integration tests: mockall doubles, token sets, responses, services.

#![allow(dead_code)] // Each test binary uses a different subset of these helpers.

pub(crate) mod emulator;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use bytes::Bytes;
use mockall::mock;
use servicenow::{Clock, ManagerOptions, ManualClock, TokenManager};
use servicenow_auth::{AuthConfig, AuthMachine, RefreshTokenRecord, TokenSet};
use servicenow_http::{HttpTransport, TransportError};
use servicenow_oauth::{
    AccessToken, ClientId, ClientSecret, InstanceUrl, OAuthClient, RedirectUri, RefreshToken,
};
use servicenow_store::{
    CredentialKey, Keyring, Lease, MemoryBackend, PendingId, SealedStore, SealingKey, SecretBytes,
    StoreError, TokenStore, Version, Versioned,
};

/// The instance every mock-based test talks to.
pub(crate) const INSTANCE: &str = "https://dev1.service-now.com";
/// ServiceNow's answer to a rejected refresh token: a 401 with `server_error`.
pub(crate) const REFRESH_REJECTED_BODY: &str =
    r#"{"error_description":"access_denied","error":"server_error"}"#;

mock! {
    /// A mockall double of the HTTP transport.
    pub(crate) Transport {}

    #[async_trait]
    impl HttpTransport for Transport {
        async fn send(
            &self,
            request: http::Request<Bytes>,
        ) -> Result<http::Response<Bytes>, TransportError>;
    }
}

mock! {
    /// A mockall double of the token store.
    pub(crate) Store {}

    #[async_trait]
    impl TokenStore for Store {
        async fn load(&self, key: &CredentialKey) -> Result<Option<Versioned>, StoreError>;
        async fn save(
            &self,
            key: &CredentialKey,
            value: SecretBytes,
            expected: Option<Version>,
        ) -> Result<Version, StoreError>;
        async fn delete(
            &self,
            key: &CredentialKey,
            expected: Option<Version>,
        ) -> Result<bool, StoreError>;
        async fn try_acquire_lease(
            &self,
            key: &CredentialKey,
            ttl: Duration,
        ) -> Result<Option<Lease>, StoreError>;
        async fn release_lease(&self, lease: Lease) -> Result<(), StoreError>;
        async fn put_pending(
            &self,
            key: &CredentialKey,
            id: &PendingId,
            value: SecretBytes,
            ttl: Duration,
        ) -> Result<(), StoreError>;
        async fn take_pending(
            &self,
            key: &CredentialKey,
            id: &PendingId,
        ) -> Result<Option<SecretBytes>, StoreError>;
    }
}

impl std::fmt::Debug for MockStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MockStore")
    }
}

/// The authorization-code credential of the mock-based tests.
pub(crate) fn config() -> AuthConfig {
    AuthConfig::authorization_code(
        InstanceUrl::new(INSTANCE).expect("valid instance"),
        OAuthClient::confidential(
            ClientId::new("client-id").expect("valid client id"),
            ClientSecret::new("client-secret-value").expect("valid secret"),
        ),
        RedirectUri::new("https://app.example.com/callback").expect("valid redirect uri"),
    )
}

/// The store key of the mock-based tests' credential.
pub(crate) fn key() -> CredentialKey {
    CredentialKey::new(INSTANCE, "client-id", "alice").expect("valid key")
}

/// A token set obtained now, with an access token living 30 minutes and a 100-day refresh token.
pub(crate) fn token_set(clock: &ManualClock, access_token: &str, refresh_token: &str) -> TokenSet {
    let now = clock.now();
    TokenSet::new(
        AccessToken::new(access_token).expect("valid access token"),
        now,
        now.saturating_add(Duration::from_secs(1800)),
        Some(RefreshTokenRecord::new(
            RefreshToken::new(refresh_token).expect("valid refresh token"),
            now,
            Some(now.saturating_add(Duration::from_secs(8_640_000))),
        )),
        None,
    )
}

/// A token set as a store holds it (its serde form, which the store seals).
pub(crate) fn encode(token_set: &TokenSet) -> SecretBytes {
    SecretBytes::new(serde_json::to_vec(token_set).expect("a token set serializes"))
}

/// The token set in stored bytes.
pub(crate) fn decode(bytes: &SecretBytes) -> TokenSet {
    serde_json::from_slice(bytes.expose_secret()).expect("stored bytes are a token set")
}

/// ServiceNow's token response: a new access token, the same refresh token, 30 minutes.
pub(crate) fn token_response(access_token: &str, refresh_token: &str) -> http::Response<Bytes> {
    let body = format!(
        r#"{{"access_token":"{access_token}","refresh_token":"{refresh_token}","scope":"useraccount","token_type":"Bearer","expires_in":1799}}"#
    );
    json_response(http::StatusCode::OK, body)
}

/// A JSON response with `status`.
pub(crate) fn json_response(
    status: http::StatusCode,
    body: impl Into<String>,
) -> http::Response<Bytes> {
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Bytes::from(body.into()))
        .expect("valid response")
}

/// Whether `request` is a refresh-token grant sent to the instance's token endpoint.
pub(crate) fn is_refresh(request: &http::Request<Bytes>) -> bool {
    request.uri().path() == "/oauth_token.do"
        && String::from_utf8_lossy(request.body()).contains("grant_type=refresh_token")
}

/// The bearer token a request carries, if any.
pub(crate) fn bearer_of(request: &http::Request<Bytes>) -> Option<String> {
    request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_owned)
}

/// A store record shared by the closures of a [`MockStore`]: what `load` returns and `save`
/// replaces, with compare-and-swap on the version.
#[derive(Debug, Default)]
pub(crate) struct StoredRecord {
    record: Mutex<Option<(Version, Vec<u8>)>>,
}

impl StoredRecord {
    /// A record holding `token_set` at version 1.
    pub(crate) fn holding(token_set: &TokenSet) -> Arc<Self> {
        let bytes = encode(token_set).expose_secret().to_vec();
        Arc::new(Self {
            record: Mutex::new(Some((Version::new(1).expect("valid version"), bytes))),
        })
    }

    /// What `load` answers.
    pub(crate) fn load(&self) -> Option<Versioned> {
        self.record
            .lock()
            .expect("record lock")
            .as_ref()
            .map(|(version, bytes)| Versioned {
                version: *version,
                value: SecretBytes::new(bytes.clone()),
            })
    }

    /// What `save` does: compare-and-swap on the version.
    pub(crate) fn save(
        &self,
        value: &SecretBytes,
        expected: Option<Version>,
    ) -> Result<Version, StoreError> {
        let mut record = self.record.lock().expect("record lock");
        let current = record.as_ref().map(|(version, _)| *version);
        if current != expected {
            return Err(StoreError::Conflict {
                current: record.as_ref().map(|(version, bytes)| Versioned {
                    version: *version,
                    value: SecretBytes::new(bytes.clone()),
                }),
            });
        }
        let version = expected.map_or(Version::new(1).expect("valid version"), Version::next);
        *record = Some((version, value.expose_secret().to_vec()));
        Ok(version)
    }

    /// The token set stored now.
    pub(crate) fn token_set(&self) -> Option<TokenSet> {
        self.load().map(|stored| decode(&stored.value))
    }
}

/// A mock store whose `load` answers from `record` and whose leases come from a real in-memory
/// store (a `Lease` can only be made by a store); `save` is left to each test.
pub(crate) fn mock_store_loading(record: &Arc<StoredRecord>) -> MockStore {
    let mut store = MockStore::new();
    let loaded = Arc::clone(record);
    store.expect_load().returning(move |_| Ok(loaded.load()));
    let leases = Arc::new(memory_store());
    let acquiring = Arc::clone(&leases);
    store.expect_try_acquire_lease().returning(move |key, ttl| {
        futures::executor::block_on(acquiring.try_acquire_lease(key, ttl))
    });
    store
        .expect_release_lease()
        .returning(move |lease| futures::executor::block_on(leases.release_lease(lease)));
    store
}

/// A sealed in-memory store with a fresh key.
pub(crate) fn memory_store() -> SealedStore {
    SealedStore::new(
        Keyring::new(SealingKey::generate(1).expect("os randomness")),
        MemoryBackend::new(),
    )
}

/// Manager options for tests: short pauses, same limits. The lease lives 2 s, so that a lease
/// left behind by a refresh task that panicked expires soon.
pub(crate) fn quick_options() -> ManagerOptions {
    let mut options = ManagerOptions::default();
    options.lease_ttl = Duration::from_secs(2);
    options.lease_wait = Duration::from_secs(30);
    options.persist_retry = Duration::from_millis(20);
    options
}

/// A manager for [`key`] over `store` and `transport`, with a fixed machine seed.
pub(crate) fn manager(
    store: Arc<dyn TokenStore>,
    transport: Arc<dyn HttpTransport>,
    clock: &ManualClock,
) -> TokenManager {
    manager_with(config(), store, transport, clock)
}

/// A manager for [`key`] with `config`.
pub(crate) fn manager_with(
    config: AuthConfig,
    store: Arc<dyn TokenStore>,
    transport: Arc<dyn HttpTransport>,
    clock: &ManualClock,
) -> TokenManager {
    manager_seeded(config, [7; 32], store, transport, clock)
}

/// A manager for [`key`] with `config` and the machine seed `seed`.
pub(crate) fn manager_seeded(
    config: AuthConfig,
    seed: [u8; 32],
    store: Arc<dyn TokenStore>,
    transport: Arc<dyn HttpTransport>,
    clock: &ManualClock,
) -> TokenManager {
    let machine = AuthMachine::new(config, clock.now(), seed);
    TokenManager::new(
        key(),
        machine,
        store,
        transport,
        Arc::new(clock.clone()),
        quick_options(),
    )
}

/// How far to move the clock so that a 30-minute access token is expired.
pub(crate) const PAST_EXPIRY: Duration = Duration::from_secs(1801);

/// A name unique to this run, for a schema or key prefix: `prefix_<16 hex digits>`.
pub(crate) fn unique_name(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the operating system's random generator works");
    let suffix: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{prefix}_{suffix}")
}

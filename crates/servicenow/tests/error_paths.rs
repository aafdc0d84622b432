//! Every way a Table API call can fail reaches the caller as its own `servicenow::Error` variant, through `list`, `get`, `stream` and `create` alike, with a sentence for its message.
//!
//! A scripted transport plays the instance: the token endpoint and the Table API answer as each
//! story needs. Nothing is stringified on the way: each test matches the typed value.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt as _;
use servicenow::{
    Client, Error, ErrorKind, ManualClock, Servicenow,
    auth::{ReauthorizationReason, RefreshTokenRecord, TokenSet},
    oauth::{
        AccessToken, ClientId, ClientSecret, InstanceUrl, OAuthClient, RedirectUri, RefreshToken,
    },
    store::{Backend, Keyring, MemoryBackend, SealedStore, SealingKey, SecretBytes, TokenStore},
    table::{ReadOptions, Record, RetryPolicy, StreamConfig, SysId, TableError, WriteOptions},
    transport::{HttpTransport, TimeoutPhase, TransportError},
};

const INSTANCE: &str = "https://dev1.service-now.com";
const SUBJECT: &str = "alice";

/// How the scripted instance answers.
#[derive(Clone, Copy, Debug)]
enum Script {
    /// The token endpoint refuses every refresh (ServiceNow's 401 `access_denied`).
    RefreshRefused,
    /// Tokens are issued, and the Table API answers 401 to every one of them.
    TableUnauthorized,
    /// Tokens are issued, and the Table API answers 403 (an ACL).
    TableForbidden,
    /// Tokens are issued, and every Table API request times out in the transport.
    TableTimesOut,
}

#[derive(Debug)]
struct ScriptedInstance {
    script: Script,
    token_requests: Mutex<u32>,
}

fn response(status: u16, body: &str) -> http::Response<Bytes> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Bytes::from(body.to_owned()))
        .expect("a valid response")
}

#[async_trait]
impl HttpTransport for ScriptedInstance {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        if request.uri().path() == "/oauth_token.do" {
            let issued = {
                let mut count = self.token_requests.lock().expect("not poisoned");
                *count += 1;
                *count
            };
            return Ok(match self.script {
                Script::RefreshRefused => response(
                    401,
                    r#"{"error_description":"access_denied","error":"server_error"}"#,
                ),
                _ => response(
                    200,
                    &format!(
                        r#"{{"access_token":"fresh-access-{issued}","refresh_token":"refresh-kept","token_type":"Bearer","expires_in":1800}}"#
                    ),
                ),
            });
        }
        match self.script {
            Script::TableUnauthorized => Ok(response(
                401,
                r#"{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"}"#,
            )),
            Script::TableForbidden => Ok(response(
                403,
                r#"{"error":{"message":"Operation Failed","detail":"ACL Exception Insert Failed due to security constraints"},"status":"failure"}"#,
            )),
            Script::TableTimesOut => Err(TransportError::Timeout {
                phase: TimeoutPhase::Total,
                after: Duration::from_secs(120),
            }),
            Script::RefreshRefused => Ok(response(200, r#"{"result":[]}"#)),
        }
    }
}

/// The four calls every story goes through, each returning its error.
async fn four_calls(client: &Client) -> Vec<(&'static str, Error)> {
    let table = client
        .table::<Record>("incident")
        .expect("a valid table name");
    let sys_id = SysId::new("0123456789abcdef0123456789abcdef").expect("a valid sys_id");
    let mut errors = Vec::new();
    let list = table.list(&Default::default()).await;
    errors.push(("list", list.expect_err("list must fail")));
    let get = table.get(&sys_id, &ReadOptions::default()).await;
    errors.push(("get", get.expect_err("get must fail")));
    let mut stream =
        std::pin::pin!(table.stream(None, ReadOptions::default(), StreamConfig::default()));
    let streamed = stream.next().await.expect("the stream yields its failure");
    errors.push(("stream", streamed.expect_err("stream must fail")));
    let record = serde_json::json!({"short_description": "printer on fire"});
    let create = table.create(&record, &WriteOptions::default()).await;
    errors.push(("create", create.expect_err("create must fail")));
    errors
}

/// A store holding `SUBJECT`'s token set, whose access token expired when `expired` (then the
/// first call refreshes).
async fn store_with_tokens(
    servicenow: &Servicenow,
    store: &Arc<dyn TokenStore>,
    clock: &ManualClock,
    expired: bool,
) {
    let now = servicenow::Clock::now(clock);
    let issued = now.saturating_sub(Duration::from_secs(if expired { 3600 } else { 0 }));
    let token_set = TokenSet::new(
        AccessToken::new("stored-access").expect("a valid token"),
        issued,
        issued.saturating_add(Duration::from_secs(1800)),
        Some(RefreshTokenRecord::new(
            RefreshToken::new("stored-refresh").expect("a valid token"),
            issued,
            None,
        )),
        None,
    );
    let key = servicenow
        .login()
        .expect("users are configured")
        .credential_key(SUBJECT)
        .expect("a valid key");
    let bytes = SecretBytes::new(serde_json::to_vec(&token_set).expect("serializes"));
    store.save(&key, bytes, None).await.expect("saved");
}

async fn app(
    transport: Arc<dyn HttpTransport>,
    store: Arc<dyn TokenStore>,
    clock: &ManualClock,
) -> Servicenow {
    Servicenow::builder(
        InstanceUrl::new(INSTANCE).expect("valid"),
        OAuthClient::confidential(
            ClientId::new("client-id").expect("valid"),
            ClientSecret::new("client-secret").expect("valid"),
        ),
    )
    .redirect_uri(RedirectUri::new("https://app.example.com/callback").expect("valid"))
    .store(store)
    .transport(transport)
    .clock(Arc::new(clock.clone()))
    .retry_policy(RetryPolicy::never())
    .build()
    .await
    .expect("built")
}

fn sealed_memory(backend: Arc<dyn Backend>) -> Arc<dyn TokenStore> {
    let key = SealingKey::generate(1).expect("os randomness");
    Arc::new(SealedStore::from_shared(Keyring::new(key), backend))
}

async fn story(script: Script, expired: bool) -> Vec<(&'static str, Error)> {
    let clock = ManualClock::new();
    let store = sealed_memory(Arc::new(MemoryBackend::new()));
    let instance = Arc::new(ScriptedInstance {
        script,
        token_requests: Mutex::new(0),
    });
    let servicenow = app(instance, Arc::clone(&store), &clock).await;
    store_with_tokens(&servicenow, &store, &clock, expired).await;
    four_calls(&servicenow.user(SUBJECT).expect("users are configured")).await
}

/// A message is a sentence: no `Debug` output of a struct, an option or a string inside it.
fn assert_sentence(call: &str, error: &Error) {
    let text = error.to_string();
    for debug_mark in ["{ ", " }", "Some(", "None", "(\"", "\\\""] {
        assert!(
            !text.contains(debug_mark),
            "{call}: the message {text:?} contains Debug output ({debug_mark:?})"
        );
    }
    assert!(
        text.len() > 20,
        "{call}: the message {text:?} says too little"
    );
}

#[tokio::test]
async fn a_refused_refresh_is_reauthorization_required_with_the_instances_answer() {
    for (call, error) in story(Script::RefreshRefused, true).await {
        let Error::ReauthorizationRequired { reason } = &error else {
            panic!("{call}: {error:?}");
        };
        assert!(
            matches!(reason.as_ref(), ReauthorizationReason::RefreshRejected(_)),
            "{call}: {error:?}"
        );
        assert_eq!(error.kind(), ErrorKind::Reauthorize, "{call}");
        assert_sentence(call, &error);
    }
}

#[tokio::test]
async fn a_401_after_the_one_refresh_is_the_table_apis_unauthorized() {
    for (call, error) in story(Script::TableUnauthorized, false).await {
        assert!(
            matches!(error.table_error(), Some(TableError::Unauthorized { .. })),
            "{call}: {error:?}"
        );
        assert_eq!(error.kind(), ErrorKind::Reauthorize, "{call}");
        assert_sentence(call, &error);
    }
}

#[tokio::test]
async fn a_forbidden_read_or_write_is_the_table_apis_forbidden_with_servicenows_message() {
    for (call, error) in story(Script::TableForbidden, false).await {
        let Some(TableError::Forbidden { response, .. }) = error.table_error() else {
            panic!("{call}: {error:?}");
        };
        assert_eq!(response.message, "Operation Failed", "{call}");
        assert_eq!(error.kind(), ErrorKind::Forbidden, "{call}");
        assert_sentence(call, &error);
    }
}

#[tokio::test]
async fn a_transport_timeout_is_a_transport_error_with_its_phase() {
    for (call, error) in story(Script::TableTimesOut, false).await {
        let Error::Transport(transport) = &error else {
            panic!("{call}: {error:?}");
        };
        assert!(
            matches!(
                transport.as_ref(),
                TransportError::Timeout {
                    phase: TimeoutPhase::Total,
                    ..
                }
            ),
            "{call}: {error:?}"
        );
        assert_eq!(error.kind(), ErrorKind::Unavailable, "{call}");
        assert_sentence(call, &error);
    }
}

#[tokio::test]
async fn a_store_that_cannot_open_its_values_is_a_store_error() {
    let clock = ManualClock::new();
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    // Tokens sealed under one key, read under another with the same id: nothing opens.
    let writer = sealed_memory(Arc::clone(&backend));
    let reader = sealed_memory(backend);
    let instance = Arc::new(ScriptedInstance {
        script: Script::TableForbidden,
        token_requests: Mutex::new(0),
    });
    let writing_app = app(Arc::clone(&instance) as _, Arc::clone(&writer), &clock).await;
    store_with_tokens(&writing_app, &writer, &clock, false).await;
    let reading_app = app(instance, reader, &clock).await;
    let client = reading_app.user(SUBJECT).expect("users are configured");
    for (call, error) in four_calls(&client).await {
        assert!(matches!(&error, Error::Store(_)), "{call}: {error:?}");
        assert_eq!(error.kind(), ErrorKind::Store, "{call}");
        assert_sentence(call, &error);
    }
}

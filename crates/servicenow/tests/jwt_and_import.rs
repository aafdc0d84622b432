//! The JWT bearer grant and an imported refresh token, end to end against the emulator over
//! real sockets: `Servicenow::jwt_bearer` reads a table with tokens acquired by signed
//! assertions (a new one each time, never a refresh token); `Client::import_refresh_token`
//! starts a user's credential from a refresh token obtained by another path, and a refused one
//! is a typed `ReauthorizationRequired` carrying the instance's message.

use std::{sync::Arc, time::Duration};

use servicenow::{
    Error, ErrorKind, ManualClock, Servicenow,
    auth::ReauthorizationReason,
    oauth::{
        ClientId, ClientSecret, InstanceUrl, OAuthClient, PemSigner, RedirectUri, RefreshToken,
        TokenErrorKind,
    },
    table::Record,
};
use servicenow_emulator::{
    ClientRegistration, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URIS, Emulator,
    EmulatorHandle, JwtEndpoint, JwtVerifierKey, TokenOutcome, UserAccount,
};

const RS256_KEY: &str = include_str!("keys/rs256-test-key.pem");
const RS256_PUBLIC_KEY: &str = include_str!("keys/rs256-test-key.pub.pem");
const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

async fn emulator() -> EmulatorHandle {
    let redirect_uris = DEFAULT_REDIRECT_URIS
        .iter()
        .map(|uri| (*uri).to_owned())
        .collect();
    let client =
        ClientRegistration::confidential(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, redirect_uris)
            .with_token_ttls(Duration::from_secs(120), Duration::from_secs(8_640_000))
            .with_jwt(JwtEndpoint::new(vec![
                JwtVerifierKey::from_pem("test-rs256", RS256_PUBLIC_KEY).expect("a public key"),
            ]));
    Emulator::builder()
        .client(client)
        .user(UserAccount::new("admin", "admin"))
        .rows("incident", 20)
        .start()
        .await
        .expect("the emulator starts")
}

async fn servicenow(emulator: &EmulatorHandle, clock: &ManualClock) -> Servicenow {
    Servicenow::builder(
        InstanceUrl::new(emulator.base_url()).expect("loopback instance"),
        OAuthClient::confidential(
            ClientId::new(DEFAULT_CLIENT_ID).expect("client id"),
            ClientSecret::new(DEFAULT_CLIENT_SECRET).expect("client secret"),
        ),
    )
    .redirect_uri(RedirectUri::new(DEFAULT_REDIRECT_URIS[0]).expect("redirect uri"))
    .store(servicenow::stores::open_memory().expect("memory store"))
    .clock(Arc::new(clock.clone()))
    .build()
    .await
    .expect("the integration builds")
}

#[tokio::test]
async fn jwt_bearer_reads_a_table_and_acquires_with_a_new_assertion_before_expiry() {
    let emulator = emulator().await;
    let clock = ManualClock::new();
    let app = servicenow(&emulator, &clock).await;
    let signer = PemSigner::from_pem(RS256_KEY, Some("test-rs256".to_owned())).expect("a key");
    let client = app.jwt_bearer("admin", Arc::new(signer)).expect("a handle");
    let incidents = client.table::<Record>("incident").expect("a table name");
    assert!(incidents.first(None).await.expect("a row").is_some());
    assert_eq!(
        emulator
            .counters()
            .token_requests(JWT_GRANT, TokenOutcome::Issued),
        1
    );
    // The 120 s token is re-acquired past its refresh point (60 s skew) with a new assertion:
    // the emulator's JTI check would refuse a repeated one.
    clock.advance(Duration::from_secs(100));
    emulator.clock().advance(Duration::from_secs(100));
    assert!(incidents.first(None).await.expect("a row").is_some());
    let counters = emulator.counters();
    assert_eq!(counters.token_requests(JWT_GRANT, TokenOutcome::Issued), 2);
    assert_eq!(
        counters.token_requests(JWT_GRANT, TokenOutcome::Rejected),
        0
    );
    assert_eq!(
        counters.token_requests("refresh_token", TokenOutcome::Issued),
        0
    );
}

#[tokio::test]
async fn an_assertion_signed_by_an_unregistered_kid_is_a_typed_reauthorization() {
    let emulator = emulator().await;
    let app = servicenow(&emulator, &ManualClock::new()).await;
    let signer = PemSigner::from_pem(RS256_KEY, Some("other-kid".to_owned())).expect("a key");
    let client = app.jwt_bearer("admin", Arc::new(signer)).expect("a handle");
    let error = client
        .table::<Record>("incident")
        .expect("a table name")
        .first(None)
        .await
        .expect_err("refused");
    assert_eq!(error.kind(), ErrorKind::Reauthorize, "{error}");
}

/// A refresh token obtained by another tool: a password grant run once, straight at the
/// instance, as an administrator would.
async fn refresh_token_from_elsewhere(emulator: &EmulatorHandle) -> String {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "password"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("username", "admin"),
            ("password", "admin"),
        ])
        .finish();
    let response = reqwest::Client::new()
        .post(emulator.url("/oauth_token.do"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("the token endpoint answers");
    let json: serde_json::Value = response.json().await.expect("a JSON body");
    json["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned()
}

#[tokio::test]
async fn an_imported_refresh_token_is_stored_refreshed_and_used() {
    let emulator = emulator().await;
    let refresh_token = refresh_token_from_elsewhere(&emulator).await;
    let app = servicenow(&emulator, &ManualClock::new()).await;
    let user = app.user("imported-admin").expect("a user handle");
    user.import_refresh_token(
        RefreshToken::new(refresh_token.clone()).expect("a refresh token"),
        None,
    )
    .await
    .expect("the instance accepts it");
    assert_eq!(
        emulator
            .counters()
            .token_requests("refresh_token", TokenOutcome::Issued),
        1,
        "the first access token came from the normal refresh"
    );
    let stored = app
        .login()
        .expect("users are configured")
        .stored_token_set("imported-admin")
        .await
        .expect("the store answers")
        .expect("a stored set");
    assert_eq!(
        stored.refresh_token().map(|record| record.token().secret()),
        Some(refresh_token.as_str()),
        "the imported refresh token is stored (sealed)"
    );
    let rows = user
        .table::<Record>("incident")
        .expect("a table name")
        .first(None)
        .await
        .expect("the table answers");
    assert!(rows.is_some());
}

#[tokio::test]
async fn a_refused_imported_refresh_token_is_a_typed_reauthorization_with_the_instances_message() {
    let emulator = emulator().await;
    emulator.update_settings(|settings| settings.rfc6749_errors = true);
    let app = servicenow(&emulator, &ManualClock::new()).await;
    let user = app.user("someone").expect("a user handle");
    let error = user
        .import_refresh_token(
            RefreshToken::new("never-issued-by-this-instance").expect("a refresh token"),
            None,
        )
        .await
        .expect_err("the instance refuses it");
    let Error::ReauthorizationRequired { reason } = &error else {
        panic!("not a re-authorization: {error:?}");
    };
    let ReauthorizationReason::RefreshRejected(refusal) = reason.as_ref() else {
        panic!("not a refused refresh: {reason:?}");
    };
    let TokenErrorKind::ErrorResponse(body) = &refusal.kind else {
        panic!("not an OAuth error body: {refusal:?}");
    };
    assert_eq!(
        body.error_description.as_deref(),
        Some("the refresh token is unknown, expired or revoked"),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("the refresh token is unknown, expired or revoked"),
        "{error}"
    );
    let service = app.service();
    let wrong_handle = service
        .import_refresh_token(RefreshToken::new("x").expect("a refresh token"), None)
        .await
        .expect_err("only a user's handle imports");
    assert_eq!(wrong_handle.kind(), ErrorKind::Config);
}

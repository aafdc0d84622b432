//! `POST /oauth_token.do` over real sockets: form body only, the four grants, ServiceNow's
//! success and failure bodies, codes bound to client, redirect URI and PKCE, expiry by the
//! emulator's clock (servicenow-api.md §1.3 token endpoint, §1.4 token response, §1.5
//! lifetimes, §1.6 refresh behaviour, §1.8 error responses, §5 checklist item 2).

mod common;

use std::time::Duration;

use common::{
    CHALLENGE, REDIRECT_URI, VERIFIER, code_for_confidential_client, code_for_public_client,
    encode, exchange, get, http, json, password_tokens, refresh, start, start_with, token_request,
    tokens,
};
use reqwest::StatusCode;
use servicenow_emulator::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PUBLIC_CLIENT_ID, Emulator, TokenOutcome,
};

const SERVICENOW_FAILURE: &str = r#"{"error_description":"access_denied","error":"server_error"}"#;

#[tokio::test]
async fn a_code_exchange_returns_the_documented_body_with_a_numeric_expires_in() {
    let emulator = start().await;
    let code = code_for_confidential_client(&emulator).await;
    let (status, body) = exchange(&emulator, &code).await;
    assert_eq!(status, StatusCode::OK);
    let response = json(&body);
    assert_eq!(response["scope"], "useraccount");
    assert_eq!(response["token_type"], "Bearer");
    assert_eq!(response["expires_in"], 1800, "a JSON number, not a string");
    let (access, refresh_token) = tokens(&body);
    assert_eq!(
        access.len(),
        86,
        "about 86 base64url characters like the documented examples"
    );
    assert!(!refresh_token.is_empty());
    assert!(body.starts_with(
        r#"{"scope":"useraccount","token_type":"Bearer","expires_in":1800,"refresh_token":""#
    ));
    assert_eq!(
        emulator
            .counters()
            .token_requests("authorization_code", TokenOutcome::Issued),
        1
    );
}

#[tokio::test]
async fn a_code_is_single_use_and_its_replay_revokes_the_tokens_it_gave() {
    let emulator = start().await;
    let code = code_for_confidential_client(&emulator).await;
    let (_, body) = exchange(&emulator, &code).await;
    let (access, _) = tokens(&body);
    assert_eq!(
        get(
            &emulator,
            "/api/now/table/incident?sysparm_limit=1",
            &access
        )
        .await
        .0,
        StatusCode::OK
    );
    let (status, body) = exchange(&emulator, &code).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::UNAUTHORIZED, SERVICENOW_FAILURE)
    );
    assert_eq!(
        get(
            &emulator,
            "/api/now/table/incident?sysparm_limit=1",
            &access
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    let counters = emulator.counters();
    assert_eq!(
        counters.token_requests("authorization_code", TokenOutcome::Rejected),
        1
    );
}

#[tokio::test]
async fn a_code_expires_when_the_clock_is_advanced() {
    let emulator = start().await;
    let code = code_for_confidential_client(&emulator).await;
    emulator.clock().advance(Duration::from_secs(61));
    assert_eq!(exchange(&emulator, &code).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_code_is_bound_to_its_redirect_uri_and_client() {
    let emulator = start().await;
    let code = code_for_confidential_client(&emulator).await;
    let (status, _) = token_request(
        &emulator,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://localhost:8765/callback"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "another registered URI is still a mismatch"
    );
    let code = code_for_confidential_client(&emulator).await;
    let (status, _) = token_request(
        &emulator,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", DEFAULT_PUBLIC_CLIENT_ID),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a code issued to another client"
    );
}

#[tokio::test]
async fn pkce_the_verifier_must_match_the_challenge() {
    let emulator = start().await;
    let exchange_with = |code: String, verifier: &'static str| {
        let emulator = &emulator;
        async move {
            token_request(
                emulator,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT_URI),
                    ("client_id", DEFAULT_PUBLIC_CLIENT_ID),
                    ("code_verifier", verifier),
                ],
            )
            .await
        }
    };
    let code = code_for_public_client(&emulator).await;
    let (status, body) =
        exchange_with(code, "wrong-verifier-wrong-verifier-wrong-verifier-00").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::UNAUTHORIZED, SERVICENOW_FAILURE)
    );
    let code = code_for_public_client(&emulator).await;
    let (status, body) = exchange_with(code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(CHALLENGE.len(), 43);
}

#[tokio::test]
async fn json_bodies_and_query_string_parameters_are_refused_like_a_real_instance() {
    let emulator = start().await;
    let json_body = serde_json::json!({
        "grant_type": "password", "username": "admin", "password": "admin",
        "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET,
    });
    let response = http()
        .post(emulator.url("/oauth_token.do"))
        .header("Content-Type", "application/json")
        .body(json_body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.text().await.unwrap(), SERVICENOW_FAILURE);
    let query = encode(&[
        ("grant_type", "password"),
        ("username", "admin"),
        ("password", "admin"),
        ("client_id", DEFAULT_CLIENT_ID),
        ("client_secret", DEFAULT_CLIENT_SECRET),
    ]);
    let response = http()
        .post(emulator.url(&format!("/oauth_token.do?{query}")))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.text().await.unwrap(), SERVICENOW_FAILURE);
}

#[tokio::test]
async fn a_refresh_returns_the_same_refresh_token_and_keeps_its_original_expiry() {
    let emulator = start().await;
    let (access, refresh_token) = password_tokens(&emulator).await;
    emulator.clock().advance(Duration::from_secs(1801));
    assert_eq!(
        get(
            &emulator,
            "/api/now/table/incident?sysparm_limit=1",
            &access
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = refresh(&emulator, &refresh_token).await;
    assert_eq!(status, StatusCode::OK);
    let (new_access, returned_refresh) = tokens(&body);
    assert_eq!(
        returned_refresh, refresh_token,
        "ServiceNow does not rotate"
    );
    assert_ne!(new_access, access);
    assert_eq!(
        get(
            &emulator,
            "/api/now/table/incident?sysparm_limit=1",
            &new_access
        )
        .await
        .0,
        StatusCode::OK
    );
    // 100 days after the first issue the refresh token is dead, however often it was used.
    emulator
        .clock()
        .advance(Duration::from_secs(8_640_000 - 1801));
    let (status, body) = refresh(&emulator, &refresh_token).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::UNAUTHORIZED, SERVICENOW_FAILURE)
    );
}

#[tokio::test]
async fn with_rotation_a_refresh_gives_a_new_refresh_token_and_the_old_one_fails() {
    let emulator =
        start_with(Emulator::builder().configure(|settings| settings.rotate_refresh_tokens = true))
            .await;
    let (_, first) = password_tokens(&emulator).await;
    let (status, body) = refresh(&emulator, &first).await;
    assert_eq!(status, StatusCode::OK);
    let (_, second) = tokens(&body);
    assert_ne!(second, first);
    assert_eq!(refresh(&emulator, &first).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(&emulator, &second).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_password_grant_checks_the_user_and_the_client_secret() {
    let emulator = start().await;
    let (status, _) = token_request(
        &emulator,
        &[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "admin"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", "not-the-secret"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = token_request(
        &emulator,
        &[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "nope"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    password_tokens(&emulator).await;
    let counters = emulator.counters();
    assert_eq!(
        counters.token_requests("password", TokenOutcome::Rejected),
        2
    );
    assert_eq!(counters.token_requests("password", TokenOutcome::Issued), 1);
}

#[tokio::test]
async fn client_credentials_is_off_until_enabled_and_then_gives_no_refresh_token() {
    let emulator = start().await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", DEFAULT_CLIENT_ID),
        ("client_secret", DEFAULT_CLIENT_SECRET),
    ];
    let (status, body) = token_request(&emulator, &form).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::UNAUTHORIZED, SERVICENOW_FAILURE)
    );
    emulator.update_settings(|settings| settings.client_credentials_enabled = true);
    let (status, body) = token_request(&emulator, &form).await;
    assert_eq!(status, StatusCode::OK);
    assert!(json(&body).get("refresh_token").is_none(), "{body}");
}

#[tokio::test]
async fn http_basic_client_authentication_is_accepted_as_a_convenience() {
    let emulator = start().await;
    let response = http()
        .post(emulator.url("/oauth_token.do"))
        .basic_auth(DEFAULT_CLIENT_ID, Some(DEFAULT_CLIENT_SECRET))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(encode(&[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "admin"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    emulator.update_settings(|settings| settings.basic_client_authentication = false);
    let response = http()
        .post(emulator.url("/oauth_token.do"))
        .basic_auth(DEFAULT_CLIENT_ID, Some(DEFAULT_CLIENT_SECRET))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(encode(&[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "admin"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_rfc6749_option_gives_standard_error_codes() {
    let emulator =
        start_with(Emulator::builder().configure(|settings| settings.rfc6749_errors = true)).await;
    let (status, body) = refresh(&emulator, "no-such-token").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json(&body)["error"], "invalid_grant");
    let (status, body) = token_request(
        &emulator,
        &[("grant_type", "password"), ("client_id", "nobody")],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json(&body)["error"], "invalid_client");
    let (status, body) = token_request(
        &emulator,
        &[
            ("grant_type", "urn:example:unknown"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!(
        (status, json(&body)["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
}

#[tokio::test]
async fn token_lifespans_come_from_the_registry_entry() {
    let emulator = start_with(
        Emulator::builder().client(
            servicenow_emulator::ClientRegistration::confidential(
                DEFAULT_CLIENT_ID,
                DEFAULT_CLIENT_SECRET,
                vec![REDIRECT_URI.to_owned()],
            )
            .with_token_ttls(Duration::from_secs(60), Duration::from_secs(120)),
        ),
    )
    .await;
    let (access, refresh_token) = password_tokens(&emulator).await;
    emulator.clock().advance(Duration::from_secs(59));
    assert_eq!(
        get(
            &emulator,
            "/api/now/table/incident?sysparm_limit=1",
            &access
        )
        .await
        .0,
        StatusCode::OK
    );
    emulator.clock().advance(Duration::from_secs(2));
    assert_eq!(
        get(
            &emulator,
            "/api/now/table/incident?sysparm_limit=1",
            &access
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    emulator.clock().advance(Duration::from_secs(60));
    assert_eq!(
        refresh(&emulator, &refresh_token).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_handle_debug_output_never_shows_a_token_or_a_secret() {
    let emulator = start().await;
    let (access, refresh_token) = password_tokens(&emulator).await;
    let shown = format!("{emulator:?}");
    assert!(shown.contains("access_tokens: 1"), "{shown}");
    for secret in [
        access.as_str(),
        refresh_token.as_str(),
        DEFAULT_CLIENT_SECRET,
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

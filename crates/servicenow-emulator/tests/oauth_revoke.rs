//! Revocation at `oauth_revoke_token.do` (GET `?token=`, as documented) and `oauth_revoke.do`
//! (POST form, as RFC 7009); revoked tokens stop working at once (servicenow-api.md §1.7
//! revocation, §5 checklist item 3).

mod common;

use common::{encode, get, http, password_tokens, refresh, start};
use reqwest::StatusCode;

const PAGE: &str = "/api/now/table/incident?sysparm_limit=1";

#[tokio::test]
async fn a_get_revocation_without_authentication_stops_an_access_token_at_once() {
    let emulator = start().await;
    let (access, refresh_token) = password_tokens(&emulator).await;
    assert_eq!(get(&emulator, PAGE, &access).await.0, StatusCode::OK);
    let response = http()
        .get(emulator.url(&format!("/oauth_revoke_token.do?token={access}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        get(&emulator, PAGE, &access).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&emulator, &refresh_token).await.0,
        StatusCode::OK,
        "the refresh token is untouched"
    );
    assert_eq!(emulator.counters().revocations, 1);
}

#[tokio::test]
async fn a_posted_refresh_token_revocation_takes_the_grant_access_tokens_with_it() {
    let emulator = start().await;
    let (access, refresh_token) = password_tokens(&emulator).await;
    let response = http()
        .post(emulator.url("/oauth_revoke.do"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(encode(&[
            ("token", &refresh_token),
            ("token_type_hint", "refresh_token"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        refresh(&emulator, &refresh_token).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&emulator, PAGE, &access).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_unknown_token_is_answered_like_a_known_one_and_a_missing_one_is_a_bad_request() {
    let emulator = start().await;
    let unknown = http()
        .get(emulator.url("/oauth_revoke_token.do?token=never-issued"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::OK);
    let missing = http()
        .get(emulator.url("/oauth_revoke_token.do"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn revoking_everything_from_the_handle_is_like_an_administrator_in_manage_tokens() {
    let emulator = start().await;
    let (access, refresh_token) = password_tokens(&emulator).await;
    emulator.revoke_all_tokens();
    assert_eq!(
        get(&emulator, PAGE, &access).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&emulator, &refresh_token).await.0,
        StatusCode::UNAUTHORIZED
    );
}

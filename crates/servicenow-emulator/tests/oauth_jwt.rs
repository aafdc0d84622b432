//! The JWT bearer grant over real sockets, verified the way ServiceNow documents it
//! (`servicenow-api-more.md` §5): a valid RS256 or ES256 assertion gets an access token and no
//! refresh token, for the user its `sub` names by the configured field; an expired,
//! future-dated, wrong-`aud`, wrong-`kid`, replayed or badly signed one is refused with the
//! shapes `docs/emulator.md` documents.

mod common;

use std::time::UNIX_EPOCH;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{get, json, start_with, token_request};
use p256::ecdsa::signature::Signer as _;
use reqwest::StatusCode;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::signature::SignatureEncoding as _;
use serde_json::{Value, json};
use servicenow_emulator::{
    ClientRegistration, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URIS, Emulator,
    EmulatorHandle, JwtEndpoint, JwtUserField, JwtVerifierKey, TokenOutcome, UserAccount,
};

const RS256_KEY: &str = include_str!("keys/rs256-test-key.pem");
const RS256_PUBLIC_KEY: &str = include_str!("keys/rs256-test-key.pub.pem");
const ES256_KEY: &str = include_str!("keys/es256-test-key.pem");
const ES256_PUBLIC_KEY: &str = include_str!("keys/es256-test-key.pub.pem");
const OTHER_RS256_KEY: &str = include_str!("keys/rs256-other-key.pem");
const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const SERVICENOW_FAILURE: &str = r#"{"error_description":"access_denied","error":"server_error"}"#;

async fn start(user_field: JwtUserField, rfc6749_errors: bool) -> EmulatorHandle {
    let redirect_uris = DEFAULT_REDIRECT_URIS
        .iter()
        .map(|uri| (*uri).to_owned())
        .collect();
    let endpoint = JwtEndpoint::new(vec![
        JwtVerifierKey::from_pem("rsa-key", RS256_PUBLIC_KEY).unwrap(),
        JwtVerifierKey::from_pem("ec-key", ES256_PUBLIC_KEY).unwrap(),
    ])
    .with_user_field(user_field);
    let client =
        ClientRegistration::confidential(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, redirect_uris)
            .with_jwt(endpoint);
    let emulator = start_with(
        Emulator::builder()
            .client(client)
            .user(UserAccount::new("itil", "itil").with_email("itil.person@example.com")),
    )
    .await;
    emulator.update_settings(|settings| settings.rfc6749_errors = rfc6749_errors);
    // The claims are made from the emulator's time: a frozen clock keeps a slow machine from
    // moving it between a claim and its check.
    emulator.clock().freeze();
    emulator
}

fn now_seconds(emulator: &EmulatorHandle) -> u64 {
    emulator
        .clock()
        .now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Valid claims for `sub`, made at the emulator's now.
fn claims(emulator: &EmulatorHandle, sub: &str, jti: &str) -> Value {
    let now = now_seconds(emulator);
    json!({
        "iss": DEFAULT_CLIENT_ID, "sub": sub, "aud": DEFAULT_CLIENT_ID,
        "iat": now, "exp": now + 60, "jti": jti,
    })
}

fn sign(key_pem: &str, alg: &str, kid: &str, claims: &Value) -> String {
    let header = json!({"alg": alg, "typ": "JWT", "kid": kid});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = match alg {
        "RS256" => {
            let key = rsa::RsaPrivateKey::from_pkcs8_pem(key_pem).unwrap();
            rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key)
                .sign(input.as_bytes())
                .to_vec()
        }
        _ => {
            let key = p256::ecdsa::SigningKey::from_pkcs8_pem(key_pem).unwrap();
            let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
            signature.to_bytes().to_vec()
        }
    };
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

async fn exchange(emulator: &EmulatorHandle, assertion: &str) -> (StatusCode, String) {
    token_request(
        emulator,
        &[
            ("grant_type", JWT_GRANT),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("assertion", assertion),
        ],
    )
    .await
}

#[tokio::test]
async fn a_valid_rs256_jwt_gets_an_access_token_and_no_refresh_token() {
    let emulator = start(JwtUserField::UserName, false).await;
    let assertion = sign(
        RS256_KEY,
        "RS256",
        "rsa-key",
        &claims(&emulator, "admin", "j-1"),
    );
    let (status, body) = exchange(&emulator, &assertion).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let response = json(&body);
    assert_eq!(response["token_type"], "Bearer");
    assert_eq!(response["expires_in"], 1800);
    assert!(response.get("refresh_token").is_none(), "{body}");
    let access = response["access_token"].as_str().unwrap();
    let (status, _, _) = get(&emulator, "/api/now/table/incident?sysparm_limit=1", access).await;
    assert_eq!(status, StatusCode::OK, "the token works on the Table API");
    assert_eq!(
        emulator
            .counters()
            .token_requests(JWT_GRANT, TokenOutcome::Issued),
        1
    );
}

#[tokio::test]
async fn a_valid_es256_jwt_maps_its_sub_by_the_email_field() {
    let emulator = start(JwtUserField::Email, false).await;
    let by_email = sign(
        ES256_KEY,
        "ES256",
        "ec-key",
        &claims(&emulator, "itil.person@example.com", "j-2"),
    );
    let (status, body) = exchange(&emulator, &by_email).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let by_user_name = sign(
        ES256_KEY,
        "ES256",
        "ec-key",
        &claims(&emulator, "itil", "j-3"),
    );
    let (status, _) = exchange(&emulator, &by_user_name).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a user name is not an email: no user"
    );
}

#[tokio::test]
async fn every_broken_jwt_is_refused_with_servicenows_generic_401_by_default() {
    let emulator = start(JwtUserField::UserName, false).await;
    let mut expired = claims(&emulator, "admin", "j-4");
    expired["exp"] = json!(now_seconds(&emulator) - 301);
    let (status, body) = exchange(&emulator, &sign(RS256_KEY, "RS256", "rsa-key", &expired)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::UNAUTHORIZED, SERVICENOW_FAILURE)
    );
}

#[tokio::test]
async fn each_broken_jwt_is_refused_with_its_own_invalid_grant_in_rfc6749_mode() {
    let emulator = start(JwtUserField::UserName, true).await;
    let now = now_seconds(&emulator);
    let valid = |jti: &str| claims(&emulator, "admin", jti);
    let with = |jti: &str, name: &str, value: Value| {
        let mut claims = valid(jti);
        claims[name] = value;
        claims
    };
    let replayed = sign(RS256_KEY, "RS256", "rsa-key", &valid("j-replayed"));
    assert_eq!(exchange(&emulator, &replayed).await.0, StatusCode::OK);
    let cases = [
        (
            "expired beyond the 300 s skew",
            sign(
                RS256_KEY,
                "RS256",
                "rsa-key",
                &with("j-5", "exp", json!(now - 301)),
            ),
            "the JWT has expired",
        ),
        (
            "future-dated beyond the skew",
            sign(
                RS256_KEY,
                "RS256",
                "rsa-key",
                &with("j-6", "iat", json!(now + 301)),
            ),
            "the JWT iat is in the future",
        ),
        (
            "the token endpoint as aud while the client id is required",
            sign(
                RS256_KEY,
                "RS256",
                "rsa-key",
                &with("j-7", "aud", json!(emulator.url("/oauth_token.do"))),
            ),
            "the JWT aud does not match",
        ),
        (
            "an unregistered kid",
            sign(RS256_KEY, "RS256", "no-such-key", &valid("j-8")),
            "no JWT verifier map has the JWT's kid",
        ),
        (
            "a replayed jti",
            replayed,
            "the JWT id (jti) was already used",
        ),
        (
            "signed by another key",
            sign(OTHER_RS256_KEY, "RS256", "rsa-key", &valid("j-9")),
            "the JWT signature does not verify with the registered key",
        ),
        (
            "an EC key's signature under the RSA key's kid",
            sign(ES256_KEY, "ES256", "rsa-key", &valid("j-10")),
            "the JWT signature does not verify with the registered key",
        ),
        (
            "no sub",
            sign(
                RS256_KEY,
                "RS256",
                "rsa-key",
                &json!({"iss": DEFAULT_CLIENT_ID, "aud": DEFAULT_CLIENT_ID, "exp": now + 60, "jti": "j-11"}),
            ),
            "the JWT lacks one of iss, sub, aud, exp (or jti)",
        ),
        (
            "an unknown user",
            sign(
                RS256_KEY,
                "RS256",
                "rsa-key",
                &with("j-12", "sub", json!("nobody")),
            ),
            "the JWT sub matches no user",
        ),
        (
            "not a JWT",
            "not-a-jwt".to_owned(),
            "the assertion is not a compact JWS with JSON header and claims",
        ),
    ];
    for (case, assertion, description) in cases {
        let (status, body) = exchange(&emulator, &assertion).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {body}");
        let body = json(&body);
        assert_eq!(body["error"], "invalid_grant", "{case}");
        assert_eq!(body["error_description"], description, "{case}");
    }
}

#[tokio::test]
async fn within_the_clock_skew_a_late_or_early_jwt_is_still_accepted() {
    let emulator = start(JwtUserField::UserName, true).await;
    let now = now_seconds(&emulator);
    let mut late = claims(&emulator, "admin", "j-13");
    late["exp"] = json!(now - 200);
    let mut early = claims(&emulator, "admin", "j-14");
    early["iat"] = json!(now + 200);
    for claims in [late, early] {
        let (status, body) =
            exchange(&emulator, &sign(RS256_KEY, "RS256", "rsa-key", &claims)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

#[tokio::test]
async fn a_client_without_a_jwt_endpoint_cannot_use_the_grant() {
    let emulator = start_with(Emulator::builder()).await;
    emulator.update_settings(|settings| settings.rfc6749_errors = true);
    let assertion = sign(
        RS256_KEY,
        "RS256",
        "rsa-key",
        &claims(&emulator, "admin", "j-15"),
    );
    let (status, body) = exchange(&emulator, &assertion).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(json(&body)["error"], "unauthorized_client");
}

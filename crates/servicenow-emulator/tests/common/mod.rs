//! Helpers shared by the black-box tests: start an emulator, a plain HTTP client that never
//! follows redirects, and the small OAuth steps every story needs.
#![allow(dead_code)] // Each test file uses a different subset of these helpers.

use reqwest::{Client, StatusCode, header::HeaderMap, redirect::Policy};
use serde_json::Value;
use servicenow_emulator::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PUBLIC_CLIENT_ID, Emulator, EmulatorBuilder,
    EmulatorHandle,
    user_agent::{ConsentDecision, ScriptedUserAgent},
};

/// The first default redirect URI.
pub(crate) const REDIRECT_URI: &str = "http://127.0.0.1:8765/callback";
/// RFC 7636 appendix B: a verifier and its S256 challenge.
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(crate) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

pub(crate) async fn start() -> EmulatorHandle {
    start_with(Emulator::builder()).await
}

pub(crate) async fn start_with(builder: EmulatorBuilder) -> EmulatorHandle {
    builder
        .start()
        .await
        .expect("the emulator starts on an ephemeral port")
}

/// A plain client: no redirects followed, no cookies kept.
pub(crate) fn http() -> Client {
    Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("a reqwest client")
}

pub(crate) fn encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// An authorization URL for the confidential client with the default redirect URI.
pub(crate) fn authorization_url(emulator: &EmulatorHandle, state: &str) -> String {
    authorization_url_with(
        emulator,
        &[
            ("response_type", "code"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("state", state),
        ],
    )
}

pub(crate) fn authorization_url_with(emulator: &EmulatorHandle, pairs: &[(&str, &str)]) -> String {
    emulator.url(&format!("/oauth_auth.do?{}", encode(pairs)))
}

/// Logs in as admin and allows the confidential client; returns the code.
pub(crate) async fn code_for_confidential_client(emulator: &EmulatorHandle) -> String {
    let redirect = ScriptedUserAgent::new()
        .authorize(
            &authorization_url(emulator, "state-1"),
            "admin",
            "admin",
            ConsentDecision::Allow,
        )
        .await
        .expect("the scripted user agent completes the pages");
    redirect
        .parameter("code")
        .expect("the redirect carries a code")
}

/// Logs in as admin and allows the public client with the RFC 7636 challenge.
pub(crate) async fn code_for_public_client(emulator: &EmulatorHandle) -> String {
    let url = authorization_url_with(
        emulator,
        &[
            ("response_type", "code"),
            ("client_id", DEFAULT_PUBLIC_CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("state", "public-state"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let redirect = ScriptedUserAgent::new()
        .authorize(&url, "admin", "admin", ConsentDecision::Allow)
        .await
        .expect("the scripted user agent completes the pages");
    redirect
        .parameter("code")
        .expect("the redirect carries a code")
}

/// POSTs a form to the token endpoint; returns the status and the body text.
pub(crate) async fn token_request(
    emulator: &EmulatorHandle,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let response = http()
        .post(emulator.url("/oauth_token.do"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(encode(form))
        .send()
        .await
        .expect("the token endpoint answers");
    let status = response.status();
    (status, response.text().await.expect("a body"))
}

/// The confidential client's code exchange.
pub(crate) async fn exchange(emulator: &EmulatorHandle, code: &str) -> (StatusCode, String) {
    token_request(
        emulator,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ],
    )
    .await
}

/// Access and refresh token from a successful token response body.
pub(crate) fn tokens(body: &str) -> (String, String) {
    let json: Value = serde_json::from_str(body).expect("a JSON token response");
    (
        json["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
        json["refresh_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// Tokens for admin through the password grant.
pub(crate) async fn password_tokens(emulator: &EmulatorHandle) -> (String, String) {
    let (status, body) = token_request(
        emulator,
        &[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "admin"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokens(&body)
}

pub(crate) async fn refresh(
    emulator: &EmulatorHandle,
    refresh_token: &str,
) -> (StatusCode, String) {
    token_request(
        emulator,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ],
    )
    .await
}

/// GET with a bearer token and `Accept: application/json`.
pub(crate) async fn get(
    emulator: &EmulatorHandle,
    path: &str,
    token: &str,
) -> (StatusCode, HeaderMap, String) {
    let response = http()
        .get(emulator.url(path))
        .bearer_auth(token)
        .header("Accept", "application/json")
        .send()
        .await
        .expect("the Table API answers");
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.text().await.expect("a body"))
}

pub(crate) fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|error| panic!("not JSON ({error}): {body}"))
}

pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

/// Sends `request` (raw HTTP/1.1 text) on a new connection and reads until the server closes
/// it; returns everything received. For what reqwest cannot send (no `Accept` header) or
/// cannot show (a truncated body).
pub(crate) async fn raw_exchange(emulator: &EmulatorHandle, request: &str) -> Vec<u8> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(emulator.local_addr())
        .await
        .expect("connect");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write the request");
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received).await;
    received
}

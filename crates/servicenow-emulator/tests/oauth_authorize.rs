//! `GET /oauth_auth.do`, the login form and the consent page, over real sockets
//! (servicenow-api.md §1.1 redirect URL quirk, §1.2 authorization endpoint, §5 checklist item 1).

mod common;

use common::{
    REDIRECT_URI, authorization_url, authorization_url_with, encode, http, start, start_with,
};
use reqwest::StatusCode;
use servicenow_emulator::{
    DEFAULT_CLIENT_ID, DEFAULT_PUBLIC_CLIENT_ID, Emulator, Error,
    user_agent::{ConsentDecision, ScriptedUserAgent},
};

/// The value of `name="…" value="…"` in a page.
fn hidden_value(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    let end = page[start..].find('"').expect("closing quote") + start;
    page[start..end]
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

fn session_cookie(response: &reqwest::Response) -> String {
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    set_cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn without_a_session_cookie_the_login_form_comes_with_a_cookie_and_a_csrf_token() {
    let emulator = start().await;
    let response = http()
        .get(authorization_url(&emulator, "abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = session_cookie(&response);
    assert!(cookie.starts_with("JSESSIONID="));
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        !policy.contains("form-action"),
        "a browser would refuse the consent form's redirect to the client's origin: {policy}"
    );
    let page = response.text().await.unwrap();
    assert!(
        page.contains("<form id=\"login\" method=\"post\" action=\"/login.do\">"),
        "{page}"
    );
    assert!(page.contains("name=\"user_name\"") && page.contains("name=\"user_password\""));
    assert!(!hidden_value(&page, "sysparm_ck").is_empty());
    assert!(
        hidden_value(&page, "sysparm_goto_url").starts_with("/oauth_auth.do?response_type=code")
    );
    assert!(!page.contains("<script"), "plain HTML, no JavaScript");
}

#[tokio::test]
async fn logging_in_with_the_cookie_leads_to_the_consent_page_and_allow_redirects_with_code_and_state()
 {
    let emulator = start().await;
    let client = http();
    let login = client
        .get(authorization_url(&emulator, "state-42"))
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&login);
    let page = login.text().await.unwrap();
    let form = encode(&[
        ("sysparm_ck", &hidden_value(&page, "sysparm_ck")),
        ("sysparm_goto_url", &hidden_value(&page, "sysparm_goto_url")),
        ("user_name", "admin"),
        ("user_password", "admin"),
    ]);
    let logged_in = client
        .post(emulator.url("/login.do"))
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(logged_in.status(), StatusCode::FOUND);
    let new_cookie = session_cookie(&logged_in);
    assert_ne!(
        new_cookie, cookie,
        "the session id changes at login (no session fixation)"
    );
    let back = logged_in.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.starts_with("/oauth_auth.do?"));

    let consent = client
        .get(emulator.url(&back))
        .header("Cookie", &new_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status(), StatusCode::OK);
    let page = consent.text().await.unwrap();
    assert!(
        page.contains("id=\"allow\"") && page.contains("id=\"deny\""),
        "{page}"
    );
    let decision = encode(&[
        ("sysparm_ck", &hidden_value(&page, "sysparm_ck")),
        ("oauth_request", &hidden_value(&page, "oauth_request")),
        ("action", "allow"),
    ]);
    let redirect = client
        .post(emulator.url("/oauth_auth.do"))
        .header("Cookie", &new_cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(decision)
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), StatusCode::FOUND);
    let location = redirect.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("http://127.0.0.1:8765/callback?code="),
        "{location}"
    );
    assert!(location.ends_with("&state=state-42"), "{location}");
    assert_eq!(emulator.counters().consents_allowed, 1);
}

#[tokio::test]
async fn the_consent_post_without_the_session_cookie_or_with_a_wrong_csrf_token_is_refused() {
    let emulator = start().await;
    let agent_url = authorization_url(&emulator, "s");
    let raw_query = agent_url.split_once('?').unwrap().1;
    let forged = encode(&[
        ("sysparm_ck", "guess"),
        ("oauth_request", raw_query),
        ("action", "allow"),
    ]);
    let response = http()
        .post(emulator.url("/oauth_auth.do"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response.headers().get("location").is_none(),
        "no code without a session"
    );

    let login = http().get(&agent_url).send().await.unwrap();
    let cookie = session_cookie(&login);
    let form = encode(&[
        ("sysparm_ck", "wrong"),
        ("user_name", "admin"),
        ("user_password", "admin"),
    ]);
    let response = http()
        .post(emulator.url("/login.do"))
        .header("Cookie", cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "a login post with a wrong CSRF token"
    );
    assert_eq!(emulator.counters().logins_succeeded, 0);
}

#[tokio::test]
async fn a_missing_state_shows_the_documented_message_and_no_code() {
    let emulator = start().await;
    let url = authorization_url_with(
        &emulator,
        &[
            ("response_type", "code"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
        ],
    );
    let response = http().get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Missing State parameter in request.")
    );
    let error = ScriptedUserAgent::new()
        .authorize(&url, "admin", "admin", ConsentDecision::Allow)
        .await;
    match error {
        Err(Error::ErrorPage {
            status: 400,
            message,
        }) => assert_eq!(message, "Missing State parameter in request."),
        other => panic!("expected the error page, got {other:?}"),
    }
    emulator.update_settings(|settings| settings.state_required = false);
    let redirect = ScriptedUserAgent::new()
        .authorize(&url, "admin", "admin", ConsentDecision::Allow)
        .await
        .unwrap();
    assert!(redirect.parameter("code").is_some() && redirect.parameter("state").is_none());
}

#[tokio::test]
async fn an_unregistered_redirect_uri_falls_back_to_the_first_registered_one() {
    let emulator = start().await;
    let url = authorization_url_with(
        &emulator,
        &[
            ("response_type", "code"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("redirect_uri", "https://attacker.example/steal"),
            ("state", "s1"),
        ],
    );
    let redirect = ScriptedUserAgent::new()
        .authorize(&url, "admin", "admin", ConsentDecision::Allow)
        .await
        .unwrap();
    assert!(
        redirect
            .location()
            .starts_with("http://127.0.0.1:8765/callback?code="),
        "{redirect:?}"
    );
}

#[tokio::test]
async fn strict_mode_shows_an_error_page_and_never_redirects_to_an_unregistered_uri() {
    let emulator =
        start_with(Emulator::builder().configure(|settings| settings.strict_redirect_uri = true))
            .await;
    let url = authorization_url_with(
        &emulator,
        &[
            ("response_type", "code"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("redirect_uri", "https://attacker.example/steal"),
            ("state", "s1"),
        ],
    );
    let response = http().get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());
    let outcome = ScriptedUserAgent::new()
        .authorize(&url, "admin", "admin", ConsentDecision::Allow)
        .await;
    assert!(
        matches!(outcome, Err(Error::ErrorPage { status: 400, .. })),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn deny_redirects_with_access_denied_and_the_state() {
    let emulator = start().await;
    let redirect = ScriptedUserAgent::new()
        .authorize(
            &authorization_url(&emulator, "keep-me"),
            "itil",
            "itil",
            ConsentDecision::Deny,
        )
        .await
        .unwrap();
    assert_eq!(
        redirect.location(),
        "http://127.0.0.1:8765/callback?error=access_denied&state=keep-me"
    );
    assert_eq!(emulator.counters().consents_denied, 1);
}

#[tokio::test]
async fn a_wrong_password_shows_the_login_form_again() {
    let emulator = start().await;
    let outcome = ScriptedUserAgent::new()
        .authorize(
            &authorization_url(&emulator, "s"),
            "admin",
            "wrong",
            ConsentDecision::Allow,
        )
        .await;
    assert!(
        matches!(outcome, Err(Error::LoginRejected { ref user_name }) if user_name == "admin"),
        "{outcome:?}"
    );
    assert_eq!(emulator.counters().logins_failed, 1);
}

#[tokio::test]
async fn a_second_authorization_with_the_same_agent_skips_the_login_form() {
    let emulator = start().await;
    let agent = ScriptedUserAgent::new();
    agent
        .authorize(
            &authorization_url(&emulator, "one"),
            "admin",
            "admin",
            ConsentDecision::Allow,
        )
        .await
        .unwrap();
    let second = agent
        .authorize(
            &authorization_url(&emulator, "two"),
            "nobody",
            "ignored",
            ConsentDecision::Allow,
        )
        .await
        .unwrap();
    assert_eq!(second.parameter("state").as_deref(), Some("two"));
    assert_eq!(
        emulator.counters().logins_succeeded,
        1,
        "the session cookie was reused"
    );
}

#[tokio::test]
async fn a_public_client_must_send_an_s256_code_challenge() {
    let emulator = start().await;
    let without = authorization_url_with(
        &emulator,
        &[
            ("response_type", "code"),
            ("client_id", DEFAULT_PUBLIC_CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("state", "s"),
        ],
    );
    assert_eq!(
        http().get(&without).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    let plain = format!(
        "{without}&code_challenge={}&code_challenge_method=plain",
        common::CHALLENGE
    );
    assert_eq!(
        http().get(&plain).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    let s256 = format!(
        "{without}&code_challenge={}&code_challenge_method=S256",
        common::CHALLENGE
    );
    assert_eq!(
        http().get(&s256).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn unknown_clients_and_other_response_types_get_an_error_page() {
    let emulator = start().await;
    for pairs in [
        [
            ("response_type", "code"),
            ("client_id", "nobody"),
            ("state", "s"),
        ],
        [
            ("response_type", "token"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("state", "s"),
        ],
    ] {
        let response = http()
            .get(authorization_url_with(&emulator, &pairs))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.text().await.unwrap().contains("id=\"error\""));
    }
}

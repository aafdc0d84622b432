//! Token requests: exact bytes of every grant in both client-authentication methods, and the
//! RFC 6749 §2.3.1 encoding surviving any Unicode.

use base64::Engine as _;
use bytes::Bytes;
use proptest::prelude::*;
use servicenow_oauth::{
    AuthorizationCode, ClientAuthMethod, ClientId, ClientSecret, OAuthClient, PkceVerifier,
    RedirectUri, RefreshToken, ScopeSet, TokenGrant, token_request,
};

use crate::support::{confidential_client, form_pairs, instance, render, seeded_rng};

fn authorization_code_request(client: &OAuthClient) -> http::Request<Bytes> {
    let verifier = PkceVerifier::generate(&mut seeded_rng());
    token_request(
        &instance(),
        client,
        &TokenGrant::AuthorizationCode {
            code: &AuthorizationCode::new("code/with+special=chars").unwrap(),
            redirect_uri: &RedirectUri::new("http://127.0.0.1:8400/callback").unwrap(),
            code_verifier: &verifier,
        },
    )
    .unwrap()
}

fn refresh_request(client: &OAuthClient) -> http::Request<Bytes> {
    token_request(
        &instance(),
        client,
        &TokenGrant::RefreshToken {
            refresh_token: &RefreshToken::new("rt-0123456789").unwrap(),
            scope: None,
        },
    )
    .unwrap()
}

fn client_credentials_request(client: &OAuthClient) -> http::Request<Bytes> {
    let scope = ScopeSet::parse("useraccount incident_read").unwrap();
    token_request(
        &instance(),
        client,
        &TokenGrant::ClientCredentials {
            scope: Some(&scope),
        },
    )
    .unwrap()
}

#[test]
fn authorization_code_with_client_secret_post() {
    let request =
        authorization_code_request(&confidential_client(ClientAuthMethod::ClientSecretPost));
    insta::assert_snapshot!(render(&request));
}

#[test]
fn authorization_code_with_client_secret_basic() {
    let request =
        authorization_code_request(&confidential_client(ClientAuthMethod::ClientSecretBasic));
    insta::assert_snapshot!(render(&request));
    assert!(request.headers()[http::header::AUTHORIZATION].is_sensitive());
}

#[test]
fn authorization_code_for_a_public_client() {
    let request = authorization_code_request(&OAuthClient::public(
        ClientId::new("public-pkce-app").unwrap(),
    ));
    insta::assert_snapshot!(render(&request));
}

#[test]
fn a_public_client_sends_only_its_id_whatever_the_method() {
    let client = OAuthClient::public(ClientId::new("public-pkce-app").unwrap())
        .with_auth_method(ClientAuthMethod::ClientSecretBasic);
    let request = authorization_code_request(&client);
    assert!(request.headers().get(http::header::AUTHORIZATION).is_none());
    let names: Vec<String> = form_pairs(&request)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        names,
        [
            "grant_type",
            "code",
            "redirect_uri",
            "code_verifier",
            "client_id"
        ]
    );
}

#[test]
fn refresh_token_with_client_secret_post() {
    insta::assert_snapshot!(render(&refresh_request(&confidential_client(
        ClientAuthMethod::ClientSecretPost
    ))));
}

#[test]
fn refresh_token_with_client_secret_basic() {
    insta::assert_snapshot!(render(&refresh_request(&confidential_client(
        ClientAuthMethod::ClientSecretBasic
    ))));
}

#[test]
fn client_credentials_with_client_secret_post() {
    let request =
        client_credentials_request(&confidential_client(ClientAuthMethod::ClientSecretPost));
    insta::assert_snapshot!(render(&request));
}

#[test]
fn client_credentials_with_client_secret_basic() {
    let request =
        client_credentials_request(&confidential_client(ClientAuthMethod::ClientSecretBasic));
    insta::assert_snapshot!(render(&request));
}

#[test]
fn an_empty_scope_is_omitted() {
    let request = token_request(
        &instance(),
        &confidential_client(ClientAuthMethod::ClientSecretPost),
        &TokenGrant::ClientCredentials {
            scope: Some(&ScopeSet::empty()),
        },
    )
    .unwrap();
    assert!(form_pairs(&request).iter().all(|(name, _)| name != "scope"));
}

#[test]
fn parameters_travel_in_the_body_never_the_query() {
    for method in [
        ClientAuthMethod::ClientSecretPost,
        ClientAuthMethod::ClientSecretBasic,
    ] {
        for request in [
            authorization_code_request(&confidential_client(method)),
            refresh_request(&confidential_client(method)),
            client_credentials_request(&confidential_client(method)),
        ] {
            assert_eq!(request.method(), http::Method::POST);
            assert_eq!(
                request.uri(),
                "https://example.service-now.com/oauth_token.do"
            );
            assert_eq!(request.uri().query(), None);
            assert_eq!(
                request.headers()[http::header::CONTENT_TYPE],
                "application/x-www-form-urlencoded"
            );
            assert_eq!(request.headers()[http::header::ACCEPT], "application/json");
        }
    }
}

#[cfg(feature = "password-grant")]
#[test]
fn password_grant_with_client_secret_post() {
    use servicenow_oauth::{ResourceOwnerPassword, ResourceOwnerUsername};
    let request = token_request(
        &instance(),
        &confidential_client(ClientAuthMethod::ClientSecretPost),
        &TokenGrant::Password {
            username: &ResourceOwnerUsername::new("integration.user").unwrap(),
            password: &ResourceOwnerPassword::new("p@ss word&=").unwrap(),
            scope: None,
        },
    )
    .unwrap();
    insta::assert_snapshot!(render(&request));
}

/// Decodes what a server would: the Basic header (base64, split at the first `:`, each half
/// form-urlencoded) or the `client_id`/`client_secret` form fields.
fn client_credentials_as_decoded(request: &http::Request<Bytes>) -> (String, Option<String>) {
    let pairs = form_pairs(request);
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    match request.headers().get(http::header::AUTHORIZATION) {
        Some(header) => {
            assert!(
                field("client_id").is_none() && field("client_secret").is_none(),
                "exactly one method"
            );
            let encoded = header.to_str().unwrap().strip_prefix("Basic ").unwrap();
            let decoded = String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .unwrap(),
            )
            .unwrap();
            let (id, secret) = decoded.split_once(':').unwrap();
            let form_decode = |text: &str| -> String {
                form_urlencoded::parse(format!("x={text}").as_bytes())
                    .next()
                    .unwrap()
                    .1
                    .into_owned()
            };
            (form_decode(id), Some(form_decode(secret)))
        }
        None => (field("client_id").unwrap(), field("client_secret")),
    }
}

proptest! {
    #[test]
    fn any_unicode_client_id_secret_and_code_survive_both_methods(
        id in "(?s).{1,40}",
        secret in "(?s).{1,40}",
        code in "(?s).{1,40}",
    ) {
        let code = AuthorizationCode::new(code.clone()).unwrap();
        let verifier = PkceVerifier::from_bytes([7; 32]);
        let redirect_uri = RedirectUri::new("https://app.example.com/callback").unwrap();
        for method in [ClientAuthMethod::ClientSecretPost, ClientAuthMethod::ClientSecretBasic] {
            let client = OAuthClient::confidential(ClientId::new(id.clone()).unwrap(), ClientSecret::new(secret.clone()).unwrap())
                .with_auth_method(method);
            let request = token_request(
                &instance(),
                &client,
                &TokenGrant::AuthorizationCode { code: &code, redirect_uri: &redirect_uri, code_verifier: &verifier },
            ).unwrap();
            let (decoded_id, decoded_secret) = client_credentials_as_decoded(&request);
            prop_assert_eq!(&decoded_id, &id);
            prop_assert_eq!(decoded_secret.as_deref(), Some(secret.as_str()));
            let pairs = form_pairs(&request);
            let decoded_code = pairs.iter().find(|(name, _)| name == "code").map(|(_, value)| value.as_str());
            prop_assert_eq!(decoded_code, Some(code.secret()));
        }
    }
}

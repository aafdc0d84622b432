//! Revocation requests: the RFC 7009 POST form by default, ServiceNow's documented GET on
//! request.

use servicenow_oauth::{
    AccessToken, ClientAuthMethod, RefreshToken, RevocableToken, RevocationStyle,
    revocation_request,
};

use crate::support::{confidential_client, instance, render};

#[test]
fn revocation_as_a_post_form_is_the_default() {
    assert_eq!(RevocationStyle::default(), RevocationStyle::PostForm);
    let request = revocation_request(
        &instance(),
        &confidential_client(ClientAuthMethod::ClientSecretPost),
        RevocableToken::RefreshToken(&RefreshToken::new("rt-0123456789").unwrap()),
        RevocationStyle::default(),
    )
    .unwrap();
    insta::assert_snapshot!(render(&request));
    assert_eq!(request.uri().query(), None, "no token in the URL");
}

#[test]
fn revocation_as_a_post_form_with_client_secret_basic() {
    let request = revocation_request(
        &instance(),
        &confidential_client(ClientAuthMethod::ClientSecretBasic),
        RevocableToken::AccessToken(&AccessToken::new("at-0123456789").unwrap()),
        RevocationStyle::PostForm,
    )
    .unwrap();
    insta::assert_snapshot!(render(&request));
}

#[test]
fn revocation_as_servicenows_documented_get() {
    let request = revocation_request(
        &instance(),
        &confidential_client(ClientAuthMethod::ClientSecretPost),
        RevocableToken::AccessToken(&AccessToken::new("at+0123/456=789").unwrap()),
        RevocationStyle::DocumentedGetWithTokenInQuery,
    )
    .unwrap();
    insta::assert_snapshot!(render(&request));
    assert!(request.body().is_empty());
    assert!(
        !render(&request).contains("client_secret"),
        "the documented GET sends no client credentials"
    );
}

#[test]
fn a_public_client_revokes_with_its_id_only() {
    let client = servicenow_oauth::OAuthClient::public(
        servicenow_oauth::ClientId::new("public-app").unwrap(),
    );
    let request = revocation_request(
        &instance(),
        &client,
        RevocableToken::RefreshToken(&RefreshToken::new("rt-1").unwrap()),
        RevocationStyle::PostForm,
    )
    .unwrap();
    assert_eq!(
        std::str::from_utf8(request.body()).unwrap(),
        "token=rt-1&token_type_hint=refresh_token&client_id=public-app"
    );
    assert!(request.headers().get(http::header::AUTHORIZATION).is_none());
}

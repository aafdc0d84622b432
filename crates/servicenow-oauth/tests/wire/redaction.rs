//! Secrets as types: every secret's `Debug` is redacted, none has `Display` or `Serialize`,
//! the PKCE verifier cannot be cloned, and errors never carry a secret.

use servicenow_oauth::{
    AccessToken, AuthorizationCode, ClientSecret, JwtAssertion, PkceVerifier, RefreshToken, State,
};

use crate::support::{implements, seeded_rng};

#[test]
fn every_secret_type_prints_redacted_in_debug() {
    let cases = [
        (
            format!("{:?}", ClientSecret::new("hunter2-secret").unwrap()),
            "ClientSecret([redacted])",
        ),
        (
            format!("{:?}", AuthorizationCode::new("code-abc").unwrap()),
            "AuthorizationCode([redacted])",
        ),
        (
            format!("{:?}", AccessToken::new("access-xyz").unwrap()),
            "AccessToken([redacted])",
        ),
        (
            format!("{:?}", RefreshToken::new("refresh-xyz").unwrap()),
            "RefreshToken([redacted])",
        ),
        (
            format!("{:?}", State::new("state-xyz").unwrap()),
            "State([redacted])",
        ),
        (
            format!("{:?}", PkceVerifier::generate(&mut seeded_rng())),
            "PkceVerifier([redacted])",
        ),
        (
            format!("{:?}", JwtAssertion::new("eyJh.eyJz.c2ln").unwrap()),
            "JwtAssertion([redacted])",
        ),
    ];
    for (printed, expected) in cases {
        assert_eq!(printed, expected);
    }
}

#[cfg(feature = "password-grant")]
#[test]
fn the_resource_owner_password_prints_redacted_in_debug() {
    let password = servicenow_oauth::ResourceOwnerPassword::new("correct horse").unwrap();
    assert_eq!(format!("{password:?}"), "ResourceOwnerPassword([redacted])");
}

#[test]
fn debug_of_a_struct_holding_secrets_shows_no_secret() {
    let client = servicenow_oauth::OAuthClient::confidential(
        servicenow_oauth::ClientId::new("visible-id").unwrap(),
        ClientSecret::new("hunter2-secret").unwrap(),
    );
    let printed = format!("{client:?} {client:#?}");
    assert!(printed.contains("visible-id"), "{printed}");
    assert!(!printed.contains("hunter2"), "{printed}");
}

#[test]
fn no_secret_type_has_display_or_serialize() {
    assert!(!implements!(Display, ClientSecret));
    assert!(!implements!(Display, AuthorizationCode));
    assert!(!implements!(Display, AccessToken));
    assert!(!implements!(Display, RefreshToken));
    assert!(!implements!(Display, State));
    assert!(!implements!(Display, PkceVerifier));
    assert!(!implements!(Serialize, ClientSecret));
    assert!(!implements!(Serialize, AuthorizationCode));
    assert!(!implements!(Serialize, AccessToken));
    assert!(!implements!(Serialize, RefreshToken));
    assert!(!implements!(Serialize, State));
    assert!(!implements!(Serialize, PkceVerifier));
    assert!(!implements!(Display, JwtAssertion));
    assert!(!implements!(Serialize, JwtAssertion));
    // The probe itself works: it sees these implementations.
    assert!(implements!(Display, servicenow_oauth::ClientId));
    assert!(implements!(Serialize, servicenow_oauth::ClientId));
}

#[test]
fn the_pkce_verifier_cannot_be_cloned_but_tokens_can() {
    assert!(!implements!(Clone, PkceVerifier));
    assert!(implements!(Clone, AccessToken));
    assert!(implements!(Clone, RefreshToken));
}

#[test]
fn secrets_compare_by_value() {
    assert_eq!(
        AccessToken::new("same").unwrap(),
        AccessToken::new("same").unwrap()
    );
    assert_ne!(
        AccessToken::new("same").unwrap(),
        AccessToken::new("other").unwrap()
    );
    assert_ne!(State::new("abc").unwrap(), State::new("abcd").unwrap());
}

#[test]
fn an_invalid_secret_is_refused_without_echoing_it() {
    let error = AccessToken::new("tab\tinside-token").unwrap_err();
    let message = format!("{error} {error:?}");
    assert!(message.contains("access token"), "{message}");
    assert!(!message.contains("inside-token"), "{message}");
    assert!(ClientSecret::new("").is_err());
}

#[test]
fn storage_opts_in_through_expose_secret_and_round_trips() {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Stored {
        #[serde(with = "servicenow_oauth::expose_secret")]
        access_token: AccessToken,
        #[serde(with = "servicenow_oauth::expose_secret::option", default)]
        refresh_token: Option<RefreshToken>,
        #[serde(with = "servicenow_oauth::expose_secret")]
        verifier: PkceVerifier,
    }
    let verifier = PkceVerifier::generate(&mut seeded_rng());
    let verifier_text = verifier.secret().to_owned();
    let stored = Stored {
        access_token: AccessToken::new("at-1").unwrap(),
        refresh_token: Some(RefreshToken::new("rt-1").unwrap()),
        verifier,
    };
    let json = serde_json::to_string(&stored).unwrap();
    assert_eq!(
        json,
        format!(r#"{{"access_token":"at-1","refresh_token":"rt-1","verifier":"{verifier_text}"}}"#)
    );
    let restored: Stored = serde_json::from_str(&json).unwrap();
    assert_eq!(restored.access_token.secret(), "at-1");
    assert_eq!(restored.refresh_token.unwrap().secret(), "rt-1");
    assert_eq!(restored.verifier.secret(), verifier_text);

    let without_refresh: Stored = serde_json::from_str(&format!(
        r#"{{"access_token":"at-2","verifier":"{verifier_text}"}}"#
    ))
    .unwrap();
    assert!(without_refresh.refresh_token.is_none());

    let invalid = serde_json::from_str::<Stored>(r#"{"access_token":"","verifier":"short"}"#);
    assert!(
        invalid.is_err(),
        "stored values are validated again on the way back"
    );
}

#[test]
fn redacted_views_of_requests_and_responses_show_no_secret() {
    use servicenow_oauth::{
        ClientAuthMethod, RedactedRequest, RedactedResponse, RevocableToken, RevocationStyle,
        TokenGrant, revocation_request, token_request,
    };

    use crate::support::{confidential_client, instance};

    let refresh_token = RefreshToken::new("RT-SECRET-VALUE").unwrap();
    let token = token_request(
        &instance(),
        &confidential_client(ClientAuthMethod::ClientSecretBasic),
        &TokenGrant::RefreshToken {
            refresh_token: &refresh_token,
            scope: None,
        },
    )
    .unwrap();
    let revocation = revocation_request(
        &instance(),
        &confidential_client(ClientAuthMethod::ClientSecretPost),
        RevocableToken::RefreshToken(&refresh_token),
        RevocationStyle::DocumentedGetWithTokenInQuery,
    )
    .unwrap();
    let response = http::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(br#"{"access_token":"AT-SECRET-VALUE"}"#.to_vec())
        .unwrap();

    let printed_token = format!("{:?}", RedactedRequest(&token));
    assert_eq!(
        printed_token,
        "POST https://example.service-now.com/oauth_token.do headers=[content-type, accept, authorization] body=54 bytes"
    );
    let printed_revocation = format!("{:?}", RedactedRequest(&revocation));
    assert_eq!(
        printed_revocation,
        "GET https://example.service-now.com/oauth_revoke_token.do?[redacted] headers=[accept] body=0 bytes"
    );
    let printed_response = format!("{:?}", RedactedResponse(&response));
    assert_eq!(
        printed_response,
        "200 OK headers=[content-type] body=34 bytes"
    );
    // The `http` crate's own Debug is what these views replace: it shows the query.
    assert!(format!("{revocation:?}").contains("RT-SECRET-VALUE"));
}

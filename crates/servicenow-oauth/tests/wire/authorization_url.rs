//! The authorization URL for `GET {instance}/oauth_auth.do`, byte for byte.

use servicenow_oauth::{
    AuthorizationRequest, ClientId, PkceVerifier, RedirectUri, ScopeSet, State,
};

use crate::support::{instance, seeded_rng};

#[test]
fn authorization_url_with_scope_and_pkce() {
    let mut rng = seeded_rng();
    let state = State::generate(&mut rng);
    let verifier = PkceVerifier::generate(&mut rng);
    let url = AuthorizationRequest {
        client_id: &ClientId::new("client id:1+é").unwrap(),
        redirect_uri: &RedirectUri::new("http://127.0.0.1:8400/callback?app=sn cli").unwrap(),
        scope: &ScopeSet::parse("useraccount incident_read").unwrap(),
        state: &state,
        pkce_challenge: &verifier.challenge(),
    }
    .url(&instance());
    insta::assert_snapshot!(url.as_str());

    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let value = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    assert_eq!(
        value("redirect_uri"),
        Some("http://127.0.0.1:8400/callback?app=sn cli")
    );
    assert_eq!(value("client_id"), Some("client id:1+é"));
    assert_eq!(value("scope"), Some("useraccount incident_read"));
    assert_eq!(value("state"), Some(state.secret()));
    assert_eq!(value("code_challenge"), Some(verifier.challenge().as_str()));
}

#[test]
fn authorization_url_without_scope_omits_the_parameter() {
    let mut rng = seeded_rng();
    let state = State::generate(&mut rng);
    let verifier = PkceVerifier::generate(&mut rng);
    let url = AuthorizationRequest {
        client_id: &ClientId::new("3f2a9c").unwrap(),
        redirect_uri: &RedirectUri::new("https://app.example.com/oauth/callback").unwrap(),
        scope: &ScopeSet::empty(),
        state: &state,
        pkce_challenge: &verifier.challenge(),
    }
    .url(&instance());
    insta::assert_snapshot!(url.as_str());
    assert!(!url.as_str().contains("scope="));
}

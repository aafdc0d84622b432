//! The non-secret newtypes: what each accepts and refuses, and that their serialized forms read
//! back unchanged.

use proptest::prelude::*;
use servicenow_oauth::{ClientId, Error, InstanceUrl, PkceChallenge, RedirectUri, Scope, ScopeSet};

#[test]
fn redirect_uris_are_kept_byte_for_byte() {
    let accepted = [
        "https://app.example.com/oauth/callback",
        "https://app.example.com/cb?tenant=a%20b",
        "http://127.0.0.1:8400/callback",
        "http://[::1]:8400/callback",
        "http://localhost/callback",
        "com.example.app:/oauth2redirect",
        "https://APP.example.com:443/Callback/",
    ];
    for input in accepted {
        let redirect_uri =
            RedirectUri::new(input).unwrap_or_else(|error| panic!("{input}: {error}"));
        assert_eq!(
            redirect_uri.as_str(),
            input,
            "no normalization: the server compares exact strings"
        );
    }
}

#[test]
fn redirect_uris_that_break_the_rules_are_refused_with_the_reason() {
    let refused = [
        ("/callback", "not an absolute URL"),
        ("", "not an absolute URL"),
        (
            " https://app.example.com/cb",
            "leading or trailing whitespace",
        ),
        (
            "https://app.example.com/cb#frag",
            "a fragment is not allowed (RFC 6749 §3.1.2)",
        ),
        (
            "https://app.example.com/cb#",
            "a fragment is not allowed (RFC 6749 §3.1.2)",
        ),
        (
            "http://app.example.com/cb",
            "http is allowed only on loopback (RFC 9700 §2.6); use https",
        ),
    ];
    for (input, expected) in refused {
        match RedirectUri::new(input) {
            Err(Error::InvalidValue {
                what: "redirect uri",
                problem,
            }) => assert_eq!(problem, expected, "{input:?}"),
            other => panic!("{input:?} gave {other:?}"),
        }
    }
}

#[test]
fn scope_tokens_follow_rfc6749_section_3_3() {
    for accepted in ["useraccount", "incident_read", "a!#[]~", "urn:x:y/z"] {
        assert!(Scope::new(accepted).is_ok(), "{accepted}");
    }
    for refused in ["", "two words", "quo\"te", "back\\slash", "tab\t", "é"] {
        assert!(Scope::new(refused).is_err(), "{refused:?}");
    }
}

#[test]
fn scope_sets_keep_first_order_drop_duplicates_and_tolerate_extra_spaces() {
    let set = ScopeSet::parse("  useraccount incident_read  useraccount ").unwrap();
    assert_eq!(set.to_space_separated(), "useraccount incident_read");
    assert_eq!(set.to_string(), "useraccount incident_read");
    assert!(set.contains(&Scope::new("incident_read").unwrap()));
    assert_eq!(set.iter().count(), 2);
    assert!(ScopeSet::parse("   ").unwrap().is_empty());
    assert!(ScopeSet::parse("a \"b\"").is_err());
    let collected: ScopeSet = ["b", "a", "b"]
        .into_iter()
        .map(|scope| Scope::new(scope).unwrap())
        .collect();
    assert_eq!(collected.to_space_separated(), "b a");
}

#[test]
fn non_secret_types_print_their_value_in_debug() {
    assert_eq!(
        format!("{:?}", ClientId::new("abc").unwrap()),
        r#"ClientId("abc")"#
    );
    assert_eq!(
        format!("{:?}", InstanceUrl::new("https://x.example").unwrap()),
        r#"InstanceUrl("https://x.example")"#
    );
    assert_eq!(format!("{:?}", Scope::new("s").unwrap()), r#"Scope("s")"#);
}

#[test]
fn an_empty_client_id_is_refused() {
    assert_eq!(
        ClientId::new("").unwrap_err().to_string(),
        "invalid client id: must not be empty"
    );
}

#[test]
fn a_pkce_challenge_must_look_like_a_sha256_digest() {
    assert!(PkceChallenge::new("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").is_ok());
    assert!(PkceChallenge::new("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c").is_err());
    assert!(PkceChallenge::new("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM").is_err());
}

fn scope_token() -> impl Strategy<Value = String> {
    "[!#-\\[\\]-~]{1,12}"
}

proptest! {
    #[test]
    fn scope_sets_survive_the_space_separated_form(tokens in prop::collection::vec(scope_token(), 0..6)) {
        let set: ScopeSet = tokens.iter().map(|token| Scope::new(token.clone()).unwrap()).collect();
        let reparsed = ScopeSet::parse(&set.to_space_separated()).unwrap();
        prop_assert_eq!(&reparsed, &set);
        let json = serde_json::to_string(&set).unwrap();
        prop_assert_eq!(serde_json::from_str::<ScopeSet>(&json).unwrap(), set);
    }

    #[test]
    fn client_ids_and_redirect_uris_survive_serde(id in "(?s).{1,40}", path in "[a-zA-Z0-9/_.-]{0,20}") {
        let client_id = ClientId::new(id).unwrap();
        let json = serde_json::to_string(&client_id).unwrap();
        prop_assert_eq!(serde_json::from_str::<ClientId>(&json).unwrap(), client_id);
        let redirect_uri = RedirectUri::new(format!("https://app.example.com/{path}")).unwrap();
        let json = serde_json::to_string(&redirect_uri).unwrap();
        prop_assert_eq!(serde_json::from_str::<RedirectUri>(&json).unwrap(), redirect_uri);
    }

    #[test]
    fn instance_url_validation_never_panics_and_accepted_origins_are_stable(input in "(?s).{0,60}") {
        if let Ok(instance) = InstanceUrl::new(&input) {
            let origin = instance.origin();
            prop_assert!(origin.starts_with("https://") || instance.is_loopback());
            prop_assert_eq!(InstanceUrl::new(origin).unwrap(), instance.clone());
        }
    }

    #[test]
    fn instance_urls_built_from_parts_are_accepted_exactly_when_the_rules_say(
        scheme in prop_oneof![Just("https"), Just("http")],
        host in prop_oneof![
            Just("example.service-now.com"), Just("127.0.0.1"), Just("127.9.8.7"),
            Just("[::1]"), Just("localhost"), Just("10.1.2.3"),
        ],
        port in prop::option::of(1_u16..),
        suffix in prop_oneof![Just(""), Just("/"), Just("/x"), Just("?"), Just("#"), Just("/?a=1")],
    ) {
        let port = port.map(|port| format!(":{port}")).unwrap_or_default();
        let input = format!("{scheme}://{host}{port}{suffix}");
        let loopback = matches!(host, "127.0.0.1" | "127.9.8.7" | "[::1]" | "localhost");
        let expected = matches!(suffix, "" | "/") && (scheme == "https" || loopback);
        prop_assert_eq!(InstanceUrl::new(&input).is_ok(), expected, "{}", input);
    }
}

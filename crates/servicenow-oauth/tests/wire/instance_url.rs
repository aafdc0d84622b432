//! `InstanceUrl`: https origins anywhere, http on loopback only, and a named problem for
//! everything else.

use proptest::prelude::*;
use servicenow_oauth::{Error, InstanceUrl, InstanceUrlProblem, origin_of};

#[test]
fn accepted_instance_urls_and_their_origins() {
    let table = [
        (
            "https://example.service-now.com",
            "https://example.service-now.com",
        ),
        (
            "https://example.service-now.com/",
            "https://example.service-now.com",
        ),
        (
            "https://EXAMPLE.Service-Now.com",
            "https://example.service-now.com",
        ),
        (
            "HTTPS://example.service-now.com",
            "https://example.service-now.com",
        ),
        (
            "https://example.service-now.com:8443",
            "https://example.service-now.com:8443",
        ),
        (
            "https://example.service-now.com:443/",
            "https://example.service-now.com",
        ),
        ("https://10.0.0.7", "https://10.0.0.7"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.1.2.3", "http://127.1.2.3"),
        ("http://localhost:3000/", "http://localhost:3000"),
        ("http://LOCALHOST", "http://localhost"),
        ("http://[::1]:9000", "http://[::1]:9000"),
    ];
    for (input, origin) in table {
        let instance = InstanceUrl::new(input).unwrap_or_else(|error| panic!("{input}: {error}"));
        assert_eq!(instance.origin(), origin, "{input}");
        assert_eq!(instance.to_string(), origin, "{input}");
    }
}

#[test]
fn refused_instance_urls_name_the_problem() {
    use InstanceUrlProblem::*;
    let table = [
        ("", NotAUrl),
        ("example.service-now.com", NotAUrl),
        (" https://example.service-now.com", SurroundingWhitespace),
        ("https://example.service-now.com\n", SurroundingWhitespace),
        ("ftp://example.service-now.com", UnsupportedScheme),
        ("file:///etc/passwd", UnsupportedScheme),
        ("http://example.service-now.com", InsecureScheme),
        ("http://10.0.0.7", InsecureScheme),
        ("http://localhost.example.com", InsecureScheme),
        ("http://[::2]", InsecureScheme),
        ("https://user:pass@example.service-now.com", Userinfo),
        ("https://user@example.service-now.com", Userinfo),
        ("https://@example.service-now.com", Userinfo),
        ("https://example.service-now.com/api", Path),
        ("https://example.service-now.com//", Path),
        ("https://example.service-now.com/.", Path),
        ("https://example.service-now.com/oauth_token.do", Path),
        ("https://example.service-now.com?", Query),
        ("https://example.service-now.com/?a=b", Query),
        ("https://example.service-now.com#", Fragment),
        ("https://example.service-now.com/#top", Fragment),
        ("https:/example.service-now.com", NotAUrl),
        ("https:\\\\example.service-now.com", NotAUrl),
        ("https:///example.service-now.com", MissingHost),
        ("https://example.service-now.com\\", Path),
    ];
    for (input, expected) in table {
        match InstanceUrl::new(input) {
            Err(Error::InvalidInstanceUrl(problem)) => assert_eq!(problem, expected, "{input:?}"),
            other => panic!("{input:?} gave {other:?}, expected {expected:?}"),
        }
    }
}

#[test]
fn the_error_message_names_the_problem_but_not_the_password() {
    let error = InstanceUrl::new("https://admin:hunter2@example.service-now.com").unwrap_err();
    let message = error.to_string();
    assert_eq!(
        message,
        "invalid instance url: a user name or password (user:password@) is not allowed"
    );
    assert!(!format!("{error:?}").contains("hunter2"));
}

#[test]
fn endpoint_urls_hang_off_the_origin() {
    let instance = InstanceUrl::new("https://example.service-now.com/").unwrap();
    assert_eq!(
        instance.authorization_endpoint().as_str(),
        "https://example.service-now.com/oauth_auth.do"
    );
    assert_eq!(
        instance.token_endpoint(),
        "https://example.service-now.com/oauth_token.do"
    );
    assert_eq!(
        instance.revocation_endpoint(),
        "https://example.service-now.com/oauth_revoke_token.do"
    );
    assert!(!instance.is_loopback());
    for loopback in [
        "http://127.0.0.1:1",
        "https://localhost:8443",
        "http://[::1]:9000",
    ] {
        assert!(
            InstanceUrl::new(loopback).unwrap().is_loopback(),
            "{loopback}"
        );
    }
}

#[test]
fn only_uris_on_the_instance_origin_are_the_same_origin() {
    let uri = |text: &str| text.parse::<http::Uri>().unwrap();
    let instance = InstanceUrl::new("https://Example.Service-Now.com/").unwrap();
    for same in [
        "https://example.service-now.com/api/now/table/incident",
        "HTTPS://EXAMPLE.SERVICE-NOW.COM:443/api/now/table/incident?sysparm_limit=1",
        "https://example.service-now.com",
    ] {
        assert!(instance.same_origin(&uri(same)), "{same}");
    }
    for foreign in [
        "http://example.service-now.com/api",
        "https://example.service-now.com:8443/api",
        "https://example.service-now.com.evil.example/api",
        "https://evil.example/example.service-now.com",
        "https://user@example.service-now.com/api",
        "https://example.service-now.com@evil.example/api",
        "/api/now/table/incident",
    ] {
        assert!(!instance.same_origin(&uri(foreign)), "{foreign}");
    }
    let emulator = InstanceUrl::new("http://[::1]:9000").unwrap();
    assert!(emulator.same_origin(&uri("http://[::1]:9000/api")));
    assert!(!emulator.same_origin(&uri("http://[::1]:9001/api")));
    assert!(!emulator.same_origin(&uri("http://localhost:9000/api")));
}

#[test]
fn origin_of_names_where_a_request_was_going() {
    let uri = |text: &str| text.parse::<http::Uri>().unwrap();
    assert_eq!(
        origin_of(&uri("https://Evil.Example:443/steal?x=1")).as_deref(),
        Some("https://evil.example")
    );
    assert_eq!(
        origin_of(&uri("http://127.0.0.1:8080/x")).as_deref(),
        Some("http://127.0.0.1:8080")
    );
    assert_eq!(origin_of(&uri("/relative")), None);
}

#[test]
fn instance_urls_serialize_as_their_origin_and_are_validated_when_read() {
    let instance = InstanceUrl::new("https://example.service-now.com/").unwrap();
    let json = serde_json::to_string(&instance).unwrap();
    assert_eq!(json, r#""https://example.service-now.com""#);
    assert_eq!(
        serde_json::from_str::<InstanceUrl>(&json).unwrap(),
        instance
    );
    assert!(serde_json::from_str::<InstanceUrl>(r#""http://example.com""#).is_err());
}

/// A host as a URL writes it, in canonical form (no IPv4 shorthand, which the allocation-free
/// check compares as written and so refuses; see `InstanceUrl::same_origin`), in any case.
fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z][a-zA-Z0-9-]{0,8}(\\.[a-zA-Z]{1,6}){0,2}",
        Just("127.0.0.1".to_owned()),
        Just("127.9.8.7".to_owned()),
        Just("[::1]".to_owned()),
        Just("LocalHost".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// The check made on every request (no allocation) agrees with comparing serialized
    /// origins, for every scheme, host, port and case, when there is no userinfo; and with
    /// userinfo it always refuses.
    #[test]
    fn same_origin_agrees_with_comparing_serialized_origins(
        instance_scheme in prop_oneof![Just("https"), Just("http")],
        instance_host in host(),
        instance_port in prop::option::of(prop_oneof![Just(80_u16), Just(443), 1_u16..]),
        uri_scheme in prop_oneof![Just("https"), Just("http"), Just("HTTPS"), Just("Http")],
        same_host in any::<bool>(),
        other_host in host(),
        uri_port in prop::option::of(prop_oneof![Just(80_u16), Just(443), 1_u16..]),
        userinfo in any::<bool>(),
        path in "(/[a-z0-9]{0,5}){0,3}(\\?[a-z=]{0,6})?",
    ) {
        let port = |port: Option<u16>| port.map(|port| format!(":{port}")).unwrap_or_default();
        let text = format!("{instance_scheme}://{instance_host}{}", port(instance_port));
        // Plain http is for loopback only; such instances are not the point here.
        let Ok(instance) = InstanceUrl::new(&text) else { return Ok(()) };
        let host = if same_host { instance_host.to_ascii_uppercase() } else { other_host };
        let user = if userinfo { "user@" } else { "" };
        let uri_text = format!("{uri_scheme}://{user}{host}{}{path}", port(uri_port));
        let Ok(uri) = uri_text.parse::<http::Uri>() else { return Ok(()) };
        let serialized_equal = origin_of(&uri).as_deref() == Some(instance.origin());
        if userinfo {
            prop_assert!(!instance.same_origin(&uri), "{} with userinfo", uri_text);
        } else {
            prop_assert_eq!(instance.same_origin(&uri), serialized_equal, "{} vs {}", uri_text, instance);
        }
    }
}

#[test]
fn an_instance_url_is_one_pointer_so_every_handle_can_hold_a_clone() {
    assert_eq!(size_of::<InstanceUrl>(), size_of::<usize>());
    let instance = InstanceUrl::new("https://example.service-now.com").unwrap();
    let clone = instance.clone();
    assert_eq!(clone, instance);
    assert!(
        std::ptr::eq(clone.origin(), instance.origin()),
        "a clone shares the parsed value"
    );
}

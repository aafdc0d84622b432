//! Stories of the authorization code + PKCE login: begin, callbacks good and bad, replicas.

use std::time::Duration;

use servicenow_auth::{AuthError, Command, Event, LoginFailure, PendingLogin};
use servicenow_testkit::{Sim, fixtures};

fn sim() -> Sim {
    Sim::new(
        fixtures::authorization_code_config(),
        fixtures::servicenow_server(),
    )
}

fn login_failures(sim: &Sim) -> Vec<&LoginFailure> {
    sim.events
        .iter()
        .filter_map(|event| match event {
            Event::LoginFailed(failure) => Some(failure),
            _ => None,
        })
        .collect()
}

#[test]
fn a_login_ends_with_a_persisted_token_set_and_a_usable_token() {
    let mut sim = sim();
    sim.login();
    assert_eq!(sim.server.grants_seen("authorization_code"), 1);
    let token = sim.access_token().expect("a token after login");
    let stored = sim.store.as_ref().expect("the set was persisted");
    assert_eq!(stored.access_token().secret(), token);
    assert!(stored.refresh_token().is_some());
    let kinds: Vec<&str> = sim.events.iter().map(event_kind).collect();
    assert_eq!(
        kinds,
        ["LoginStarted", "Persist", "LoginCompleted", "TokenReady"]
    );
}

#[test]
fn several_logins_can_be_pending_and_each_completes_once() {
    let mut sim = sim();
    let first = sim.begin_login();
    let second = sim.begin_login();
    assert_ne!(first.state, second.state, "every login has its own state");
    let second_callback = sim.server.authorize(second.authorization_url.as_str());
    let first_callback = sim.server.authorize(first.authorization_url.as_str());
    sim.command(Command::CompleteLogin {
        callback_query: second_callback.clone(),
    });
    sim.drive();
    sim.command(Command::CompleteLogin {
        callback_query: first_callback,
    });
    sim.drive();
    assert_eq!(sim.server.grants_seen("authorization_code"), 2);
    assert!(
        login_failures(&sim).is_empty(),
        "{:?}",
        login_failures(&sim)
    );

    sim.command(Command::CompleteLogin {
        callback_query: second_callback,
    });
    sim.drive();
    assert!(
        matches!(login_failures(&sim)[..], [LoginFailure::UnknownState]),
        "a state is accepted once"
    );
    assert_eq!(
        sim.server.grants_seen("authorization_code"),
        2,
        "no exchange for a replayed state"
    );
}

#[test]
fn a_forged_state_is_refused_without_a_token_request() {
    let mut sim = sim();
    let started = sim.begin_login();
    let genuine = sim.server.authorize(started.authorization_url.as_str());
    let code = genuine
        .split('&')
        .find(|pair| pair.starts_with("code="))
        .expect("a code");
    sim.command(Command::CompleteLogin {
        callback_query: format!("{code}&state=forged0000000000000000000000000"),
    });
    sim.drive();
    assert!(matches!(
        login_failures(&sim)[..],
        [LoginFailure::UnknownState]
    ));
    assert_eq!(sim.server.token_requests_seen(), 0);
    assert_eq!(
        sim.machine.status(sim.now).pending_logins,
        1,
        "the real login is still pending"
    );
}

#[test]
fn a_callback_after_the_ten_minute_deadline_is_refused() {
    let mut sim = sim();
    let started = sim.begin_login();
    assert_eq!(
        started.deadline,
        sim.now.saturating_add(Duration::from_secs(600))
    );
    let callback = sim.server.authorize(started.authorization_url.as_str());
    sim.advance(Duration::from_secs(600));
    sim.command(Command::CompleteLogin {
        callback_query: callback,
    });
    sim.drive();
    assert!(matches!(login_failures(&sim)[..], [LoginFailure::Expired]));
    assert_eq!(sim.server.token_requests_seen(), 0);
}

#[test]
fn a_callback_one_millisecond_before_the_deadline_is_accepted() {
    let mut sim = sim();
    let started = sim.begin_login();
    let callback = sim.server.authorize(started.authorization_url.as_str());
    sim.advance(Duration::from_millis(599_999));
    sim.command(Command::CompleteLogin {
        callback_query: callback,
    });
    sim.drive();
    assert!(login_failures(&sim).is_empty());
    assert!(sim.access_token().is_some());
}

#[test]
fn a_denied_login_fails_with_the_servers_error_and_ends_that_login() {
    let mut sim = sim();
    let started = sim.begin_login();
    let denial = sim.server.deny(started.authorization_url.as_str());
    sim.command(Command::CompleteLogin {
        callback_query: denial,
    });
    match login_failures(&sim)[..] {
        [LoginFailure::AuthorizationDenied { error, description }] => {
            assert_eq!(error.as_str(), "access_denied");
            assert_eq!(description.as_deref(), Some("the user denied access"));
        }
        ref other => panic!("expected one denial, got {other:?}"),
    }
    assert_eq!(sim.machine.status(sim.now).pending_logins, 0);
}

#[test]
fn an_error_callback_without_our_state_does_not_end_a_pending_login() {
    let mut sim = sim();
    sim.begin_login();
    sim.command(Command::CompleteLogin {
        callback_query: "error=access_denied".to_owned(),
    });
    assert!(matches!(
        login_failures(&sim)[..],
        [LoginFailure::AuthorizationDenied { .. }]
    ));
    assert_eq!(sim.machine.status(sim.now).pending_logins, 1);
}

#[test]
fn a_malformed_callback_fails_cleanly() {
    let mut sim = sim();
    sim.begin_login();
    sim.command(Command::CompleteLogin {
        callback_query: "code=a&error=b&state=c".to_owned(),
    });
    assert!(matches!(
        login_failures(&sim)[..],
        [LoginFailure::MalformedCallback { .. }]
    ));
}

#[test]
fn the_issuer_is_checked_when_configured_and_sent() {
    let mut config = fixtures::authorization_code_config();
    config.expected_issuer = Some(fixtures::INSTANCE.to_owned());
    let mut sim = Sim::new(config, fixtures::servicenow_server());

    let started = sim.begin_login();
    let callback = sim.server.authorize(started.authorization_url.as_str());
    sim.command(Command::CompleteLogin {
        callback_query: format!("{callback}&iss=https%3A%2F%2Fevil.example"),
    });
    sim.drive();
    assert!(
        matches!(&login_failures(&sim)[..], [LoginFailure::IssuerMismatch { received }] if received == "https://evil.example")
    );
    assert_eq!(sim.server.token_requests_seen(), 0);

    let started = sim.begin_login();
    let callback = sim.server.authorize(started.authorization_url.as_str());
    let iss = form_urlencoded_value(fixtures::INSTANCE);
    sim.command(Command::CompleteLogin {
        callback_query: format!("{callback}&iss={iss}"),
    });
    sim.drive();
    assert!(sim.access_token().is_some(), "the right issuer is accepted");

    let started = sim.begin_login();
    let callback = sim.server.authorize(started.authorization_url.as_str());
    sim.command(Command::CompleteLogin {
        callback_query: callback,
    });
    sim.drive();
    assert_eq!(
        login_failures(&sim).len(),
        1,
        "ServiceNow sends no iss: accepted without one"
    );
}

#[test]
fn a_pending_login_exported_by_one_replica_completes_on_another_once() {
    let mut first_replica = sim();
    let started = first_replica.begin_login();
    let exported = first_replica
        .machine
        .export_pending_login(&started.state)
        .expect("the login is pending");
    assert!(
        first_replica
            .machine
            .export_pending_login(&started.state)
            .is_none(),
        "export takes it"
    );
    let stored = serde_json::to_string(&exported).expect("a pending login serializes");
    assert!(stored.contains("\"format_version\":1"));
    let imported: PendingLogin = serde_json::from_str(&stored).expect("and reads back");

    let mut second_replica = Sim::with_seed(
        fixtures::authorization_code_config(),
        first_replica.server,
        [9; 32],
    );
    let callback = second_replica
        .server
        .authorize(started.authorization_url.as_str());
    second_replica.command(Command::ImportPendingLogin(imported));
    second_replica.command(Command::CompleteLogin {
        callback_query: callback.clone(),
    });
    second_replica.drive();
    assert!(
        second_replica.access_token().is_some(),
        "the PKCE verifier travelled with the login"
    );

    second_replica.command(Command::CompleteLogin {
        callback_query: callback,
    });
    assert!(matches!(
        login_failures(&second_replica)[..],
        [LoginFailure::UnknownState]
    ));
}

#[test]
fn a_pending_login_from_an_older_format_is_refused() {
    let mut sim = sim();
    let started = sim.begin_login();
    let exported = sim
        .machine
        .export_pending_login(&started.state)
        .expect("pending");
    let stored = serde_json::to_string(&exported)
        .expect("serializes")
        .replace("\"format_version\":1", "\"format_version\":0");
    let error = serde_json::from_str::<PendingLogin>(&stored).expect_err("version 0 is not read");
    assert!(error.to_string().contains("format version 0"), "{error}");
}

#[test]
fn only_an_authorization_code_credential_can_begin_a_login() {
    let mut machine = servicenow_auth::AuthMachine::new(
        fixtures::client_credentials_config(),
        servicenow_testkit::EPOCH,
        [1; 32],
    );
    let result = machine.handle_input(servicenow_auth::Input::Command {
        now: servicenow_testkit::EPOCH,
        command: Command::BeginLogin,
    });
    assert!(matches!(result, Err(AuthError::LoginNotConfigured)));
}

#[test]
fn the_oldest_pending_login_is_forgotten_beyond_the_cap() {
    let mut config = fixtures::authorization_code_config();
    config.timing.max_pending_logins = 2;
    let mut sim = Sim::new(config, fixtures::servicenow_server());
    let oldest = sim.begin_login();
    sim.begin_login();
    sim.begin_login();
    assert_eq!(sim.machine.status(sim.now).pending_logins, 2);
    let callback = sim.server.authorize(oldest.authorization_url.as_str());
    sim.command(Command::CompleteLogin {
        callback_query: callback,
    });
    assert!(matches!(
        login_failures(&sim)[..],
        [LoginFailure::UnknownState]
    ));
}

fn form_urlencoded_value(text: &str) -> String {
    text.replace(':', "%3A").replace('/', "%2F")
}

fn event_kind(event: &Event) -> &'static str {
    match event {
        Event::LoginStarted(_) => "LoginStarted",
        Event::LoginFailed(_) => "LoginFailed",
        Event::LoginCompleted { .. } => "LoginCompleted",
        Event::Persist(_) => "Persist",
        Event::TokenReady { .. } => "TokenReady",
        Event::TokenRequestFailed { .. } => "TokenRequestFailed",
        Event::ReauthorizationRequired { .. } => "ReauthorizationRequired",
        Event::TokenSetDropped => "TokenSetDropped",
        Event::LoggedOut(_) => "LoggedOut",
        _ => "other",
    }
}

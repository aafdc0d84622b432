//! Stories of the other grants and of logout: client credentials, password, revocation.

use std::time::Duration;

use servicenow_auth::{
    AuthError, AuthMachine, Command, Event, Input, ReauthorizationReason, Revocation,
    RevocationOutcome,
};
use servicenow_testkit::{EPOCH, Fault, Sim, fixtures, form};

fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

fn logged_out(sim: &Sim) -> Vec<RevocationOutcome> {
    sim.events
        .iter()
        .filter_map(|event| match event {
            Event::LoggedOut(outcome) => Some(*outcome),
            _ => None,
        })
        .collect()
}

#[test]
fn client_credentials_acquire_on_demand_and_again_before_expiry() {
    let mut sim = Sim::new(
        fixtures::client_credentials_config(),
        fixtures::servicenow_server(),
    );
    sim.command(Command::EnsureFresh);
    sim.drive();
    assert_eq!(sim.server.grants_seen("client_credentials"), 1);
    let first = sim.access_token().expect("a token");
    assert!(
        sim.store
            .as_ref()
            .is_some_and(|set| set.refresh_token().is_none()),
        "no refresh token in this grant"
    );
    sim.advance(secs(1800));
    assert_eq!(
        sim.server.grants_seen("client_credentials"),
        2,
        "re-acquired before expiry"
    );
    assert_eq!(sim.server.grants_seen("refresh_token"), 0);
    assert_ne!(sim.access_token(), Some(first));
}

#[test]
fn client_credentials_rejected_stop_until_acquire_is_asked_again() {
    let mut sim = Sim::new(
        fixtures::client_credentials_config(),
        fixtures::servicenow_server(),
    );
    sim.server.client_credentials_enabled = false;
    sim.command(Command::EnsureFresh);
    sim.drive();
    assert!(sim.events.iter().any(|event| matches!(
        event,
        Event::ReauthorizationRequired {
            reason: ReauthorizationReason::GrantRejected(_)
        }
    )));
    sim.command(Command::EnsureFresh);
    sim.advance(secs(3600));
    assert_eq!(
        sim.server.grants_seen("client_credentials"),
        1,
        "no retry loop on a rejection"
    );

    sim.server.client_credentials_enabled = true;
    sim.command(Command::Acquire);
    sim.drive();
    assert_eq!(sim.server.grants_seen("client_credentials"), 2);
    assert!(sim.access_token().is_some());
}

#[test]
fn acquire_is_refused_for_a_credential_that_needs_a_login() {
    let mut machine = AuthMachine::new(fixtures::authorization_code_config(), EPOCH, [1; 32]);
    let result = machine.handle_input(Input::Command {
        now: EPOCH,
        command: Command::Acquire,
    });
    assert!(matches!(
        result,
        Err(AuthError::AcquireNeedsNonInteractiveGrant)
    ));
}

#[test]
fn ensure_fresh_without_a_login_asks_for_one() {
    let mut sim = Sim::new(
        fixtures::authorization_code_config(),
        fixtures::servicenow_server(),
    );
    sim.command(Command::EnsureFresh);
    assert!(matches!(
        sim.events[..],
        [Event::ReauthorizationRequired {
            reason: ReauthorizationReason::NoTokenSet
        }]
    ));
    assert!(sim.outbox.is_empty());
}

#[test]
fn logout_revokes_the_refresh_token_first_then_the_access_token() {
    let mut sim = Sim::new(
        fixtures::authorization_code_config(),
        fixtures::servicenow_server(),
    );
    sim.login();
    let set = sim.store.clone().expect("stored");
    sim.take_events();
    sim.command(Command::Revoke);
    assert!(sim.access_token().is_none(), "dropped at once");
    assert!(
        sim.store.is_none(),
        "the driver deleted it on TokenSetDropped"
    );
    sim.drive();
    let revoked: Vec<String> = sim
        .sent
        .iter()
        .rev()
        .take(2)
        .rev()
        .map(|request| {
            assert_eq!(request.uri().path(), "/oauth_revoke_token.do");
            form(request.body())
                .get("token_type_hint")
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(revoked, ["refresh_token", "access_token"]);
    assert_eq!(
        logged_out(&sim),
        [RevocationOutcome {
            refresh_token: Revocation::Accepted,
            access_token: Revocation::Accepted
        }]
    );
    let refresh_token = set
        .refresh_token()
        .expect("had one")
        .token()
        .secret()
        .to_owned();
    assert!(!sim.server.accepts_refresh_token(&refresh_token, sim.now));
    assert!(
        !sim.server
            .accepts_access_token(set.access_token().secret(), sim.now)
    );
}

#[test]
fn logout_drops_the_set_even_when_the_server_does_not_confirm() {
    let mut sim = Sim::new(
        fixtures::authorization_code_config(),
        fixtures::servicenow_server(),
    );
    sim.login();
    sim.command(Command::Revoke);
    let (first_id, _) = sim
        .outbox
        .pop_front()
        .expect("the refresh token revocation");
    sim.input(Input::TransportFailed {
        now: sim.now,
        id: first_id,
        failure: servicenow_auth::TransportFailure::Connect,
    });
    // The access token revocation gets no answer at all: the machine's deadline ends it.
    sim.outbox.clear();
    sim.advance(secs(30));
    assert_eq!(
        logged_out(&sim),
        [RevocationOutcome {
            refresh_token: Revocation::NotConfirmed,
            access_token: Revocation::NotConfirmed
        }]
    );
    assert!(sim.store.is_none() && sim.access_token().is_none());
    sim.advance(secs(3600));
    assert_eq!(
        sim.server.grants_seen("refresh_token"),
        0,
        "nothing refreshes after logout"
    );
}

#[test]
fn logout_with_nothing_to_revoke_says_so() {
    let mut sim = Sim::new(
        fixtures::client_credentials_config(),
        fixtures::servicenow_server(),
    );
    sim.command(Command::Revoke);
    assert_eq!(
        logged_out(&sim),
        [RevocationOutcome {
            refresh_token: Revocation::NoToken,
            access_token: Revocation::NoToken
        }]
    );
}

#[test]
fn logout_during_a_refresh_drops_the_refresh_answer() {
    let mut sim = Sim::new(
        fixtures::authorization_code_config(),
        fixtures::servicenow_server(),
    );
    sim.login();
    sim.server.fail_next(Fault::Silence);
    sim.advance(sim.timeout.saturating_duration_since(sim.now));
    assert!(sim.machine.status(sim.now).token_request_in_flight);
    sim.command(Command::Revoke);
    sim.drive();
    assert!(sim.access_token().is_none());
    assert_eq!(logged_out(&sim).len(), 1);
}

#[cfg(feature = "password-grant")]
#[test]
fn the_password_grant_acquires_and_then_refreshes() {
    use servicenow_oauth::{ResourceOwnerPassword, ResourceOwnerUsername};
    let config = servicenow_auth::AuthConfig::password(
        fixtures::instance(),
        fixtures::client(),
        ResourceOwnerUsername::new("integration.user").expect("valid"),
        ResourceOwnerPassword::new("pa55-SECRET").expect("valid"),
    );
    let mut sim = Sim::new(config, fixtures::servicenow_server());
    sim.command(Command::EnsureFresh);
    sim.drive();
    assert_eq!(sim.server.grants_seen("password"), 1);
    assert!(sim.access_token().is_some());
    sim.advance(secs(1800));
    assert_eq!(
        sim.server.grants_seen("refresh_token"),
        1,
        "the password grant's refresh token is used"
    );
    assert_eq!(sim.server.grants_seen("password"), 1);
}

#[test]
fn a_rejected_grant_stays_rejected_across_a_logout_until_acquire() {
    let mut sim = Sim::new(
        fixtures::client_credentials_config(),
        fixtures::servicenow_server(),
    );
    sim.server.client_credentials_enabled = false;
    sim.command(Command::EnsureFresh);
    sim.drive();
    sim.command(Command::Revoke);
    sim.command(Command::EnsureFresh);
    sim.drive();
    assert_eq!(
        sim.server.grants_seen("client_credentials"),
        1,
        "a logout is not a way around the rejection"
    );
    assert!(
        sim.machine
            .status(sim.now)
            .reauthorization_required
            .is_some()
    );
}

/// The `jti` and `iat` of every JWT bearer request the server has seen, in order.
fn jwt_requests(sim: &Sim) -> Vec<(String, u64)> {
    sim.sent
        .iter()
        .filter_map(|request| {
            let body = form(request.body());
            let claims = servicenow_testkit::assertion_claims(body.get("assertion")?)?;
            Some((claims["jti"].as_str()?.to_owned(), claims["iat"].as_u64()?))
        })
        .collect()
}

#[test]
fn a_jwt_credential_acquires_with_a_new_assertion_each_time_and_no_refresh_token() {
    let mut sim = Sim::new(fixtures::jwt_bearer_config(), fixtures::servicenow_server());
    sim.command(Command::EnsureFresh);
    sim.drive();
    assert_eq!(
        sim.server
            .grants_seen(servicenow_oauth::JWT_BEARER_GRANT_TYPE),
        1
    );
    let first = sim.access_token().expect("a token");
    assert!(
        sim.store
            .as_ref()
            .is_some_and(|set| set.refresh_token().is_none()),
        "the JWT bearer grant issues no refresh token"
    );
    sim.advance(secs(1800));
    sim.advance(secs(1800));
    let requests = jwt_requests(&sim);
    assert_eq!(
        requests.len(),
        3,
        "re-acquired before each expiry: {requests:?}"
    );
    assert_eq!(sim.server.grants_seen("refresh_token"), 0);
    assert_ne!(sim.access_token(), Some(first));
    let mut ids: Vec<&String> = requests.iter().map(|(jti, _)| jti).collect();
    ids.dedup();
    assert_eq!(
        ids.len(),
        3,
        "a new jti for every acquisition (the server refuses replays)"
    );
    assert_eq!(
        requests[0].1,
        EPOCH.as_unix_millis() / 1000,
        "iat is the machine's now"
    );
    assert!(requests[1].1 > requests[0].1 && requests[2].1 > requests[1].1);
}

#[test]
fn a_refused_jwt_assertion_stops_until_acquire_is_asked_again() {
    let mut server = fixtures::servicenow_server();
    server.client.client_secret = Some("another-secret".to_owned());
    let mut sim = Sim::new(fixtures::jwt_bearer_config(), server);
    sim.command(Command::EnsureFresh);
    sim.drive();
    assert!(sim.events.iter().any(|event| matches!(
        event,
        Event::ReauthorizationRequired {
            reason: ReauthorizationReason::GrantRejected(_)
        }
    )));
    sim.advance(secs(3600));
    assert_eq!(jwt_requests(&sim).len(), 1, "no retry loop on a rejection");
    sim.server.client.client_secret = Some(fixtures::CLIENT_SECRET.to_owned());
    sim.command(Command::Acquire);
    sim.drive();
    assert!(sim.access_token().is_some());
    let requests = jwt_requests(&sim);
    assert_eq!(requests.len(), 2);
    assert_ne!(
        requests[0].0, requests[1].0,
        "the retry carries a new assertion"
    );
}

//! Stories of failure: rejected refreshes, transient errors with backoff, resource 401s, stale
//! and unknown answers.

use std::time::Duration;

use servicenow_auth::{
    AuthError, Command, Event, Input, ReauthorizationReason, RequestId, TokenFailure,
    TransportFailure,
};
use servicenow_testkit::{Fault, Sim, fixtures};

fn logged_in() -> Sim {
    let mut sim = Sim::new(
        fixtures::authorization_code_config(),
        fixtures::servicenow_server(),
    );
    sim.login();
    sim.take_events();
    sim
}

fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

fn retries(sim: &Sim) -> Vec<(servicenow_auth::Timestamp, &TokenFailure)> {
    sim.events
        .iter()
        .filter_map(|event| match event {
            Event::TokenRequestFailed { failure, retry_at } => Some((*retry_at, failure)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_refresh_rejected_with_servicenows_access_denied_stops_all_token_requests() {
    let mut sim = logged_in();
    sim.server.fail_next(Fault::AccessDenied);
    sim.advance(secs(1800));
    assert!(sim.events.iter().any(|event| matches!(
        event,
        Event::ReauthorizationRequired { reason: ReauthorizationReason::RefreshRejected(error) }
            if error.is_servicenow_access_denied()
    )));
    let seen = sim.server.token_requests_seen();
    sim.command(Command::EnsureFresh);
    sim.advance(secs(24 * 3600));
    sim.command(Command::EnsureFresh);
    sim.drive();
    assert_eq!(
        sim.server.token_requests_seen(),
        seen,
        "no token request until a new login"
    );
    assert!(
        sim.machine
            .status(sim.now)
            .reauthorization_required
            .is_some()
    );

    sim.login();
    assert!(sim.access_token().is_some(), "a new login starts over");
    sim.advance(secs(1800));
    assert_eq!(
        sim.server.grants_seen("refresh_token"),
        2,
        "and refreshes resume"
    );
}

#[test]
fn a_refresh_rejected_with_invalid_grant_requires_reauthorization() {
    let mut sim = logged_in();
    sim.server.fail_next(Fault::InvalidGrant);
    sim.advance(secs(1800));
    let reasons: Vec<_> = sim
        .events
        .iter()
        .filter_map(|event| match event {
            Event::ReauthorizationRequired { reason } => Some(reason),
            _ => None,
        })
        .collect();
    assert!(
        matches!(reasons[..], [ReauthorizationReason::RefreshRejected(error)] if error.status == 400)
    );
}

#[test]
fn a_revoked_grant_discovered_by_refresh_is_not_retried() {
    let mut sim = logged_in();
    sim.server.revoke_everything();
    sim.advance(secs(3 * 3600));
    assert_eq!(sim.server.grants_seen("refresh_token"), 1);
}

#[test]
fn transient_failures_back_off_exponentially_while_the_valid_token_is_still_handed_out() {
    let mut sim = logged_in();
    let token = sim.access_token().expect("a token");
    for _ in 0..4 {
        sim.server.fail_next(Fault::ServerError(503));
    }
    sim.advance(sim.timeout.saturating_duration_since(sim.now));
    assert_eq!(retries(&sim).len(), 1);
    assert_eq!(
        sim.access_token(),
        Some(token.clone()),
        "still usable during the backoff"
    );
    sim.advance(secs(40));
    let failures = retries(&sim);
    assert!(failures.len() >= 3, "{failures:?}");
    let gaps: Vec<Duration> = failures
        .windows(2)
        .map(|pair| pair[1].0.saturating_duration_since(pair[0].0))
        .collect();
    assert!(
        gaps.windows(2).all(|pair| pair[1] >= pair[0] / 2),
        "gaps grow: {gaps:?}"
    );
    sim.advance(secs(60));
    assert_eq!(
        sim.server.grants_seen("refresh_token"),
        5,
        "four failures, then the retry that worked"
    );
    assert_ne!(sim.access_token(), Some(token));
    assert_eq!(
        sim.machine.status(sim.now).retry_at,
        None,
        "success resets the backoff"
    );
}

#[test]
fn a_garbage_body_is_transient() {
    let mut sim = logged_in();
    sim.server.fail_next(Fault::Garbage);
    sim.advance(secs(1800));
    assert!(matches!(retries(&sim)[..], [(_, TokenFailure::Server(_))]));
    assert!(sim.access_token().is_some(), "the retry succeeded");
}

#[test]
fn a_silent_server_is_given_up_on_at_the_request_deadline_and_its_late_answer_dropped() {
    let mut sim = logged_in();
    sim.server.fail_next(Fault::Silence);
    sim.advance(sim.timeout.saturating_duration_since(sim.now));
    let stale = sim.sent.len();
    assert!(sim.machine.status(sim.now).token_request_in_flight);
    sim.advance(secs(30));
    assert!(matches!(retries(&sim)[..], [(_, TokenFailure::NoAnswer)]));
    // The answer to the abandoned request finally arrives: dropped, not an error.
    let id = RequestId::from_raw(u64::try_from(stale).expect("small"));
    let late = http::Response::new(bytes::Bytes::from_static(
        br#"{"access_token":"late","token_type":"Bearer","expires_in":1800}"#,
    ));
    sim.input(Input::Response {
        now: sim.now,
        id,
        response: late,
    });
    assert_ne!(sim.access_token().as_deref(), Some("late"));
}

#[test]
fn a_transport_failure_is_retried() {
    let mut sim = logged_in();
    sim.server
        .fail_next(Fault::Transport(TransportFailure::Connect));
    sim.advance(secs(1800));
    assert!(matches!(
        retries(&sim)[..],
        [(_, TokenFailure::Transport(TransportFailure::Connect))]
    ));
    assert_eq!(sim.server.grants_seen("refresh_token"), 2);
}

#[test]
fn a_401_for_the_current_token_triggers_exactly_one_refresh() {
    let mut sim = logged_in();
    let token = sim
        .machine
        .access_token(sim.now)
        .map(|token| token.id)
        .expect("a token");
    sim.command(Command::Unauthorized { token_id: token });
    sim.command(Command::Unauthorized { token_id: token });
    assert_eq!(
        sim.outbox.len(),
        1,
        "one refresh for two 401s of the same token"
    );
    assert!(
        sim.access_token().is_none(),
        "the refused token is not handed out again"
    );
    sim.drive();
    assert_eq!(sim.server.grants_seen("refresh_token"), 1);
    assert!(sim.access_token().is_some());

    sim.command(Command::Unauthorized { token_id: token });
    assert!(
        sim.outbox.is_empty(),
        "a 401 for an older token does nothing"
    );
    assert!(sim.access_token().is_some());
}

#[test]
fn a_resource_call_with_a_token_the_server_forgot_refreshes_once_and_then_succeeds() {
    let mut sim = logged_in();
    assert_eq!(sim.call_resource(), Some(200));
    sim.server.forget_access_tokens(); // as after an administrator revoked sessions
    assert_eq!(sim.call_resource(), Some(401));
    assert_eq!(
        sim.call_resource(),
        None,
        "no token to send until the refresh answers"
    );
    sim.drive();
    assert_eq!(sim.server.grants_seen("refresh_token"), 1);
    assert_eq!(sim.call_resource(), Some(200));
}

#[test]
fn an_answer_for_a_request_never_emitted_is_api_misuse() {
    let mut sim = logged_in();
    let result = sim.machine.handle_input(Input::Response {
        now: sim.now,
        id: RequestId::from_raw(999),
        response: http::Response::new(bytes::Bytes::new()),
    });
    assert!(matches!(result, Err(AuthError::UnknownRequest(_))));
}

#[test]
fn a_duplicate_answer_is_dropped() {
    let mut sim = logged_in();
    sim.advance(sim.timeout.saturating_duration_since(sim.now));
    let token = sim.access_token().expect("refreshed");
    let first_id = RequestId::from_raw(1);
    let replay = http::Response::new(bytes::Bytes::from_static(
        br#"{"access_token":"replayed","token_type":"Bearer","expires_in":1800}"#,
    ));
    sim.input(Input::Response {
        now: sim.now,
        id: first_id,
        response: replay,
    });
    assert_eq!(sim.access_token(), Some(token));
}

#[test]
fn a_restore_after_reauthorization_resumes_refreshes() {
    let mut sim = logged_in();
    let stored = sim.store.clone().expect("stored");
    sim.server.fail_next(Fault::AccessDenied);
    sim.advance(secs(1800));
    assert!(
        sim.machine
            .status(sim.now)
            .reauthorization_required
            .is_some()
    );
    sim.command(Command::Restore(stored));
    assert!(
        sim.machine
            .status(sim.now)
            .reauthorization_required
            .is_none()
    );
    sim.drive();
    assert_eq!(
        sim.server.grants_seen("refresh_token"),
        2,
        "the restored (expired) set is refreshed"
    );
}

#[test]
fn a_rate_limited_refresh_waits_as_long_as_the_server_says() {
    let mut sim = logged_in();
    sim.server.fail_next(Fault::RateLimited {
        retry_after_secs: 45,
    });
    sim.advance(sim.timeout.saturating_duration_since(sim.now));
    let failed_at = sim.now;
    match retries(&sim)[..] {
        [(retry_at, TokenFailure::Server(error))] => {
            assert_eq!(error.status, 429);
            assert_eq!(
                retry_at,
                failed_at.saturating_add(secs(45)),
                "Retry-After outweighs the 1 s first step"
            );
        }
        ref other => panic!("expected one rate-limited failure, got {other:?}"),
    }
    sim.advance(secs(44));
    assert_eq!(
        sim.server.grants_seen("refresh_token"),
        1,
        "not before the server's time"
    );
    sim.advance(secs(1));
    assert_eq!(sim.server.grants_seen("refresh_token"), 2);
}

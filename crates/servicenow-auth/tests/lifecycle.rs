//! Stories of the token lifecycle: proactive refresh, skew and jitter, refresh tokens kept,
//! repeated or rotated, persist before hand-out, restore.

use std::time::Duration;

use servicenow_auth::{
    AuthMachine, Command, Event, Input, Output, ReauthorizationReason, RefreshTokenRecord,
    Timestamp, TokenSet,
};
use servicenow_oauth::{AccessToken, RefreshToken};
use servicenow_testkit::{EPOCH, RefreshTokenPolicy, Sim, fixtures};

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

fn token_set(access_token: &str, lifetime: Duration, refresh_token: Option<&str>) -> TokenSet {
    TokenSet::new(
        AccessToken::new(access_token).expect("valid"),
        EPOCH,
        EPOCH.saturating_add(lifetime),
        refresh_token.map(|token| {
            RefreshTokenRecord::new(
                RefreshToken::new(token).expect("valid"),
                EPOCH,
                Some(EPOCH.saturating_add(secs(8_640_000))),
            )
        }),
        None,
    )
}

#[test]
fn the_refresh_comes_through_the_timeout_between_jitter_and_skew_before_expiry() {
    let mut sim = logged_in();
    let expires_at = EPOCH.saturating_add(secs(1800));
    let refresh_at = sim.timeout;
    assert!(
        refresh_at <= expires_at.saturating_sub(secs(60)),
        "refresh before the skew point"
    );
    assert!(
        refresh_at >= expires_at.saturating_sub(secs(90)),
        "at most 30 s of jitter earlier"
    );
    sim.advance(
        refresh_at
            .saturating_duration_since(sim.now)
            .saturating_sub(Duration::from_millis(1)),
    );
    assert_eq!(
        sim.server.grants_seen("refresh_token"),
        0,
        "not a millisecond early"
    );
    sim.advance(Duration::from_millis(1));
    assert_eq!(sim.server.grants_seen("refresh_token"), 1);
    assert!(sim.access_token().is_some());
}

#[test]
fn replicas_with_different_seeds_refresh_at_different_times() {
    let refresh_points: std::collections::BTreeSet<Timestamp> = (0..6_u8)
        .map(|seed| {
            let mut sim = Sim::with_seed(
                fixtures::authorization_code_config(),
                fixtures::servicenow_server(),
                [seed; 32],
            );
            sim.command(Command::Restore(token_set(
                "at-shared",
                secs(1800),
                Some("rt-shared"),
            )));
            sim.timeout
        })
        .collect();
    assert!(
        refresh_points.len() > 1,
        "six replicas all chose {refresh_points:?}"
    );
}

#[test]
fn a_token_is_not_handed_out_from_sixty_seconds_before_its_expiry() {
    let mut machine = AuthMachine::new(fixtures::authorization_code_config(), EPOCH, [1; 32]);
    machine
        .handle_input(Input::Command {
            now: EPOCH,
            command: Command::Restore(token_set("at-1", secs(1800), None)),
        })
        .expect("restore is not misuse");
    let cutoff = EPOCH.saturating_add(secs(1800 - 60));
    assert!(
        machine
            .access_token(cutoff.saturating_sub(Duration::from_millis(1)))
            .is_some()
    );
    assert!(machine.access_token(cutoff).is_none());
}

#[test]
fn a_refresh_without_a_refresh_token_keeps_the_old_one() {
    let mut sim = logged_in();
    sim.server.refresh_token_policy = RefreshTokenPolicy::Omit;
    let before = sim.store.clone().expect("stored");
    sim.advance(secs(1800));
    let after = sim.store.clone().expect("stored");
    assert_eq!(sim.server.grants_seen("refresh_token"), 1);
    assert_ne!(after.access_token(), before.access_token());
    let (old, new) = (
        before.refresh_token().expect("had one"),
        after.refresh_token().expect("kept"),
    );
    assert_eq!(new.token(), old.token());
    assert_eq!(new.first_issued_at(), old.first_issued_at());
    sim.advance(secs(1800));
    assert_eq!(
        sim.server.grants_seen("refresh_token"),
        2,
        "and it still works"
    );
}

#[test]
fn the_same_refresh_token_string_keeps_its_first_issue_time_and_expiry() {
    let mut sim = logged_in();
    let first = sim
        .store
        .clone()
        .expect("stored")
        .refresh_token()
        .cloned()
        .expect("one");
    assert_eq!(
        first.expires_at(),
        Some(EPOCH.saturating_add(secs(8_640_000)))
    );
    sim.advance(secs(3 * 3600));
    let later = sim
        .store
        .clone()
        .expect("stored")
        .refresh_token()
        .cloned()
        .expect("one");
    assert!(sim.server.grants_seen("refresh_token") >= 5);
    assert_eq!(later.token(), first.token());
    assert_eq!(later.first_issued_at(), EPOCH);
    assert_eq!(
        later.expires_at(),
        first.expires_at(),
        "not extended by refreshes"
    );
}

#[test]
fn a_rotated_refresh_token_replaces_the_old_one_with_a_new_lifetime() {
    let mut sim = logged_in();
    sim.server.refresh_token_policy = RefreshTokenPolicy::Rotate;
    let first = sim
        .store
        .clone()
        .expect("stored")
        .refresh_token()
        .cloned()
        .expect("one");
    sim.advance(secs(1800));
    let rotated = sim
        .store
        .clone()
        .expect("stored")
        .refresh_token()
        .cloned()
        .expect("one");
    assert_ne!(rotated.token(), first.token());
    assert!(rotated.first_issued_at() > first.first_issued_at());
    sim.advance(secs(1800));
    assert_eq!(
        sim.server.grants_seen("refresh_token"),
        2,
        "the rotated token is the one sent"
    );
    assert!(sim.access_token().is_some());
}

#[test]
fn a_refresh_token_past_its_lifetime_asks_for_a_login_without_a_request() {
    let mut config = fixtures::authorization_code_config();
    config.timing.refresh_token_lifetime = Some(secs(3600));
    let mut sim = Sim::new(config, fixtures::servicenow_server());
    sim.login();
    sim.take_events();
    sim.advance(secs(3600 + 1800));
    let refreshes = sim.server.grants_seen("refresh_token");
    assert!(refreshes >= 1);
    assert!(sim.events.iter().any(|event| matches!(
        event,
        Event::ReauthorizationRequired {
            reason: ReauthorizationReason::RefreshTokenExpired
        }
    )));
    sim.advance(secs(7200));
    assert_eq!(
        sim.server.grants_seen("refresh_token"),
        refreshes,
        "no refresh with an expired refresh token"
    );
}

#[test]
fn the_new_token_is_handed_out_only_after_its_persist_event_is_polled() {
    let mut sim = logged_in();
    let old_token = sim.access_token().expect("a token");
    sim.now = sim.timeout;
    sim.input(Input::Timeout { now: sim.now });
    let (id, request) = sim
        .outbox
        .pop_front()
        .unwrap_or_else(|| panic!("a refresh is due"));
    let servicenow_testkit::ServerAnswer::Response(response) = sim.server.handle(sim.now, &request)
    else {
        panic!("the server answers");
    };
    sim.machine
        .handle_input(Input::Response {
            now: sim.now,
            id,
            response,
        })
        .expect("a known id");
    assert!(
        sim.machine.access_token(sim.now).is_none(),
        "nothing handed out before Persist is polled"
    );
    match sim.machine.poll_output() {
        Output::Event(Event::Persist(set)) => {
            let handed_out = sim
                .machine
                .access_token(sim.now)
                .expect("handed out after Persist");
            assert_eq!(handed_out.token, set.access_token());
            assert_ne!(handed_out.token.secret(), old_token);
        }
        other => panic!("Persist must come first, got {other:?}"),
    }
}

#[test]
fn a_restored_set_is_usable_at_once_and_not_persisted_again() {
    let stored = serde_json::to_string(&token_set("at-restored", secs(1800), Some("rt-restored")))
        .expect("serializes");
    assert!(stored.contains("\"format_version\":1"), "{stored}");
    let set: TokenSet = serde_json::from_str(&stored).expect("reads back");
    let mut sim = Sim::new(
        fixtures::authorization_code_config(),
        fixtures::servicenow_server(),
    );
    sim.command(Command::Restore(set));
    assert_eq!(sim.access_token().as_deref(), Some("at-restored"));
    assert!(sim.store.is_none(), "a restore does not write back");
    assert!(matches!(sim.events[..], [Event::TokenReady { .. }]));
}

#[test]
fn a_restored_set_near_expiry_is_refreshed_at_once() {
    let mut sim = Sim::new(
        fixtures::authorization_code_config(),
        fixtures::servicenow_server(),
    );
    sim.server.refresh_token_policy = RefreshTokenPolicy::ReturnSame;
    sim.command(Command::Restore(token_set(
        "at-old",
        secs(1800),
        Some("rt-unknown-to-server"),
    )));
    sim.advance(secs(1750));
    assert_eq!(sim.server.grants_seen("refresh_token"), 1);
    assert!(
        sim.access_token().is_none(),
        "the server did not know the refresh token: no token"
    );
}

#[test]
fn short_lived_tokens_use_half_their_lifetime_as_skew_and_do_not_loop() {
    let mut sim = Sim::new(
        fixtures::authorization_code_config(),
        fixtures::servicenow_server(),
    );
    sim.server.access_token_lifetime = secs(40);
    sim.login();
    assert!(
        sim.access_token().is_some(),
        "a 40 s token is usable for its first 20 s"
    );
    sim.advance(secs(400));
    let refreshes = sim.server.grants_seen("refresh_token");
    assert!(
        (10..=40).contains(&refreshes),
        "about one refresh per 20 to 30 s, not a loop: {refreshes}"
    );
}

#[test]
fn a_token_set_read_with_another_format_version_is_refused() {
    let stored = serde_json::to_string(&token_set("at", secs(60), None))
        .expect("serializes")
        .replace(":1,", ":2,");
    let error = serde_json::from_str::<TokenSet>(&stored).expect_err("version 2 is not read");
    assert!(error.to_string().contains("format version 2"), "{error}");
}

#[test]
fn ensure_fresh_answers_at_once_when_a_token_is_usable() {
    let mut sim = logged_in();
    sim.command(Command::EnsureFresh);
    assert!(matches!(sim.events[..], [Event::TokenReady { .. }]));
    assert!(sim.outbox.is_empty());
}

#[test]
fn time_running_backwards_does_not_make_an_expired_token_usable() {
    let mut sim = logged_in();
    sim.server.fail_next(servicenow_testkit::Fault::Silence);
    let late = EPOCH.saturating_add(secs(1790));
    sim.input(Input::Timeout { now: late });
    assert!(sim.machine.access_token(late).is_none());
    sim.input(Input::Timeout { now: EPOCH });
    assert!(
        sim.machine.access_token(EPOCH).is_none(),
        "the machine keeps the latest time it saw"
    );
}

#[test]
fn ensure_fresh_alone_sends_a_refresh_that_has_fallen_due() {
    let mut sim = logged_in();
    let refresh_at = sim
        .machine
        .status(sim.now)
        .refresh_at
        .expect("a token set is held");
    assert_eq!(
        refresh_at, sim.timeout,
        "the machine's deadline is the published refresh point"
    );
    // The driver's timer did not fire (it slept through): the application only asks for a token.
    sim.now = refresh_at;
    sim.command(Command::EnsureFresh);
    assert_eq!(
        sim.outbox.len(),
        1,
        "the refresh is sent with no Timeout first"
    );
    assert!(
        matches!(sim.take_events().first(), Some(Event::TokenReady { .. })),
        "the still usable token is announced at once"
    );
    sim.drive();
    assert_eq!(sim.server.grants_seen("refresh_token"), 1);
    let status = sim.machine.status(sim.now);
    assert!(
        status.refresh_at.is_some_and(|next| next > refresh_at),
        "the new token has a later refresh point"
    );
}

#[test]
fn ensure_fresh_alone_retries_once_the_backoff_has_elapsed() {
    let mut sim = Sim::new(
        fixtures::authorization_code_config(),
        fixtures::servicenow_server(),
    );
    sim.command(Command::Restore(token_set(
        "at-short",
        secs(30),
        Some("rt-1"),
    )));
    sim.server
        .fail_next(servicenow_testkit::Fault::ServerError(503));
    let refresh_at = sim.timeout;
    sim.advance(refresh_at.saturating_duration_since(sim.now));
    let retry_at = sim
        .machine
        .status(sim.now)
        .retry_at
        .expect("a retry is scheduled");
    sim.now = retry_at.saturating_sub(Duration::from_millis(1));
    sim.command(Command::EnsureFresh);
    assert!(
        sim.outbox.is_empty(),
        "not a millisecond before the backoff ends"
    );
    sim.now = retry_at;
    sim.command(Command::EnsureFresh);
    assert_eq!(
        sim.outbox.len(),
        1,
        "the retry goes out with no Timeout first"
    );
}

#[test]
fn the_current_token_names_its_refresh_point_between_jitter_and_skew() {
    let sim = logged_in();
    let current = sim.machine.access_token(sim.now).expect("usable");
    let expires_at = EPOCH.saturating_add(secs(1800));
    assert_eq!(current.usable_until, expires_at.saturating_sub(secs(60)));
    assert!(current.refresh_at <= current.usable_until);
    assert!(current.refresh_at >= current.usable_until.saturating_sub(secs(30)));
    assert_eq!(
        sim.machine.status(sim.now).refresh_at,
        Some(current.refresh_at)
    );
}

#[test]
fn an_imported_refresh_token_is_refreshed_at_once_and_its_placeholder_never_handed_out() {
    // A refresh token obtained elsewhere: here by a login of another machine on the same server.
    let sim = logged_in();
    let issued = sim
        .store
        .as_ref()
        .and_then(|set| set.refresh_token().map(|record| record.token().clone()))
        .expect("a refresh token");
    let mut fresh = Sim::new(fixtures::authorization_code_config(), sim.server);
    fresh.now = sim.now;
    let set = TokenSet::from_refresh_token(issued.clone(), fresh.now, None);
    fresh.command(Command::Restore(set));
    assert!(
        fresh.machine.access_token(fresh.now).is_none(),
        "the placeholder access token is never usable"
    );
    fresh.drive();
    assert_eq!(
        fresh.server.grants_seen("refresh_token"),
        1,
        "refreshed at once"
    );
    let token = fresh.access_token().expect("a real access token");
    assert_ne!(token, "imported-refresh-token-no-access-token-yet");
    assert!(
        fresh
            .store
            .as_ref()
            .and_then(TokenSet::refresh_token)
            .is_some_and(|record| record.token() == &issued),
        "the imported refresh token is kept and persisted"
    );
}

#[test]
fn a_refused_imported_refresh_token_requires_reauthorization() {
    let mut sim = Sim::new(
        fixtures::authorization_code_config(),
        fixtures::servicenow_server(),
    );
    let set =
        TokenSet::from_refresh_token(RefreshToken::new("not-issued-here").unwrap(), sim.now, None);
    sim.command(Command::Restore(set));
    sim.drive();
    assert!(sim.events.iter().any(|event| matches!(
        event,
        Event::ReauthorizationRequired {
            reason: ReauthorizationReason::RefreshRejected(_)
        }
    )));
    assert!(sim.access_token().is_none());
}

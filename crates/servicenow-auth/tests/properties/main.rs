//! Property tests of the machine: random schedules of commands, clock advances, server answers
//! (success, rotation, rejection, 5xx, garbage, lost, delayed, duplicate, stale) and resource
//! 401s, each invariant its own named property.
//!
//! Cases default to 128 per property; `PROPTEST_CASES=10000 cargo test -p servicenow-auth --test properties`
//! runs more.

mod actions;
mod checks;
mod commands;
mod world;

use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use proptest::test_runner::Config;

use crate::actions::{Scenario, scenario};
use crate::world::{Invariant, World};

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(128);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

fn holds(invariant: Invariant, scenario: &Scenario) -> Result<(), TestCaseError> {
    let mut world = World::new(scenario);
    world.run(scenario);
    match world.report(invariant) {
        None => Ok(()),
        Some(report) => Err(TestCaseError::fail(report)),
    }
}

/// The generator must keep reaching the situations the properties are about: 64 scenarios from
/// a fixed seed must between them refresh, acquire, log in, refuse callbacks, require
/// re-authorization, retry, see a new refresh token, answer a 401 and log out.
#[test]
fn the_schedules_reach_every_situation() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut total = world::Coverage::default();
    for _ in 0..64 {
        let scenario = scenario()
            .new_tree(&mut runner)
            .expect("a scenario")
            .current();
        let mut world = World::new(&scenario);
        world.run(&scenario);
        let seen = world.coverage;
        total.refreshes += seen.refreshes;
        total.acquisitions += seen.acquisitions;
        total.logins_completed += seen.logins_completed;
        total.callbacks_refused += seen.callbacks_refused;
        total.reauthorizations += seen.reauthorizations;
        total.transient_failures += seen.transient_failures;
        total.rotations_seen += seen.rotations_seen;
        total.unauthorized_refreshes += seen.unauthorized_refreshes;
        total.logouts += seen.logouts;
    }
    let counts = [
        total.refreshes,
        total.acquisitions,
        total.logins_completed,
        total.callbacks_refused,
        total.reauthorizations,
        total.transient_failures,
        total.rotations_seen,
        total.unauthorized_refreshes,
        total.logouts,
    ];
    eprintln!("coverage of 64 scenarios: {total:?}");
    assert!(
        counts.iter().all(|count| *count > 0),
        "a situation was never reached: {total:?}"
    );
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn single_token_request_in_flight(scenario in scenario()) {
        holds(Invariant::SingleTokenRequestInFlight, &scenario)?;
    }

    #[test]
    fn never_hands_out_a_token_past_expiry_minus_skew(scenario in scenario()) {
        holds(Invariant::NeverExpiredTokenHandedOut, &scenario)?;
    }

    #[test]
    fn forged_replayed_expired_or_foreign_state_is_always_rejected(scenario in scenario()) {
        holds(Invariant::BadStateRejected, &scenario)?;
    }

    #[test]
    fn refresh_token_is_never_lost_unless_replaced_restored_or_logged_out(scenario in scenario()) {
        holds(Invariant::RefreshTokenNeverLost, &scenario)?;
    }

    #[test]
    fn refresh_token_expiry_counts_from_its_first_issue(scenario in scenario()) {
        holds(Invariant::RefreshTokenExpiryFromFirstIssue, &scenario)?;
    }

    #[test]
    fn persist_comes_before_hand_out(scenario in scenario()) {
        holds(Invariant::PersistBeforeHandOut, &scenario)?;
    }

    #[test]
    fn no_token_request_after_reauthorization_required(scenario in scenario()) {
        holds(Invariant::NoTokenRequestAfterReauthorization, &scenario)?;
    }

    #[test]
    fn unauthorized_current_token_refreshes_once_older_token_is_ignored(scenario in scenario()) {
        holds(Invariant::UnauthorizedRefreshesOnce, &scenario)?;
    }

    #[test]
    fn no_secret_in_any_debug_output(scenario in scenario()) {
        holds(Invariant::NoSecretInDebug, &scenario)?;
    }
}

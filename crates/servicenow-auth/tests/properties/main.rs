//! Property tests of the machine: random schedules of commands, clock advances, server answers
//! (success, rotation, rejection, 5xx, 429 with `Retry-After`, garbage, lost, delayed, duplicate,
//! stale) and resource 401s. Each safety rule is its own named property; one property compares
//! every step with an independent reference model (`model.rs`); three liveness properties run
//! fair schedules (`liveness.rs`); a guard fails when the generator stops reaching the
//! combinations where bugs live.
//!
//! Cases default to 128 per property; `PROPTEST_CASES=10000 cargo test -p servicenow-auth --test properties`
//! runs more. A failing case is saved under `proptest-regressions/` and replayed first by later
//! runs; the ones found so far are also named tests in `regressions.rs`.

mod actions;
mod checks;
mod commands;
mod liveness;
mod model;
mod observe;
mod regressions;
mod world;

use std::fmt::Write as _;

use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use proptest::test_runner::{Config, FileFailurePersistence};

use crate::actions::{Scenario, scenario};
use crate::liveness::{FairScenario, FairWorld, Liveness, fair_scenario};
use crate::observe::Combinations;
use crate::world::{Invariant, World};

/// The case count when `PROPTEST_CASES` is not set, and the one the coverage guard runs.
const DEFAULT_CASES: u32 = 128;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

pub(crate) fn holds(invariant: Invariant, scenario: &Scenario) -> Result<(), TestCaseError> {
    let mut world = World::new(scenario);
    world.run(scenario);
    match world.report(invariant) {
        None => Ok(()),
        Some(report) => Err(TestCaseError::fail(report)),
    }
}

pub(crate) fn lives(scenario: &FairScenario, rule: Liveness) -> Result<(), TestCaseError> {
    let mut world = FairWorld::new(scenario);
    world.run(scenario);
    let mut report = String::new();
    for (broken, message) in &world.violations {
        if *broken == rule || *broken == Liveness::Harness {
            let _ = writeln!(report, "{broken:?}: {message}");
        }
    }
    if report.is_empty() {
        Ok(())
    } else {
        Err(TestCaseError::fail(report))
    }
}

/// The generators must keep reaching what the properties are about, at the default case
/// count (or at `PROPTEST_CASES` when it asks for more): every situation of the safety
/// properties, every combination the model shows to matter, and every liveness situation. The
/// counts are printed (and written to `coverage.txt` in Cargo's test scratch directory) on
/// every run.
#[test]
fn every_combination_is_reached_at_the_default_case_count() {
    let cases = config().cases.max(DEFAULT_CASES);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut situations = world::Coverage::default();
    let mut combinations = Combinations::default();
    for _ in 0..cases {
        let scenario = scenario()
            .new_tree(&mut runner)
            .expect("a scenario")
            .current();
        let mut world = World::new(&scenario);
        world.run(&scenario);
        situations.add(&world.coverage);
        combinations.add(&world.combinations);
    }
    let mut fair = [0_usize; 3];
    for _ in 0..cases {
        let scenario = fair_scenario()
            .new_tree(&mut runner)
            .expect("a fair scenario")
            .current();
        let mut world = FairWorld::new(&scenario);
        world.run(&scenario);
        fair[0] += world.callers_answered_after_waiting;
        fair[1] += world.refreshes_at_their_point;
        fair[2] += world.services_restored_after_reauthorization;
    }
    let mut rows: Vec<(&str, usize)> = world::Coverage::NAMES
        .into_iter()
        .zip(situations.counts())
        .collect();
    rows.extend(Combinations::NAMES.into_iter().zip(combinations.counts()));
    rows.extend([
        ("caller answered after waiting (fair)", fair[0]),
        ("refresh in flight at its refresh point (fair)", fair[1]),
        ("service restored after re-authorization (fair)", fair[2]),
    ]);
    let mut report = format!("coverage of {cases} scenarios of each generator:\n");
    for (name, count) in &rows {
        let _ = writeln!(report, "  {count:>7}  {name}");
    }
    eprintln!("{report}");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("coverage.txt");
    let _ = std::fs::write(&path, &report);
    let missing: Vec<&str> = rows
        .iter()
        .filter(|(_, count)| *count == 0)
        .map(|(name, _)| *name)
        .collect();
    assert!(missing.is_empty(), "never reached: {missing:?}\n{report}");
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
    fn every_jwt_acquisition_sends_a_new_assertion_made_at_its_time(scenario in scenario()) {
        holds(Invariant::FreshAssertionPerAcquisition, &scenario)?;
    }

    #[test]
    fn no_secret_in_any_debug_output(scenario in scenario()) {
        holds(Invariant::NoSecretInDebug, &scenario)?;
    }

    #[test]
    fn the_machine_does_what_the_reference_model_predicts(scenario in scenario()) {
        holds(Invariant::MatchesModel, &scenario)?;
    }

    #[test]
    fn a_due_refresh_is_requested_by_its_refresh_point(scenario in fair_scenario()) {
        lives(&scenario, Liveness::DueRefreshRequested)?;
    }

    #[test]
    fn every_waiting_caller_hears_a_token_or_a_typed_failure_in_bounded_time(scenario in fair_scenario()) {
        lives(&scenario, Liveness::CallerAnswered)?;
    }

    #[test]
    fn a_new_login_restores_service_after_reauthorization_required(scenario in fair_scenario()) {
        lives(&scenario, Liveness::LoginRestoresService)?;
    }
}

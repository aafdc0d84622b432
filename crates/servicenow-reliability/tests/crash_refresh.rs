//! A process killed with SIGKILL in the middle of a refresh (SQLite, PostgreSQL, Redis): after a restart the credential works without a new login, and the store holds a readable token set.
//!
//! Two kills stop the worker at fixed points. The others land at a random moment inside a
//! chosen phase of a refresh (before the token request, after the answer but before it is
//! persisted, after it is persisted), which each last `PHASE_PAUSE` in the worker; the worker
//! records its phase in a file that outlives the kill, and the test requires every phase to
//! have been hit by at least one kill.

use std::{collections::BTreeMap, path::Path, sync::Arc, time::Duration};

use rand::Rng as _;
use servicenow::SystemClock;
use servicenow_emulator::TokenOutcome;
use servicenow_reliability::{
    fixture,
    phases::{Hold, Phase, hold_line, landed_phase, phase_line},
    stores::StoreSpec,
    workers::Worker,
};
use servicenow_store::{PostgresBackend, PostgresOptions, RedisBackend, RedisOptions};
use servicenow_test_services::{POSTGRES_VARIABLE, REDIS_VARIABLE, service_url};

const WORKER: &str = env!("CARGO_BIN_EXE_reliability-worker");
/// How long each phase inside a refresh lasts in the worker of a random kill.
const PHASE_PAUSE: Duration = Duration::from_millis(200);
/// A random kill lands this long at most after the worker announced the phase: well inside it.
const KILL_WITHIN: u64 = 100;
/// Kills at most per phase: a kill that lands outside its phase (the machine stalled between
/// the announcement and the kill) is recorded and tried again.
const ATTEMPTS_PER_PHASE: usize = 5;

/// What one store's run did, for docs/reliability.md.
#[derive(Debug)]
struct CrashFigures {
    kills: usize,
    /// For each phase aimed at, where the kills landed.
    landings: BTreeMap<&'static str, Vec<&'static str>>,
    refreshes_answered: u64,
    logins: u64,
}

async fn kill_mid_refresh_then_recover(spec: &StoreSpec) -> CrashFigures {
    let emulator = fixture::start_emulator(100).await.unwrap();
    let instance = emulator.base_url().to_owned();
    let store = spec.open().await.unwrap();
    let client = fixture::user_client(
        &instance,
        Arc::clone(&store),
        Arc::new(SystemClock),
        None,
        fixture::manager_options(Duration::from_secs(3)),
    )
    .await
    .unwrap();
    fixture::log_in(&client).await.unwrap();
    let worker = Path::new(WORKER);
    let mut kills = 0;

    // Killed with the refresh lease held, before the token request left; then killed after the
    // instance answered the refresh but before the new token set was persisted.
    for hold in [Hold::BeforeTokenRequest, Hold::AfterTokenResponse] {
        let argument = hold_line(hold).trim_start_matches("HOLD ");
        let mut process = Worker::start(worker, &instance, spec, &["hold", argument]).unwrap();
        process.wait_for(hold_line(hold)).await.unwrap();
        process.kill().await.unwrap();
        kills += 1;
    }
    // Killed at a random moment inside each phase of a refresh, confirmed by the phase file.
    let phase_files = tempfile::tempdir().unwrap();
    let pause_ms = PHASE_PAUSE.as_millis().to_string();
    let mut landings = BTreeMap::new();
    for aim in Phase::IN_REFRESH {
        let landed_in: &mut Vec<&'static str> = landings.entry(aim.name()).or_default();
        for attempt in 0..ATTEMPTS_PER_PHASE {
            let file = phase_files.path().join(format!("{}-{attempt}", aim.name()));
            let file_argument = file.to_str().unwrap();
            let arguments = ["refresh-loop", file_argument, &pause_ms];
            let mut process = Worker::start(worker, &instance, spec, &arguments).unwrap();
            process.wait_for(&phase_line(aim)).await.unwrap();
            let delay = rand::rng().random_range(0..KILL_WITHIN);
            tokio::time::sleep(Duration::from_millis(delay)).await;
            process.kill().await.unwrap();
            kills += 1;
            let landed = landed_phase(&file).expect("the worker recorded its phase");
            landed_in.push(landed.name());
            if landed == aim {
                break;
            }
        }
    }

    // A new process: the credential refreshes and reads a row, with no new login.
    let mut check = Worker::start(worker, &instance, spec, &["check"]).unwrap();
    check.wait_for("OK").await.unwrap();
    check.finish().await.unwrap();

    let stored = store
        .load(client.token_manager().key())
        .await
        .unwrap()
        .expect("a token set is stored");
    serde_json::from_slice::<servicenow_auth::TokenSet>(stored.value.expose_secret())
        .expect("the stored token set decodes");
    let counters = emulator.counters();
    let figures = CrashFigures {
        kills,
        landings,
        refreshes_answered: counters.token_requests("refresh_token", TokenOutcome::Issued),
        logins: counters.token_requests("authorization_code", TokenOutcome::Issued),
    };
    eprintln!("crash_refresh[{}]: {figures:?}", spec.name());
    for aim in Phase::IN_REFRESH {
        assert!(
            figures.landings[aim.name()].contains(&aim.name()),
            "no kill landed in {}: {figures:?}",
            aim.name()
        );
    }
    assert_eq!(
        figures.logins, 1,
        "only the first login may exchange a code"
    );
    // The refresh answered before the second kill, and the one of the check process at least.
    assert!(figures.refreshes_answered >= 2, "{figures:?}");
    assert_eq!(
        counters.token_requests("refresh_token", TokenOutcome::Rejected),
        0,
        "a refresh was refused"
    );
    figures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_credential_survives_a_process_killed_mid_refresh() {
    let directory = tempfile::tempdir().unwrap();
    let spec = StoreSpec::Sqlite {
        directory: directory.path().join("store"),
    };
    let figures = kill_mid_refresh_then_recover(&spec).await;
    assert!(figures.kills >= 2 + Phase::IN_REFRESH.len(), "{figures:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_credential_survives_a_process_killed_mid_refresh() {
    let test = "postgres_credential_survives_a_process_killed_mid_refresh";
    let Some(url) = service_url(POSTGRES_VARIABLE, test) else {
        return;
    };
    let directory = tempfile::tempdir().unwrap();
    let schema = format!("reliability_crash_{}", std::process::id());
    let spec = StoreSpec::Postgres {
        url: url.clone(),
        schema: schema.clone(),
        key_file: directory.path().join("sealing.key"),
    };
    let figures = kill_mid_refresh_then_recover(&spec).await;
    assert!(figures.kills >= 2 + Phase::IN_REFRESH.len(), "{figures:?}");
    let backend = PostgresBackend::connect(&url, PostgresOptions::new(schema).unwrap())
        .await
        .unwrap();
    backend.drop_schema().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_credential_survives_a_process_killed_mid_refresh() {
    let test = "redis_credential_survives_a_process_killed_mid_refresh";
    let Some(url) = service_url(REDIS_VARIABLE, test) else {
        return;
    };
    let directory = tempfile::tempdir().unwrap();
    let prefix = format!("reliability-crash-{}", std::process::id());
    let spec = StoreSpec::Redis {
        url: url.clone(),
        prefix: prefix.clone(),
        key_file: directory.path().join("sealing.key"),
    };
    let figures = kill_mid_refresh_then_recover(&spec).await;
    assert!(figures.kills >= 2 + Phase::IN_REFRESH.len(), "{figures:?}");
    let backend = RedisBackend::connect(&url, RedisOptions::new(prefix).unwrap())
        .await
        .unwrap();
    backend.delete_prefix().await.unwrap();
}

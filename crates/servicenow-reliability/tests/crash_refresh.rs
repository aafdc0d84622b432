//! A process killed with SIGKILL in the middle of a refresh (SQLite, PostgreSQL, Redis): after a restart the credential works without a new login, and the store holds a readable token set.

use std::{path::Path, sync::Arc, time::Duration};

use rand::Rng as _;
use servicenow::SystemClock;
use servicenow_emulator::TokenOutcome;
use servicenow_reliability::{
    fixture,
    phases::{Hold, hold_line},
    stores::StoreSpec,
    workers::Worker,
};
use servicenow_store::{PostgresBackend, PostgresOptions, RedisBackend, RedisOptions};
use servicenow_test_services::{POSTGRES_VARIABLE, REDIS_VARIABLE, service_url};

const WORKER: &str = env!("CARGO_BIN_EXE_reliability-worker");
/// Kills at a random moment of a refresh loop, after the two kills at fixed points.
const RANDOM_KILLS: usize = 3;

/// What one store's run did, for docs/reliability.md.
#[derive(Debug)]
struct CrashFigures {
    kills: usize,
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
    // Killed at random moments of back-to-back refreshes (most of a refresh is IO to the
    // instance and the store, so that is where the kill lands).
    for _ in 0..RANDOM_KILLS {
        let mut process = Worker::start(worker, &instance, spec, &["refresh-loop"]).unwrap();
        process.wait_for("refreshed 2").await.unwrap();
        let pause = rand::rng().random_range(0..80);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        process.kill().await.unwrap();
        kills += 1;
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
        refreshes_answered: counters.token_requests("refresh_token", TokenOutcome::Issued),
        logins: counters.token_requests("authorization_code", TokenOutcome::Issued),
    };
    eprintln!("crash_refresh[{}]: {figures:?}", spec.name());
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
    assert_eq!(figures.kills, 2 + RANDOM_KILLS);
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
    assert_eq!(figures.kills, 2 + RANDOM_KILLS);
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
    assert_eq!(figures.kills, 2 + RANDOM_KILLS);
    let backend = RedisBackend::connect(&url, RedisOptions::new(prefix).unwrap())
        .await
        .unwrap();
    backend.delete_prefix().await.unwrap();
}

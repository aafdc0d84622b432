//! Four OS processes sharing one store refresh an expired token exactly once in total: SQLite file, PostgreSQL, Redis.
//!
//! Each process is the `refresh-storm-worker` binary of this crate with many concurrent callers;
//! all four are released together by a barrier file. PostgreSQL and Redis need
//! `SN_TEST_POSTGRES_URL` / `SN_TEST_REDIS_URL` (without them skipped, and listed at the end of
//! `cargo test`; a failure when `SN_REQUIRE_SERVICES=1`); each run uses its own schema or key
//! prefix and removes it.

use std::{collections::BTreeMap, path::Path, process::Stdio, sync::Arc, time::Duration};

use serde::Deserialize;
use servicenow::{
    ManagerOptions, ManualClock,
    store::{CredentialKey, KeySource, Keyring, SealedStore, TokenStore},
};
use servicenow_emulator::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URIS, TokenOutcome,
};
use servicenow_reliability::{
    fixture,
    services::{service_url, unique_name, unreachable, with_cleanup},
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};

const PROCESSES: usize = 4;
const CALLERS_PER_PROCESS: usize = 250;
/// How far to move the clocks so that a 30-minute access token is expired.
const PAST_EXPIRY: Duration = Duration::from_secs(1801);

/// What one worker process printed.
#[derive(Debug, Deserialize)]
struct WorkerReport {
    tokens: BTreeMap<String, u64>,
    errors: Vec<String>,
    token_requests: u64,
    reloaded_from_store: u64,
}

/// Where the workers find the shared store.
struct SharedStore {
    store: Arc<dyn TokenStore>,
    /// `SN_STORM_*` variables naming the same store for the workers.
    variables: Vec<(&'static str, String)>,
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Logs in with `shared`, expires the token on both sides, runs the workers together and checks
/// that exactly one token request was made in total and that every caller got the new token.
async fn four_processes_refresh_once(shared: SharedStore, key_file: &Path, scratch: &Path) {
    let instance = fixture::start_emulator(1).await.expect("emulator starts");
    let client = fixture::user_client(
        instance.base_url(),
        Arc::clone(&shared.store),
        Arc::new(ManualClock::new()),
        None,
        ManagerOptions::default(),
    )
    .await
    .expect("the client builds");
    fixture::log_in(&client).await.expect("the user logs in");
    let key = client.token_manager().key().clone();
    let logged_in = stored_token_set(&shared.store, &key).await;
    instance.clock().advance(PAST_EXPIRY);
    let before = instance.counters();

    let barrier = scratch.join("go");
    let mut workers = Vec::with_capacity(PROCESSES);
    for _ in 0..PROCESSES {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_refresh-storm-worker"));
        command
            .env("SN_STORM_INSTANCE", instance.base_url())
            .env("SN_STORM_CLIENT_ID", DEFAULT_CLIENT_ID)
            .env("SN_STORM_CLIENT_SECRET", DEFAULT_CLIENT_SECRET)
            .env("SN_STORM_REDIRECT_URI", DEFAULT_REDIRECT_URIS[0])
            .env("SN_STORM_SUBJECT", key.subject())
            .env("SN_STORM_CALLERS", CALLERS_PER_PROCESS.to_string())
            .env("SN_STORM_ADVANCE_SECS", PAST_EXPIRY.as_secs().to_string())
            .env("SN_STORM_BARRIER", &barrier)
            .env("SN_STORM_KEY_FILE", key_file)
            .envs(shared.variables.iter().map(|(name, value)| (*name, value)))
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("the worker starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines.next_line().await.expect("worker output");
        assert_eq!(ready.as_deref(), Some("ready"), "the worker set up");
        workers.push((child, lines));
    }
    std::fs::write(&barrier, b"go").expect("barrier file");

    let mut reports = Vec::with_capacity(PROCESSES);
    for (mut child, mut lines) in workers {
        let line = lines
            .next_line()
            .await
            .expect("worker output")
            .expect("a report line");
        assert!(child.wait().await.expect("worker exits").success());
        let report: WorkerReport = serde_json::from_str(&line).expect("a report");
        reports.push(report);
    }
    let after = instance.counters();

    assert_eq!(
        after.total_token_requests() - before.total_token_requests(),
        1,
        "exactly one token request across {PROCESSES} processes: {reports:?}"
    );
    assert_eq!(
        after.token_requests("refresh_token", TokenOutcome::Issued)
            - before.token_requests("refresh_token", TokenOutcome::Issued),
        1
    );
    assert_eq!(
        reports
            .iter()
            .map(|report| report.token_requests)
            .sum::<u64>(),
        1
    );
    assert_eq!(
        reports
            .iter()
            .map(|report| report.reloaded_from_store)
            .sum::<u64>(),
        (PROCESSES - 1) as u64,
        "the other processes found the new set in the store"
    );
    let stored = stored_token_set(&shared.store, &key).await;
    let new_token = stored.access_token().secret().to_owned();
    assert_ne!(new_token, logged_in.access_token().secret());
    for report in &reports {
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(
            report.tokens,
            BTreeMap::from([(sha256_hex(&new_token), CALLERS_PER_PROCESS as u64)]),
            "every caller of every process got the new token"
        );
    }
}

/// The token set stored under `key`.
async fn stored_token_set(
    store: &Arc<dyn TokenStore>,
    key: &CredentialKey,
) -> servicenow::auth::TokenSet {
    let stored = store
        .load(key)
        .await
        .expect("load")
        .expect("the set is stored");
    serde_json::from_slice(stored.value.expose_secret()).expect("a token set")
}

/// A fresh sealing key in a key file in `scratch`, for the parent and the workers.
async fn sealing_key(scratch: &Path) -> (Keyring, std::path::PathBuf) {
    let path = scratch.join("tokens.key");
    let keyring = Keyring::generate().expect("os randomness");
    KeySource::file(&path)
        .write(&keyring)
        .await
        .expect("key file");
    (keyring, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_sharing_a_sqlite_file_refresh_once() {
    let scratch = tempfile::tempdir().expect("temporary directory");
    let (keyring, key_file) = sealing_key(scratch.path()).await;
    let database = scratch.path().join("tokens.sqlite3");
    let backend = servicenow::store::SqliteBackend::open(&database)
        .await
        .expect("sqlite opens");
    let shared = SharedStore {
        store: Arc::new(SealedStore::new(keyring, backend)),
        variables: vec![
            ("SN_STORM_STORE", "sqlite".to_owned()),
            ("SN_STORM_SQLITE_PATH", database.display().to_string()),
        ],
    };
    four_processes_refresh_once(shared, &key_file, scratch.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_sharing_postgres_refresh_once() {
    let test = "four_processes_sharing_postgres_refresh_once";
    let Some(url) = service_url("SN_TEST_POSTGRES_URL", test) else {
        return;
    };
    let schema = unique_name("sn_facade_storm");
    let options = servicenow::store::PostgresOptions::new(&schema).expect("valid schema");
    let backend = match servicenow::store::PostgresBackend::connect(&url, options).await {
        Ok(backend) => backend,
        Err(error) => return unreachable(test, "PostgreSQL", &error),
    };
    let scratch = tempfile::tempdir().expect("temporary directory");
    let (keyring, key_file) = sealing_key(scratch.path()).await;
    let cleanup = backend.clone();
    let shared = SharedStore {
        store: Arc::new(SealedStore::new(keyring, backend)),
        variables: vec![
            ("SN_STORM_STORE", "postgres".to_owned()),
            ("SN_STORM_URL", url),
            ("SN_STORM_NAMESPACE", schema),
        ],
    };
    with_cleanup(
        async move { four_processes_refresh_once(shared, &key_file, scratch.path()).await },
        async move { cleanup.drop_schema().await.expect("drop the test schema") },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_sharing_redis_refresh_once() {
    let test = "four_processes_sharing_redis_refresh_once";
    let Some(url) = service_url("SN_TEST_REDIS_URL", test) else {
        return;
    };
    let prefix = unique_name("sn_facade_storm");
    let options = servicenow::store::RedisOptions::new(&prefix).expect("valid prefix");
    let backend = match servicenow::store::RedisBackend::connect(&url, options).await {
        Ok(backend) => backend,
        Err(error) => return unreachable(test, "Redis", &error),
    };
    let scratch = tempfile::tempdir().expect("temporary directory");
    let (keyring, key_file) = sealing_key(scratch.path()).await;
    let cleanup = backend.clone();
    let shared = SharedStore {
        store: Arc::new(SealedStore::new(keyring, backend)),
        variables: vec![
            ("SN_STORM_STORE", "redis".to_owned()),
            ("SN_STORM_URL", url),
            ("SN_STORM_NAMESPACE", prefix),
        ],
    };
    with_cleanup(
        async move { four_processes_refresh_once(shared, &key_file, scratch.path()).await },
        async move { cleanup.delete_prefix().await.expect("delete the test keys") },
    )
    .await;
}

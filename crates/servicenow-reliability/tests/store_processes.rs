//! Several OS processes sharing one store: the lease is exclusive across processes, no
//! increment is lost, a SIGKILLed lease holder loses the lease after its time to live, and a
//! SIGKILL in the middle of writes leaves the old or the new value.
//!
//! The processes run the `store-contender` helper binary of this crate (it lives here, in an
//! unpublished crate, so that `servicenow-store` ships no test binary).

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use servicenow_reliability::services::{service_url, unique_name, unreachable, with_cleanup};
use servicenow_store::{
    Backend, CredentialKey, FileBackend, Keyring, PostgresBackend, PostgresOptions, RedisBackend,
    RedisOptions, SealedStore, SealingKey, SqliteBackend, TokenStore,
};

const KEY_HEX: &str = "6b6579206f6620746865206d756c74692d70726f636573732073746f72652121";

/// One store shared by the test and its helper processes.
struct Shared {
    kind: &'static str,
    location: String,
    url: String,
    store: SealedStore,
    _directory: Option<tempfile::TempDir>,
}

impl Shared {
    fn command(&self, arguments: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_store-contender"));
        command
            .args([self.kind, self.location.as_str(), self.url.as_str()])
            .args(arguments)
            .env("SN_CONTENDER_KEY", KEY_HEX)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        command
    }
}

fn keyring() -> Keyring {
    let mut key = [0u8; 32];
    hex::decode_to_slice(KEY_HEX, &mut key).expect("valid hex");
    Keyring::new(SealingKey::from_bytes(1, key))
}

fn key(counter: &str) -> CredentialKey {
    CredentialKey::new("https://contended.invalid", "contender", counter).expect("a valid key")
}

async fn local(kind: &'static str) -> Shared {
    let directory = tempfile::tempdir().expect("tempdir");
    let (location, backend): (PathBuf, Arc<dyn Backend>) = match kind {
        "sqlite" => {
            let path = directory.path().join("tokens.db");
            (
                path.clone(),
                Arc::new(SqliteBackend::open(&path).await.expect("open sqlite")),
            )
        }
        _ => {
            let path = directory.path().join("tokens");
            (
                path.clone(),
                Arc::new(FileBackend::open(&path).await.expect("open directory")),
            )
        }
    };
    Shared {
        kind,
        location: location.display().to_string(),
        url: "-".to_owned(),
        store: SealedStore::from_shared(keyring(), backend),
        _directory: Some(directory),
    }
}

async fn postgres(test: &str) -> Option<(Shared, PostgresBackend)> {
    let url = service_url("SN_TEST_POSTGRES_URL", test)?;
    let schema = unique_name("sn_store_test");
    let backend =
        match PostgresBackend::connect(&url, PostgresOptions::new(&schema).expect("valid")).await {
            Ok(backend) => backend,
            Err(error) => {
                unreachable(test, "PostgreSQL", &error);
                return None;
            }
        };
    let store = SealedStore::new(keyring(), backend.clone());
    Some((
        Shared {
            kind: "postgres",
            location: schema,
            url,
            store,
            _directory: None,
        },
        backend,
    ))
}

async fn redis(test: &str) -> Option<(Shared, RedisBackend)> {
    let url = service_url("SN_TEST_REDIS_URL", test)?;
    let prefix = format!("{}:", unique_name("sn-store-test"));
    let backend =
        match RedisBackend::connect(&url, RedisOptions::new(&prefix).expect("valid")).await {
            Ok(backend) => backend,
            Err(error) => {
                unreachable(test, "Redis", &error);
                return None;
            }
        };
    let store = SealedStore::new(keyring(), backend.clone());
    Some((
        Shared {
            kind: "redis",
            location: prefix,
            url,
            store,
            _directory: None,
        },
        backend,
    ))
}

/// Waits for `child` to exit, at most ten minutes; kills it and fails otherwise.
fn wait_bounded(child: &mut Child, what: &str) -> std::process::ExitStatus {
    for _ in 0..6000 {
        if let Some(status) = child.try_wait().expect("poll child") {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("{what} did not finish within ten minutes");
}

fn unix_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis())
        .unwrap_or(0)
}

/// 4 processes × 8 rounds: the lease log never shows two holders, both counters reach 32.
async fn processes_share_the_lease_and_lose_no_increment(shared: &Shared) {
    const PROCESSES: usize = 4;
    const ROUNDS: usize = 8;
    let log_directory = tempfile::tempdir().expect("tempdir");
    let log = log_directory.path().join("holders.log");
    let log_path = log.display().to_string();
    let mut children: Vec<Child> = (0..PROCESSES)
        .map(|_| {
            shared
                .command(&["count", &ROUNDS.to_string(), &log_path])
                .spawn()
                .expect("spawn contender")
        })
        .collect();
    for child in &mut children {
        let status = tokio::task::block_in_place(|| wait_bounded(child, "a contender"));
        assert!(status.success(), "a contender failed: {status}");
    }
    let text = std::fs::read_to_string(&log).expect("read holder log");
    let mut holder: Option<&str> = None;
    let mut entries = 0;
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("enter", pid)) => {
                assert!(
                    holder.is_none(),
                    "process {pid} took the lease while {holder:?} held it"
                );
                holder = Some(pid);
                entries += 1;
            }
            Some(("exit", pid)) => {
                assert_eq!(
                    holder,
                    Some(pid),
                    "an exit by a process that did not hold the lease"
                );
                holder = None;
            }
            _ => panic!("malformed holder log line {line:?}"),
        }
    }
    assert!(holder.is_none(), "the log ends inside a lease");
    assert_eq!(
        entries,
        PROCESSES * ROUNDS,
        "every round held the lease once"
    );
    for counter in ["leased", "free"] {
        let stored = shared
            .store
            .load(&key(counter))
            .await
            .expect("load")
            .expect("counter stored");
        let expected = (PROCESSES * ROUNDS).to_string();
        assert_eq!(
            stored.value.expose_secret(),
            expected.as_bytes(),
            "the {counter} counter lost an increment"
        );
    }
}

/// A holder killed with SIGKILL keeps nobody out for longer than its time to live, and nobody
/// gets the lease before that time has passed.
async fn a_killed_holder_loses_the_lease_after_its_ttl(shared: &Shared) {
    const TTL_MS: u128 = 1500;
    let mut holder = shared
        .command(&["hold", &TTL_MS.to_string()])
        .spawn()
        .expect("spawn holder");
    let stdout = holder.stdout.take().expect("piped stdout");
    let line = tokio::task::block_in_place(|| {
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read holder output");
        line
    });
    let requested_at: u128 = line
        .strip_prefix("held ")
        .and_then(|ms| ms.trim().parse().ok())
        .unwrap_or_else(|| {
            let _ = holder.kill();
            panic!("the holder did not report holding the lease: {line:?}")
        });
    holder.kill().expect("SIGKILL the holder");
    holder.wait().expect("reap the holder");
    let held = key("held");
    if let Some(early) = shared
        .store
        .try_acquire_lease(&held, Duration::from_secs(60))
        .await
        .expect("try")
    {
        assert!(
            unix_millis() + 20 >= requested_at + TTL_MS,
            "the lease was free before the dead holder's TTL"
        );
        shared.store.release_lease(early).await.expect("release");
        return;
    }
    let lease = shared
        .store
        .acquire_lease(&held, Duration::from_secs(60), Duration::from_secs(120))
        .await
        .expect("the dead holder's lease expires");
    let acquired_at = unix_millis();
    assert!(
        acquired_at + 20 >= requested_at + TTL_MS,
        "taken at {acquired_at}, before the dead holder's lease ({requested_at} + {TTL_MS} ms) ended"
    );
    shared.store.release_lease(lease).await.expect("release");
}

/// The value the helper writes for `count` (its format, restated here as the test's oracle).
fn written_value(count: u64, bytes: usize) -> Vec<u8> {
    let mut value = format!("count:{count}:").into_bytes();
    let digit = b'a' + u8::try_from(count % 26).expect("below 26");
    value.resize(value.len() + bytes, digit);
    value
}

/// Kills a process that rewrites a 256 KiB value in a loop, three times at different points:
/// each time the store opens and holds a whole value, the last reported one or the next.
async fn a_kill_during_writes_leaves_the_old_or_the_new_value(shared: &Shared) {
    const BYTES: usize = 256 * 1024;
    for writes_before_kill in [2, 7, 19] {
        let mut writer = shared
            .command(&["write-loop", &BYTES.to_string()])
            .spawn()
            .expect("spawn writer");
        let stdout = writer.stdout.take().expect("piped stdout");
        let last_reported = tokio::task::block_in_place(|| {
            let mut lines = BufReader::new(stdout).lines();
            let mut reported = Vec::new();
            while reported.len() < writes_before_kill {
                match lines.next() {
                    Some(Ok(line)) => reported.push(line),
                    other => panic!("the writer stopped reporting: {other:?}"),
                }
            }
            writer.kill().expect("SIGKILL the writer");
            writer.wait().expect("reap the writer");
            let last = reported.last().expect("at least one write");
            last.strip_prefix("wrote ")
                .and_then(|count| count.parse::<u64>().ok())
                .expect("a count")
        });
        let stored = shared
            .store
            .load(&key("written"))
            .await
            .expect("the store opens after a kill")
            .expect("stored");
        let value = stored.value.expose_secret();
        let count = (last_reported..=last_reported + 1)
            .find(|count| value == written_value(*count, BYTES).as_slice())
            .unwrap_or_else(|| {
                panic!("after a kill at write {last_reported} the value is neither it nor the next")
            });
        eprintln!("killed after write {last_reported}: the store holds write {count}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_processes_share_the_lease_and_lose_no_increment() {
    processes_share_the_lease_and_lose_no_increment(&local("sqlite").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_processes_share_the_lease_and_lose_no_increment() {
    processes_share_the_lease_and_lose_no_increment(&local("file").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_killed_lease_holder_is_replaced_after_its_ttl() {
    a_killed_holder_loses_the_lease_after_its_ttl(&local("sqlite").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_killed_lease_holder_is_replaced_after_its_ttl() {
    a_killed_holder_loses_the_lease_after_its_ttl(&local("file").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_kill_during_writes_leaves_the_old_or_the_new_value() {
    a_kill_during_writes_leaves_the_old_or_the_new_value(&local("sqlite").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_kill_during_writes_leaves_the_old_or_the_new_value() {
    a_kill_during_writes_leaves_the_old_or_the_new_value(&local("file").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_processes_share_the_lease_and_lose_no_increment() {
    let Some((shared, backend)) =
        postgres("postgres_processes_share_the_lease_and_lose_no_increment").await
    else {
        return;
    };
    let shared = Arc::new(shared);
    let test = shared.clone();
    with_cleanup(
        async move { processes_share_the_lease_and_lose_no_increment(&test).await },
        async move {
            backend.drop_schema().await.expect("drop schema");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_lease_holder_is_replaced_after_its_ttl() {
    let Some((shared, backend)) =
        postgres("postgres_killed_lease_holder_is_replaced_after_its_ttl").await
    else {
        return;
    };
    let shared = Arc::new(shared);
    let test = shared.clone();
    with_cleanup(
        async move { a_killed_holder_loses_the_lease_after_its_ttl(&test).await },
        async move {
            backend.drop_schema().await.expect("drop schema");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_processes_share_the_lease_and_lose_no_increment() {
    let Some((shared, backend)) =
        redis("redis_processes_share_the_lease_and_lose_no_increment").await
    else {
        return;
    };
    let shared = Arc::new(shared);
    let test = shared.clone();
    with_cleanup(
        async move { processes_share_the_lease_and_lose_no_increment(&test).await },
        async move {
            backend.delete_prefix().await.expect("delete keys");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_lease_holder_is_replaced_after_its_ttl() {
    let Some((shared, backend)) =
        redis("redis_killed_lease_holder_is_replaced_after_its_ttl").await
    else {
        return;
    };
    let shared = Arc::new(shared);
    let test = shared.clone();
    with_cleanup(
        async move { a_killed_holder_loses_the_lease_after_its_ttl(&test).await },
        async move {
            backend.delete_prefix().await.expect("delete keys");
        },
    )
    .await;
}

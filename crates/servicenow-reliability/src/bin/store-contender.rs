//! `store-contender`: a test helper process that contends for one shared store (`tests/store_processes.rs`).
//!
//! Usage: `store-contender <kind> <location> <url|-> <command> [arguments]`, the sealing key as
//! 64 hex digits in `SN_CONTENDER_KEY`.
//! - kinds: `sqlite <file>`, `file <directory>`, `postgres <schema> <url>`, `redis <prefix> <url>`;
//! - `count <rounds> <log>`: each round takes the refresh lease, appends `enter <pid>` to the log,
//!   increments the `leased` counter, appends `exit <pid>`, releases; and increments the `free`
//!   counter by compare-and-swap alone;
//! - `hold <ttl-ms>`: prints `held <unix-ms before asking>` once it holds the lease, then sleeps
//!   until killed;
//! - `write-loop <bytes>`: rewrites the `written` value forever, each a `count:<n>:` header and a
//!   filler derived from `n`, printing `wrote <n>` after each save, until killed.

#![allow(clippy::print_stdout)] // A helper process: stdout is how it reports to the test.

use std::{
    error::Error,
    io::Write,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use servicenow_store::{
    Backend, CredentialKey, FileBackend, Keyring, PostgresBackend, PostgresOptions, RedisBackend,
    RedisOptions, SealedStore, SealingKey, SecretBytes, SqliteBackend, StoreError, TokenStore,
    conformance::values::increment,
};

type Outcome = Result<(), Box<dyn Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Outcome {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [kind, location, url, command, rest @ ..] = arguments.as_slice() else {
        return Err(
            "usage: store-contender <kind> <location> <url|-> <command> [arguments]".into(),
        );
    };
    let store = open_store(kind, location, url).await?;
    match (command.as_str(), rest) {
        ("count", [rounds, log]) => count(&store, rounds.parse()?, log).await,
        ("hold", [ttl]) => hold(&store, Duration::from_millis(ttl.parse()?)).await,
        ("write-loop", [bytes]) => write_loop(&store, bytes.parse()?).await,
        _ => Err(format!("unknown command {command} {rest:?}").into()),
    }
}

/// The credential key every contender uses; `counter` names the value.
pub fn key(counter: &str) -> CredentialKey {
    CredentialKey::new("https://contended.invalid", "contender", counter).expect("a valid key")
}

async fn open_store(
    kind: &str,
    location: &str,
    url: &str,
) -> Result<SealedStore, Box<dyn Error + Send + Sync>> {
    let key_hex = std::env::var("SN_CONTENDER_KEY")?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(key_hex.trim(), &mut key)?;
    let keyring = Keyring::new(SealingKey::from_bytes(1, key));
    let backend: Arc<dyn Backend> = match kind {
        "sqlite" => Arc::new(SqliteBackend::open(location).await?),
        "file" => Arc::new(FileBackend::open(location).await?),
        "postgres" => {
            Arc::new(PostgresBackend::connect(url, PostgresOptions::new(location)?).await?)
        }
        "redis" => Arc::new(RedisBackend::connect(url, RedisOptions::new(location)?).await?),
        other => return Err(format!("unknown backend kind {other}").into()),
    };
    Ok(SealedStore::from_shared(keyring, backend))
}

async fn count(store: &SealedStore, rounds: u32, log: &str) -> Outcome {
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)?;
    let pid = std::process::id();
    let (leased, free) = (key("leased"), key("free"));
    for _ in 0..rounds {
        let lease = store
            .acquire_lease(&leased, Duration::from_secs(60), Duration::from_secs(600))
            .await?;
        // One write call per line: O_APPEND makes each line land whole and in order.
        log.write_all(format!("enter {pid}\n").as_bytes())?;
        increment(store, &leased).await?;
        log.write_all(format!("exit {pid}\n").as_bytes())?;
        store.release_lease(lease).await?;
        increment(store, &free).await?;
    }
    Ok(())
}

async fn hold(store: &SealedStore, ttl: Duration) -> Outcome {
    let before = unix_millis();
    let Some(_lease) = store.try_acquire_lease(&key("held"), ttl).await? else {
        return Err("the lease was already held".into());
    };
    println!("held {before}");
    std::io::stdout().flush()?;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    Ok(())
}

/// The value written for `count`: a header and a filler of `bytes` bytes derived from `count`,
/// so a reader can tell a whole value from a torn one.
pub fn written_value(count: u64, bytes: usize) -> Vec<u8> {
    let mut value = format!("count:{count}:").into_bytes();
    let digit = b'a' + u8::try_from(count % 26).unwrap_or(0);
    value.resize(value.len() + bytes, digit);
    value
}

async fn write_loop(store: &SealedStore, bytes: usize) -> Outcome {
    let written = key("written");
    let mut current = store.load(&written).await?;
    loop {
        let (count, expected) = match &current {
            Some(stored) => (
                parse_count(stored.value.expose_secret())?,
                Some(stored.version),
            ),
            None => (0, None),
        };
        let next = count + 1;
        match store
            .save(
                &written,
                SecretBytes::new(written_value(next, bytes)),
                expected,
            )
            .await
        {
            Ok(version) => {
                println!("wrote {next}");
                std::io::stdout().flush()?;
                current = Some(servicenow_store::Versioned {
                    version,
                    value: SecretBytes::new(written_value(next, bytes)),
                });
            }
            Err(StoreError::Conflict { current: now }) => current = now,
            Err(error) => return Err(error.into()),
        }
    }
}

fn parse_count(value: &[u8]) -> Result<u64, Box<dyn Error + Send + Sync>> {
    let text = std::str::from_utf8(value.get(..value.len().min(32)).unwrap_or(value)).unwrap_or("");
    let count = text
        .strip_prefix("count:")
        .and_then(|rest| rest.split(':').next())
        .ok_or("not a written value")?;
    Ok(count.parse()?)
}

fn unix_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis())
        .unwrap_or(0)
}

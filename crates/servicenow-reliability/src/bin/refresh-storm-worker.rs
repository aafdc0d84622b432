//! Test-only worker of the facade's multi-process test: one process of a refresh storm on a shared token store.
//!
//! `tests/refresh_storm_processes.rs` starts four of these against one emulator and one store (SQLite file,
//! PostgreSQL schema or Redis key prefix), configured through `SN_STORM_*` variables. Each opens
//! the store, prints `ready`, waits for the barrier file, makes many concurrent `bearer()` calls
//! and prints one JSON line: the SHA-256 of each distinct token it was given with how many
//! callers got it, the errors, and its manager's counters. It never prints a token.
#![allow(clippy::print_stdout)] // Its one line of output is its result.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
    time::Duration,
};

use servicenow::{
    Clock, ManagerOptions, ManualClock, TokenManager,
    auth::{AuthConfig, AuthMachine},
    oauth::{ClientId, ClientSecret, InstanceUrl, OAuthClient, RedirectUri},
    store::{CredentialKey, KeySource, TokenStore},
};
use sha2::{Digest, Sha256};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("refresh-storm-worker: building the runtime failed: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("refresh-storm-worker: {error}");
            ExitCode::FAILURE
        }
    }
}

fn setting(name: &str) -> Result<String, BoxError> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

async fn run() -> Result<(), BoxError> {
    let instance = InstanceUrl::new(&setting("SN_STORM_INSTANCE")?)?;
    let client_id = setting("SN_STORM_CLIENT_ID")?;
    let config = AuthConfig::authorization_code(
        instance.clone(),
        OAuthClient::confidential(
            ClientId::new(client_id.as_str())?,
            ClientSecret::new(setting("SN_STORM_CLIENT_SECRET")?)?,
        ),
        RedirectUri::new(setting("SN_STORM_REDIRECT_URI")?)?,
    );
    let subject = setting("SN_STORM_SUBJECT")?;
    let callers: usize = setting("SN_STORM_CALLERS")?.parse()?;
    let advance = Duration::from_secs(setting("SN_STORM_ADVANCE_SECS")?.parse()?);
    let barrier = PathBuf::from(setting("SN_STORM_BARRIER")?);

    let store = open_store().await?;
    let clock = ManualClock::new();
    clock.advance(advance);
    let mut seed = [0_u8; 32];
    getrandom::fill(&mut seed)?;
    let manager = TokenManager::new(
        CredentialKey::new(instance.origin(), &client_id, &subject)?,
        AuthMachine::new(config, clock.now(), seed),
        store,
        servicenow::default_transport()?,
        Arc::new(clock),
        ManagerOptions::default(),
    );

    println!("ready");
    wait_for(&barrier).await?;
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let manager = manager.clone();
            tokio::spawn(async move { manager.bearer().await })
        })
        .collect();
    let mut tokens: BTreeMap<String, u64> = BTreeMap::new();
    let mut errors: Vec<String> = Vec::new();
    for task in tasks {
        match task.await? {
            Ok(bearer) => {
                let digest = Sha256::digest(bearer.token().secret().as_bytes());
                let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
                *tokens.entry(hex).or_default() += 1;
            }
            Err(error) => errors.push(error.to_string()),
        }
    }
    let stats = manager.stats();
    let report = serde_json::json!({
        "tokens": tokens,
        "errors": errors,
        "token_requests": stats.token_requests,
        "reloaded_from_store": stats.reloaded_from_store,
        "persist_failures": stats.persist_failures,
    });
    println!("{report}");
    Ok(())
}

/// Waits (bounded: two minutes) until the test creates the barrier file.
async fn wait_for(barrier: &Path) -> Result<(), BoxError> {
    for _ in 0..12_000 {
        if barrier.exists() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(format!("the barrier file {} never appeared", barrier.display()).into())
}

/// The shared store named by `SN_STORM_STORE`, sealed with the key in `SN_STORM_KEY_FILE`.
async fn open_store() -> Result<Arc<dyn TokenStore>, BoxError> {
    let keyring = KeySource::file(setting("SN_STORM_KEY_FILE")?)
        .read()
        .await?
        .ok_or("SN_STORM_KEY_FILE names no key file")?;
    let kind = setting("SN_STORM_STORE")?;
    match kind.as_str() {
        "sqlite" => {
            let backend =
                servicenow::store::SqliteBackend::open(setting("SN_STORM_SQLITE_PATH")?).await?;
            Ok(Arc::new(servicenow::store::SealedStore::new(
                keyring, backend,
            )))
        }
        "postgres" => {
            let options = servicenow::store::PostgresOptions::new(setting("SN_STORM_NAMESPACE")?)?;
            let backend =
                servicenow::store::PostgresBackend::connect(&setting("SN_STORM_URL")?, options)
                    .await?;
            Ok(Arc::new(servicenow::store::SealedStore::new(
                keyring, backend,
            )))
        }
        "redis" => {
            let options = servicenow::store::RedisOptions::new(setting("SN_STORM_NAMESPACE")?)?;
            let backend =
                servicenow::store::RedisBackend::connect(&setting("SN_STORM_URL")?, options)
                    .await?;
            Ok(Arc::new(servicenow::store::SealedStore::new(
                keyring, backend,
            )))
        }
        _ => Err(format!("SN_STORM_STORE names an unknown store kind, {kind}").into()),
    }
}

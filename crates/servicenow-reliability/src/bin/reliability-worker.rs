//! The child process of the crash and storm tests: refreshes a stored credential, stops where told, and reports on stdout.
//!
//! `reliability-worker MODE`, with the instance in `SN_WORKER_INSTANCE` and the store in
//! `SN_WORKER_STORE` (a `StoreSpec` line). Modes:
//! - `hold before-token-request|after-token-response`: expire the token, refresh, and stop at
//!   that point of the refresh (printing `HOLD …`) until killed;
//! - `refresh-loop [PHASE_FILE PAUSE_MS]`: refresh over and over (printing `refreshed N`) until
//!   killed, printing `PHASE …` on entering each phase of a refresh and writing it to
//!   `PHASE_FILE`, where the test reads where its kill landed; each phase inside a refresh
//!   lasts at least `PAUSE_MS`;
//! - `check`: read the stored token set (it must decode), refresh, and read one row with the
//!   new token: prints `OK` when the credential works without a new login;
//! - `storm N`: wait for `go` on stdin, expire the token, then N concurrent callers each get a
//!   token and read one row with it; prints `OK callers=N token_requests=T refused=F`, where F
//!   counts the requests that failed at the transport (while the instance was down), whoever
//!   retried them.
#![allow(clippy::print_stdout)] // This binary reports to its parent on stdout.

use std::{sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use servicenow::{Client, Clock as _, ManualClock, table::Record};
use servicenow_auth::TokenSet;
use servicenow_reliability::{
    fixture,
    phase_store::PhaseStore,
    phases::{self, Hold, Phase, PhaseLog, PhaseTransport},
    stores::StoreSpec,
};
use servicenow_store::TokenStore;
use tokio::io::AsyncBufReadExt as _;

/// Refresh-loop iterations at most (each moves the clock 31 minutes: well inside the refresh
/// token's 100 days however many times the process is restarted).
const MAX_LOOP_REFRESHES: u32 = 200;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let instance = std::env::var("SN_WORKER_INSTANCE").context("SN_WORKER_INSTANCE")?;
    let spec = StoreSpec::decode(&std::env::var("SN_WORKER_STORE").context("SN_WORKER_STORE")?)?;
    let clock = ManualClock::new();
    let hold = match arguments.as_slice() {
        [mode, hold] if mode == "hold" => Hold::parse(hold).context("hold: unknown point")?,
        _ => Hold::Never,
    };
    let log = match arguments.as_slice() {
        [mode, file, pause] if mode == "refresh-loop" => PhaseLog::new(
            Some(file.into()),
            Duration::from_millis(pause.parse().context("refresh-loop: PAUSE_MS")?),
        ),
        _ => PhaseLog::default(),
    };
    let store: Arc<dyn TokenStore> = Arc::new(PhaseStore::new(spec.open().await?, log.clone()));
    let phase_transport = Arc::new(PhaseTransport::new(
        servicenow::default_transport()?,
        hold,
        log.clone(),
    ));
    let transport: Arc<dyn servicenow_http::HttpTransport> = phase_transport.clone();
    let client = fixture::user_client(
        &instance,
        Arc::clone(&store),
        Arc::new(clock.clone()),
        Some(transport),
        fixture::manager_options(Duration::from_secs(3)),
    )
    .await?;
    match arguments.first().map(String::as_str) {
        Some("hold") => {
            expire_stored_token(&client, store.as_ref(), &clock).await?;
            let outcome = client.token_manager().bearer().await;
            bail!(
                "hold: the refresh finished without stopping ({:?})",
                outcome.map(|_| ())
            )
        }
        Some("refresh-loop") => refresh_loop(&client, store.as_ref(), &clock, &log).await,
        Some("check") => check(&client, store.as_ref(), &clock).await,
        Some("storm") => {
            let callers = arguments.get(1).and_then(|n| n.parse().ok()).unwrap_or(250);
            storm(client, store.as_ref(), &clock, callers, &phase_transport).await
        }
        other => bail!("unknown mode {other:?}"),
    }
}

/// The stored token set, decoded as the manager decodes it.
async fn stored_token_set(client: &Client, store: &dyn TokenStore) -> anyhow::Result<TokenSet> {
    let stored = store
        .load(client.token_manager().key())
        .await?
        .context("no token set stored: the credential was lost")?;
    serde_json::from_slice(stored.value.expose_secret()).context("the stored token set is corrupt")
}

/// Moves this process's clock past the stored access token's expiry, so the next `bearer()`
/// must refresh.
async fn expire_stored_token(
    client: &Client,
    store: &dyn TokenStore,
    clock: &ManualClock,
) -> anyhow::Result<()> {
    let token_set = stored_token_set(client, store).await?;
    let expires_at = token_set.access_token_expires_at();
    let now = clock.now();
    clock.advance(expires_at.saturating_duration_since(now) + Duration::from_secs(1));
    Ok(())
}

async fn read_one_row(client: &Client) -> anyhow::Result<()> {
    let incidents = client.table::<Record>("incident")?;
    incidents
        .first(None)
        .await?
        .context("the instance returned no incident")?;
    Ok(())
}

async fn refresh_loop(
    client: &Client,
    store: &dyn TokenStore,
    clock: &ManualClock,
    log: &PhaseLog,
) -> anyhow::Result<()> {
    expire_stored_token(client, store, clock).await?;
    for iteration in 1..=MAX_LOOP_REFRESHES {
        client.token_manager().bearer().await?;
        log.enter(Phase::BetweenRefreshes).await;
        phases::announce(&format!("refreshed {iteration}"));
        clock.advance(Duration::from_secs(31 * 60));
    }
    Ok(())
}

async fn check(client: &Client, store: &dyn TokenStore, clock: &ManualClock) -> anyhow::Result<()> {
    expire_stored_token(client, store, clock).await?;
    client
        .token_manager()
        .bearer()
        .await
        .context("refreshing after the crash")?;
    read_one_row(client)
        .await
        .context("reading with the refreshed token")?;
    let stats = client.token_manager().stats();
    stored_token_set(client, store).await?;
    phases::announce(&format!("OK token_requests={}", stats.token_requests));
    Ok(())
}

async fn storm(
    client: Client,
    store: &dyn TokenStore,
    clock: &ManualClock,
    callers: usize,
    transport: &PhaseTransport,
) -> anyhow::Result<()> {
    phases::announce("READY");
    let mut line = String::new();
    tokio::io::BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await?;
    anyhow::ensure!(line.trim() == "go", "storm: expected `go`, got {line:?}");
    expire_stored_token(&client, store, clock).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..callers {
        let client = client.clone();
        tasks.spawn(async move { caller(&client).await });
    }
    let mut failures = Vec::new();
    while let Some(outcome) = tasks.join_next().await {
        match outcome {
            Ok(Ok(())) => (),
            Ok(Err(error)) => failures.push(format!("{error:#}")),
            Err(error) => failures.push(format!("caller task failed: {error}")),
        }
    }
    if let Some(first) = failures.first() {
        bail!(
            "storm: {} of {callers} callers have no valid token; first: {first}",
            failures.len()
        );
    }
    let stats = client.token_manager().stats();
    phases::announce(&format!(
        "OK callers={callers} token_requests={} refused={}",
        stats.token_requests,
        transport.failed_sends()
    ));
    Ok(())
}

/// One caller: a token, then one row read with it. While the instance is down, both are
/// retried (bounded: 120 attempts, 250 ms apart).
async fn caller(client: &Client) -> anyhow::Result<()> {
    let mut last_error = None;
    for _ in 0..120 {
        let attempt = async {
            client.token_manager().bearer().await?;
            read_one_row(client).await
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(error) => last_error = Some(error),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no attempt made")))
}

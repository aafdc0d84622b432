//! Auth overhead (GETs through `AuthorizedTransport` vs the raw transport with a fixed header) and the token storm (1,000 callers on an expired token vs each caller refreshing).

use std::{sync::Arc, time::Instant};

use anyhow::Context as _;
use bytes::Bytes;
use servicenow::{Client, ManualClock, http::HttpTransport};

/// Requests per second of `requests` one-row GETs through `transport`, adding `header` when given.
pub(crate) async fn gets(
    transport: &dyn HttpTransport,
    base: &str,
    header: Option<&http::HeaderValue>,
    requests: usize,
) -> anyhow::Result<f64> {
    let uri = format!("{base}/api/now/table/incident?sysparm_limit=1");
    let started = Instant::now();
    for _ in 0..requests {
        let mut request = http::Request::get(&uri).header("accept", "application/json");
        if let Some(header) = header {
            request = request.header("authorization", header.clone());
        }
        let response = transport.send(request.body(Bytes::new())?).await?;
        anyhow::ensure!(
            response.status() == 200,
            "GET answered {}",
            response.status()
        );
    }
    Ok(crate::measure::per_second(requests, started))
}

/// What one storm measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StormRun {
    pub(crate) seconds: f64,
    pub(crate) token_requests: u64,
}

/// `callers` concurrent `bearer()` calls on an expired token; the time until all hold the new
/// one, and the token requests the emulator saw.
pub(crate) async fn storm_ours(
    client: &Client,
    clock: &ManualClock,
    emulator: &servicenow_emulator::EmulatorHandle,
    callers: usize,
) -> anyhow::Result<StormRun> {
    client.token_manager().bearer().await?;
    clock.advance(std::time::Duration::from_secs(31 * 60));
    emulator.reset_counters();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..callers {
        let manager = client.token_manager().clone();
        tasks.spawn(async move { manager.bearer().await.map(drop) });
    }
    while let Some(outcome) = tasks.join_next().await {
        outcome.context("a caller task failed")??;
    }
    Ok(StormRun {
        seconds: started.elapsed().as_secs_f64(),
        token_requests: emulator.counters().total_token_requests(),
    })
}

/// The naive baseline: every caller sends its own client-credentials request, lock-free.
pub(crate) async fn storm_naive(
    http: &reqwest::Client,
    emulator: &servicenow_emulator::EmulatorHandle,
    callers: usize,
) -> anyhow::Result<StormRun> {
    emulator.reset_counters();
    let url = emulator.url("/oauth_token.do");
    let http = Arc::new(http.clone());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..callers {
        let http = Arc::clone(&http);
        let url = url.clone();
        tasks.spawn(async move {
            let body = format!(
                "grant_type=client_credentials&client_id={}&client_secret={}",
                servicenow_emulator::DEFAULT_CLIENT_ID,
                servicenow_emulator::DEFAULT_CLIENT_SECRET
            );
            let response = http
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await?
                .error_for_status()?;
            let token: serde_json::Value = serde_json::from_slice(&response.bytes().await?)?;
            anyhow::ensure!(token["access_token"].is_string(), "no access token");
            Ok(())
        });
    }
    while let Some(outcome) = tasks.join_next().await {
        outcome.context("a caller task failed")??;
    }
    Ok(StormRun {
        seconds: started.elapsed().as_secs_f64(),
        token_requests: emulator.counters().total_token_requests(),
    })
}

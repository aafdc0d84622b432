//! Auth overhead (GETs through `AuthorizedTransport` vs the raw transport with a fixed header) and the token storm (1,000 callers on an expired token vs each caller refreshing).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use bytes::Bytes;
use servicenow::{
    Client, ClientTransport, ManualClock,
    transport::{HttpTransport, RequestSender as _},
};

/// One side of the auth comparison.
pub(crate) enum Side<'a> {
    /// A raw transport, with a fixed `Authorization` header added to each request.
    Raw {
        transport: &'a dyn HttpTransport,
        header: &'a http::HeaderValue,
    },
    /// The client's authorizing transport, which adds its own.
    Authorized(&'a ClientTransport),
}

/// `pairs` one-row GETs through each side, alternating request by request (A B, then B A, so
/// neither side always goes first); each side's requests per second over its own time.
///
/// A one-row GET takes about 100 µs on loopback, so alternating blocks of requests would
/// compare the machine's moments as much as the transports; alternating single requests puts
/// both sides in the same moments.
pub(crate) async fn gets_paired(
    a: &Side<'_>,
    b: &Side<'_>,
    base: &str,
    pairs: usize,
) -> anyhow::Result<(f64, f64)> {
    let uri = format!("{base}/api/now/table/incident?sysparm_limit=1");
    let (mut a_time, mut b_time) = (Duration::ZERO, Duration::ZERO);
    for pair in 0..pairs {
        if pair % 2 == 0 {
            a_time += timed_get(a, &uri).await?;
            b_time += timed_get(b, &uri).await?;
        } else {
            b_time += timed_get(b, &uri).await?;
            a_time += timed_get(a, &uri).await?;
        }
    }
    let rate = |time: Duration| pairs as f64 / time.as_secs_f64();
    Ok((rate(a_time), rate(b_time)))
}

async fn timed_get(side: &Side<'_>, uri: &str) -> anyhow::Result<Duration> {
    let mut request = http::Request::get(uri).header("accept", "application/json");
    if let Side::Raw { header, .. } = side {
        request = request.header("authorization", (*header).clone());
    }
    let request = request.body(Bytes::new())?;
    let started = Instant::now();
    let response = match side {
        Side::Raw { transport, .. } => transport.send(request).await?,
        Side::Authorized(transport) => transport.send_request(request).await?,
    };
    let elapsed = started.elapsed();
    anyhow::ensure!(
        response.status() == 200,
        "GET answered {}",
        response.status()
    );
    Ok(elapsed)
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
    clock.advance(Duration::from_secs(31 * 60));
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

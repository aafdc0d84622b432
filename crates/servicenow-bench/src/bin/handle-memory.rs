//! What an idle user handle costs: heap bytes and tokio tasks per handle for 10,000 users of one `Servicenow`, counted by an instrumented allocator (a process of its own, so the count sees nothing else).
//!
//! Prints one JSON object: the handle count, the bytes per handle right after `user()` (no
//! token asked for yet), the bytes per handle once each has its token (restored from the store
//! and published for the hot path), and the tasks alive per idle handle.

#![allow(
    clippy::print_stdout,
    reason = "the measurement's output is its stdout"
)]

use std::{alloc::System, sync::Arc, time::Duration};

use async_trait::async_trait;
use bytes::Bytes;
use servicenow::{
    Servicenow, SystemClock,
    auth::{RefreshTokenRecord, TokenSet},
    oauth::{
        AccessToken, ClientId, ClientSecret, InstanceUrl, OAuthClient, RedirectUri, RefreshToken,
    },
    store::SecretBytes,
    transport::{HttpTransport, TransportError},
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// A transport that must never be used: every token is valid and restored from the store.
#[derive(Debug)]
struct NoNetwork;

#[async_trait]
impl HttpTransport for NoNetwork {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        Err(TransportError::InvalidRequest {
            reason: format!("no request is expected here, got {}", request.uri().path()),
        })
    }
}

fn net_bytes(region: &Region<'_, System>) -> i64 {
    let change = region.change();
    let allocated = i64::try_from(change.bytes_allocated).unwrap_or(i64::MAX);
    let deallocated = i64::try_from(change.bytes_deallocated).unwrap_or(i64::MAX);
    let reallocated = i64::try_from(change.bytes_reallocated).unwrap_or(0);
    allocated - deallocated + reallocated
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let users: usize = std::env::args()
        .nth(1)
        .map_or(Ok(10_000), |text| text.parse())?;
    let store = servicenow::stores::open_memory()?;
    let servicenow = Servicenow::builder(
        InstanceUrl::new("https://dev1.service-now.com")?,
        OAuthClient::confidential(ClientId::new("client-id")?, ClientSecret::new("secret")?),
    )
    .redirect_uri(RedirectUri::new("https://app.example.com/callback")?)
    .store(Arc::clone(&store))
    .transport(Arc::new(NoNetwork))
    .build()
    .await?;
    let login = servicenow.login()?;
    let now = servicenow::Clock::now(&SystemClock);
    let subjects: Vec<String> = (0..users).map(|user| format!("user-{user:05}")).collect();
    for (index, subject) in subjects.iter().enumerate() {
        let token_set = TokenSet::new(
            AccessToken::new(format!("access-token-of-user-{index:05}-0123456789abcdef"))?,
            now,
            now.saturating_add(Duration::from_secs(1800)),
            Some(RefreshTokenRecord::new(
                RefreshToken::new(format!("refresh-token-of-user-{index:05}-0123456789"))?,
                now,
                None,
            )),
            None,
        );
        let key = login.credential_key(subject)?;
        store
            .save(
                &key,
                SecretBytes::new(serde_json::to_vec(&token_set)?),
                None,
            )
            .await?;
    }
    let runtime = tokio::runtime::Handle::current();
    let tasks_before = runtime.metrics().num_alive_tasks();

    let region = Region::new(GLOBAL);
    let mut handles = Vec::with_capacity(users);
    let vector = net_bytes(&region);
    for subject in &subjects {
        handles.push(servicenow.user(subject)?);
    }
    let fresh = net_bytes(&region) - vector;

    for handle in &handles {
        handle.token_manager().bearer().await?;
    }
    // Let every refresh task end (they finished before `bearer` returned; this lets the runtime
    // reap them).
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let with_token = net_bytes(&region) - vector;
    let tasks_after = runtime.metrics().num_alive_tasks();
    drop(handles);

    let per = |bytes: i64| bytes as f64 / users as f64;
    println!(
        "{{\"handles\":{users},\"bytes_per_handle_fresh\":{:.0},\"bytes_per_handle_with_token\":{:.0},\"tasks_per_idle_handle\":{}}}",
        per(fresh),
        per(with_token),
        (tasks_after as f64 - tasks_before as f64) / users as f64
    );
    Ok(())
}

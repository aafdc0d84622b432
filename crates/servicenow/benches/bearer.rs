//! The `bearer()` hot path against a plain atomic `Arc` load, and a request through `AuthorizedTransport` against the same request with a fixed header, side by side in one run.
//!
//! The baseline is the least any lock-free token cache can do: `ArcSwap::load_full` of an `Arc`.
//! `bearer()` on a valid token adds wall-clock reads and expiry comparisons; a read of the
//! system clock alone is measured alongside to show how much of the difference it is. With two threads,
//! each thread makes the calls concurrently and the slower thread's time is what is measured,
//! so contention on the shared snapshot shows up.

use std::{
    hint::black_box,
    sync::{Arc, Barrier},
    thread,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use futures::FutureExt as _;
use servicenow::{
    AuthorizedTransport, Clock, ManagerOptions, SystemClock, TokenManager,
    auth::{AuthConfig, AuthMachine, RefreshTokenRecord, TokenSet},
    oauth::{
        AccessToken, ClientId, ClientSecret, InstanceUrl, OAuthClient, RedirectUri, RefreshToken,
    },
    store::{
        CredentialKey, Keyring, MemoryBackend, SealedStore, SealingKey, SecretBytes, TokenStore,
    },
    transport::{HttpTransport, RequestSender as _, TransportError},
};

const INSTANCE: &str = "https://dev1.service-now.com";

/// Answers every request at once with the same small page: what is measured around it is the
/// wrapper's own work, with no network in the way.
#[derive(Debug)]
struct CannedPage(Bytes);

#[async_trait]
impl HttpTransport for CannedPage {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        black_box(request.headers().get(http::header::AUTHORIZATION));
        Ok(http::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(self.0.clone())
            .expect("fixed response"))
    }
}

/// A one-row Table API GET, as `TableClient` builds it.
fn table_get() -> http::Request<Bytes> {
    http::Request::get(format!("{INSTANCE}/api/now/table/incident?sysparm_limit=1"))
        .header(http::header::ACCEPT, "application/json")
        .body(Bytes::new())
        .expect("valid request")
}

/// The hot path must never send anything.
#[derive(Debug)]
struct NoNetwork;

#[async_trait]
impl HttpTransport for NoNetwork {
    async fn send(&self, _: http::Request<Bytes>) -> Result<http::Response<Bytes>, TransportError> {
        Err(TransportError::InvalidRequest {
            reason: "the benchmark sends nothing".to_owned(),
        })
    }
}

/// A manager holding a token valid for the next 30 minutes, restored from a memory store.
fn manager_with_valid_token(runtime: &tokio::runtime::Runtime) -> TokenManager {
    let config = AuthConfig::authorization_code(
        InstanceUrl::new(INSTANCE).expect("valid instance"),
        OAuthClient::confidential(
            ClientId::new("client-id").expect("valid client id"),
            ClientSecret::new("client-secret").expect("valid secret"),
        ),
        RedirectUri::new("https://app.example.com/callback").expect("valid redirect uri"),
    );
    let clock = SystemClock;
    let now = clock.now();
    let token_set = TokenSet::new(
        AccessToken::new("access-token-for-the-benchmark").expect("valid token"),
        now,
        now.saturating_add(Duration::from_secs(1800)),
        Some(RefreshTokenRecord::new(
            RefreshToken::new("refresh-token-for-the-benchmark").expect("valid token"),
            now,
            None,
        )),
        None,
    );
    let key = CredentialKey::new(INSTANCE, "client-id", "bench").expect("valid key");
    let store = SealedStore::new(
        Keyring::new(SealingKey::generate(1).expect("os randomness")),
        MemoryBackend::new(),
    );
    let bytes = serde_json::to_vec(&token_set).expect("a token set serializes");
    runtime
        .block_on(store.save(&key, SecretBytes::new(bytes), None))
        .expect("saved");
    let manager = TokenManager::new(
        key,
        AuthMachine::new(config, now, [1; 32]),
        Arc::new(store),
        Arc::new(NoNetwork),
        Arc::new(clock),
        ManagerOptions::default(),
    );
    runtime
        .block_on(manager.bearer())
        .expect("the stored token is restored");
    manager
}

/// `bearer()` on the hot path, as an `.await` of a ready future costs: one poll with std's no-op
/// waker (no runtime needed; `futures`' `now_or_never` would add its own waker handling).
fn hot_bearer(manager: &TokenManager) -> servicenow::Bearer {
    let mut future = std::pin::pin!(manager.bearer());
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(Ok(bearer)) => bearer,
        _ => panic!("the hot path is ready at its first poll with a valid token"),
    }
}

/// Runs `call` `iterations` times on each of `threads` threads at once; the slowest thread's time.
fn on_threads<F: Fn() + Sync>(threads: usize, iterations: u64, call: F) -> Duration {
    let start = Barrier::new(threads);
    thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    let began = Instant::now();
                    for _ in 0..iterations {
                        call();
                    }
                    began.elapsed()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("benchmark thread"))
            .max()
            .unwrap_or_default()
    })
}

fn bearer(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let manager = manager_with_valid_token(&runtime);
    let baseline = arc_swap::ArcSwap::from_pointee(String::from("access-token-for-the-benchmark"));

    let mut group = c.benchmark_group("bearer");
    for threads in [1_usize, 2] {
        group.bench_with_input(
            BenchmarkId::new("baseline_atomic_arc_load", threads),
            &threads,
            |b, &threads| {
                b.iter_custom(|iterations| {
                    on_threads(threads, iterations, || {
                        black_box(baseline.load_full());
                    })
                });
            },
        );
        // What `bearer()` adds to the baseline is mostly reading the wall clock: the precise
        // clock, and the coarse one the hot path reads.
        group.bench_with_input(
            BenchmarkId::new("system_clock_now", threads),
            &threads,
            |b, &threads| {
                b.iter_custom(|iterations| {
                    on_threads(threads, iterations, || {
                        black_box(SystemClock.now());
                    })
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("system_clock_now_coarse", threads),
            &threads,
            |b, &threads| {
                b.iter_custom(|iterations| {
                    on_threads(threads, iterations, || {
                        black_box(SystemClock.now_coarse());
                    })
                });
            },
        );
        // The same check without the future: what `bearer()`'s `async` shape adds.
        group.bench_with_input(
            BenchmarkId::new("token_manager_current", threads),
            &threads,
            |b, &threads| {
                b.iter_custom(|iterations| {
                    on_threads(threads, iterations, || {
                        black_box(manager.current().expect("the token is valid"));
                    })
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("token_manager_bearer", threads),
            &threads,
            |b, &threads| {
                b.iter_custom(|iterations| {
                    on_threads(threads, iterations, || {
                        black_box(hot_bearer(&manager));
                    })
                });
            },
        );
    }
    group.finish();
}

/// What `AuthorizedTransport` adds to each request: the origin check, `bearer()`, the header
/// and rebuilding the request, against the same request sent with a fixed header.
fn authorized_transport(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let manager = manager_with_valid_token(&runtime);
    let fixed = hot_bearer(&manager).header_value();
    let body = Bytes::from_static(br#"{"result":[{"sys_id":"0123456789abcdef0123456789abcdef"}]}"#);
    let raw = CannedPage(body.clone());
    let instance = InstanceUrl::new(INSTANCE).expect("valid instance");
    let authorized = AuthorizedTransport::new(CannedPage(body), manager, instance);

    let mut group = c.benchmark_group("authorized_transport");
    group.bench_function("baseline_fixed_header", |b| {
        b.iter(|| {
            let mut request = table_get();
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, fixed.clone());
            black_box(
                raw.send(request)
                    .now_or_never()
                    .expect("ready")
                    .expect("ok"),
            )
        });
    });
    group.bench_function("authorized_transport_send", |b| {
        b.iter(|| {
            black_box(
                authorized
                    .send_request(table_get())
                    .now_or_never()
                    .expect("ready")
                    .expect("ok"),
            )
        });
    });
    group.finish();
}

criterion_group!(benches, bearer, authorized_transport);
criterion_main!(benches);

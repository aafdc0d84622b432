//! `TokenManager` with mockall doubles of the transport and the store: single-flight, persisting before handing out, persist failures, rejected refreshes, cancellation.

mod common;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use bytes::Bytes;
use common::{
    MockStore, MockTransport, PAST_EXPIRY, REFRESH_REJECTED_BODY, StoredRecord, is_refresh,
    json_response, manager, mock_store_loading, token_response, token_set,
};
use servicenow::{
    Clock, Error, ManualClock, TokenManager,
    auth::{AuthMachine, Command, Input, Output, ReauthorizationReason, Timestamp, TokenSet},
};
use servicenow_http::{HttpTransport, TransportError};
use servicenow_store::StoreError;

/// Runs `count` concurrent `bearer()` calls on their own tasks and returns what each got: the
/// access token, or the error.
async fn concurrent_bearers(manager: &TokenManager, count: usize) -> Vec<Result<String, Error>> {
    let callers: Vec<_> = (0..count)
        .map(|_| {
            let manager = manager.clone();
            tokio::spawn(async move {
                manager
                    .bearer()
                    .await
                    .map(|bearer| bearer.token().secret().to_owned())
            })
        })
        .collect();
    let mut results = Vec::with_capacity(count);
    for caller in callers {
        results.push(caller.await.expect("caller task completes"));
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_callers_on_an_expired_token_cause_exactly_one_refresh() {
    let clock = ManualClock::new();
    let record = StoredRecord::holding(&token_set(&clock, "old-access", "refresh-1"));
    let mut store = mock_store_loading(&record);
    let saving = Arc::clone(&record);
    store
        .expect_save()
        .times(1)
        .returning(move |_, value, expected| saving.save(&value, expected));
    let mut transport = MockTransport::new();
    transport
        .expect_send()
        .withf(is_refresh)
        .times(1)
        .returning(|_| Ok(token_response("new-access", "refresh-1")));
    let manager = manager(Arc::new(store), Arc::new(transport), &clock);

    let restored = manager.bearer().await.expect("the stored token is valid");
    assert_eq!(restored.token().secret(), "old-access");
    assert_eq!(
        manager.stats().token_requests,
        0,
        "a valid stored token needs no request"
    );

    clock.advance(PAST_EXPIRY);
    let results = concurrent_bearers(&manager, 500).await;

    for result in results {
        assert_eq!(result.expect("every caller gets a token"), "new-access");
    }
    assert_eq!(manager.stats().token_requests, 1);
    let stored = record.token_set().expect("a token set is stored");
    assert_eq!(stored.access_token().secret(), "new-access");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_new_token_set_is_saved_before_any_caller_holds_its_token() {
    let clock = ManualClock::new();
    let record = StoredRecord::holding(&token_set(&clock, "old-access", "refresh-1"));
    let mut store = mock_store_loading(&record);
    // The save looks at what callers can see at that moment, through the manager itself.
    let observed: Arc<Mutex<Option<TokenManager>>> = Arc::default();
    let new_token_visible_during_save = Arc::new(AtomicBool::new(false));
    let (saving, watching, visible) = (
        Arc::clone(&record),
        Arc::clone(&observed),
        Arc::clone(&new_token_visible_during_save),
    );
    store
        .expect_save()
        .times(1)
        .returning(move |_, value, expected| {
            let manager = watching.lock().expect("observer lock").clone();
            let current = manager.and_then(|manager| manager.current());
            if current.is_some_and(|bearer| bearer.token().secret() == "new-access") {
                visible.store(true, Ordering::SeqCst);
            }
            saving.save(&value, expected)
        });
    let mut transport = MockTransport::new();
    transport
        .expect_send()
        .withf(is_refresh)
        .times(1)
        .returning(|_| Ok(token_response("new-access", "refresh-1")));
    let manager = manager(Arc::new(store), Arc::new(transport), &clock);
    *observed.lock().expect("observer lock") = Some(manager.clone());
    clock.advance(PAST_EXPIRY);

    let callers: Vec<_> = (0..50)
        .map(|_| {
            let (manager, record) = (manager.clone(), Arc::clone(&record));
            tokio::spawn(async move {
                let bearer = manager.bearer().await.expect("a token");
                // What the store holds once this caller holds the token.
                let stored = record.token_set().expect("a stored token set");
                (
                    bearer.token().secret().to_owned(),
                    stored.access_token().secret().to_owned(),
                )
            })
        })
        .collect();
    for caller in callers {
        let (handed_out, stored) = caller.await.expect("caller completes");
        assert_eq!(handed_out, "new-access");
        assert_eq!(
            stored, "new-access",
            "the store had the set before the caller had its token"
        );
    }
    assert!(
        !new_token_visible_during_save.load(Ordering::SeqCst),
        "no caller could see the new token while it was being saved"
    );
    // Break the cycle manager → store → observer → manager so the mocks are checked on drop.
    observed.lock().expect("observer lock").take();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_save_still_hands_out_the_token_and_is_retried_and_counted() {
    let clock = ManualClock::new();
    let record = StoredRecord::holding(&token_set(&clock, "old-access", "refresh-1"));
    let mut store = mock_store_loading(&record);
    let saves = Arc::new(AtomicUsize::new(0));
    let saved = Arc::new(tokio::sync::Notify::new());
    let (saving, counting, notifying) =
        (Arc::clone(&record), Arc::clone(&saves), Arc::clone(&saved));
    store
        .expect_save()
        .times(2)
        .returning(move |_, value, expected| {
            if counting.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(StoreError::Backend {
                    backend: "mock",
                    operation: "save",
                    source: "disk full".into(),
                });
            }
            let version = saving.save(&value, expected);
            notifying.notify_one();
            version
        });
    let mut transport = MockTransport::new();
    transport
        .expect_send()
        .withf(is_refresh)
        .times(1)
        .returning(|_| Ok(token_response("new-access", "refresh-1")));
    let manager = manager(Arc::new(store), Arc::new(transport), &clock);
    clock.advance(PAST_EXPIRY);

    let bearer = manager
        .bearer()
        .await
        .expect("the token is handed out anyway");

    assert_eq!(bearer.token().secret(), "new-access");
    assert_eq!(manager.stats().persist_failures, 1);
    tokio::time::timeout(Duration::from_secs(60), saved.notified())
        .await
        .expect("the manager retries the save by itself");
    let stored = record.token_set().expect("a stored token set");
    assert_eq!(stored.access_token().secret(), "new-access");
    assert_eq!(saves.load(Ordering::SeqCst), 2);
    assert_eq!(
        manager.stats().token_requests,
        1,
        "the retry saved, it did not refresh again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rejected_refresh_gives_every_waiter_the_same_reauthorization_error() {
    let clock = ManualClock::new();
    let record = StoredRecord::holding(&token_set(&clock, "old-access", "refresh-1"));
    // No save is expected: a rejected refresh produces nothing to store.
    let store = mock_store_loading(&record);
    let mut transport = MockTransport::new();
    transport
        .expect_send()
        .withf(is_refresh)
        .times(1)
        .returning(|_| {
            Ok(json_response(
                http::StatusCode::UNAUTHORIZED,
                REFRESH_REJECTED_BODY,
            ))
        });
    let manager = manager(Arc::new(store), Arc::new(transport), &clock);
    clock.advance(PAST_EXPIRY);

    let results = concurrent_bearers(&manager, 200).await;

    for result in results {
        let Err(Error::ReauthorizationRequired { reason }) = &result else {
            panic!("expected a rejected refresh, got {result:?}");
        };
        let ReauthorizationReason::RefreshRejected(error) = reason.as_ref() else {
            panic!("expected a rejected refresh, got {result:?}");
        };
        assert_eq!(error.status, http::StatusCode::UNAUTHORIZED);
    }
    // Asking again sends nothing: the machine waits for a new login.
    let again = manager.bearer().await;
    assert!(
        matches!(again, Err(Error::ReauthorizationRequired { .. })),
        "{again:?}"
    );
    assert_eq!(manager.stats().token_requests, 1);
}

/// A token endpoint that holds every request until the test lets it answer.
#[derive(Debug)]
struct GatedTokenEndpoint {
    requests: AtomicUsize,
    arrived: tokio::sync::Notify,
    gate: tokio::sync::Semaphore,
    answers: Mutex<Vec<&'static str>>,
}

impl GatedTokenEndpoint {
    /// Answers the n-th request with the n-th access token of `answers`.
    fn new(answers: Vec<&'static str>) -> Arc<Self> {
        Arc::new(Self {
            requests: AtomicUsize::new(0),
            arrived: tokio::sync::Notify::new(),
            gate: tokio::sync::Semaphore::new(0),
            answers: Mutex::new(answers.into_iter().rev().collect()),
        })
    }

    fn release_one(&self) {
        self.gate.add_permits(1);
    }
}

#[async_trait]
impl HttpTransport for GatedTokenEndpoint {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        assert!(is_refresh(&request), "only refreshes are expected");
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.arrived.notify_one();
        let permit = self.gate.acquire().await.expect("the gate stays open");
        permit.forget();
        let access_token = self
            .answers
            .lock()
            .expect("answers lock")
            .pop()
            .expect("no more requests than answers");
        Ok(token_response(access_token, "refresh-1"))
    }
}

/// A store that only loads and saves through [`StoredRecord`] (any number of times).
fn recording_store(record: &Arc<StoredRecord>) -> MockStore {
    let mut store = mock_store_loading(record);
    let saving = Arc::clone(record);
    store
        .expect_save()
        .returning(move |_, value, expected| saving.save(&value, expected));
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_caller_cancelled_mid_refresh_does_not_wedge_the_others() {
    let clock = ManualClock::new();
    let record = StoredRecord::holding(&token_set(&clock, "old-access", "refresh-1"));
    let endpoint = GatedTokenEndpoint::new(vec!["new-access"]);
    let transport: Arc<dyn HttpTransport> = endpoint.clone();
    let manager = manager(Arc::new(recording_store(&record)), transport, &clock);
    clock.advance(PAST_EXPIRY);

    let first = tokio::spawn({
        let manager = manager.clone();
        async move { manager.bearer().await.map(|_| ()) }
    });
    endpoint.arrived.notified().await;
    first.abort();
    let cancelled = first.await;
    assert!(cancelled.is_err_and(|error| error.is_cancelled()));

    let others = tokio::spawn({
        let manager = manager.clone();
        async move { concurrent_bearers(&manager, 50).await }
    });
    endpoint.release_one();
    let results = others.await.expect("the other callers complete");

    for result in results {
        assert_eq!(result.expect("a token"), "new-access");
    }
    assert_eq!(endpoint.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_nobody_awaited_is_not_handed_out_once_it_has_expired() {
    let clock = ManualClock::new();
    let record = StoredRecord::holding(&token_set(&clock, "old-access", "refresh-1"));
    let endpoint = GatedTokenEndpoint::new(vec!["new-access", "newer-access"]);
    let transport: Arc<dyn HttpTransport> = endpoint.clone();
    let manager = manager(Arc::new(recording_store(&record)), transport, &clock);
    clock.advance(PAST_EXPIRY);

    // The only caller gives up while its refresh is in flight; the refresh finishes anyway.
    let only = tokio::spawn({
        let manager = manager.clone();
        async move { manager.bearer().await.map(|_| ()) }
    });
    endpoint.arrived.notified().await;
    only.abort();
    assert!(only.await.is_err_and(|error| error.is_cancelled()));
    endpoint.release_one();
    let mut published = None;
    for _ in 0..3000 {
        published = manager.current();
        if published.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let published = published.expect("the abandoned refresh publishes its token");
    assert_eq!(published.token().secret(), "new-access");

    // Half an hour later that token has expired: the next caller must get a fresh one.
    clock.advance(PAST_EXPIRY);
    endpoint.release_one();
    let bearer = manager.bearer().await.expect("a fresh token");

    assert_eq!(bearer.token().secret(), "newer-access");
    assert_eq!(endpoint.requests.load(Ordering::SeqCst), 2);
}

/// A token endpoint that accepts the request and never answers (a custom transport without
/// timeouts of its own).
#[derive(Debug, Default)]
struct SilentTokenEndpoint {
    requests: AtomicUsize,
}

#[async_trait]
impl HttpTransport for SilentTokenEndpoint {
    async fn send(&self, _: http::Request<Bytes>) -> Result<http::Response<Bytes>, TransportError> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        futures::future::pending().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_that_never_answers_fails_the_callers_instead_of_hanging_them() {
    let clock = ManualClock::new();
    let record = StoredRecord::holding(&token_set(&clock, "old-access", "refresh-1"));
    let endpoint = Arc::new(SilentTokenEndpoint::default());
    let mut config = common::config();
    config.timing.request_timeout = Duration::from_millis(200);
    let manager = common::manager_with(
        config,
        Arc::new(recording_store(&record)),
        endpoint.clone(),
        &clock,
    );
    clock.advance(PAST_EXPIRY);

    // The bound only keeps a broken build from hanging the suite; the machine's own request
    // timeout is what ends the wait.
    let results = tokio::time::timeout(Duration::from_secs(120), concurrent_bearers(&manager, 20))
        .await
        .expect("the callers are answered: the request timeout applies to any transport");

    for result in results {
        assert!(
            matches!(result, Err(Error::TokenUnavailable { .. })),
            "{result:?}"
        );
    }
    assert!(endpoint.requests.load(Ordering::SeqCst) >= 1);
}

/// A token endpoint whose first request panics inside the transport (a bug in a custom
/// transport), and which answers normally afterwards.
#[derive(Debug, Default)]
struct PanickingOnceTokenEndpoint {
    requests: AtomicUsize,
}

#[async_trait]
impl HttpTransport for PanickingOnceTokenEndpoint {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        assert!(is_refresh(&request), "only refreshes are expected");
        let earlier = self.requests.fetch_add(1, Ordering::SeqCst);
        assert!(earlier > 0, "the custom transport's first request panics");
        Ok(token_response("new-access", "refresh-1"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_that_panicked_does_not_wedge_the_callers_after_it() {
    let clock = ManualClock::new();
    let record = StoredRecord::holding(&token_set(&clock, "old-access", "refresh-1"));
    let endpoint = Arc::new(PanickingOnceTokenEndpoint::default());
    let mut config = common::config();
    config.timing.request_timeout = Duration::from_millis(200);
    let manager = common::manager_with(
        config,
        Arc::new(recording_store(&record)),
        endpoint.clone(),
        &clock,
    );
    clock.advance(PAST_EXPIRY);

    let failed = manager.bearer().await;
    let stopped = matches!(failed, Err(Error::RefreshTaskStopped));
    assert!(stopped, "{failed:?}");

    let recovered = tokio::time::timeout(Duration::from_secs(120), manager.bearer())
        .await
        .expect("the next caller is answered")
        .expect("the next caller refreshes again");
    assert_eq!(recovered.token().secret(), "new-access");
    assert_eq!(endpoint.requests.load(Ordering::SeqCst), 2);
}

/// When a machine seeded with `seed` that restores `token_set` at `now` plans its refresh ahead
/// of expiry (the jitter is drawn from the seed, so a manager with the same seed plans the same).
fn planned_refresh(seed: [u8; 32], token_set: &TokenSet, now: Timestamp) -> Timestamp {
    let mut machine = AuthMachine::new(common::config(), now, seed);
    machine
        .handle_input(Input::Command {
            now,
            command: Command::Restore(token_set.clone()),
        })
        .expect("restore");
    for _ in 0..100 {
        if let Output::Timeout(deadline) = machine.poll_output() {
            return deadline;
        }
    }
    panic!("the machine never said when to wake it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ahead_of_expiry_callers_keep_the_current_token_while_one_refresh_runs_in_the_background() {
    let clock = ManualClock::new();
    let stored = token_set(&clock, "old-access", "refresh-1");
    let record = StoredRecord::holding(&stored);
    // A seed whose jitter leaves at least 10 s between the planned refresh and the end of the
    // token's usable life (60 s before expiry).
    let usable_until = stored
        .access_token_expires_at()
        .saturating_sub(Duration::from_secs(60));
    let (seed, refresh_at) = (0..=u8::MAX)
        .map(|byte| {
            (
                [byte; 32],
                planned_refresh([byte; 32], &stored, clock.now()),
            )
        })
        .find(|(_, refresh_at)| {
            usable_until.saturating_duration_since(*refresh_at) >= Duration::from_secs(10)
        })
        .expect("some seed draws a jitter of 10 s or more");
    let endpoint = GatedTokenEndpoint::new(vec!["new-access"]);
    let transport: Arc<dyn HttpTransport> = endpoint.clone();
    let manager = common::manager_seeded(
        common::config(),
        seed,
        Arc::new(recording_store(&record)),
        transport,
        &clock,
    );
    let restored = manager.bearer().await.expect("the stored token is valid");
    assert_eq!(restored.token().secret(), "old-access");

    // Past the planned refresh, 5 s before the token stops being handed out.
    clock.advance(refresh_at.saturating_duration_since(clock.now()) + Duration::from_secs(5));
    // The token endpoint is held shut: a caller that waited for the refresh would not return.
    let results = tokio::time::timeout(Duration::from_secs(60), concurrent_bearers(&manager, 20))
        .await
        .expect("callers do not wait for the refresh ahead of expiry");
    for result in results {
        assert_eq!(result.expect("a token"), "old-access");
    }
    tokio::time::timeout(Duration::from_secs(60), endpoint.arrived.notified())
        .await
        .expect("a refresh started in the background");
    endpoint.release_one();
    let mut current = None;
    for _ in 0..3000 {
        current = manager
            .current()
            .map(|bearer| bearer.token().secret().to_owned());
        if current.as_deref() == Some("new-access") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(current.as_deref(), Some("new-access"));
    assert_eq!(
        endpoint.requests.load(Ordering::SeqCst),
        1,
        "one refresh for all callers"
    );
}

//! `AuthorizedTransport` with mockall doubles: a 401 refreshes and retries once (never twice), a foreign origin is refused with nothing sent, and a streamed upload is sent again after a 401 only when its body can be replayed.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use common::{
    INSTANCE, MockStore, MockTransport, StoredRecord, bearer_of, is_refresh, json_response,
    manager, mock_store_loading, token_response, token_set,
};
use servicenow::{AuthorizedTransport, Error, ManualClock, TokenManager};
use servicenow_http::{RequestBody, RequestSender as _, StreamLimits};
use servicenow_oauth::InstanceUrl;

const INCIDENTS: &str = "https://dev1.service-now.com/api/now/table/incident?sysparm_limit=1";

fn get(url: &str) -> http::Request<Bytes> {
    http::Request::get(url)
        .body(Bytes::new())
        .expect("valid request")
}

fn is_table_call_with(request: &http::Request<Bytes>, access_token: &str) -> bool {
    request.uri().path() == "/api/now/table/incident"
        && bearer_of(request).as_deref() == Some(access_token)
}

/// A manager restored from a store holding a valid `old-access` token, with one refresh to
/// `new-access` allowed, over `transport`; and the authorizing transport on top of it.
fn authorized(
    clock: &ManualClock,
    mut transport: MockTransport,
) -> (AuthorizedTransport<Arc<MockTransport>>, TokenManager) {
    let record = StoredRecord::holding(&token_set(clock, "old-access", "refresh-1"));
    let mut store = mock_store_loading(&record);
    let saving = Arc::clone(&record);
    store
        .expect_save()
        .returning(move |_, value, expected| saving.save(&value, expected));
    transport
        .expect_send()
        .withf(is_refresh)
        .times(1)
        .returning(|_| Ok(token_response("new-access", "refresh-1")));
    let transport = Arc::new(transport);
    let manager = manager(Arc::new(store), transport.clone(), clock);
    let instance = InstanceUrl::new(INSTANCE).expect("valid instance");
    (
        AuthorizedTransport::new(transport, manager.clone(), instance),
        manager,
    )
}

#[tokio::test]
async fn a_401_refreshes_once_and_retries_once_with_the_new_token() {
    let clock = ManualClock::new();
    let mut transport = MockTransport::new();
    transport
        .expect_send()
        .withf(|request| is_table_call_with(request, "old-access"))
        .times(1)
        .returning(|_| Ok(json_response(http::StatusCode::UNAUTHORIZED, "{}")));
    transport
        .expect_send()
        .withf(|request| is_table_call_with(request, "new-access"))
        .times(1)
        .returning(|_| Ok(json_response(http::StatusCode::OK, r#"{"result":[]}"#)));
    let (authorized, manager) = authorized(&clock, transport);

    let response = authorized
        .send_request(get(INCIDENTS))
        .await
        .expect("a response");

    assert_eq!(response.status(), http::StatusCode::OK);
    assert_eq!(manager.stats().token_requests, 1);
}

#[tokio::test]
async fn a_second_401_is_returned_to_the_caller_and_never_retried() {
    let clock = ManualClock::new();
    let mut transport = MockTransport::new();
    for token in ["old-access", "new-access"] {
        transport
            .expect_send()
            .withf(move |request| is_table_call_with(request, token))
            .times(1)
            .returning(|_| Ok(json_response(http::StatusCode::UNAUTHORIZED, "{}")));
    }
    let (authorized, manager) = authorized(&clock, transport);

    let response = authorized
        .send_request(get(INCIDENTS))
        .await
        .expect("a response");

    assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED);
    assert_eq!(manager.stats().token_requests, 1, "one refresh, not two");
}

#[tokio::test]
async fn requests_to_any_other_origin_are_refused_and_nothing_is_sent() {
    let clock = ManualClock::new();
    let mut transport = MockTransport::new();
    transport.expect_send().never();
    // The manager is not even asked for a token.
    let mut store = MockStore::new();
    store.expect_load().never();
    store.expect_try_acquire_lease().never();
    let transport = Arc::new(transport);
    let manager = manager(Arc::new(store), transport.clone(), &clock);
    let instance = InstanceUrl::new(INSTANCE).expect("valid instance");
    let authorized = AuthorizedTransport::new(transport, manager, instance);

    for url in [
        "https://evil.example.com/api/now/table/incident",
        "https://dev1.service-now.com.evil.example/api/now/table/incident",
        "http://dev1.service-now.com/api/now/table/incident",
        "https://dev1.service-now.com:8443/api/now/table/incident",
        "https://dev2.service-now.com/api/now/table/incident",
        "/api/now/table/incident",
    ] {
        match authorized.send_request(get(url)).await {
            Err(Error::ForeignOrigin { instance, .. }) => {
                assert_eq!(instance, "https://dev1.service-now.com", "{url}");
            }
            other => panic!("{url}: expected a refusal, got {other:?}"),
        }
    }
}

// Streamed requests: the same origin rule and one refresh on 401, but a body is sent again only
// when it can be replayed.

const UPLOAD: &str = "https://dev1.service-now.com/api/now/attachment/file?table_name=incident&table_sys_id=a&file_name=log.txt";

fn is_upload_with(request: &http::Request<Bytes>, access_token: &str, body: &[u8]) -> bool {
    request.uri().path() == "/api/now/attachment/file"
        && bearer_of(request).as_deref() == Some(access_token)
        && request.body().as_ref() == body
}

fn streamed(url: &str, body: RequestBody) -> http::Request<RequestBody> {
    http::Request::post(url)
        .header("content-type", "text/plain")
        .body(body)
        .expect("valid request")
}

fn limits() -> StreamLimits {
    StreamLimits::new(1 << 20, Duration::from_secs(5))
}

/// A transport that refuses `old-access` for the upload and accepts `new-access`, checking the
/// body that arrives both times.
fn refusing_the_old_token_once(payload: &'static [u8]) -> MockTransport {
    let mut transport = MockTransport::new();
    transport
        .expect_send()
        .withf(move |request| is_upload_with(request, "old-access", payload))
        .times(1)
        .returning(|_| Ok(json_response(http::StatusCode::UNAUTHORIZED, "{}")));
    transport
        .expect_send()
        .withf(move |request| is_upload_with(request, "new-access", payload))
        .times(1)
        .returning(|_| Ok(json_response(http::StatusCode::CREATED, r#"{"result":{}}"#)));
    transport
}

#[tokio::test]
async fn a_streamed_upload_of_bytes_that_meets_a_401_is_sent_again_once_with_the_new_token() {
    let clock = ManualClock::new();
    let (authorized, manager) = authorized(&clock, refusing_the_old_token_once(b"log line\n"));
    let body = RequestBody::from_bytes(Bytes::from_static(b"log line\n"));

    let response = authorized
        .send_request_streaming(streamed(UPLOAD, body), limits())
        .await
        .expect("a response");

    assert_eq!(response.status(), http::StatusCode::CREATED);
    assert_eq!(manager.stats().token_requests, 1);
}

#[tokio::test]
async fn a_replayable_upload_reopens_its_source_for_the_retry() {
    let clock = ManualClock::new();
    let (authorized, _manager) = authorized(&clock, refusing_the_old_token_once(b"from a file"));
    let opened = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&opened);
    let body = RequestBody::replayable(Some(11), move || {
        counter.fetch_add(1, Ordering::SeqCst);
        Box::pin(futures::stream::iter([Ok(Bytes::from_static(
            b"from a file",
        ))]))
    });

    let response = authorized
        .send_request_streaming(streamed(UPLOAD, body), limits())
        .await
        .expect("a response");

    assert_eq!(response.status(), http::StatusCode::CREATED);
    assert_eq!(opened.load(Ordering::SeqCst), 2, "opened once per attempt");
}

#[tokio::test]
async fn a_one_shot_upload_that_meets_a_401_is_not_sent_again_and_the_next_call_gets_a_fresh_token()
{
    let clock = ManualClock::new();
    let mut transport = MockTransport::new();
    transport
        .expect_send()
        .withf(|request| is_upload_with(request, "old-access", b"read once"))
        .times(1)
        .returning(|_| Ok(json_response(http::StatusCode::UNAUTHORIZED, "{}")));
    transport
        .expect_send()
        .withf(|request| is_table_call_with(request, "new-access"))
        .times(1)
        .returning(|_| Ok(json_response(http::StatusCode::OK, r#"{"result":[]}"#)));
    let (authorized, manager) = authorized(&clock, transport);
    let pieces = futures::stream::iter([Ok(Bytes::from_static(b"read once"))]);
    let body = RequestBody::once(Some(9), Box::pin(pieces));

    let outcome = authorized
        .send_request_streaming(streamed(UPLOAD, body), limits())
        .await;

    match outcome {
        Err(error @ Error::UploadNotReplayable { .. }) => {
            assert_eq!(error.kind(), servicenow::ErrorKind::Unavailable);
            assert!(
                error.to_string().contains("/api/now/attachment/file"),
                "{error}"
            );
            assert!(
                !error.to_string().contains("table_sys_id"),
                "no query in the message"
            );
        }
        other => panic!("expected UploadNotReplayable, got {other:?}"),
    }
    // The refused token was set aside: the next call refreshes and succeeds.
    let next = authorized
        .send_request(get(INCIDENTS))
        .await
        .expect("a response");
    assert_eq!(next.status(), http::StatusCode::OK);
    assert_eq!(manager.stats().token_requests, 1);
}

#[tokio::test]
async fn a_second_401_on_a_replayed_upload_is_returned_to_the_caller() {
    let clock = ManualClock::new();
    let mut transport = MockTransport::new();
    for token in ["old-access", "new-access"] {
        transport
            .expect_send()
            .withf(move |request| is_upload_with(request, token, b"x"))
            .times(1)
            .returning(|_| Ok(json_response(http::StatusCode::UNAUTHORIZED, "{}")));
    }
    let (authorized, manager) = authorized(&clock, transport);

    let response = authorized
        .send_request_streaming(
            streamed(UPLOAD, RequestBody::from_bytes(Bytes::from_static(b"x"))),
            limits(),
        )
        .await
        .expect("a response");

    assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED);
    assert_eq!(manager.stats().token_requests, 1, "one refresh, not two");
}

#[tokio::test]
async fn a_streamed_request_to_any_other_origin_is_refused_and_nothing_is_sent() {
    let clock = ManualClock::new();
    let mut transport = MockTransport::new();
    transport.expect_send().never();
    let mut store = MockStore::new();
    store.expect_load().never();
    let transport = Arc::new(transport);
    let manager = manager(Arc::new(store), transport.clone(), &clock);
    let instance = InstanceUrl::new(INSTANCE).expect("valid instance");
    let authorized = AuthorizedTransport::new(transport, manager, instance);

    for url in [
        "https://evil.example.com/api/now/attachment/file",
        "http://dev1.service-now.com/api/now/attachment/file",
    ] {
        let body = RequestBody::from_bytes(Bytes::from_static(b"secret report"));
        match authorized
            .send_request_streaming(streamed(url, body), limits())
            .await
        {
            Err(Error::ForeignOrigin { .. }) => (),
            other => panic!("{url}: expected a refusal, got {other:?}"),
        }
    }
}

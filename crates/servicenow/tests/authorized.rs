//! `AuthorizedTransport` with mockall doubles: a 401 refreshes and retries once (never twice), and a foreign origin is refused with nothing sent.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::{
    INSTANCE, MockStore, MockTransport, StoredRecord, bearer_of, is_refresh, json_response,
    manager, mock_store_loading, token_response, token_set,
};
use servicenow::{AuthorizedTransport, Error, ManualClock, TokenManager};
use servicenow_http::RequestSender as _;
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

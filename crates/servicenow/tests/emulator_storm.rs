//! A refresh storm against the emulator over real sockets: 1,000 concurrent callers on an expired token cause exactly one token request.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::{PAST_EXPIRY, emulator, memory_store};
use servicenow::{AuthorizedTransport, ManualClock};
use servicenow_emulator::{Emulator, TokenOutcome};
use servicenow_http::{HttpTransport, RequestSender as _, ReqwestTransport};
use servicenow_store::TokenStore;

const CALLERS: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_callers_on_an_expired_token_cause_exactly_one_token_request() {
    let instance = Emulator::builder().start().await.expect("emulator starts");
    let clock = ManualClock::new();
    let store: Arc<dyn TokenStore> = Arc::new(memory_store());
    let transport: Arc<dyn HttpTransport> =
        Arc::new(ReqwestTransport::new().expect("transport builds"));
    let config = emulator::config(instance.base_url());
    let (logged_in, key) = emulator::log_in(&config, &store, &transport, &clock, "alice").await;
    let manager = emulator::manager(&config, &key, &store, &transport, &clock);
    let restored = manager.bearer().await.expect("the stored token is valid");
    assert_eq!(
        restored.token().secret(),
        logged_in.access_token().secret(),
        "the manager starts from the stored login"
    );

    // Half an hour later, on both sides.
    instance.clock().advance(PAST_EXPIRY);
    clock.advance(PAST_EXPIRY);
    let before = instance.counters();
    let callers: Vec<_> = (0..CALLERS)
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
    let mut tokens = Vec::with_capacity(CALLERS);
    for caller in callers {
        tokens.push(
            caller
                .await
                .expect("caller completes")
                .expect("every caller gets a token"),
        );
    }
    let after = instance.counters();

    assert_eq!(
        after.total_token_requests() - before.total_token_requests(),
        1,
        "exactly one token request for {CALLERS} callers"
    );
    assert_eq!(
        after.token_requests("refresh_token", TokenOutcome::Issued)
            - before.token_requests("refresh_token", TokenOutcome::Issued),
        1
    );
    let refreshed = &tokens[0];
    assert_ne!(refreshed, logged_in.access_token().secret());
    assert!(
        tokens.iter().all(|token| token == refreshed),
        "every caller got the new token"
    );

    // And the emulator accepts it.
    let authorized = AuthorizedTransport::new(
        Arc::clone(&transport),
        manager.clone(),
        config.instance.clone(),
    );
    let request = http::Request::get(instance.url("/api/now/table/incident?sysparm_limit=1"))
        .body(Bytes::new())
        .expect("valid request");
    let response = authorized.send_request(request).await.expect("a response");
    assert_eq!(response.status(), http::StatusCode::OK);
    assert_eq!(instance.counters().table_unauthorized, 0);
    assert_eq!(
        instance.counters().total_token_requests(),
        after.total_token_requests()
    );
}

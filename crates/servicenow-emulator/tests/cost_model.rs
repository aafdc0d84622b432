//! The cost model over real sockets (`servicenow-api-more.md` §6): the `API_INT` threads and
//! queue with 429 on overflow, session serialization through `JSESSIONID`, and the transaction
//! quota's cancellation. Models with long request times keep the assertions about what was
//! admitted and what ran at once independent of the machine's speed.

mod common;

use std::time::Duration;

use common::{header, http, json, password_tokens, start_with};
use reqwest::StatusCode;
use servicenow_emulator::{CostModel, Emulator, EmulatorHandle};

const PAGE: &str = "/api/now/table/incident?sysparm_limit=2";

fn slow_model(threads: u32, queue: u32) -> CostModel {
    let mut model = CostModel::instance_like();
    model.per_request = Duration::from_millis(800);
    model.nodes = 1;
    model.threads_per_node = threads;
    model.queue_per_node = queue;
    model
}

async fn concurrent_gets(
    emulator: &EmulatorHandle,
    token: &str,
    count: usize,
    cookie: Option<&str>,
) -> Vec<(StatusCode, String, String)> {
    let client = http();
    let requests = (0..count).map(|_| {
        let mut request = client
            .get(emulator.url(PAGE))
            .bearer_auth(token)
            .header("Accept", "application/json");
        if let Some(cookie) = cookie {
            request = request.header("Cookie", cookie);
        }
        async move {
            let response = request.send().await.expect("response");
            let status = response.status();
            let retry_after = header(response.headers(), "Retry-After").to_owned();
            (status, retry_after, response.text().await.expect("body"))
        }
    });
    futures_join_all(requests).await
}

async fn futures_join_all<F: Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::new();
    for handle in handles {
        outputs.push(handle.await.expect("task"));
    }
    outputs
}

#[tokio::test]
async fn a_full_queue_is_answered_with_429_and_the_error_envelope() {
    // One node, 2 threads and a queue of 3: of 9 requests at once, 5 are admitted.
    let emulator = start_with(Emulator::builder().cost_model(slow_model(2, 3))).await;
    let (token, _) = password_tokens(&emulator).await;
    let results = concurrent_gets(&emulator, &token, 9, None).await;
    let refused: Vec<_> = results
        .iter()
        .filter(|(status, ..)| *status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(refused.len(), 4, "{results:?}");
    let (_, retry_after, body) = refused[0];
    assert_eq!(retry_after, "1");
    assert_eq!(
        json(body)["error"]["message"],
        "Too Many Requests",
        "the documented envelope"
    );
    assert_eq!(json(body)["status"], "failure");
    let counters = emulator.counters();
    assert_eq!(counters.queue_full, 4);
    assert_eq!(
        counters.peak_executing, 2,
        "never more than the node's threads"
    );
}

#[tokio::test]
async fn requests_that_send_the_session_cookie_back_run_one_at_a_time() {
    let emulator = start_with(Emulator::builder().cost_model(slow_model(4, 50))).await;
    let (token, _) = password_tokens(&emulator).await;
    let first = http()
        .get(emulator.url(PAGE))
        .bearer_auth(&token)
        .send()
        .await
        .expect("response");
    let set_cookie = header(first.headers(), "Set-Cookie").to_owned();
    assert!(set_cookie.starts_with("JSESSIONID="), "{set_cookie}");
    let cookie = set_cookie.split(';').next().expect("name=value").to_owned();

    emulator.reset_counters();
    let results = concurrent_gets(&emulator, &token, 3, Some(&cookie)).await;
    assert!(results.iter().all(|(status, ..)| *status == StatusCode::OK));
    assert_eq!(
        emulator.counters().peak_executing,
        1,
        "serialized by session"
    );

    emulator.reset_counters();
    let results = concurrent_gets(&emulator, &token, 3, None).await;
    assert!(results.iter().all(|(status, ..)| *status == StatusCode::OK));
    assert_eq!(
        emulator.counters().peak_executing,
        3,
        "no cookie, no serialization"
    );
}

#[tokio::test]
async fn a_request_over_the_quota_is_cancelled_with_the_real_error() {
    let mut model = CostModel::instance_like();
    model.per_row_rendered = Duration::from_millis(100);
    model.transaction_quota = Duration::from_millis(300);
    let emulator = start_with(Emulator::builder().cost_model(model)).await;
    let (token, _) = password_tokens(&emulator).await;
    let response = http()
        .get(emulator.url("/api/now/table/incident?sysparm_limit=10"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = json(&response.text().await.expect("body"));
    assert_eq!(
        body["error"]["message"],
        "Transaction cancelled: maximum execution time exceeded"
    );
    // Two rows fit in the quota.
    let response = http()
        .get(emulator.url(PAGE))
        .bearer_auth(&token)
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(emulator.counters().transactions_cancelled, 1);
}

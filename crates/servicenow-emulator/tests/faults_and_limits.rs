//! Rate limits and injected faults over real sockets (servicenow-api.md §2.7 rate limiting,
//! §2.6 error envelope and the transaction timeout body; issue point 10), plus dropped
//! connections and restarts for reliability tests.

mod common;

use std::time::{Duration, UNIX_EPOCH};

use common::{get, header, http, json, password_tokens, raw_exchange, start, start_with};
use reqwest::StatusCode;
use servicenow_emulator::{Emulator, EmulatorHandle, FaultKind, FaultPlan, RateLimitRule};

const PAGE: &str = "/api/now/table/incident?sysparm_limit=2";

/// 2027-01-15 08:00:00 UTC, on the hour (a multiple of 3600).
const ON_THE_HOUR: u64 = 1_800_000_000;

fn raw_get(token: &str) -> String {
    format!(
        "GET {PAGE} HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
}

#[tokio::test]
async fn a_rate_limited_user_gets_429_with_retry_after_and_the_rate_limit_headers() {
    let emulator = start().await;
    emulator
        .clock()
        .set(UNIX_EPOCH + Duration::from_secs(ON_THE_HOUR + 600));
    emulator.clock().freeze();
    let (token, _) = password_tokens(&emulator).await;
    emulator.update_settings(|settings| settings.rate_limit = Some(RateLimitRule::all_users(3)));
    for _ in 0..3 {
        let (status, headers, _) = get(&emulator, PAGE, &token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header(&headers, "X-RateLimit-Limit"), "3");
        assert_eq!(
            header(&headers, "X-RateLimit-Reset"),
            (ON_THE_HOUR + 3600).to_string()
        );
        assert_eq!(
            header(&headers, "X-RateLimit-Rule"),
            "d5a4a3f0c0a8000b0088d1ef5d3d2a70"
        );
    }
    let (status, headers, body) = get(&emulator, PAGE, &token).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&headers, "Retry-After"), "3000");
    assert_eq!(
        header(&headers, "X-RateLimit-Reset"),
        (ON_THE_HOUR + 3600).to_string()
    );
    assert_eq!(
        body,
        r#"{"error":{"message":"Rate limit exceeded","detail":"Rate limit of 3 requests per hour for Table API exceeded"},"status":"failure"}"#
    );
    assert_eq!(emulator.counters().rate_limited, 1);
    emulator.clock().advance(Duration::from_secs(3000));
    let (token, _) = password_tokens(&emulator).await;
    assert_eq!(
        get(&emulator, PAGE, &token).await.0,
        StatusCode::OK,
        "a new window"
    );
}

#[tokio::test]
async fn a_rule_for_one_user_leaves_the_others_alone() {
    let emulator = start().await;
    emulator
        .update_settings(|settings| settings.rate_limit = Some(RateLimitRule::for_user("itil", 1)));
    let (admin_token, _) = password_tokens(&emulator).await;
    for _ in 0..3 {
        let (status, headers, _) = get(&emulator, PAGE, &admin_token).await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers.get("X-RateLimit-Limit").is_none());
    }
    let itil = || {
        http()
            .get(emulator.url(PAGE))
            .basic_auth("itil", Some("itil"))
            .send()
    };
    assert_eq!(itil().await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        itil().await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn injected_500_and_503_come_with_the_error_envelope_then_service_resumes() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    emulator.inject_table_faults(FaultKind::InternalServerError, 1);
    emulator.inject_table_faults(FaultKind::ServiceUnavailable, 1);
    let (status, _, body) = get(&emulator, PAGE, &token).await;
    assert_eq!(
        (status, json(&body)["status"].as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some("failure"))
    );
    let (status, _, body) = get(&emulator, PAGE, &token).await;
    assert_eq!(
        (status, json(&body)["status"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("failure"))
    );
    assert_eq!(get(&emulator, PAGE, &token).await.0, StatusCode::OK);
    assert_eq!(emulator.counters().faults_injected, 2);
}

#[tokio::test]
async fn a_dropped_connection_closes_without_any_response() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    emulator.inject_table_faults(FaultKind::DropConnection, 1);
    assert!(raw_exchange(&emulator, &raw_get(&token)).await.is_empty());
    emulator.inject_table_faults(FaultKind::DropConnection, 1);
    let error = http()
        .get(emulator.url(PAGE))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap_err();
    assert!(error.is_request() || error.is_connect(), "{error:?}");
}

#[tokio::test]
async fn a_truncated_body_declares_more_than_it_sends() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    emulator.inject_table_faults(FaultKind::TruncatedBody, 1);
    let received = String::from_utf8(raw_exchange(&emulator, &raw_get(&token)).await).unwrap();
    let (head, body) = received
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{received:?}"));
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    let declared: usize = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        !body.is_empty() && body.len() < declared,
        "sent {} of {declared}",
        body.len()
    );
    emulator.inject_table_faults(FaultKind::TruncatedBody, 1);
    let response = http()
        .get(emulator.url(PAGE))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(
        response.text().await.is_err(),
        "reqwest notices the body ended early"
    );
}

#[tokio::test]
async fn pages_above_the_configured_size_are_cancelled_like_a_transaction_timeout() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    emulator.update_settings(|settings| settings.transaction_timeout_above_rows = Some(100));
    let expected = r#"{"error":{"message":"Transaction cancelled: maximum execution time exceeded","detail":"Transaction cancelled: maximum execution time exceeded Check logs for error trace or enable glide.rest.debug property to verify REST request processing"},"status":"failure"}"#;
    let (status, _, body) = get(
        &emulator,
        "/api/now/table/incident?sysparm_limit=101",
        &token,
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, expected)
    );
    assert_eq!(
        get(
            &emulator,
            "/api/now/table/incident?sysparm_limit=100",
            &token
        )
        .await
        .0,
        StatusCode::OK
    );
    emulator.inject_table_faults(FaultKind::TransactionCancelled, 1);
    let (status, _, body) = get(&emulator, "/api/now/table/incident?sysparm_limit=1", &token).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, expected)
    );
}

#[tokio::test]
async fn added_latency_still_answers_normally() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    emulator.inject_table_faults(FaultKind::Latency(Duration::from_millis(30)), 1);
    emulator
        .update_settings(|settings| settings.faults.added_latency = Some(Duration::from_millis(5)));
    assert_eq!(get(&emulator, PAGE, &token).await.0, StatusCode::OK);
    assert_eq!(emulator.counters().faults_injected, 1);
}

/// The status of `count` Table API requests (0 for no response at all).
async fn outcomes(emulator: &EmulatorHandle, token: &str, count: usize) -> Vec<u16> {
    let mut seen = Vec::new();
    for _ in 0..count {
        let received = raw_exchange(emulator, &raw_get(token)).await;
        let text = String::from_utf8_lossy(&received);
        seen.push(
            text.get(9..12)
                .and_then(|code| code.parse().ok())
                .unwrap_or(0),
        );
    }
    seen
}

#[tokio::test]
async fn random_faults_follow_the_seed_and_spare_the_oauth_endpoints() {
    let plan = FaultPlan::unreliable(0.3);
    let first = start_with(
        Emulator::builder()
            .seed(5)
            .configure(|settings| settings.faults = plan.clone()),
    )
    .await;
    let second = start_with(
        Emulator::builder()
            .seed(5)
            .configure(|settings| settings.faults = plan.clone()),
    )
    .await;
    let (first_token, _) = password_tokens(&first).await;
    let (second_token, _) = password_tokens(&second).await;
    let first_outcomes = outcomes(&first, &first_token, 60).await;
    assert_eq!(
        first_outcomes,
        outcomes(&second, &second_token, 60).await,
        "same seed, same faults"
    );
    let failures = first_outcomes
        .iter()
        .filter(|status| **status != 200)
        .count();
    assert!(
        (5..=40).contains(&failures),
        "about 30% of 60 requests fail: {first_outcomes:?}"
    );
    assert!(
        first_outcomes.contains(&500)
            && first_outcomes.contains(&503)
            && first_outcomes.contains(&0)
    );
    first.update_settings(|settings| settings.faults = FaultPlan::unreliable(1.0));
    password_tokens(&first).await;
    first.update_settings(|settings| settings.faults = FaultPlan::none());
    assert_eq!(outcomes(&first, &first_token, 5).await, vec![200; 5]);
}

#[tokio::test]
async fn drop_connections_cuts_a_request_in_flight() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    emulator.inject_table_faults(FaultKind::Latency(Duration::from_secs(30)), 1);
    let request = tokio::spawn(
        http()
            .get(emulator.url(PAGE))
            .bearer_auth(token.clone())
            .send(),
    );
    for _ in 0..500 {
        if emulator.counters().faults_injected == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        emulator.counters().faults_injected,
        1,
        "the request reached the emulator"
    );
    emulator.drop_connections();
    let outcome = request.await.unwrap();
    assert!(outcome.is_err(), "no response: {outcome:?}");
    assert_eq!(
        get(&emulator, PAGE, &token).await.0,
        StatusCode::OK,
        "new connections work"
    );
}

#[tokio::test]
async fn a_restart_refuses_connections_while_down_and_keeps_tokens_and_records() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    emulator.pause().await;
    let error = http()
        .get(emulator.url(PAGE))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    emulator.resume().await.unwrap();
    assert_eq!(get(&emulator, PAGE, &token).await.0, StatusCode::OK);
    emulator.restart().await.unwrap();
    assert_eq!(get(&emulator, PAGE, &token).await.0, StatusCode::OK);
    emulator.shutdown().await;
}

/// A batch of one Table API read.
const ONE_ITEM_BATCH: &str = r#"{"batch_request_id":"1","rest_requests":[{"id":"a","method":"GET","url":"/api/now/table/incident?sysparm_limit=1","headers":[{"name":"Accept","value":"application/json"}]}]}"#;

async fn batch(emulator: &EmulatorHandle, token: &str) -> (StatusCode, String) {
    let response = http()
        .post(emulator.url("/api/now/v1/batch"))
        .bearer_auth(token)
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .body(ONE_ITEM_BATCH)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn the_aggregate_batch_and_attachment_apis_count_against_the_same_rate_limit() {
    let emulator = start().await;
    emulator
        .clock()
        .set(UNIX_EPOCH + Duration::from_secs(ON_THE_HOUR + 600));
    emulator.clock().freeze();
    let (token, _) = password_tokens(&emulator).await;
    emulator.update_settings(|settings| settings.rate_limit = Some(RateLimitRule::all_users(4)));
    let (status, headers, _) = get(
        &emulator,
        "/api/now/stats/incident?sysparm_count=true",
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "X-RateLimit-Limit"), "4");
    let (status, _, _) = get(&emulator, "/api/now/attachment?sysparm_limit=1", &token).await;
    assert_eq!(status, StatusCode::OK);
    // The batch call counts once, and its item once more: the limit of 4 is reached.
    let (status, text) = batch(&emulator, &token).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(json(&text)["serviced_requests"][0]["status_code"], 200);
    for path in [
        "/api/now/stats/incident?sysparm_count=true",
        "/api/now/attachment?sysparm_limit=1",
    ] {
        let (status, headers, text) = get(&emulator, path, &token).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{path}");
        assert_eq!(header(&headers, "Retry-After"), "3000", "{path}");
        assert_eq!(json(&text)["error"]["message"], "Rate limit exceeded");
    }
    let (status, _) = batch(&emulator, &token).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn injected_faults_reach_the_aggregate_batch_and_attachment_apis_and_each_batch_item() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    emulator.inject_table_faults(FaultKind::ServiceUnavailable, 1);
    let (status, _, text) = get(
        &emulator,
        "/api/now/stats/incident?sysparm_count=true",
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    let (status, _, _) = get(
        &emulator,
        "/api/now/stats/incident?sysparm_count=true",
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "one fault, one failure");

    emulator.inject_table_faults(FaultKind::TransactionCancelled, 1);
    let (status, text) = batch(&emulator, &token).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        json(&text)["error"]["message"],
        "Transaction cancelled: maximum execution time exceeded"
    );

    // The call takes the first queued fault (a harmless latency), its item the second.
    emulator.inject_table_faults(FaultKind::Latency(Duration::from_millis(1)), 1);
    emulator.inject_table_faults(FaultKind::ServiceUnavailable, 1);
    let (status, text) = batch(&emulator, &token).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(json(&text)["serviced_requests"][0]["status_code"], 503);

    emulator.inject_table_faults(FaultKind::InternalServerError, 1);
    let (status, _, _) = get(&emulator, "/api/now/attachment?sysparm_limit=1", &token).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(emulator.counters().faults_injected, 5);
}

//! Encoded queries through the Table API over real sockets: connectors, operators, ordering,
//! dot-walking, the literal caret, `javascript:` refused, invalid parts ignored or (as an
//! option) returning no rows (servicenow-api.md §2.3 `sysparm_query`, §3.1–§3.4, §5 item 5).

mod common;

use common::{encode, get, header, http, json, password_tokens, start};
use reqwest::StatusCode;
use serde_json::Value;
use servicenow_emulator::EmulatorHandle;

/// A filter written in plain Rust, the expectation for one encoded query.
type Keep = Box<dyn Fn(&Value) -> bool>;

const FIELDS: &str = "number,priority,state,active,short_description,assigned_to,sys_id";

async fn query(emulator: &EmulatorHandle, token: &str, encoded: &str) -> Vec<Value> {
    let path = format!(
        "/api/now/table/incident?{}",
        encode(&[
            ("sysparm_query", encoded),
            ("sysparm_fields", FIELDS),
            ("sysparm_exclude_reference_link", "true")
        ])
    );
    let (status, headers, body) = get(emulator, &path, token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let records = json(&body)["result"].as_array().unwrap().clone();
    assert_eq!(header(&headers, "X-Total-Count"), records.len().to_string());
    records
}

fn numbers(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|record| record["number"].as_str().unwrap().to_owned())
        .collect()
}

fn text<'a>(record: &'a Value, field: &str) -> &'a str {
    record[field].as_str().unwrap()
}

#[tokio::test]
async fn connectors_and_operators_select_what_a_plain_filter_selects() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    let all = query(&emulator, &token, "").await;
    assert_eq!(all.len(), 1000);
    let cases: Vec<(&str, Keep)> = vec![
        (
            "priority=1^ORpriority=2^active=true",
            Box::new(|r| matches!(text(r, "priority"), "1" | "2") && text(r, "active") == "true"),
        ),
        (
            "priority=1^NQstate=7",
            Box::new(|r| text(r, "priority") == "1" || text(r, "state") == "7"),
        ),
        (
            "priority<=2",
            Box::new(|r| text(r, "priority").parse::<u8>().unwrap() <= 2),
        ),
        (
            "priority>3",
            Box::new(|r| text(r, "priority").parse::<u8>().unwrap() > 3),
        ),
        ("priority!=3", Box::new(|r| text(r, "priority") != "3")),
        (
            "short_descriptionLIKEVPN",
            Box::new(|r| text(r, "short_description").contains("VPN")),
        ),
        (
            "short_descriptionNOT LIKEVPN",
            Box::new(|r| !text(r, "short_description").contains("VPN")),
        ),
        (
            "short_descriptionSTARTSWITHEmail",
            Box::new(|r| text(r, "short_description").starts_with("Email")),
        ),
        (
            "short_descriptionENDSWITHis down",
            Box::new(|r| text(r, "short_description").ends_with("is down")),
        ),
        (
            "stateIN1,2,3",
            Box::new(|r| matches!(text(r, "state"), "1" | "2" | "3")),
        ),
        (
            "stateNOT IN1,2,3",
            Box::new(|r| !matches!(text(r, "state"), "1" | "2" | "3")),
        ),
        (
            "assigned_toISEMPTY",
            Box::new(|r| text(r, "assigned_to").is_empty()),
        ),
        (
            "assigned_toISNOTEMPTY",
            Box::new(|r| !text(r, "assigned_to").is_empty()),
        ),
        (
            "priorityBETWEEN2@4",
            Box::new(|r| (2..=4).contains(&text(r, "priority").parse::<u8>().unwrap())),
        ),
        (
            "numberBETWEENINC0000100@INC0000199",
            Box::new(|r| ("INC0000100"..="INC0000199").contains(&text(r, "number"))),
        ),
    ];
    for (encoded, keep) in cases {
        let expected: Vec<String> = numbers(
            &all.iter()
                .filter(|record| keep(record))
                .cloned()
                .collect::<Vec<_>>(),
        );
        assert!(
            !expected.is_empty() && expected.len() < 1000,
            "{encoded} should select some rows, not all"
        );
        assert_eq!(
            numbers(&query(&emulator, &token, encoded).await),
            expected,
            "{encoded}"
        );
    }
}

#[tokio::test]
async fn orderby_and_orderbydesc_sort_by_several_keys() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    let records = query(
        &emulator,
        &token,
        "active=true^ORDERBYDESCpriority^ORDERBYnumber",
    )
    .await;
    let keys: Vec<(u8, String)> = records
        .iter()
        .map(|record| {
            (
                text(record, "priority").parse().unwrap(),
                text(record, "number").to_owned(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|left, right| right.0.cmp(&left.0).then_with(|| left.1.cmp(&right.1)));
    assert_eq!(keys, sorted);
    assert!(keys.first().unwrap().0 > keys.last().unwrap().0);
}

#[tokio::test]
async fn dot_walking_follows_a_reference() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    let (_, _, body) = get(
        &emulator,
        "/api/now/table/sys_user?sysparm_limit=1&sysparm_offset=3",
        &token,
    )
    .await;
    let user = json(&body)["result"][0].clone();
    let records = query(
        &emulator,
        &token,
        &format!("assigned_to.name={}", user["name"].as_str().unwrap()),
    )
    .await;
    assert!(!records.is_empty());
    assert!(
        records
            .iter()
            .all(|record| record["assigned_to"] == user["sys_id"])
    );
}

#[tokio::test]
async fn a_double_caret_matches_a_literal_caret() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    for name in ["a^b", "a", "b"] {
        let response = http()
            .post(emulator.url("/api/now/table/u_carets"))
            .bearer_auth(&token)
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .body(serde_json::json!({ "u_name": name }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let path = format!(
        "/api/now/table/u_carets?{}",
        encode(&[("sysparm_query", "u_name=a^^b")])
    );
    let (_, _, body) = get(&emulator, &path, &token).await;
    let names: Vec<Value> = json(&body)["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["u_name"].clone())
        .collect();
    assert_eq!(names, vec![Value::from("a^b")]);
}

#[tokio::test]
async fn javascript_values_are_refused() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    let path = format!(
        "/api/now/table/incident?{}",
        encode(&[("sysparm_query", "caller_id=javascript:gs.getUserID()")])
    );
    let (status, _, body) = get(&emulator, &path, &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json(&body)["status"], "failure");
}

#[tokio::test]
async fn invalid_parts_are_ignored_unless_invalid_queries_return_no_rows() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    let valid = numbers(&query(&emulator, &token, "active=true").await);
    assert_eq!(
        numbers(&query(&emulator, &token, "no_such_field=1^active=true").await),
        valid
    );
    assert_eq!(
        numbers(&query(&emulator, &token, "active=true^priorityWHATEVER3").await),
        valid
    );
    emulator.update_settings(|settings| settings.invalid_query_returns_no_rows = true);
    assert!(
        query(&emulator, &token, "no_such_field=1^active=true")
            .await
            .is_empty()
    );
    assert_eq!(
        numbers(&query(&emulator, &token, "active=true").await),
        valid
    );
}

#[tokio::test]
async fn name_value_parameters_work_like_a_query() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    let (_, headers, _) = get(
        &emulator,
        "/api/now/table/incident?active=true&priority=1&sysparm_limit=1",
        &token,
    )
    .await;
    let expected = query(&emulator, &token, "active=true^priority=1")
        .await
        .len();
    assert_eq!(header(&headers, "X-Total-Count"), expected.to_string());
}

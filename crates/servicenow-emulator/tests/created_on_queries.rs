//! Creation-time windows in the query engine, as a client partitioning an export by
//! `sys_created_on` sends them (sndml3's partitioned loads, servicenow-api-more.md §6):
//! `sys_created_on>=A^sys_created_on<B` selects the window, `ORDERBYsys_created_on` and
//! `ORDERBYDESCsys_created_on` order by time even when records were created out of `sys_id`
//! order, and `^ORsys_created_onISEMPTY` joins the condition before it.

mod common;

use std::time::{Duration, UNIX_EPOCH};

use common::{encode, get, http, json, password_tokens, start_with};
use reqwest::StatusCode;
use serde_json::Value;
use servicenow_emulator::{Emulator, EmulatorHandle};

/// 2023-01-01 00:00:00 UTC: the first generated record's creation time (then one a minute).
const FIRST_CREATED: u64 = 1_672_531_200;

async fn records(emulator: &EmulatorHandle, token: &str, query: &str) -> Vec<Value> {
    let parameters = encode(&[
        ("sysparm_fields", "sys_id,sys_created_on"),
        ("sysparm_query", query),
    ]);
    let path = format!("/api/now/table/problem?{parameters}");
    let (status, _, body) = get(emulator, &path, token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    json(&body)["result"].as_array().expect("a list").clone()
}

fn created(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .map(|record| record["sys_created_on"].as_str().expect("a string"))
        .collect()
}

#[tokio::test]
async fn creation_time_windows_select_and_order_by_time_whatever_the_sys_id_order() {
    let emulator = start_with(Emulator::builder().rows("problem", 100)).await;
    let (token, _) = password_tokens(&emulator).await;
    // Three records created back in time, at minutes 10.5, 50.5 and 99.5 of the generated span,
    // with sys_ids below every generated one: sys_id order is no longer creation order.
    for (minute, sys_id) in [
        (50, "00000000000000000000000000000002"),
        (10, "00000000000000000000000000000001"),
        (99, "00000000000000000000000000000003"),
    ] {
        emulator
            .clock()
            .set(UNIX_EPOCH + Duration::from_secs(FIRST_CREATED + minute * 60 + 30));
        let response = http()
            .post(emulator.url("/api/now/table/problem"))
            .bearer_auth(&token)
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .body(format!(r#"{{"sys_id":"{sys_id}"}}"#))
            .send()
            .await
            .expect("the Table API answers");
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    let ascending = records(&emulator, &token, "ORDERBYsys_created_on").await;
    assert_eq!(ascending.len(), 103);
    let times = created(&ascending);
    assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "{times:?}");
    assert_eq!(ascending[11]["sys_id"], "00000000000000000000000000000001");
    assert_eq!(ascending[11]["sys_created_on"], "2023-01-01 00:10:30");

    let latest = records(
        &emulator,
        &token,
        "sys_created_onISNOTEMPTY^ORDERBYDESCsys_created_on",
    )
    .await;
    assert_eq!(latest[0]["sys_created_on"], "2023-01-01 01:39:30");
    assert_eq!(latest[0]["sys_id"], "00000000000000000000000000000003");

    // The window [00:10:00, 00:51:00): generated minutes 10 to 50, and two inserted records.
    let window = records(
        &emulator,
        &token,
        "sys_created_on>=2023-01-01 00:10:00^sys_created_on<2023-01-01 00:51:00^ORDERBYsys_id",
    )
    .await;
    assert_eq!(window.len(), 41 + 2);
    assert_eq!(
        window[0]["sys_id"], "00000000000000000000000000000001",
        "by sys_id"
    );
    assert_eq!(window[1]["sys_id"], "00000000000000000000000000000002");
    let times = created(&window);
    assert!(
        times
            .iter()
            .all(|time| ("2023-01-01 00:10:00".."2023-01-01 00:51:00").contains(time)),
        "{times:?}"
    );

    // The first window of an export, open below, with its `^OR` for empty creation times: every
    // record of the window (none has an empty creation time) and the `sys_id` cursor still holds.
    let first = records(
        &emulator,
        &token,
        "sys_created_on<2023-01-01 00:10:00^ORsys_created_onISEMPTY^sys_id>00000000000000000000000000000001^ORDERBYsys_id",
    )
    .await;
    assert_eq!(first.len(), 10, "generated minutes 0 to 9");
}

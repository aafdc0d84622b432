//! Table API writes over real sockets: POST 201 + `Location`, PUT/PATCH 200, DELETE 204, the
//! required `Accept`/`Content-Type` headers, tables created on first POST, input display
//! values (servicenow-api.md §2.1 methods and status codes, §2.2 headers, §2.3
//! `sysparm_input_display_value`, §2.4 value shapes, §5 checklist item 4).

mod common;

use std::time::{Duration, UNIX_EPOCH};

use common::{get, header, http, json, password_tokens, start, start_with};
use reqwest::{Method, StatusCode};
use servicenow_emulator::{Emulator, EmulatorHandle, NoResponseBodyStatus};

async fn send(
    emulator: &EmulatorHandle,
    method: Method,
    path: &str,
    token: &str,
    body: &str,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let response = http()
        .request(method, emulator.url(path))
        .bearer_auth(token)
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.text().await.unwrap())
}

#[tokio::test]
async fn post_creates_a_record_with_201_a_location_and_string_values() {
    let emulator = start().await;
    emulator
        .clock()
        .set(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    emulator.clock().freeze();
    let (token, _) = password_tokens(&emulator).await;
    let body = r#"{"short_description":"Printer on fire","urgency":1,"impact":"1","active":true}"#;
    let (status, headers, text) = send(
        &emulator,
        Method::POST,
        "/api/now/table/incident",
        &token,
        body,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let record = json(&text)["result"].clone();
    let sys_id = record["sys_id"].as_str().unwrap();
    assert_eq!(
        header(&headers, "Location"),
        format!("{}/api/now/table/incident/{sys_id}", emulator.base_url())
    );
    assert_eq!(record["urgency"], "1", "numbers are stored as strings");
    assert_eq!(record["active"], "true");
    assert_eq!(
        record["number"], "INC0001001",
        "numbered after the 1000 generated incidents"
    );
    assert_eq!(
        record["sys_created_on"], "2027-01-15 08:00:00",
        "stamped with the emulator's clock"
    );
    assert_eq!(record["sys_created_by"], "admin");
    assert_eq!(record["state"], "1", "defaults for fields not sent");
    let (status, _, text) = get(
        &emulator,
        &format!("/api/now/table/incident/{sys_id}"),
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json(&text)["result"]["short_description"],
        "Printer on fire"
    );
    let (_, headers, _) = get(&emulator, "/api/now/table/incident?sysparm_limit=1", &token).await;
    assert_eq!(header(&headers, "X-Total-Count"), "1001");
    assert_eq!(emulator.counters().table_requests("POST", "incident"), 1);
}

#[tokio::test]
async fn writes_without_accept_or_content_type_get_400() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    for headers in [
        "Content-Type: application/json\r\n",
        "Accept: application/json\r\n",
    ] {
        let request = format!(
            "POST /api/now/table/incident HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n{headers}\
             Content-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        );
        let response = String::from_utf8(common::raw_exchange(&emulator, &request).await).unwrap();
        assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
        assert!(response.ends_with(r#""status":"failure"}"#), "{response}");
    }
    assert_eq!(emulator.counters().table_requests("POST", "incident"), 2);
}

#[tokio::test]
async fn patch_and_put_update_only_the_fields_sent_and_delete_answers_204() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    let (_, _, text) = get(
        &emulator,
        "/api/now/table/incident?sysparm_limit=1&sysparm_offset=7",
        &token,
    )
    .await;
    let before = json(&text)["result"][0].clone();
    let sys_id = before["sys_id"].as_str().unwrap().to_owned();
    let path = format!("/api/now/table/incident/{sys_id}");
    let (status, _, text) = send(&emulator, Method::PATCH, &path, &token, r#"{"state":"2"}"#).await;
    assert_eq!(status, StatusCode::OK);
    let patched = json(&text)["result"].clone();
    assert_eq!(patched["state"], "2");
    assert_eq!(patched["number"], before["number"]);
    assert_eq!(patched["short_description"], before["short_description"]);
    let count_before: u64 = before["sys_mod_count"].as_str().unwrap().parse().unwrap();
    assert_eq!(patched["sys_mod_count"], (count_before + 1).to_string());
    let (status, _, text) = send(
        &emulator,
        Method::PUT,
        &path,
        &token,
        r#"[{"short_description":"first only"},{"short_description":"ignored"}]"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&text)["result"]["short_description"], "first only");
    assert_eq!(json(&text)["result"]["state"], "2");

    let (status, headers, text) = send(&emulator, Method::DELETE, &path, &token, "").await;
    assert_eq!((status, text.as_str()), (StatusCode::NO_CONTENT, ""));
    assert!(headers.get("Content-Type").is_none());
    assert_eq!(get(&emulator, &path, &token).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        send(&emulator, Method::DELETE, &path, &token, "").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&emulator, Method::PATCH, &path, &token, "{}").await.0,
        StatusCode::NOT_FOUND
    );
    let (_, headers, _) = get(&emulator, "/api/now/table/incident?sysparm_limit=1", &token).await;
    assert_eq!(header(&headers, "X-Total-Count"), "999");
}

#[tokio::test]
async fn a_post_to_an_unknown_table_creates_it() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    let (status, _, text) = send(
        &emulator,
        Method::POST,
        "/api/now/table/u_inventory",
        &token,
        r#"{"u_name":"chair","u_count":4}"#,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(json(&text)["result"]["u_count"], "4");
    send(
        &emulator,
        Method::POST,
        "/api/now/table/u_inventory",
        &token,
        r#"{"u_name":"desk","u_color":"oak"}"#,
    )
    .await;
    let (status, headers, text) = get(
        &emulator,
        "/api/now/table/u_inventory?sysparm_query=u_nameSTARTSWITHd",
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "X-Total-Count"), "1");
    let desk = json(&text)["result"][0].clone();
    assert_eq!(
        (desk["u_color"].as_str(), desk["u_count"].as_str()),
        (Some("oak"), Some(""))
    );
}

#[tokio::test]
async fn input_display_values_turn_labels_and_names_into_stored_values() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    let (_, _, text) = get(
        &emulator,
        "/api/now/table/sys_user?sysparm_limit=1&sysparm_fields=sys_id,name",
        &token,
    )
    .await;
    let user = json(&text)["result"][0].clone();
    let body = format!(
        r#"{{"state":"In Progress","assigned_to":"{}"}}"#,
        user["name"].as_str().unwrap()
    );
    let path = "/api/now/table/incident?sysparm_input_display_value=true&sysparm_exclude_reference_link=true";
    let (status, _, text) = send(&emulator, Method::POST, path, &token, &body).await;
    assert_eq!(status, StatusCode::CREATED);
    let record = json(&text)["result"].clone();
    assert_eq!(record["state"], "2");
    assert_eq!(record["assigned_to"], user["sys_id"]);
}

#[tokio::test]
async fn x_no_response_body_suppresses_the_body() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    let response = http()
        .post(emulator.url("/api/now/table/problem"))
        .bearer_auth(&token)
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .header("X-no-response-body", "true")
        .body(r#"{"short_description":"quiet"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(response.headers().get("Location").is_some());
    assert_eq!(response.text().await.unwrap(), "");
}

#[tokio::test]
async fn the_status_of_a_write_without_a_body_can_be_204() {
    // The status of a write with `X-no-response-body` is not documented: a setting.
    let emulator = start_with(Emulator::builder().configure(|settings| {
        settings.no_response_body_status = NoResponseBodyStatus::NoContent;
    }))
    .await;
    let (token, _) = password_tokens(&emulator).await;
    let quiet = |method: Method, path: &str| {
        http()
            .request(method, emulator.url(path))
            .bearer_auth(&token)
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .header("X-no-response-body", "true")
            .body(r#"{"short_description":"quiet"}"#)
            .send()
    };
    let created = quiet(Method::POST, "/api/now/table/problem").await.unwrap();
    assert_eq!(created.status(), StatusCode::NO_CONTENT);
    let location = created.headers()["Location"].to_str().unwrap().to_owned();
    assert_eq!(created.text().await.unwrap(), "");
    let sys_id = location.rsplit('/').next().unwrap();
    let updated = quiet(Method::PATCH, &format!("/api/now/table/problem/{sys_id}"))
        .await
        .unwrap();
    assert_eq!(updated.status(), StatusCode::NO_CONTENT);
    // Without the header, writes keep their statuses and bodies.
    let (status, _, text) = send(
        &emulator,
        Method::PATCH,
        &format!("/api/now/table/problem/{sys_id}"),
        &token,
        r#"{"short_description":"loud"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&text)["result"]["short_description"], "loud");
}

#[tokio::test]
async fn ordering_stays_right_after_writes_that_break_natural_order() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    let chosen = "00000000000000000000000000000001";
    let body =
        format!(r#"{{"sys_id":"{chosen}","number":"INC0000000","short_description":"chosen id"}}"#);
    let (status, headers, _) = send(
        &emulator,
        Method::POST,
        "/api/now/table/incident",
        &token,
        &body,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(header(&headers, "Location").ends_with(chosen));
    let first = |query: &'static str| {
        let emulator = &emulator;
        let token = &token;
        async move {
            let path = format!(
                "/api/now/table/incident?sysparm_limit=2&sysparm_fields=sys_id,number&sysparm_query={query}"
            );
            let (_, _, text) = get(emulator, &path, token).await;
            json(&text)["result"][0].clone()
        }
    };
    assert_eq!(
        first("ORDERBYsys_id").await["sys_id"],
        chosen,
        "the client-chosen sys_id sorts first"
    );
    assert_eq!(first("ORDERBYnumber").await["number"], "INC0000000");
    assert_eq!(
        first("ORDERBYDESCsys_id").await["number"],
        "INC0001000",
        "the last generated row"
    );
    let (status, _, text) = get(
        &emulator,
        &format!("/api/now/table/incident/{chosen}"),
        &token,
    )
    .await;
    assert_eq!(
        (status, json(&text)["result"]["short_description"].as_str()),
        (StatusCode::OK, Some("chosen id"))
    );
}

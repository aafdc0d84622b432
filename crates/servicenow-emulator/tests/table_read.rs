//! Table API reads over real sockets: paths and versions, `Link` and `X-Total-Count` byte for
//! byte, value shapes, display values, error envelopes, authentication (servicenow-api.md §2.1
//! paths and versions, §2.3 parameters, §2.4 value shapes, §2.5 pagination, §2.6 errors,
//! §1.9 bearer tokens, §5 checklist item 4).

mod common;

use std::time::Duration;

use common::{get, header, http, json, password_tokens, start, start_with};
use reqwest::StatusCode;
use servicenow_emulator::{Emulator, FirstPagePrevLink};

async fn admin_token(emulator: &servicenow_emulator::EmulatorHandle) -> String {
    password_tokens(emulator).await.0
}

#[tokio::test]
async fn the_link_header_has_the_exact_captured_format_on_the_first_page() {
    let emulator = start_with(Emulator::builder().rows("incident", 73)).await;
    let token = admin_token(&emulator).await;
    let (status, headers, body) =
        get(&emulator, "/api/now/table/incident?sysparm_limit=1", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "X-Total-Count"), "73");
    let base = format!("{}/api/now/table/incident", emulator.base_url());
    assert_eq!(
        header(&headers, "Link"),
        format!(
            "<{base}?sysparm_limit=1&sysparm_offset=0>;rel=\"first\",<{base}?sysparm_limit=1&sysparm_offset=-1>;rel=\"prev\",\
             <{base}?sysparm_limit=1&sysparm_offset=1>;rel=\"next\",<{base}?sysparm_limit=1&sysparm_offset=72>;rel=\"last\""
        )
    );
    assert_eq!(
        header(&headers, "Content-Type"),
        "application/json;charset=UTF-8"
    );
    assert_eq!(json(&body)["result"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_link_header_keeps_the_callers_other_parameters_and_the_last_page_has_no_next() {
    let emulator = start_with(Emulator::builder().rows("incident", 25)).await;
    let token = admin_token(&emulator).await;
    let path = "/api/now/v2/table/incident?sysparm_query=active%3Dtrue%5EORactive%3Dfalse&display_value=True&sysparm_offset=20&sysparm_limit=10";
    let (_, headers, body) = get(&emulator, path, &token).await;
    let base = format!(
        "{}/api/now/v2/table/incident?sysparm_query=active%3Dtrue%5EORactive%3Dfalse&display_value=True",
        emulator.base_url()
    );
    assert_eq!(
        header(&headers, "Link"),
        format!(
            "<{base}&sysparm_limit=10&sysparm_offset=0>;rel=\"first\",<{base}&sysparm_limit=10&sysparm_offset=10>;rel=\"prev\",\
             <{base}&sysparm_limit=10&sysparm_offset=20>;rel=\"last\""
        )
    );
    assert_eq!(json(&body)["result"].as_array().unwrap().len(), 5);
    emulator.update_settings(|settings| settings.first_page_prev_link = FirstPagePrevLink::Omitted);
    let (_, headers, _) = get(
        &emulator,
        "/api/now/table/incident?sysparm_limit=10",
        &token,
    )
    .await;
    assert!(!header(&headers, "Link").contains("rel=\"prev\""));
}

#[tokio::test]
async fn paging_by_offset_visits_every_row_once_in_sys_id_order() {
    let emulator = start_with(Emulator::builder().rows("incident", 1234)).await;
    let token = admin_token(&emulator).await;
    let mut sys_ids = Vec::new();
    for page in 0..13 {
        let path = format!(
            "/api/now/table/incident?sysparm_fields=sys_id&sysparm_limit=100&sysparm_offset={}",
            page * 100
        );
        let (_, _, body) = get(&emulator, &path, &token).await;
        for record in json(&body)["result"].as_array().unwrap() {
            sys_ids.push(record["sys_id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(sys_ids.len(), 1234);
    assert!(
        sys_ids.windows(2).all(|pair| pair[0] < pair[1]),
        "natural order is sys_id order"
    );
    let (_, _, body) =
        get(&emulator, "/api/now/table/incident?sysparm_fields=sys_id&sysparm_limit=3&sysparm_query=ORDERBYDESCsys_id", &token)
            .await;
    let page = json(&body);
    let last_three: Vec<&str> = page["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["sys_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        last_three,
        vec![sys_ids[1233].as_str(), &sys_ids[1232], &sys_ids[1231]]
    );
}

#[tokio::test]
async fn v1_answers_an_empty_result_with_404_and_v2_with_an_empty_array() {
    let emulator = start().await;
    let token = admin_token(&emulator).await;
    let query = "table/incident?sysparm_query=number%3DNOPE";
    let (status, _, body) = get(&emulator, &format!("/api/now/v1/{query}"), &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        r#"{"error":{"message":"No Record found","detail":"Record doesn't exist or ACL restricts the record retrieval"},"status":"failure"}"#
    );
    for version in ["v2/", ""] {
        let (status, headers, body) =
            get(&emulator, &format!("/api/now/{version}{query}"), &token).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, r#"{"result":[]}"#)
        );
        assert_eq!(header(&headers, "X-Total-Count"), "0");
    }
}

#[tokio::test]
async fn values_are_strings_and_references_are_link_and_value_or_empty() {
    let emulator = start().await;
    let token = admin_token(&emulator).await;
    let (_, _, body) = get(
        &emulator,
        "/api/now/table/incident?sysparm_limit=50",
        &token,
    )
    .await;
    let records = json(&body)["result"].as_array().unwrap().clone();
    let mut saw_reference = false;
    let mut saw_empty_reference = false;
    for record in &records {
        for (field, value) in record.as_object().unwrap() {
            match value {
                serde_json::Value::String(text) => {
                    if field == "assigned_to" && text.is_empty() {
                        saw_empty_reference = true;
                    }
                }
                serde_json::Value::Object(reference) => {
                    let sys_id = reference["value"].as_str().unwrap();
                    let link = reference["link"].as_str().unwrap();
                    assert_eq!(
                        link,
                        format!(
                            "{}/api/now/table/{}/{sys_id}",
                            emulator.base_url(),
                            target(field)
                        )
                    );
                    saw_reference = true;
                }
                other => panic!("{field} is neither a string nor a reference: {other}"),
            }
        }
        assert_eq!(record["sys_class_name"], "incident");
        assert!(record["number"].as_str().unwrap().starts_with("INC"));
        assert!(matches!(record["active"].as_str(), Some("true" | "false")));
    }
    assert!(saw_reference && saw_empty_reference);
    let first = &records[0];
    let link = first["caller_id"]["link"].as_str().unwrap().to_owned();
    let (status, _, user) = get(
        &emulator,
        link.strip_prefix(emulator.base_url()).unwrap(),
        &token,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a reference link leads to the referenced record"
    );
    assert_eq!(json(&user)["result"]["sys_id"], first["caller_id"]["value"]);

    fn target(field: &str) -> &str {
        match field {
            "cmdb_ci" => "cmdb_ci",
            "assignment_group" => "sys_user_group",
            _ => "sys_user",
        }
    }
}

#[tokio::test]
async fn display_values_true_all_and_excluded_reference_links() {
    let emulator = start().await;
    let token = admin_token(&emulator).await;
    let fields = "sysparm_fields=number,state,caller_id,priority&sysparm_limit=1";
    let (_, _, raw_text) = get(
        &emulator,
        &format!("/api/now/table/incident?{fields}"),
        &token,
    )
    .await;
    let positions: Vec<usize> = ["\"number\"", "\"state\"", "\"caller_id\"", "\"priority\""]
        .iter()
        .map(|key| raw_text.find(key).unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|pair| pair[0] < pair[1]),
        "fields in the order asked: {raw_text}"
    );
    let raw = json(&raw_text)["result"][0].clone();
    assert_eq!(raw.as_object().unwrap().len(), 4);
    let (_, _, shown) = get(
        &emulator,
        &format!("/api/now/table/incident?{fields}&sysparm_display_value=true"),
        &token,
    )
    .await;
    let shown = json(&shown)["result"][0].clone();
    assert!(
        shown["priority"].as_str().unwrap().contains(" - "),
        "choice label: {shown}"
    );
    let caller_sys_id = raw["caller_id"]["value"].as_str().unwrap();
    let (_, _, caller) = get(
        &emulator,
        &format!("/api/now/table/sys_user/{caller_sys_id}"),
        &token,
    )
    .await;
    assert_eq!(
        shown["caller_id"]["display_value"],
        json(&caller)["result"]["name"]
    );
    let (_, _, all) = get(
        &emulator,
        &format!("/api/now/table/incident?{fields}&sysparm_display_value=all&sysparm_exclude_reference_link=true"),
        &token,
    )
    .await;
    let all = json(&all)["result"][0].clone();
    assert_eq!(all["state"]["value"], raw["state"]);
    assert_eq!(all["caller_id"]["value"], raw["caller_id"]["value"]);
    assert!(all["caller_id"].get("link").is_none());
    let (_, _, plain) = get(
        &emulator,
        &format!("/api/now/table/incident?{fields}&sysparm_exclude_reference_link=true"),
        &token,
    )
    .await;
    assert_eq!(
        json(&plain)["result"][0]["caller_id"],
        raw["caller_id"]["value"]
    );
}

#[tokio::test]
async fn dot_walked_fields_and_bad_fields_in_sysparm_fields() {
    let emulator = start().await;
    let token = admin_token(&emulator).await;
    let (_, _, body) =
        get(&emulator, "/api/now/table/incident?sysparm_fields=number,caller_id.name,no_such_field&sysparm_limit=1", &token).await;
    let record = json(&body)["result"][0].clone();
    assert_eq!(
        record.as_object().unwrap().len(),
        2,
        "invalid fields are ignored: {record}"
    );
    assert!(record["caller_id.name"].as_str().unwrap().contains(' '));
}

#[tokio::test]
async fn no_count_and_suppress_pagination_header() {
    let emulator = start().await;
    let token = admin_token(&emulator).await;
    let (_, headers, _) = get(
        &emulator,
        "/api/now/table/incident?sysparm_limit=5&sysparm_suppress_pagination_header=true",
        &token,
    )
    .await;
    assert!(headers.get("Link").is_none());
    assert_eq!(header(&headers, "X-Total-Count"), "1000");
    let (_, headers, _) = get(
        &emulator,
        "/api/now/table/incident?sysparm_limit=5&sysparm_no_count=true",
        &token,
    )
    .await;
    assert!(headers.get("X-Total-Count").is_none());
    assert!(
        header(&headers, "Link").contains("rel=\"next\"")
            && !header(&headers, "Link").contains("rel=\"last\"")
    );
}

#[tokio::test]
async fn the_default_limit_is_ten_thousand() {
    let emulator = start_with(Emulator::builder().rows("incident", 10_005)).await;
    let token = admin_token(&emulator).await;
    let (_, headers, body) = get(
        &emulator,
        "/api/now/table/incident?sysparm_fields=number",
        &token,
    )
    .await;
    assert_eq!(json(&body)["result"].as_array().unwrap().len(), 10_000);
    assert!(
        header(&headers, "Link").contains("sysparm_limit=10000&sysparm_offset=10000>;rel=\"next\"")
    );
}

#[tokio::test]
async fn a_record_by_sys_id_and_the_404_envelope() {
    let emulator = start().await;
    let token = admin_token(&emulator).await;
    let (_, _, body) = get(&emulator, "/api/now/table/problem?sysparm_limit=1", &token).await;
    let sys_id = json(&body)["result"][0]["sys_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, body) = get(
        &emulator,
        &format!("/api/now/table/problem/{sys_id}"),
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["result"]["sys_id"], sys_id.as_str());
    let (status, _, body) = get(
        &emulator,
        &format!("/api/now/table/incident/{sys_id}"),
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another table's sys_id");
    assert_eq!(
        body,
        r#"{"error":{"message":"No Record found","detail":"Record doesn't exist or ACL restricts the record retrieval"},"status":"failure"}"#
    );
}

#[tokio::test]
async fn unauthenticated_expired_and_unknown_tokens_get_the_401_envelope() {
    let emulator = start().await;
    let expected = r#"{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"}"#;
    let response = http()
        .get(emulator.url("/api/now/table/incident"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.text().await.unwrap(), expected);
    let (status, _, body) = get(&emulator, "/api/now/table/incident", "made-up-token").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::UNAUTHORIZED, expected)
    );
    let token = admin_token(&emulator).await;
    emulator.clock().advance(Duration::from_secs(1800));
    let (status, _, _) = get(&emulator, "/api/now/table/incident?sysparm_limit=1", &token).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "expired exactly at 1800 s"
    );
    let counters = emulator.counters();
    assert_eq!(counters.table_unauthorized, 3);
    assert_eq!(counters.table_requests("GET", "incident"), 3);
}

#[tokio::test]
async fn http_basic_works_for_users_so_basic_only_clients_can_be_pointed_at_it() {
    let emulator = start().await;
    let response = http()
        .get(emulator.url("/api/now/table/sys_user?sysparm_limit=2"))
        .basic_auth("itil", Some("itil"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let wrong = http()
        .get(emulator.url("/api/now/table/sys_user"))
        .basic_auth("itil", Some("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_tables_and_paths_get_400() {
    let emulator = start().await;
    let token = admin_token(&emulator).await;
    let (status, _, body) = get(&emulator, "/api/now/table/no_such_table", &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        json(&body)["error"]["message"],
        "Invalid table no_such_table"
    );
    let (status, _, _) = get(&emulator, "/api/now/tabel/incident", &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_same_seed_generates_the_same_rows_and_another_seed_other_rows() {
    let first = start_with(Emulator::builder().seed(9)).await;
    let second = start_with(Emulator::builder().seed(9)).await;
    let third = start_with(Emulator::builder().seed(10)).await;
    let mut pages = Vec::new();
    for emulator in [&first, &second, &third] {
        let token = admin_token(emulator).await;
        let path = "/api/now/table/incident?sysparm_limit=20&sysparm_exclude_reference_link=true";
        pages.push(get(emulator, path, &token).await.2);
    }
    assert_eq!(pages[0], pages[1]);
    assert_ne!(pages[0], pages[2]);
}

#[tokio::test]
async fn head_answers_with_the_headers_of_the_get_and_no_body() {
    let emulator = start_with(Emulator::builder().rows("incident", 42)).await;
    let token = admin_token(&emulator).await;
    let path = "/api/now/table/incident?sysparm_query=active%3Dtrue&sysparm_limit=1";
    let (_, get_headers, _) = get(&emulator, path, &token).await;
    let head = http()
        .head(emulator.url(path))
        .bearer_auth(&token)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    let count = header(head.headers(), "X-Total-Count").to_owned();
    assert_eq!(count, header(&get_headers, "X-Total-Count"));
    assert!(!count.is_empty());
    assert_eq!(header(head.headers(), "Link"), header(&get_headers, "Link"));
    assert_eq!(head.text().await.unwrap(), "", "HEAD has no body");

    // Whether a real instance counts on HEAD is not documented: a setting.
    emulator.update_settings(|settings| settings.head_sends_total_count = false);
    let head = http()
        .head(emulator.url(path))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.headers().get("X-Total-Count").is_none());
    let counters = emulator.counters();
    assert_eq!(counters.table_requests("HEAD", "incident"), 2);
}

#[tokio::test]
async fn the_query_domain_and_category_parameters_are_accepted() {
    let emulator = start_with(Emulator::builder().rows("incident", 12)).await;
    let token = admin_token(&emulator).await;
    let (status, headers, body) = get(
        &emulator,
        "/api/now/table/incident?sysparm_query_no_domain=true&sysparm_query_category=reporting",
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "X-Total-Count"), "12");
    assert_eq!(json(&body)["result"].as_array().unwrap().len(), 12);
}

#[tokio::test]
async fn pages_over_the_configured_size_are_cancelled_with_the_documented_body() {
    let emulator = start_with(
        Emulator::builder()
            .rows("incident", 30)
            .configure(|settings| settings.transaction_timeout_above_rows = Some(10)),
    )
    .await;
    let token = admin_token(&emulator).await;
    let (status, _, body) = get(
        &emulator,
        "/api/now/table/incident?sysparm_limit=11",
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        json(&body),
        serde_json::json!({"error": {
            "message": "Transaction cancelled: maximum execution time exceeded",
            "detail": "Transaction cancelled: maximum execution time exceeded Check logs for error trace or enable glide.rest.debug property to verify REST request processing"
        }, "status": "failure"})
    );
    let (status, _, _) = get(
        &emulator,
        "/api/now/table/incident?sysparm_limit=10",
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(emulator.counters().transactions_cancelled, 1);
}

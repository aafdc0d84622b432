//! The Batch API (`servicenow-api-more.md` §3): the exact batch request, the documented response
//! parsed item by item, and over the emulator: `create_many`/`update_many`/`delete_many`, a
//! partial failure reported per item (an ACL refusing some items), and unserviced items sent
//! again in a bounded number of calls, then reported, never dropped and never run twice.

mod emulator;

use std::convert::Infallible;

use bytes::Bytes;
use http::StatusCode;
use serde_json::json;
use servicenow_emulator::{Emulator, WriteDenial};
use servicenow_oauth::InstanceUrl;
use servicenow_table::{
    BatchConfig, BatchItem, BatchItemError, Record, SysId, TableApi, TableError, TableName,
    WriteOptions,
};

fn api() -> TableApi {
    TableApi::new(InstanceUrl::new("https://dev1.service-now.com").expect("valid instance"))
}

fn table(name: &str) -> TableName {
    TableName::new(name).expect("valid table")
}

#[test]
fn a_batch_request_carries_relative_urls_and_base64_bodies() -> Result<(), TableError<Infallible>> {
    let incident = table("incident");
    let create = api().create_request(
        &incident,
        &json!({"short_description": "Printer"}),
        &WriteOptions::default(),
    )?;
    let sys_id = SysId::new("9d385017c611228701d22104cc95c371")?;
    let mut delete = api().delete_request(&incident, &sys_id)?;
    *delete.body_mut() = Bytes::new();
    let items = [
        BatchItem::from_request("11", &create),
        BatchItem::from_request("12", &delete),
    ];
    let request = api().batch_request("1", &items)?;
    let body: serde_json::Value = serde_json::from_slice(request.body()).expect("json");
    let text = format!(
        "{} {}\n{}\n{}",
        request.method(),
        request.uri(),
        request
            .headers()
            .iter()
            .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("\n"),
        serde_json::to_string_pretty(&body).expect("json"),
    );
    insta::assert_snapshot!(text);
    Ok(())
}

/// The documented response sample (`batch-api.md`), with a second item left unserviced.
const DOCUMENTED: &str = r#"{"batch_request_id":"1","serviced_requests":[{"id":"13","status_code":201,"status_text":"Created","headers":[],"body":"eyJyZXN1bHQiOnsic3lzX2lkIjoiYWJjIn19","execution_time":2638}],"unserviced_requests":["14"]}"#;

#[test]
fn the_documented_response_parses_per_item() -> Result<(), TableError<Infallible>> {
    let response = http::Response::builder()
        .status(200)
        .body(Bytes::from_static(DOCUMENTED.as_bytes()))
        .expect("response");
    let answer = api().parse_batch(&response, "batch")?;
    let item = &answer.serviced["13"];
    assert_eq!(item.status, StatusCode::CREATED);
    assert_eq!(item.execution_time_ms, 2638);
    assert_eq!(&item.body[..], br#"{"result":{"sys_id":"abc"}}"#);
    assert_eq!(answer.unserviced, ["14"]);

    let broken = DOCUMENTED.replace("eyJyZXN1bHQiOnsic3lzX2lkIjoiYWJjIn19", "not base64!");
    let response = http::Response::builder()
        .status(200)
        .body(Bytes::from(broken))
        .expect("response");
    let error = api()
        .parse_batch(&response, "batch")
        .expect_err("bad base64");
    assert!(
        error.to_string().contains("item 13 is not base64"),
        "{error}"
    );
    Ok(())
}

#[tokio::test]
async fn create_update_and_delete_many_report_each_item()
-> Result<(), TableError<servicenow_http::TransportError>> {
    let emulator = emulator::start(
        Emulator::builder()
            .rows("incident", 10)
            .rows("change_request", 10),
    )
    .await;
    let client = emulator::client(&emulator);
    let incident = table("incident");
    let created = client
        .create_many::<_, Record>(
            &incident,
            &[
                json!({"short_description": "one"}),
                json!({"short_description": "two"}),
            ],
            &WriteOptions::default(),
        )
        .await?;
    let mut sys_ids = Vec::new();
    for result in created {
        let created = result.expect("each create succeeds");
        assert!(created.location.is_some(), "the Location header came back");
        let sys_id = created
            .record
            .get_str("sys_id")
            .expect("a sys_id")
            .to_owned();
        assert!(emulator.row_values("incident", &sys_id).is_some());
        sys_ids.push(SysId::new(sys_id).map_err(TableError::widen)?);
    }
    let updated = client
        .update_many::<_, Record>(
            &incident,
            &[
                (sys_ids[0].clone(), json!({"state": "2"})),
                (sys_ids[1].clone(), json!({"state": "3"})),
            ],
            &WriteOptions::default(),
        )
        .await?;
    assert_eq!(
        updated[1].as_ref().expect("updated").get_str("state"),
        Some("3")
    );
    assert_eq!(
        emulator
            .row_values("incident", sys_ids[0].as_str())
            .expect("row")["state"],
        "2"
    );

    // An ACL refuses writes to change_request: those items fail, the others persist.
    emulator.update_settings(|settings| {
        settings.write_acl_denials = vec![WriteDenial::table("change_request")]
    });
    let change = emulator.live_sys_ids("change_request").expect("table")[0].clone();
    let change_delete = {
        let mut request = client
            .api()
            .delete_request(
                &table("change_request"),
                &SysId::new(change.clone()).map_err(TableError::widen)?,
            )
            .map_err(TableError::widen)?;
        *request.body_mut() = Bytes::new();
        BatchItem::from_request("change", &request)
    };
    let incident_delete = {
        let mut request = client
            .api()
            .delete_request(&incident, &sys_ids[0])
            .map_err(TableError::widen)?;
        *request.body_mut() = Bytes::new();
        BatchItem::from_request("incident", &request)
    };
    let results = client
        .batch(vec![change_delete, incident_delete], BatchConfig::default())
        .await?;
    assert!(!results.all_succeeded());
    let (id, refused) = &results.items[0];
    assert_eq!(id, "change");
    match refused {
        Err(BatchItemError::Failed(error)) => {
            assert!(matches!(error, TableError::Forbidden { .. }), "{error:?}");
            assert!(
                error
                    .to_string()
                    .contains("batch write change (DELETE /api/now/v2/table/change_request/"),
                "{error}"
            );
        }
        other => unreachable!("expected a refusal, got {other:?}"),
    }
    assert!(results.items[1].1.is_ok());
    assert!(
        emulator.row_values("change_request", &change).is_some(),
        "not deleted"
    );
    assert!(
        emulator
            .row_values("incident", sys_ids[0].as_str())
            .is_none(),
        "deleted"
    );

    let deleted = client.delete_many(&incident, &sys_ids[1..]).await?;
    assert!(deleted.iter().all(Result::is_ok));
    Ok(())
}

#[tokio::test]
async fn unserviced_items_are_sent_again_then_reported_never_dropped()
-> Result<(), TableError<servicenow_http::TransportError>> {
    let emulator = emulator::start(Emulator::builder().rows("incident", 0)).await;
    let client = emulator::client(&emulator);
    let incident = table("incident");
    let items: Vec<BatchItem> = (0..5)
        .map(|index| {
            let request = client
                .api()
                .create_request(
                    &incident,
                    &json!({"short_description": format!("item {index}")}),
                    &WriteOptions::default(),
                )
                .expect("builds");
            BatchItem::from_request(format!("item-{index}"), &request)
        })
        .collect();

    // Two items per call: three calls serve all five.
    emulator.update_settings(|settings| settings.batch_serviced_per_call = Some(2));
    let results = client.batch(items.clone(), BatchConfig::default()).await?;
    assert!(results.all_succeeded());
    assert_eq!(results.calls, 3);
    assert_eq!(
        emulator.live_sys_ids("incident").expect("table").len(),
        5,
        "each created once"
    );

    // One item per call, three calls allowed: two items are reported, and never ran.
    emulator.update_settings(|settings| settings.batch_serviced_per_call = Some(1));
    let results = client.batch(items, BatchConfig::default()).await?;
    assert_eq!(results.calls, 3);
    let unserviced: Vec<&str> = results
        .items
        .iter()
        .filter(|(_, result)| matches!(result, Err(BatchItemError::Unserviced { rounds: 3, .. })))
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(unserviced, ["item-3", "item-4"]);
    assert_eq!(
        emulator.live_sys_ids("incident").expect("table").len(),
        8,
        "three more, not five"
    );
    assert_eq!(emulator.counters().batch_requests, 6);
    Ok(())
}

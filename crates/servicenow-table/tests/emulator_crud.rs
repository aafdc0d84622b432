//! CRUD round trips against the emulator over real sockets.

mod emulator;

use serde::{Deserialize, Serialize};
use servicenow_emulator::Emulator;
use servicenow_table::{
    Condition, DisplayValues, ListParams, Query, ReadOptions, Record, SysId, TableError, TableName,
    WriteOptions, de,
};

#[derive(Debug, Serialize)]
struct NewIncident {
    short_description: String,
    urgency: String,
}

#[derive(Debug, Deserialize)]
struct Incident {
    sys_id: SysId,
    number: String,
    short_description: String,
    #[serde(deserialize_with = "de::number_from_string")]
    urgency: u8,
}

#[tokio::test]
async fn a_record_is_created_read_updated_replaced_listed_and_deleted() {
    let emulator = emulator::start(Emulator::builder()).await;
    let client = emulator::client(&emulator);
    let incident = TableName::new("incident").expect("valid");

    let new = NewIncident {
        short_description: "Printer on fire".into(),
        urgency: "1".into(),
    };
    let created = client
        .create::<_, Incident>(&incident, &new, &WriteOptions::default())
        .await
        .expect("created");
    let sys_id = created.record.sys_id.clone();
    assert_eq!(created.record.short_description, "Printer on fire");
    assert!(
        created
            .location
            .as_deref()
            .is_some_and(|location| location.ends_with(sys_id.as_str())),
        "{:?}",
        created.location
    );

    let read: Incident = client
        .get(&incident, &sys_id, &ReadOptions::default())
        .await
        .expect("read back");
    assert_eq!(
        (read.number.as_str(), read.urgency),
        (created.record.number.as_str(), 1)
    );

    let patched: Incident = client
        .update(
            &incident,
            &sys_id,
            &Record::new().with("urgency", "2"),
            &WriteOptions::default(),
        )
        .await
        .expect("patched");
    assert_eq!(
        (patched.urgency, patched.short_description.as_str()),
        (2, "Printer on fire")
    );

    let replaced: Incident = client
        .replace(
            &incident,
            &sys_id,
            &NewIncident {
                short_description: "Printer fixed".into(),
                urgency: "3".into(),
            },
            &WriteOptions::default(),
        )
        .await
        .expect("replaced");
    assert_eq!(
        (replaced.urgency, replaced.short_description.as_str()),
        (3, "Printer fixed")
    );

    let query = Query::new()
        .and("short_description", Condition::eq("Printer fixed"))
        .build()
        .expect("safe");
    let page = client
        .list::<Incident>(
            &incident,
            &ListParams {
                query: Some(query.clone()),
                ..ListParams::default()
            },
        )
        .await
        .expect("listed");
    assert_eq!(
        page.records
            .iter()
            .map(|row| &row.sys_id)
            .collect::<Vec<_>>(),
        [&sys_id]
    );
    assert_eq!(
        client
            .count(&incident, Some(&query))
            .await
            .expect("counted"),
        1
    );

    client.delete(&incident, &sys_id).await.expect("deleted");
    let gone = client
        .get::<Incident>(&incident, &sys_id, &ReadOptions::default())
        .await
        .expect_err("deleted");
    assert!(matches!(gone, TableError::NotFound { .. }), "{gone:?}");
    assert!(gone.to_string().contains("acl may hide it"), "{gone}");
    emulator.shutdown().await;
}

#[tokio::test]
async fn an_empty_list_is_an_empty_page_and_first_finds_nothing() {
    let emulator = emulator::start(Emulator::builder()).await;
    let client = emulator::client(&emulator);
    let incident = TableName::new("incident").expect("valid");
    let nothing = Query::new()
        .and("number", Condition::eq("INC-does-not-exist"))
        .build()
        .expect("safe");
    let page = client
        .list::<Record>(
            &incident,
            &ListParams {
                query: Some(nothing.clone()),
                ..ListParams::default()
            },
        )
        .await
        .expect("v2 answers 200 []");
    assert!(page.records.is_empty());
    let first: Option<Record> = client
        .first(&incident, Some(nothing), ReadOptions::default())
        .await
        .expect("first");
    assert!(first.is_none());
    emulator.shutdown().await;
}

#[tokio::test]
async fn display_values_and_references_read_as_their_helper_types() {
    #[derive(Debug, Deserialize)]
    struct WithDisplay {
        number: servicenow_table::DisplayValue<String>,
    }
    let emulator = emulator::start(Emulator::builder()).await;
    let client = emulator::client(&emulator);
    let incident = TableName::new("incident").expect("valid");
    let options = ReadOptions {
        display_values: DisplayValues::All,
        ..ReadOptions::default()
    };
    let first: Option<WithDisplay> = client.first(&incident, None, options).await.expect("first");
    let number = first.expect("the emulator generates incidents").number;
    assert!(
        number.value.starts_with("INC") && number.display_value == number.value,
        "{number:?}"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_link_rewritten_to_another_origin_is_refused() {
    let emulator = emulator::start(Emulator::builder().configure(|settings| {
        settings.link_origin_override = Some("https://collector.example".into())
    }))
    .await;
    let client = emulator::client(&emulator);
    let incident = TableName::new("incident").expect("valid");
    let error = client
        .list::<Record>(
            &incident,
            &ListParams {
                limit: Some(5),
                ..ListParams::default()
            },
        )
        .await
        .expect_err("foreign link");
    assert!(
        matches!(error, TableError::ForeignOrigin { ref origin, .. } if origin == "https://collector.example"),
        "{error:?}"
    );
    emulator.shutdown().await;
}

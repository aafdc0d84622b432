//! The export partitioned by creation time (`Partition::CreatedOn`) against the emulator: every
//! row exactly once while rows are inserted (at creation times inside the windows, with sys_ids
//! across the key space), updated and deleted; the requests carry the windows; a checkpoint
//! resumes without a repeated or missing row and only with the same partitioning; a malformed
//! creation time from the server is a typed error.

mod emulator;

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use serde::Deserialize;
use servicenow_emulator::Emulator;
use servicenow_http::{HttpTransport, ReqwestTransport, TransportError, async_trait};
use servicenow_table::{
    ExportCheckpoint, ExportConfig, FieldName, Partition, ReadOptions, Record, Stopwatch, SysId,
    TableClient, TableError, TableName, WriteOptions,
};

/// 2023-01-01 00:00:00 UTC: the emulator's first generated record's creation time (one record
/// a minute after it).
const FIRST_CREATED: u64 = 1_672_531_200;

#[derive(Debug, Deserialize)]
struct Row {
    sys_id: String,
}

#[derive(Debug)]
struct TestStopwatch(Instant);

impl Stopwatch for TestStopwatch {
    fn since_start(&self) -> Duration {
        self.0.elapsed()
    }
}

fn stopwatch() -> Arc<dyn Stopwatch> {
    Arc::new(TestStopwatch(Instant::now()))
}

fn incident() -> TableName {
    TableName::new("incident").expect("valid")
}

fn sys_id_only() -> ReadOptions {
    ReadOptions {
        fields: vec![FieldName::new("sys_id").expect("valid")],
        ..ReadOptions::default()
    }
}

fn by_creation_time(config: ExportConfig) -> ExportConfig {
    let mut config = config;
    config.partition = Partition::CreatedOn;
    config
}

fn small_pages() -> ExportConfig {
    let mut config = ExportConfig::default();
    config.page_size = 250;
    by_creation_time(config)
}

/// Counts how often each sys_id was delivered.
fn tally(rows: impl IntoIterator<Item = String>) -> HashMap<String, u32> {
    let mut seen = HashMap::new();
    for sys_id in rows {
        *seen.entry(sys_id).or_default() += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_by_creation_time_delivers_every_row_once_while_rows_are_written() {
    const ROWS: u64 = 5_000;
    let emulator = emulator::start(Emulator::builder().rows("incident", ROWS)).await;
    let client = Arc::new(emulator::client(&emulator));
    let initial = emulator.live_sys_ids("incident").expect("incident");
    // A writer deletes every 7th row, updates every 11th and inserts rows whose creation times
    // fall inside the windows (the emulator's clock is set back) and whose sys_ids are spread
    // over the key space, out of creation order.
    let writer = tokio::spawn({
        let (client, initial) = (Arc::clone(&client), initial.clone());
        let clock = emulator.clock().clone();
        async move {
            let mut deleted = HashSet::new();
            for (step, index) in (0..initial.len()).step_by(7).take(200).enumerate() {
                let id = SysId::new(initial[index].clone()).expect("valid");
                client.delete(&incident(), &id).await.expect("delete");
                deleted.insert(initial[index].clone());
                let updated =
                    SysId::new(initial[(index * 11 + 3) % initial.len()].clone()).expect("valid");
                if !deleted.contains(updated.as_str()) {
                    let change = Record::new().with("short_description", format!("edit {step}"));
                    client
                        .update::<_, Record>(
                            &incident(),
                            &updated,
                            &change,
                            &WriteOptions::default(),
                        )
                        .await
                        .expect("update");
                }
                let minute = (step as u64 * 4_001) % ROWS;
                clock.set(UNIX_EPOCH + Duration::from_secs(FIRST_CREATED + minute * 60 + 30));
                let inserted = format!("{:032x}", (step as u128 * 0x9e37_79b9) << 96 | 0xabc);
                let record = Record::new().with("sys_id", inserted);
                client
                    .create::<_, Record>(&incident(), &record, &WriteOptions::default())
                    .await
                    .expect("insert");
            }
            clock.set(SystemTime::now());
            deleted
        }
    });
    let mut export = client
        .export::<Row>(&incident(), None, sys_id_only(), small_pages(), stopwatch())
        .expect("unordered");
    let mut delivered = Vec::new();
    while let Some(batch) = export.next_batch().await {
        delivered.extend(
            batch
                .expect("the export completes")
                .rows
                .into_iter()
                .map(|row| row.sys_id),
        );
    }
    let deleted = writer.await.expect("writer");
    let seen = tally(delivered);
    assert!(seen.values().all(|count| *count == 1), "a row came twice");
    for sys_id in initial.iter().filter(|sys_id| !deleted.contains(*sys_id)) {
        assert!(
            seen.contains_key(sys_id),
            "{sys_id} existed throughout and was missed"
        );
    }
    let checkpoint = export.checkpoint();
    assert_eq!(checkpoint.partition, Partition::CreatedOn);
    let windows = checkpoint
        .ranges
        .iter()
        .filter(|range| range.created_from.is_some() || range.created_below.is_some())
        .count();
    assert!(
        windows >= 8,
        "one window per starting request: {checkpoint:?}"
    );
}

/// Records the `sysparm_query` of every request, then forwards it.
#[derive(Debug)]
struct QueryLog<T> {
    inner: T,
    queries: Mutex<Vec<String>>,
}

#[async_trait]
impl<T: HttpTransport> HttpTransport for QueryLog<T> {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let url = url::Url::parse(&request.uri().to_string()).expect("absolute url");
        if let Some((_, query)) = url.query_pairs().find(|(name, _)| name == "sysparm_query") {
            self.queries
                .lock()
                .expect("not poisoned")
                .push(query.into_owned());
        }
        self.inner.send(request).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_ask_for_their_creation_time_window_and_the_first_also_for_empty_times() {
    let emulator = emulator::start(Emulator::builder().rows("incident", 1_000)).await;
    let transport = emulator::BasicAuth::new(ReqwestTransport::new().expect("builds"));
    let log = QueryLog {
        inner: transport,
        queries: Mutex::new(Vec::new()),
    };
    let instance =
        servicenow_oauth::InstanceUrl::new(emulator.base_url()).expect("a loopback origin");
    let client = TableClient::new(instance, log);
    let mut config = by_creation_time(ExportConfig::fixed(4));
    config.page_size = 100;
    let active = servicenow_table::EncodedQuery::unchecked_raw_from_trusted_source("active=true");
    let mut export = client
        .export::<Row>(
            &incident(),
            Some(active),
            sys_id_only(),
            config,
            stopwatch(),
        )
        .expect("unordered");
    let mut delivered = Vec::new();
    while let Some(batch) = export.next_batch().await {
        delivered.extend(
            batch
                .expect("the export completes")
                .rows
                .into_iter()
                .map(|row| row.sys_id),
        );
    }
    drop(export);
    let active = client
        .list::<Row>(
            &incident(),
            &servicenow_table::ListParams {
                query: Some(
                    servicenow_table::EncodedQuery::unchecked_raw_from_trusted_source(
                        "active=true",
                    ),
                ),
                options: sys_id_only(),
                limit: Some(10_000),
                offset: None,
            },
        )
        .await
        .expect("the active incidents");
    let seen = tally(delivered);
    assert!(seen.values().all(|count| *count == 1), "a row came twice");
    assert_eq!(seen.len(), active.records.len(), "every active incident");
    let queries = client
        .sender()
        .queries
        .lock()
        .expect("not poisoned")
        .clone();
    // Generated records are created a minute apart from 2023-01-01 00:00:00: 1,000 of them
    // span 59,941 seconds, four windows of 14,985 seconds.
    for probe in [
        "active=true^sys_created_onISNOTEMPTY^ORDERBYsys_created_on",
        "active=true^sys_created_onISNOTEMPTY^ORDERBYDESCsys_created_on",
    ] {
        assert!(queries.iter().any(|query| query == probe), "{queries:#?}");
    }
    let first_pages: HashSet<&str> = queries
        .iter()
        .map(String::as_str)
        .filter(|query| query.contains("sys_created_on") && !query.contains("sys_id>"))
        .filter(|query| !query.contains("ISNOTEMPTY"))
        .collect();
    let expected: HashSet<&str> = [
        "active=true^sys_created_on<2023-01-01 04:09:45^ORsys_created_onISEMPTY^ORDERBYsys_id",
        "active=true^sys_created_on>=2023-01-01 04:09:45^sys_created_on<2023-01-01 08:19:30^ORDERBYsys_id",
        "active=true^sys_created_on>=2023-01-01 08:19:30^sys_created_on<2023-01-01 12:29:15^ORDERBYsys_id",
        "active=true^sys_created_on>=2023-01-01 12:29:15^ORDERBYsys_id",
    ]
    .into_iter()
    .collect();
    assert_eq!(first_pages, expected, "{queries:#?}");
    // Every later page keeps its window and adds the cursor.
    for query in queries.iter().filter(|query| query.contains("sys_id>")) {
        assert!(
            query.starts_with("active=true^sys_created_on") && query.ends_with("^ORDERBYsys_id"),
            "{query}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_by_creation_time_resumed_from_its_checkpoint_repeats_and_misses_nothing() {
    let emulator = emulator::start(Emulator::builder().rows("incident", 5_000)).await;
    let client = emulator::client(&emulator);
    let mut first = client
        .export::<Row>(&incident(), None, sys_id_only(), small_pages(), stopwatch())
        .expect("unordered");
    let mut delivered = Vec::new();
    for _ in 0..7 {
        let batch = first.next_batch().await.expect("more batches").expect("ok");
        delivered.extend(batch.rows.into_iter().map(|row| row.sys_id));
    }
    let checkpoint = first.checkpoint();
    drop(first); // a crash: the pages in flight are lost
    let text = serde_json::to_string(&checkpoint).expect("serializes");
    assert!(
        text.contains(r#""partition":"sys_created_on""#)
            && text.contains(r#""created_below":"2023-"#),
        "{text}"
    );
    let checkpoint: ExportCheckpoint = serde_json::from_str(&text).expect("deserializes");
    assert_eq!(checkpoint.version, 2);

    // Resuming with the other partitioning is refused.
    let mut by_sys_id = small_pages();
    by_sys_id.partition = Partition::SysId;
    let refused = client.resume_export::<Row>(
        &incident(),
        None,
        sys_id_only(),
        by_sys_id,
        stopwatch(),
        &checkpoint,
    );
    let Err(TableError::Export { reason, .. }) = refused else {
        panic!("a sys_id export cannot continue creation-time windows");
    };
    assert!(reason.contains("partitioned by sys_created_on"), "{reason}");

    let mut resumed = client
        .resume_export::<Row>(
            &incident(),
            None,
            sys_id_only(),
            small_pages(),
            stopwatch(),
            &checkpoint,
        )
        .expect("same table, query and partitioning");
    while let Some(batch) = resumed.next_batch().await {
        delivered.extend(batch.expect("ok").rows.into_iter().map(|row| row.sys_id));
    }
    let seen = tally(delivered);
    assert!(seen.values().all(|count| *count == 1), "a row came twice");
    let table: HashSet<String> = emulator
        .live_sys_ids("incident")
        .expect("incident")
        .into_iter()
        .collect();
    assert_eq!(seen.keys().cloned().collect::<HashSet<_>>(), table);
}

#[test]
fn a_version_1_checkpoint_still_loads_and_resumes_only_by_sys_id() {
    let text = r#"{"version":1,"table":"incident","query":"","ranges":[
        {"from":null,"below":"80000000000000000000000000000000","cursor":null,"done":false},
        {"from":"80000000000000000000000000000000","below":null,"cursor":null,"done":true}]}"#;
    let checkpoint: ExportCheckpoint = serde_json::from_str(text).expect("a version 1 file");
    assert_eq!(checkpoint.partition, Partition::SysId);
    assert_eq!(checkpoint.ranges[0].created_below, None);
    let written = serde_json::to_string(&checkpoint).expect("serializes");
    assert!(
        !written.contains("partition") && !written.contains("created_"),
        "{written}"
    );

    let instance =
        servicenow_oauth::InstanceUrl::new("https://dev1.service-now.com").expect("valid");
    let client = TableClient::new(instance, ReqwestTransport::new().expect("builds"));
    let by_sys_id = client.resume_export::<Row>(
        &incident(),
        None,
        sys_id_only(),
        ExportConfig::default(),
        stopwatch(),
        &checkpoint,
    );
    assert!(by_sys_id.is_ok());
    let by_time = client.resume_export::<Row>(
        &incident(),
        None,
        sys_id_only(),
        small_pages(),
        stopwatch(),
        &checkpoint,
    );
    assert!(matches!(by_time, Err(TableError::Export { .. })));
}

/// Answers every request with one row whose creation time is in a user's display format.
#[derive(Debug)]
struct DisplayFormattedTimes;

#[async_trait]
impl HttpTransport for DisplayFormattedTimes {
    async fn send(
        &self,
        _request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let body = r#"{"result":[{"sys_id":"0123456789abcdef0123456789abcdef","sys_created_on":"01/02/2023 10:00:00"}]}"#;
        Ok(http::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Bytes::from_static(body.as_bytes()))
            .expect("valid response"))
    }
}

#[tokio::test]
async fn a_creation_time_that_is_not_a_stored_date_time_is_a_typed_error() {
    let instance =
        servicenow_oauth::InstanceUrl::new("https://dev1.service-now.com").expect("valid");
    let client = TableClient::new(instance, DisplayFormattedTimes);
    let mut export = client
        .export::<Row>(&incident(), None, sys_id_only(), small_pages(), stopwatch())
        .expect("unordered");
    let error = export
        .next_batch()
        .await
        .expect("an outcome")
        .expect_err("the probe's answer is malformed");
    assert!(
        matches!(&error, TableError::MalformedResponse { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("01/02/2023 10:00:00"), "{error}");
    assert!(export.next_batch().await.is_none(), "the export has ended");
}

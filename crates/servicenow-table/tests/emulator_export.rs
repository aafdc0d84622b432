//! The partitioned export against the emulator: every row exactly once (also while rows are
//! written), 429s from a full `API_INT` queue honoured, a checkpoint resumed without a repeated
//! or missing row, and an ordered query refused.

mod emulator;

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use serde::Deserialize;
use servicenow_emulator::{CostModel, Emulator};
use servicenow_table::{
    EncodedQuery, ExportConfig, FieldName, ReadOptions, Record, Stopwatch, SysId, TableError,
    TableName, WriteOptions,
};

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

fn small_pages() -> ExportConfig {
    let mut config = ExportConfig::default();
    config.page_size = 250;
    config
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
async fn an_export_delivers_every_row_once_while_rows_are_written() {
    let emulator = emulator::start(Emulator::builder().rows("incident", 20_000)).await;
    let client = Arc::new(emulator::client(&emulator));
    let initial = emulator.live_sys_ids("incident").expect("incident");
    // A writer deletes every 7th row and inserts rows across the key space while the export runs.
    let writer = tokio::spawn({
        let (client, initial) = (Arc::clone(&client), initial.clone());
        async move {
            let mut deleted = HashSet::new();
            for (index, sys_id) in initial.iter().enumerate().step_by(7).take(300) {
                let id = SysId::new(sys_id.clone()).expect("valid");
                client.delete(&incident(), &id).await.expect("delete");
                deleted.insert(sys_id.clone());
                let inserted = format!("{:032x}", (index as u128) << 100 | 0xabc);
                let record = Record::new().with("sys_id", inserted);
                client
                    .create::<_, Record>(&incident(), &record, &WriteOptions::default())
                    .await
                    .expect("insert");
            }
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
    let stats = export.stats();
    assert!(
        stats.ranges > 8,
        "ranges were split as request slots came free: {stats:?}"
    );
    assert!(stats.peak_in_flight > 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_slows_the_export_down_instead_of_failing_it() {
    // One node with 2 threads and a queue of 1: 8 requests at once overflow it.
    let mut model = CostModel::instance_like();
    model.per_request = Duration::from_millis(20);
    model.per_row_rendered = Duration::ZERO;
    model.nodes = 1;
    model.threads_per_node = 2;
    model.queue_per_node = 1;
    let emulator = emulator::start(
        Emulator::builder()
            .rows("incident", 3_000)
            .cost_model(model),
    )
    .await;
    let client = emulator::client(&emulator);
    let mut config = ExportConfig::fixed(8);
    config.page_size = 100;
    let mut export = client
        .export::<Row>(&incident(), None, sys_id_only(), config, stopwatch())
        .expect("unordered");
    let mut delivered = Vec::new();
    while let Some(batch) = export.next_batch().await {
        delivered.extend(
            batch
                .expect("429s are not failures")
                .rows
                .into_iter()
                .map(|row| row.sys_id),
        );
    }
    let seen = tally(delivered);
    assert_eq!(seen.len(), 3_000);
    assert!(seen.values().all(|count| *count == 1));
    let stats = export.stats();
    assert!(stats.throttled > 0, "the queue overflowed: {stats:?}");
    assert!(
        stats.concurrency < 8,
        "and the export backed off: {stats:?}"
    );
    assert_eq!(emulator.counters().queue_full, stats.throttled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_resumed_from_its_checkpoint_repeats_and_misses_nothing() {
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
    let checkpoint = serde_json::from_str(&text).expect("deserializes");
    let mut resumed = client
        .resume_export::<Row>(
            &incident(),
            None,
            sys_id_only(),
            small_pages(),
            stopwatch(),
            &checkpoint,
        )
        .expect("same table and query");
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

    let other_query = EncodedQuery::unchecked_raw_from_trusted_source("active=true");
    let refused = client.resume_export::<Row>(
        &incident(),
        Some(other_query),
        sys_id_only(),
        small_pages(),
        stopwatch(),
        &checkpoint,
    );
    assert!(matches!(refused, Err(TableError::Export { .. })));
}

#[test]
fn an_ordered_query_is_refused_with_a_pointer_to_stream() {
    let instance =
        servicenow_oauth::InstanceUrl::new("https://dev1.service-now.com").expect("valid");
    let transport = servicenow_http::ReqwestTransport::new().expect("builds");
    let client = servicenow_table::TableClient::new(instance, transport);
    let ordered = EncodedQuery::unchecked_raw_from_trusted_source("ORDERBYnumber");
    let error = client
        .export::<Row>(
            &incident(),
            Some(ordered),
            sys_id_only(),
            ExportConfig::default(),
            stopwatch(),
        )
        .expect_err("ordered");
    assert_eq!(
        error.to_string(),
        "exporting incident: an export is unordered; remove ORDERBY from the query or use stream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_counted_large_by_the_aggregate_api_is_split_before_it_is_read() {
    let emulator = emulator::start(Emulator::builder().rows("incident", 1_000)).await;
    let client = emulator::client(&emulator);
    // 600 more rows spread over the lowest quarter of the key space: with four ranges, the
    // first holds about 850 rows and the others about 250.
    let records: Vec<Record> = (0..600u128)
        .map(|index| {
            let key = (index + 1) * ((1u128 << 126) / 601);
            Record::new().with("sys_id", format!("{key:032x}"))
        })
        .collect();
    for chunk in records.chunks(100) {
        for created in client
            .create_many::<_, Record>(&incident(), chunk, &WriteOptions::default())
            .await
            .expect("the batch call succeeds")
        {
            created.expect("each insert succeeds");
        }
    }
    let read = |split_ranges_above: Option<u64>| {
        let client = &client;
        async move {
            let mut config = ExportConfig::fixed(4);
            config.page_size = 100;
            config.split_ranges_above = split_ranges_above;
            let mut export = client
                .export::<Row>(&incident(), None, sys_id_only(), config, stopwatch())
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
            (tally(delivered), export.stats())
        }
    };
    let live = emulator.live_sys_ids("incident").expect("incident");
    let (seen, stats) = read(Some(300)).await;
    assert_eq!(seen.len(), live.len(), "every row");
    assert!(seen.values().all(|count| *count == 1), "a row came twice");
    assert!(
        stats.ranges_split_by_count >= 2,
        "the first range (about 850 rows) is split down to ranges of at most 300: {stats:?}"
    );
    assert!(
        stats.ranges_counted >= 4 + 2 * stats.ranges_split_by_count,
        "{stats:?}"
    );
    // Without the setting, nothing is counted.
    let (seen, stats) = read(None).await;
    assert_eq!(seen.len(), live.len());
    assert_eq!((stats.ranges_counted, stats.ranges_split_by_count), (0, 0));
}

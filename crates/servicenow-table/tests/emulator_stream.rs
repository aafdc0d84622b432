//! Streaming a large table against the emulator: every row exactly once, while rows are
//! inserted, and through injected faults and a rate limit.

mod emulator;

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use futures::TryStreamExt;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use servicenow_emulator::{Emulator, EmulatorHandle, FaultPlan, RateLimitRule};
use servicenow_table::{
    FieldName, ListParams, Paging, ReadOptions, Record, StreamConfig, TableName, WriteOptions,
};

const ROWS: usize = 100_000;

#[derive(Debug, Deserialize)]
struct Row {
    sys_id: String,
}

fn incident() -> TableName {
    TableName::new("incident").expect("valid")
}

fn sys_id_only() -> ReadOptions {
    ReadOptions {
        fields: vec![FieldName::new("sys_id").expect("valid")],
        no_count: false,
        ..ReadOptions::default()
    }
}

/// Streams the whole table and returns the sys_ids in the order received.
async fn stream_all(client: &emulator::Client, config: StreamConfig) -> Vec<String> {
    let rows: Vec<Row> = client
        .stream(&incident(), None, sys_id_only(), config)
        .try_collect()
        .await
        .expect("the stream completes");
    rows.into_iter().map(|row| row.sys_id).collect()
}

/// Asserts that `streamed` holds every generated row exactly once, plus only rows in `inserted`.
fn assert_every_row_exactly_once(streamed: &[String], inserted: &HashSet<String>) {
    let distinct: HashSet<&String> = streamed.iter().collect();
    assert_eq!(
        distinct.len(),
        streamed.len(),
        "{} rows were repeated",
        streamed.len() - distinct.len()
    );
    let generated = streamed
        .iter()
        .filter(|sys_id| !inserted.contains(*sys_id))
        .count();
    assert_eq!(generated, ROWS, "every generated row, exactly once");
    assert!(
        streamed.windows(2).all(|pair| pair[0] < pair[1]),
        "rows come in sys_id order"
    );
}

/// Inserts rows with client-chosen sys_ids spread over the generated range (so most land before
/// the stream's current offset) until told to stop; returns their sys_ids.
async fn insert_until(
    client: &emulator::Client,
    template: &str,
    stop: &AtomicBool,
) -> HashSet<String> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let mut inserted = HashSet::new();
    // Bounded: at most 2,000 inserts, whatever the stream's speed.
    for _ in 0..2_000 {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        // The emulator spaces generated sys_ids less than 2^36 apart after a shared prefix.
        let suffix = rng.random_range(0..(ROWS as u64) << 36);
        let sys_id = format!("{}{suffix:016x}", &template[..16]);
        let record = Record::new()
            .with("sys_id", sys_id.clone())
            .with("short_description", "inserted mid-stream");
        let created = client
            .create::<_, Record>(&incident(), &record, &WriteOptions::default())
            .await
            .expect("insert");
        assert_eq!(
            created.record.sys_id(),
            Some(sys_id.as_str()),
            "the emulator kept the chosen sys_id"
        );
        inserted.insert(sys_id);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    inserted
}

async fn a_generated_sys_id(client: &emulator::Client) -> String {
    let page = client
        .list::<Row>(
            &incident(),
            &ListParams {
                options: sys_id_only(),
                limit: Some(1),
                ..ListParams::default()
            },
        )
        .await
        .expect("one row");
    page.records
        .into_iter()
        .next()
        .map(|row| row.sys_id)
        .expect("the table has rows")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100k_row_stream_returns_every_row_exactly_once_while_rows_are_inserted() {
    let emulator = emulator::start(Emulator::builder().rows("incident", ROWS as u64)).await;
    let client = Arc::new(emulator::client(&emulator));
    let template = a_generated_sys_id(&client).await;
    let stop = Arc::new(AtomicBool::new(false));
    let inserter = tokio::spawn({
        let (client, stop) = (client.clone(), stop.clone());
        async move { insert_until(&client, &template, &stop).await }
    });
    let streamed = stream_all(
        &client,
        StreamConfig {
            page_size: 1_000,
            prefetch: 3,
            paging: Paging::Offset,
        },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    let inserted = inserter.await.expect("the inserter finishes");
    eprintln!(
        "streamed {} rows while {} rows were inserted",
        streamed.len(),
        inserted.len()
    );
    assert!(!inserted.is_empty(), "the inserter ran during the stream");
    assert_every_row_exactly_once(&streamed, &inserted);
    emulator.shutdown().await;
}

fn last_second_of(window_end: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs((window_end - 1) as u64)
}

/// Freezes the emulator's clock in the last second of the current hour; returns the hour's end.
fn freeze_in_the_last_second_of_an_hour(emulator: &EmulatorHandle) -> i64 {
    emulator.clock().freeze();
    let now = emulator.clock().unix_seconds();
    let window_end = now - now.rem_euclid(3600) + 3600;
    emulator.clock().set(last_second_of(window_end));
    window_end
}

/// With the clock frozen one second before the end of an hour (so `Retry-After` is one
/// second), opens the next hour's window each time the rate limit has refused a request:
/// every window of the per-hour limit ends in a 429, however fast or slow the machine is.
async fn open_a_new_window_after_each_refusal(
    emulator: &EmulatorHandle,
    mut window_end: i64,
    stop: &AtomicBool,
) {
    let mut refusals_seen = emulator.counters().rate_limited;
    // Bounded: ten minutes of polling every 20 ms.
    for _ in 0..30_000 {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let refusals = emulator.counters().rate_limited;
        if refusals > refusals_seen {
            refusals_seen = refusals;
            window_end += 3600;
            emulator.clock().set(last_second_of(window_end));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_stream_survives_ten_percent_faults_and_a_rate_limit() {
    let emulator =
        Arc::new(
            emulator::start(Emulator::builder().rows("incident", ROWS as u64).configure(
                |settings| {
                    settings.faults = FaultPlan::unreliable(0.10);
                    settings.rate_limit = Some(RateLimitRule::all_users(25));
                },
            ))
            .await,
        );
    let client = emulator::client(&emulator);
    let stop = Arc::new(AtomicBool::new(false));
    let window_end = freeze_in_the_last_second_of_an_hour(&emulator);
    let windows = tokio::spawn({
        let (emulator, stop) = (emulator.clone(), stop.clone());
        async move { open_a_new_window_after_each_refusal(&emulator, window_end, &stop).await }
    });
    let before = emulator.counters();
    let started = SystemTime::now();
    let streamed = stream_all(
        &client,
        StreamConfig {
            page_size: 1_000,
            prefetch: 2,
            paging: Paging::Offset,
        },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    windows.await.expect("the window task finishes");
    let after = emulator.counters();
    let requests = after.total_table_requests() - before.total_table_requests();
    let faults = after.faults_injected - before.faults_injected;
    let rate_limited = after.rate_limited - before.rate_limited;
    eprintln!(
        "streamed {} rows in {:?}: {requests} table requests for 100 pages, {faults} faults and {rate_limited} 429s retried",
        streamed.len(),
        started.elapsed().unwrap_or_default()
    );
    assert!(
        faults > 0 && rate_limited > 0,
        "the stream met both faults ({faults}) and the rate limit ({rate_limited})"
    );
    assert_every_row_exactly_once(&streamed, &HashSet::new());
}

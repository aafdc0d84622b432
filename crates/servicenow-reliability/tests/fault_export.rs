//! A 100,000-row export while the instance injects 10% faults and enforces a rate limit: every row arrives exactly once.
//!
//! "Exactly once" is checked against the emulator itself: the streamed sys_ids must be the set
//! of live rows the emulator holds at the end (read from its database, not through the Table
//! API), without repeats, and a sample of streamed rows must hold the emulator's values.

use std::{
    collections::{BTreeSet, HashSet},
    sync::Arc,
    time::{Duration, SystemTime},
};

use futures::TryStreamExt as _;
use servicenow::{
    SystemClock,
    table::{Paging, ReadOptions, Record, StreamConfig},
};
use servicenow_emulator::{FaultPlan, RateLimitRule};
use servicenow_reliability::fixture;

const ROWS: u64 = 100_000;
const FAULT_RATE: f64 = 0.10;
/// Table API requests allowed per emulated hour. The test opens the next hour only after a
/// request was refused, so the limit bites about ROWS / 1,000 / REQUESTS_PER_HOUR times
/// whatever the machine's speed, and `Retry-After` stays at one second.
const REQUESTS_PER_HOUR: u32 = 12;
/// Streamed rows whose every value is compared with the emulator's (one in 500).
const SAMPLE_EVERY: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_of_100_000_rows_under_faults_and_a_rate_limit_reads_every_row_exactly_once() {
    // Access tokens outlive the test's emulated hours: this test is about faults and limits.
    let access_token_ttl = Duration::from_secs(3600 * 24 * 30);
    let emulator = fixture::start_emulator_with_access_ttl(ROWS, access_token_ttl)
        .await
        .unwrap();
    let store = servicenow::stores::open_memory().unwrap();
    let client = fixture::user_client(
        emulator.base_url(),
        store,
        Arc::new(SystemClock),
        None,
        fixture::manager_options(Duration::from_secs(30)),
    )
    .await
    .unwrap();
    fixture::log_in(&client).await.unwrap();

    // The emulator's clock stands frozen one second before an hour boundary; after every
    // refused request the ticker moves it one hour on, which opens a new rate-limit window.
    let emulator = Arc::new(emulator);
    let clock = emulator.clock().clone();
    let now = clock.unix_seconds();
    let next_hour = now - now.rem_euclid(3600) + 3600;
    clock.set(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(next_hour - 1).unwrap()));
    clock.freeze();
    emulator.update_settings(|settings| {
        settings.faults = FaultPlan::unreliable(FAULT_RATE);
        settings.rate_limit = Some(RateLimitRule::all_users(REQUESTS_PER_HOUR));
    });
    emulator.reset_counters();
    let ticking = Arc::clone(&emulator);
    let ticker = tokio::spawn(async move {
        let mut refused_seen = 0;
        for _ in 0..6_000 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let refused = ticking.counters().rate_limited;
            if refused > refused_seen {
                refused_seen = refused;
                ticking.clock().advance(Duration::from_secs(3600));
            }
        }
    });

    let incidents = client.table::<Record>("incident").unwrap();
    let config = StreamConfig {
        page_size: 1_000,
        prefetch: 2,
        paging: Paging::Offset,
    };
    let rows: Vec<Record> = incidents
        .stream(None, ReadOptions::default(), config)
        .try_collect()
        .await
        .unwrap();
    ticker.abort();

    let counters = emulator.counters();
    let streamed: Vec<&str> = rows
        .iter()
        .map(|row| row.sys_id().expect("every streamed row has a sys_id"))
        .collect();
    let sys_ids: HashSet<&str> = streamed.iter().copied().collect();
    let held: BTreeSet<String> = emulator
        .live_sys_ids("incident")
        .expect("the emulator has an incident table")
        .into_iter()
        .collect();
    let missing: Vec<&String> = held
        .iter()
        .filter(|sys_id| !sys_ids.contains(sys_id.as_str()))
        .collect();
    let extra: Vec<&&str> = sys_ids
        .iter()
        .filter(|sys_id| !held.contains(**sys_id))
        .collect();
    eprintln!(
        "fault_export: rows={} unique={} held={} missing={} extra={} table_requests={} \
         faults_injected={} rate_limited={} unauthorized={} token_requests={}",
        rows.len(),
        sys_ids.len(),
        held.len(),
        missing.len(),
        extra.len(),
        counters.total_table_requests(),
        counters.faults_injected,
        counters.rate_limited,
        counters.table_unauthorized,
        counters.total_token_requests(),
    );
    assert_eq!(
        held.len(),
        usize::try_from(ROWS).unwrap(),
        "the emulator lost rows"
    );
    assert_eq!(sys_ids.len(), rows.len(), "a row arrived twice");
    assert!(
        missing.is_empty() && extra.is_empty(),
        "the streamed sys_ids are not the rows the emulator holds: {} missing (first {:?}), \
         {} not held (first {:?})",
        missing.len(),
        missing.first(),
        extra.len(),
        extra.first()
    );
    let mut sampled = 0;
    for row in rows.iter().step_by(SAMPLE_EVERY) {
        let sys_id = row.sys_id().expect("a sys_id");
        let expected = emulator
            .row_values("incident", sys_id)
            .expect("a streamed row is held");
        for (field, value) in &expected {
            let streamed = match row.get(field) {
                Some(serde_json::Value::String(text)) => Some(text.as_str()),
                // A reference arrives as {"link", "value"}.
                Some(serde_json::Value::Object(reference)) => {
                    reference.get("value").and_then(serde_json::Value::as_str)
                }
                _ => None,
            };
            assert_eq!(
                streamed,
                Some(value.as_str()),
                "row {sys_id}: field {field} differs from the emulator's"
            );
        }
        sampled += 1;
    }
    assert!(sampled >= 200, "only {sampled} rows were compared");
    assert!(
        counters.faults_injected > 0,
        "no fault was injected: the test proved nothing"
    );
    assert!(
        counters.rate_limited > 0,
        "the rate limit never bit: the test proved nothing"
    );
}

//! A 100,000-row export while the instance injects 10% faults and enforces a rate limit: every row arrives exactly once.

use std::{
    collections::HashSet,
    sync::Arc,
    time::{Duration, SystemTime},
};

use futures::TryStreamExt as _;
use servicenow::{
    SystemClock,
    table::{ReadOptions, Record, StreamConfig},
};
use servicenow_emulator::{FaultPlan, RateLimitRule};
use servicenow_reliability::fixture;

const ROWS: u64 = 100_000;
const FAULT_RATE: f64 = 0.10;
/// Table API requests allowed per emulated hour. The test opens the next hour only after a
/// request was refused, so the limit bites about ROWS / 1,000 / REQUESTS_PER_HOUR times
/// whatever the machine's speed, and `Retry-After` stays at one second.
const REQUESTS_PER_HOUR: u32 = 12;

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
    };
    let rows: Vec<Record> = incidents
        .stream(None, ReadOptions::default(), config)
        .try_collect()
        .await
        .unwrap();
    ticker.abort();

    let counters = emulator.counters();
    let sys_ids: HashSet<&str> = rows.iter().filter_map(Record::sys_id).collect();
    eprintln!(
        "fault_export: rows={} unique={} table_requests={} faults_injected={} rate_limited={} \
         unauthorized={} token_requests={}",
        rows.len(),
        sys_ids.len(),
        counters.total_table_requests(),
        counters.faults_injected,
        counters.rate_limited,
        counters.table_unauthorized,
        counters.total_token_requests(),
    );
    assert_eq!(
        rows.len(),
        usize::try_from(ROWS).unwrap(),
        "rows lost or repeated"
    );
    assert_eq!(
        sys_ids.len(),
        rows.len(),
        "a row arrived twice (or without a sys_id)"
    );
    assert!(
        counters.faults_injected > 0,
        "no fault was injected: the test proved nothing"
    );
    assert!(
        counters.rate_limited > 0,
        "the rate limit never bit: the test proved nothing"
    );
}

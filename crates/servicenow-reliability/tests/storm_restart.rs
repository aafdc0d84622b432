//! The emulator restarting (every connection dropped, the port closed, then open again) during a token storm of 4 processes: once it is back, every process holds a valid token.
//!
//! The premise is checked, not assumed: every Table API answer is held back 200 ms, the outage
//! starts once the storm's first row read has reached the instance (so reads are in flight
//! when every connection drops), the port is seen closed during it, and the workers report
//! requests that failed while it lasted.

use std::{path::Path, sync::Arc, time::Duration};

use servicenow::SystemClock;
use servicenow_emulator::{FaultPlan, TokenOutcome};
use servicenow_reliability::{fixture, stores::StoreSpec, workers::Worker};

const WORKER: &str = env!("CARGO_BIN_EXE_reliability-worker");
const PROCESSES: usize = 4;
const CALLERS_PER_PROCESS: usize = 250;
/// How long the instance holds every Table API answer: the storm's reads are still in flight
/// when the outage begins.
const READ_LATENCY: Duration = Duration::from_millis(200);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_of_a_token_storm_holds_a_valid_token_after_the_instance_restarts() {
    let emulator = fixture::start_emulator(100).await.unwrap();
    let instance = emulator.base_url().to_owned();
    let directory = tempfile::tempdir().unwrap();
    let spec = StoreSpec::Sqlite {
        directory: directory.path().join("store"),
    };
    let store = spec.open().await.unwrap();
    let client = fixture::user_client(
        &instance,
        store,
        Arc::new(SystemClock),
        None,
        fixture::manager_options(Duration::from_secs(3)),
    )
    .await
    .unwrap();
    fixture::log_in(&client).await.unwrap();

    let callers = CALLERS_PER_PROCESS.to_string();
    let mut workers = Vec::new();
    for _ in 0..PROCESSES {
        let mut worker =
            Worker::start(Path::new(WORKER), &instance, &spec, &["storm", &callers]).unwrap();
        worker.wait_for("READY").await.unwrap();
        workers.push(worker);
    }
    emulator.update_settings(|settings| {
        settings.faults = FaultPlan {
            added_latency: Some(READ_LATENCY),
            ..FaultPlan::none()
        };
    });
    emulator.reset_counters();
    for worker in &mut workers {
        worker.send_line("go").await.unwrap();
    }
    // The instance goes down as soon as the storm's reads reach it (they wait READ_LATENCY for
    // their answers), and comes back a second later.
    let storm_seen = async {
        while emulator.counters().total_table_requests() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), storm_seen)
        .await
        .expect("the storm reached the instance");
    emulator.pause().await;
    let probe = tokio::net::TcpStream::connect(emulator.local_addr()).await;
    assert!(
        probe.is_err(),
        "the instance still accepted connections during the outage"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    emulator.resume().await.unwrap();

    let mut token_requests_by_process = Vec::new();
    for worker in &mut workers {
        let line = worker.wait_for("OK").await.unwrap();
        token_requests_by_process.push(line);
    }
    for worker in workers {
        worker.finish().await.unwrap();
    }
    let counters = emulator.counters();
    let refreshes = counters.token_requests("refresh_token", TokenOutcome::Issued);
    let refused: u64 = token_requests_by_process
        .iter()
        .map(|line| {
            let value = line
                .split_whitespace()
                .find_map(|part| part.strip_prefix("refused="))
                .unwrap_or_else(|| panic!("no refused= in {line:?}"));
            value.parse::<u64>().expect("a count")
        })
        .sum();
    eprintln!(
        "storm_restart: processes={PROCESSES} callers={} refreshes_issued={refreshes} \
         refused_attempts={refused} refresh_attempts={} workers={token_requests_by_process:?}",
        PROCESSES * CALLERS_PER_PROCESS,
        counters.total_token_requests(),
    );
    assert!(refreshes >= 1, "the storm needed a refresh");
    assert!(
        refused > 0,
        "no request of the storm failed: the outage did not overlap the storm"
    );
    assert_eq!(
        counters.token_requests("authorization_code", TokenOutcome::Issued),
        0,
        "no new login"
    );
}

//! The emulator restarting (every connection dropped, the port closed, then open again) during a token storm of 4 processes: once it is back, every process holds a valid token.

use std::{path::Path, sync::Arc, time::Duration};

use servicenow::SystemClock;
use servicenow_emulator::TokenOutcome;
use servicenow_reliability::{fixture, stores::StoreSpec, workers::Worker};

const WORKER: &str = env!("CARGO_BIN_EXE_reliability-worker");
const PROCESSES: usize = 4;
const CALLERS_PER_PROCESS: usize = 250;

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
    emulator.reset_counters();
    for worker in &mut workers {
        worker.send_line("go").await.unwrap();
    }
    // The instance goes down while the storm starts, and comes back a second later.
    tokio::time::sleep(Duration::from_millis(20)).await;
    emulator.pause().await;
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
    eprintln!(
        "storm_restart: processes={PROCESSES} callers={} refreshes_issued={refreshes} \
         refresh_attempts={} workers={token_requests_by_process:?}",
        PROCESSES * CALLERS_PER_PROCESS,
        counters.total_token_requests(),
    );
    assert!(refreshes >= 1, "the storm needed a refresh");
    assert_eq!(
        counters.token_requests("authorization_code", TokenOutcome::Issued),
        0,
        "no new login"
    );
}

//! The export partitioned by creation time against the emulator, property-tested: while a
//! writer inserts rows (creation times anywhere in the table's span or after it, sys_ids
//! anywhere in the key space), updates rows and deletes rows, an export with random page size,
//! concurrency and count-based splitting (which splits windows in time before they are read)
//! delivers every row that exists for the whole export exactly once, and nothing that never
//! existed.

mod emulator;

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use servicenow_emulator::{Emulator, EmulatorClock};
use servicenow_table::{
    ExportConfig, FieldName, Partition, ReadOptions, Record, Stopwatch, SysId, TableError,
    TableName, WriteOptions,
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

fn incident() -> TableName {
    TableName::new("incident").expect("valid")
}

/// What the writer did: rows it inserted and rows it deleted.
#[derive(Debug, Default)]
struct Writes {
    inserted: HashSet<String>,
    deleted: HashSet<String>,
}

/// Random inserts (at a random creation time), updates and deletes until `stop`.
async fn write_until(
    client: &emulator::Client,
    clock: &EmulatorClock,
    initial: &[String],
    seed: u64,
    stop: &AtomicBool,
) -> Writes {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut writes = Writes::default();
    let span = initial.len() as u64 * 60;
    for _ in 0..300 {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let victim = &initial[rng.random_range(0..initial.len())];
        match rng.random_range(0..3) {
            0 => {
                // Inside the table's creation span most of the time, after it otherwise.
                let offset = rng.random_range(0..span + span / 4);
                clock.set(UNIX_EPOCH + Duration::from_secs(FIRST_CREATED + offset));
                let sys_id = format!("{:016x}{:016x}", rng.random::<u64>(), rng.random::<u64>());
                let record = Record::new().with("sys_id", sys_id.clone());
                client
                    .create::<_, Record>(&incident(), &record, &WriteOptions::default())
                    .await
                    .expect("insert");
                writes.inserted.insert(sys_id);
            }
            1 if !writes.deleted.contains(victim) => {
                let changes = Record::new().with("short_description", "updated mid-export");
                let sys_id = SysId::new(victim.clone()).expect("valid");
                client
                    .update::<_, Record>(&incident(), &sys_id, &changes, &WriteOptions::default())
                    .await
                    .expect("update");
            }
            _ if !writes.deleted.contains(victim) => {
                let sys_id = SysId::new(victim.clone()).expect("valid");
                match client.delete(&incident(), &sys_id).await {
                    Ok(()) | Err(TableError::NotFound { .. }) => (),
                    Err(error) => panic!("delete: {error}"),
                }
                writes.deleted.insert(victim.clone());
            }
            _ => (),
        }
        tokio::task::yield_now().await;
    }
    clock.set(SystemTime::now());
    writes
}

fn run_case(
    rows: u64,
    page_size: u32,
    requests: usize,
    split_ranges_above: Option<u64>,
    seed: u64,
) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let emulator = emulator::start(Emulator::builder().seed(seed).rows("incident", rows)).await;
        let client = Arc::new(emulator::client(&emulator));
        let initial = emulator.live_sys_ids("incident").expect("incident");
        let stop = Arc::new(AtomicBool::new(false));
        let writer = tokio::spawn({
            let (client, stop, initial) = (client.clone(), stop.clone(), initial.clone());
            let clock = emulator.clock().clone();
            async move { write_until(&client, &clock, &initial, seed, &stop).await }
        });
        let options = ReadOptions {
            fields: vec![FieldName::new("sys_id").expect("valid")],
            ..ReadOptions::default()
        };
        let mut config = ExportConfig::fixed(requests);
        config.page_size = page_size;
        config.split_ranges_above = split_ranges_above;
        config.partition = Partition::CreatedOn;
        let mut export = client
            .export::<Row>(
                &incident(),
                None,
                options,
                config,
                Arc::new(TestStopwatch(Instant::now())),
            )
            .expect("unordered");
        let mut delivered: HashMap<String, u32> = HashMap::new();
        while let Some(batch) = export.next_batch().await {
            for row in batch.expect("the export completes").rows {
                *delivered.entry(row.sys_id).or_default() += 1;
            }
            // Give the writer a chance between pages.
            tokio::task::yield_now().await;
        }
        stop.store(true, Ordering::SeqCst);
        let writes = writer.await.expect("writer");

        let repeated: Vec<_> = delivered.iter().filter(|(_, count)| **count > 1).collect();
        prop_assert!(repeated.is_empty(), "repeated rows: {repeated:?}");
        let survivors: Vec<&String> = initial
            .iter()
            .filter(|sys_id| !writes.deleted.contains(*sys_id))
            .collect();
        let missing: Vec<_> = survivors
            .iter()
            .filter(|sys_id| !delivered.contains_key(**sys_id))
            .collect();
        prop_assert!(
            missing.is_empty(),
            "{} rows that existed throughout were missed (of {}), writes {:?}, stats {:?}",
            missing.len(),
            survivors.len(),
            (writes.inserted.len(), writes.deleted.len()),
            export.stats()
        );
        let known: HashSet<&String> = initial.iter().chain(&writes.inserted).collect();
        prop_assert!(
            delivered.keys().all(|sys_id| known.contains(sys_id)),
            "only rows that existed"
        );
        emulator.shutdown().await;
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn every_row_that_exists_throughout_is_delivered_exactly_once_by_creation_time(
        rows in 50_u64..1_500,
        page_size in 5_u32..200,
        requests in 1_usize..9,
        split_ranges_above in proptest::option::of(20_u64..400),
        seed in any::<u64>(),
    ) {
        run_case(rows, page_size, requests, split_ranges_above, seed)?;
    }
}

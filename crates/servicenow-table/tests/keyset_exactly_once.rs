//! Keyset paging against the emulator, property-tested: while a writer inserts rows (with
//! sys_ids anywhere in the key space), updates rows and deletes rows, a stream with random page
//! sizes and prefetch delivers every row that exists for the whole stream exactly once, and
//! nothing that never existed.

mod emulator;

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use futures::StreamExt;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use servicenow_emulator::Emulator;
use servicenow_table::{
    FieldName, Paging, ReadOptions, Record, StreamConfig, SysId, TableError, TableName,
    WriteOptions,
};

#[derive(Debug, Deserialize)]
struct Row {
    sys_id: String,
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

/// Random inserts, updates and deletes until `stop` (at most `max_writes`).
async fn write_until(
    client: &emulator::Client,
    initial: &[String],
    seed: u64,
    max_writes: usize,
    stop: &AtomicBool,
) -> Writes {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut writes = Writes::default();
    let prefix = &initial[0][..16];
    for _ in 0..max_writes {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let victim = &initial[rng.random_range(0..initial.len())];
        match rng.random_range(0..3) {
            0 => {
                // Inside the generated range half the time, anywhere in the key space otherwise.
                let sys_id = if rng.random_bool(0.5) {
                    format!("{prefix}{:016x}", rng.random::<u64>())
                } else {
                    format!("{:016x}{:016x}", rng.random::<u64>(), rng.random::<u64>())
                };
                let record = Record::new().with("sys_id", sys_id.clone());
                client
                    .create::<_, Record>(&incident(), &record, &WriteOptions::default())
                    .await
                    .expect("insert");
                writes.inserted.insert(sys_id);
            }
            1 if !writes.deleted.contains(victim) => {
                let changes = Record::new().with("short_description", "updated mid-stream");
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
    writes
}

fn run_case(rows: u64, page_size: u32, prefetch: usize, seed: u64) -> Result<(), TestCaseError> {
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
            async move { write_until(&client, &initial, seed, 400, &stop).await }
        });
        let options = ReadOptions {
            fields: vec![FieldName::new("sys_id").expect("valid")],
            ..ReadOptions::default()
        };
        let config = StreamConfig {
            page_size,
            prefetch,
            paging: Paging::Keyset,
        };
        let mut delivered: HashMap<String, u32> = HashMap::new();
        let mut order = Vec::new();
        let mut rows_stream =
            std::pin::pin!(client.stream::<Row>(&incident(), None, options, config));
        while let Some(row) = rows_stream.next().await {
            let row = row.expect("the stream completes");
            *delivered.entry(row.sys_id.clone()).or_default() += 1;
            order.push(row.sys_id);
            // Give the writer a chance between rows.
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
            "{} rows that existed throughout were missed (of {}), writes {:?}",
            missing.len(),
            survivors.len(),
            (writes.inserted.len(), writes.deleted.len())
        );
        let known: HashSet<&String> = initial.iter().chain(&writes.inserted).collect();
        prop_assert!(
            delivered.keys().all(|sys_id| known.contains(sys_id)),
            "only rows that existed"
        );
        prop_assert!(
            order.windows(2).all(|pair| pair[0] < pair[1]),
            "sys_id order"
        );
        emulator.shutdown().await;
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn every_row_that_exists_throughout_is_delivered_exactly_once(
        rows in 50_u64..1_500,
        page_size in 1_u32..120,
        prefetch in 0_usize..3,
        seed in any::<u64>(),
    ) {
        run_case(rows, page_size, prefetch, seed)?;
    }
}

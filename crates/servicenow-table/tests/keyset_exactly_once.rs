//! Keyset paging against the emulator, property-tested: while a writer inserts rows (with
//! sys_ids anywhere in the key space), updates rows and deletes rows, a stream with random page
//! sizes and prefetch delivers every row that exists for the whole stream exactly once, in
//! `sys_id` order, and nothing that never existed; also when a cluster of rows crowds a narrow
//! key range, so that the windows of a stream with prefetch come back full and are continued.

mod emulator;

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use futures::StreamExt;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use servicenow_emulator::Emulator;
use servicenow_http::{
    HttpTransport, ReqwestTransport, TransportConfig, TransportError, async_trait,
};
use servicenow_oauth::InstanceUrl;
use servicenow_table::{
    FieldName, Paging, ReadOptions, Record, StreamConfig, SysId, TableClient, TableError,
    TableName, WriteOptions,
};

#[derive(Debug, Deserialize)]
struct Row {
    sys_id: String,
}

fn incident() -> TableName {
    TableName::new("incident").expect("valid")
}

/// The reader's transport: records each `sysparm_query` it sends.
struct Recording<T> {
    inner: T,
    queries: Mutex<Vec<String>>,
}

#[async_trait]
impl<T: HttpTransport> HttpTransport for Recording<T> {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let url = url::Url::parse(&request.uri().to_string()).expect("absolute url");
        if let Some((_, query)) = url.query_pairs().find(|(name, _)| name == "sysparm_query") {
            self.queries
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(query.into_owned());
        }
        self.inner.send(request).await
    }
}

fn recording_client(
    emulator: &servicenow_emulator::EmulatorHandle,
) -> TableClient<Recording<emulator::BasicAuth<ReqwestTransport>>> {
    let transport = ReqwestTransport::with_config(TransportConfig {
        total_timeout: Duration::from_secs(60),
        ..TransportConfig::default()
    })
    .expect("the transport builds");
    let instance = InstanceUrl::new(emulator.base_url()).expect("loopback url");
    TableClient::new(
        instance,
        Recording {
            inner: emulator::BasicAuth::new(transport),
            queries: Mutex::new(Vec::new()),
        },
    )
}

/// Inserts `count` rows between the middle row of `sys_ids` and the next one: a key range
/// far denser than the rest of the table.
async fn insert_cluster(client: &emulator::Client, sys_ids: &[String], count: usize) {
    let middle = sys_ids.len() / 2;
    let key = |sys_id: &str| u128::from_str_radix(sys_id, 16).expect("hexadecimal");
    let (low, high) = (key(&sys_ids[middle]), key(&sys_ids[middle + 1]));
    let step = (high - low) / (count as u128 + 1);
    assert!(step > 0, "room for the cluster between two rows");
    for index in 1..=count as u128 {
        let sys_id = format!("{:032x}", low + index * step);
        let record = Record::new().with("sys_id", sys_id);
        client
            .create::<_, Record>(&incident(), &record, &WriteOptions::default())
            .await
            .expect("insert into the cluster");
    }
}

/// What the writer did: rows it inserted and rows it deleted.
#[derive(Debug, Default)]
struct Writes {
    inserted: HashSet<String>,
    deleted: HashSet<String>,
}

/// Random inserts (within the generated key range, or anywhere half the time when
/// `anywhere`), updates and deletes until `stop` (at most `max_writes`).
async fn write_until(
    client: &emulator::Client,
    initial: &[String],
    seed: u64,
    (max_writes, anywhere): (usize, bool),
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
                // Inside the generated range, or (when `anywhere`) anywhere half the time.
                let sys_id = if !anywhere || rng.random_bool(0.5) {
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

/// Streams the table while the writer writes, checks the rows against the model, and returns
/// the queries the stream sent. `cluster` rows are inserted first into a narrow key range.
fn run_case(
    rows: u64,
    page_size: u32,
    prefetch: usize,
    seed: u64,
    cluster: usize,
) -> Result<Vec<String>, TestCaseError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let emulator = emulator::start(Emulator::builder().seed(seed).rows("incident", rows)).await;
        let client = Arc::new(emulator::client(&emulator));
        if cluster > 0 {
            let before = emulator.live_sys_ids("incident").expect("incident");
            insert_cluster(&client, &before, cluster).await;
        }
        // The model: the rows that exist before the stream starts, less those the writer
        // deletes, each exactly once, in sys_id order.
        let initial = emulator.live_sys_ids("incident").expect("incident");
        let reader = recording_client(&emulator);
        let stop = Arc::new(AtomicBool::new(false));
        let writer = tokio::spawn({
            let (client, stop, initial) = (client.clone(), stop.clone(), initial.clone());
            // With a cluster, inserts stay within the generated range, so that the first page
            // gives the density of the table rather than of a few far-flung rows.
            let writes = (400, cluster == 0);
            async move { write_until(&client, &initial, seed, writes, &stop).await }
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
            std::pin::pin!(reader.stream::<Row>(&incident(), None, options, config));
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
        let queries = reader
            .sender()
            .queries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        emulator.shutdown().await;
        Ok(queries)
    })
}

/// A query that continues a window after its cursor: `sys_id>LAST^sys_id<END`.
fn continues_a_window(query: &str) -> bool {
    query.contains("sys_id<")
        && query
            .split('^')
            .any(|part| part.starts_with("sys_id>") && !part.starts_with("sys_id>="))
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
        run_case(rows, page_size, prefetch, seed, 0)?;
    }

    #[test]
    fn windows_crowded_by_a_cluster_are_continued_and_every_row_still_comes_exactly_once(
        rows in 150_u64..600,
        page_size in 4_u32..16,
        prefetch in 2_usize..5,
        cluster_pages in 3_usize..8,
        seed in any::<u64>(),
    ) {
        let cluster = cluster_pages * page_size as usize;
        let queries = run_case(rows, page_size, prefetch, seed, cluster)?;
        prop_assert!(
            queries.iter().any(|query| query.contains("sys_id>=")),
            "the table was read by windows"
        );
        prop_assert!(
            queries.iter().any(|query| continues_a_window(query)),
            "a window crowded by the cluster was continued"
        );
    }
}

//! The rest of the Table API against the emulator (issue 16, point 5): a stream or an export
//! whose pages the instance cancels ("maximum execution time exceeded") halves its page size
//! and reads every row once, or ends in the typed error when halving does not help; writes
//! without a response body; counting with `HEAD`; the paging and domain options.

mod emulator;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::TryStreamExt as _;
use serde::Deserialize;
use servicenow_emulator::{Emulator, EmulatorHandle, NoResponseBodyStatus};
use servicenow_http::{
    HttpTransport, ReqwestTransport, TransportConfig, TransportError, async_trait,
};
use servicenow_oauth::InstanceUrl;
use servicenow_table::{
    CountMethod, ExportConfig, FieldName, ListParams, MAX_PAGE_HALVINGS, Paging, ReadOptions,
    Record, RetryPolicy, Stopwatch, StreamConfig, SysId, TableClient, TableError, TableName,
    WriteOptions,
};

#[derive(Debug, Deserialize)]
struct Row {
    sys_id: String,
}

/// A request's method and `sysparm_limit`.
type SentRequest = (String, Option<u32>);

/// Every request's method and `sysparm_limit`, in the order they were sent.
#[derive(Debug, Default, Clone)]
struct Sent(Arc<Mutex<Vec<SentRequest>>>);

impl Sent {
    fn limits(&self) -> Vec<u32> {
        let sent = self.0.lock().expect("not poisoned");
        sent.iter().filter_map(|(_, limit)| *limit).collect()
    }

    fn methods(&self) -> Vec<String> {
        let sent = self.0.lock().expect("not poisoned");
        sent.iter().map(|(method, _)| method.clone()).collect()
    }
}

/// Records each request, then sends it with the emulator's `admin` credentials; with
/// `cancel_key_ranges`, answers every request for a `sys_id` range itself with the documented
/// cancellation (an instance where no page of a range gets through, while the one-row probes of
/// an export do).
#[derive(Debug)]
struct Recording {
    inner: emulator::BasicAuth<ReqwestTransport>,
    sent: Sent,
    cancel_key_ranges: bool,
}

const TRANSACTION_CANCELLED: &str = r#"{"error":{"message":"Transaction cancelled: maximum execution time exceeded","detail":"Transaction cancelled: maximum execution time exceeded Check logs for error trace or enable glide.rest.debug property to verify REST request processing"},"status":"failure"}"#;

#[async_trait]
impl HttpTransport for Recording {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let limit = request.uri().query().and_then(|query| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("sysparm_limit="))
                .and_then(|limit| limit.parse().ok())
        });
        self.sent
            .0
            .lock()
            .expect("not poisoned")
            .push((request.method().to_string(), limit));
        let query = request.uri().query().unwrap_or_default();
        if self.cancel_key_ranges && (query.contains("sys_id%3E") || query.contains("sys_id%3C")) {
            let response = http::Response::builder()
                .status(500)
                .header("Content-Type", "application/json;charset=UTF-8")
                .body(Bytes::from_static(TRANSACTION_CANCELLED.as_bytes()))
                .expect("a valid response");
            return Ok(response);
        }
        self.inner.send(request).await
    }
}

fn recording_client(emulator: &EmulatorHandle) -> (TableClient<Recording>, Sent) {
    scripted_client(emulator, false)
}

fn scripted_client(
    emulator: &EmulatorHandle,
    cancel_key_ranges: bool,
) -> (TableClient<Recording>, Sent) {
    let transport = ReqwestTransport::with_config(TransportConfig {
        total_timeout: Duration::from_secs(60),
        ..TransportConfig::default()
    })
    .expect("the transport builds");
    let sent = Sent::default();
    let recording = Recording {
        inner: emulator::BasicAuth::new(transport),
        sent: sent.clone(),
        cancel_key_ranges,
    };
    let instance = InstanceUrl::new(emulator.base_url()).expect("loopback origin");
    // Retries allowed: a cancelled page is still not sent again as it was (the same page would
    // meet the same quota), only halved by the stream.
    let policy = RetryPolicy {
        max_attempts: 8,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    let client = TableClient::new(instance, recording).with_retry_policy(policy);
    (client, sent)
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

/// An instance that cancels every page of more than `rows` rows.
async fn cancelling_pages_over(rows: u64) -> EmulatorHandle {
    emulator::start(
        Emulator::builder()
            .rows("incident", 1_000)
            .configure(|settings| settings.transaction_timeout_above_rows = Some(rows)),
    )
    .await
}

/// Every sys_id delivered exactly once, and as many as the table has.
fn assert_every_row_once(emulator: &EmulatorHandle, delivered: Vec<String>) {
    let mut seen: HashMap<String, u32> = HashMap::new();
    for sys_id in delivered {
        *seen.entry(sys_id).or_default() += 1;
    }
    assert!(seen.values().all(|count| *count == 1), "a row came twice");
    let live = emulator.live_sys_ids("incident").expect("incident");
    assert_eq!(seen.len(), live.len(), "a row was missed");
    assert!(live.iter().all(|sys_id| seen.contains_key(sys_id)));
}

#[tokio::test]
async fn a_keyset_stream_over_cancelled_pages_halves_its_page_and_reads_every_row_once() {
    let emulator = cancelling_pages_over(70).await;
    let (client, sent) = recording_client(&emulator);
    let rows: Vec<Row> = client
        .stream(
            &incident(),
            None,
            sys_id_only(),
            // One page at a time, so every page asks for the full size until cancelled (with
            // prefetch, the first page is an eighth of it and the windows after it are
            // covered by `keyset_windows.rs`).
            StreamConfig {
                page_size: 1_000,
                prefetch: 0,
                paging: Paging::Keyset,
            },
        )
        .try_collect()
        .await
        .expect("the stream completes although pages are cancelled");
    assert_every_row_once(&emulator, rows.into_iter().map(|row| row.sys_id).collect());
    let limits = sent.limits();
    assert_eq!(&limits[..5], &[1_000, 500, 250, 125, 62], "{limits:?}");
    assert!(
        limits[5..].iter().all(|limit| *limit == 62),
        "the smaller page stays: {limits:?}"
    );
    assert_eq!(emulator.counters().transactions_cancelled, 4);
}

#[tokio::test]
async fn an_offset_stream_asks_for_the_cancelled_window_again_with_a_smaller_page() {
    let emulator = cancelling_pages_over(300).await;
    let (client, sent) = recording_client(&emulator);
    let rows: Vec<Row> = client
        .stream(
            &incident(),
            None,
            sys_id_only(),
            StreamConfig {
                page_size: 1_000,
                prefetch: 2,
                paging: Paging::Offset,
            },
        )
        .try_collect()
        .await
        .expect("the stream completes although pages are cancelled");
    assert_every_row_once(&emulator, rows.into_iter().map(|row| row.sys_id).collect());
    let limits = sent.limits();
    assert!(limits.starts_with(&[1_000]), "{limits:?}");
    assert_eq!(limits.last(), Some(&250), "{limits:?}");
    assert!(
        !limits.contains(&125),
        "no halving past what helps: {limits:?}"
    );
}

#[tokio::test]
async fn halving_is_bounded_and_then_the_cancellation_is_returned() {
    // Every page with a row is cancelled: halving cannot help.
    let emulator = cancelling_pages_over(0).await;
    let (client, sent) = recording_client(&emulator);
    let one_page_at_a_time = StreamConfig {
        prefetch: 0,
        ..StreamConfig::default()
    };
    let result: Result<Vec<Row>, _> = client
        .stream(&incident(), None, sys_id_only(), one_page_at_a_time)
        .try_collect()
        .await;
    let error = result.expect_err("no page size gets through");
    assert!(
        matches!(&error, TableError::TransactionTimeout { response, .. }
            if response.message == "Transaction cancelled: maximum execution time exceeded"),
        "{error:?}"
    );
    assert!(error.to_string().contains("lower the page size"), "{error}");
    assert_eq!(
        sent.limits(),
        vec![1_000, 500, 250, 125, 62, 31, 15, 7, 3, 1],
        "halved down to one row, then given up"
    );
    assert!(sent.limits().len() as u32 <= MAX_PAGE_HALVINGS + 1);
}

#[derive(Debug)]
struct TestStopwatch(Instant);

impl Stopwatch for TestStopwatch {
    fn since_start(&self) -> Duration {
        self.0.elapsed()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_over_cancelled_pages_halves_its_page_and_reads_every_row_once() {
    let emulator = cancelling_pages_over(150).await;
    let (client, _) = recording_client(&emulator);
    let mut config = ExportConfig::fixed(4);
    config.page_size = 1_000;
    let mut export = client
        .export::<Row>(
            &incident(),
            None,
            sys_id_only(),
            config,
            Arc::new(TestStopwatch(Instant::now())),
        )
        .expect("unordered");
    let mut delivered = Vec::new();
    while let Some(batch) = export.next_batch().await {
        let batch = batch.expect("the export completes although pages are cancelled");
        delivered.extend(batch.rows.into_iter().map(|row| row.sys_id));
    }
    assert_every_row_once(&emulator, delivered);
    assert_eq!(export.stats().page_size, 125, "{:?}", export.stats());
    assert!(emulator.counters().transactions_cancelled >= 3);
}

#[tokio::test]
async fn the_export_gives_up_like_the_stream() {
    let emulator = emulator::start(Emulator::builder().rows("incident", 1_000)).await;
    let (client, sent) = scripted_client(&emulator, true);
    let mut export = client
        .export::<Row>(
            &incident(),
            None,
            sys_id_only(),
            ExportConfig::fixed(2),
            Arc::new(TestStopwatch(Instant::now())),
        )
        .expect("unordered");
    let mut outcome = None;
    while let Some(batch) = export.next_batch().await {
        if let Err(error) = batch {
            outcome = Some(error);
        }
    }
    let error = outcome.expect("the export ends in an error");
    assert!(
        matches!(error, TableError::TransactionTimeout { .. }),
        "{error:?}"
    );
    assert_eq!(export.stats().page_size, 1, "halved down to one row");
    let largest_after_probes: Vec<u32> = sent.limits().into_iter().skip(2).collect();
    assert!(
        largest_after_probes.len() <= 2 * (MAX_PAGE_HALVINGS as usize + 1),
        "bounded: {largest_after_probes:?}"
    );
}

#[tokio::test]
async fn writes_without_a_response_body_say_what_was_written() {
    let emulator = emulator::start(Emulator::builder().rows("incident", 10)).await;
    let client = emulator::client(&emulator);
    let record = Record::new().with("short_description", "No body please");
    let written = client
        .create_without_body(&incident(), &record, &WriteOptions::default())
        .await
        .expect("created");
    assert_eq!(written.status, http::StatusCode::CREATED);
    let sys_id = written.sys_id.expect("the sys_id from Location");
    let stored = emulator
        .row_values("incident", sys_id.as_str())
        .expect("the record exists");
    assert_eq!(stored["short_description"], "No body please");

    // An instance that answers 204 instead (the status is not documented).
    emulator.update_settings(|settings| {
        settings.no_response_body_status = NoResponseBodyStatus::NoContent;
    });
    let changes = Record::new().with("short_description", "Changed quietly");
    let written = client
        .update_without_body(&incident(), &sys_id, &changes, &WriteOptions::default())
        .await
        .expect("updated");
    assert_eq!(written.status, http::StatusCode::NO_CONTENT);
    assert_eq!(written.sys_id.as_ref(), Some(&sys_id));
    let stored = emulator
        .row_values("incident", sys_id.as_str())
        .expect("the record exists");
    assert_eq!(stored["short_description"], "Changed quietly");
    let created = client
        .create_without_body(&incident(), &record, &WriteOptions::default())
        .await
        .expect("created");
    assert_eq!(created.status, http::StatusCode::NO_CONTENT);
    let created = created.sys_id.expect("Location is sent with the 204 too");
    assert!(emulator.row_values("incident", created.as_str()).is_some());
}

#[tokio::test]
async fn head_counts_like_get_and_falls_back_to_get_without_a_count() {
    let emulator = emulator::start(Emulator::builder().rows("incident", 321)).await;
    let (client, sent) = recording_client(&emulator);
    let client = client.with_count_method(CountMethod::Head);
    assert_eq!(client.count(&incident(), None).await.expect("count"), 321);
    assert_eq!(sent.methods(), ["HEAD"]);

    emulator.update_settings(|settings| settings.head_sends_total_count = false);
    assert_eq!(client.count(&incident(), None).await.expect("count"), 321);
    assert_eq!(sent.methods(), ["HEAD", "HEAD", "GET"]);
}

#[tokio::test]
async fn the_paging_and_domain_options_reach_the_instance() {
    let emulator = emulator::start(Emulator::builder().rows("incident", 50)).await;
    let client = emulator::client(&emulator);
    let options = ReadOptions {
        suppress_pagination_header: true,
        query_no_domain: true,
        query_category: Some("reporting".to_owned()),
        ..sys_id_only()
    };
    let page = client
        .list::<Row>(
            &incident(),
            &ListParams {
                options: options.clone(),
                limit: Some(20),
                ..ListParams::default()
            },
        )
        .await
        .expect("listed");
    assert_eq!(page.records.len(), 20);
    assert_eq!(page.has_next, None, "no Link header was sent");
    assert_eq!(page.total_count, Some(50), "X-Total-Count still is");
    // Without Link, a stream ends by the count.
    let rows: Vec<Row> = client
        .stream(
            &incident(),
            None,
            options,
            StreamConfig {
                page_size: 20,
                ..StreamConfig::default()
            },
        )
        .try_collect()
        .await
        .expect("streamed");
    assert_every_row_once(&emulator, rows.into_iter().map(|row| row.sys_id).collect());
    let sys_id =
        SysId::new(emulator.live_sys_ids("incident").expect("incident")[0].clone()).expect("valid");
    let record: Row = client
        .get(
            &incident(),
            &sys_id,
            &ReadOptions {
                query_no_domain: true,
                ..ReadOptions::default()
            },
        )
        .await
        .expect("read");
    assert_eq!(record.sys_id, sys_id.as_str());
}

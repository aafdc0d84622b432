//! The export reads a few page bodies at a time (`ExportConfig::bodies_at_once`): pages of
//! several ranges that arrive together wait with their bodies unread, so memory holds a few
//! page bodies, not one per request in flight.

mod emulator;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::StreamExt as _;
use serde::Deserialize;
use servicenow_emulator::Emulator;
use servicenow_http::{
    HttpTransport, RequestBody, ReqwestTransport, ResponseBody, StreamLimits, TransportError,
    async_trait,
};
use servicenow_table::{ExportConfig, FieldName, ReadOptions, Stopwatch, TableClient, TableName};

#[derive(Debug, Deserialize)]
struct Row {
    #[allow(dead_code)] // Deserialized to read the rows; only their count matters here.
    sys_id: String,
}

#[derive(Debug)]
struct TestStopwatch(Instant);

impl Stopwatch for TestStopwatch {
    fn since_start(&self) -> Duration {
        self.0.elapsed()
    }
}

/// Bodies being read now and the most at once.
#[derive(Debug, Default)]
struct Reads {
    now: AtomicUsize,
    most: AtomicUsize,
}

/// Forwards every exchange; a streamed body counts as being read from its first poll to its
/// end, and its first piece comes 20 ms late (a slow link), so that reads which may overlap do.
#[derive(Debug)]
struct SlowBodies<T> {
    inner: T,
    reads: Arc<Reads>,
}

#[async_trait]
impl<T: HttpTransport> HttpTransport for SlowBodies<T> {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        self.inner.send(request).await
    }

    async fn send_streaming(
        &self,
        request: http::Request<RequestBody>,
        limits: StreamLimits,
    ) -> Result<http::Response<ResponseBody>, TransportError> {
        let response = self.inner.send_streaming(request, limits).await?;
        let reads = Arc::clone(&self.reads);
        Ok(response.map(|body| {
            ResponseBody::from_stream(futures::stream::unfold(
                (body, reads, false),
                |(mut body, reads, started)| async move {
                    if !started {
                        let now = reads.now.fetch_add(1, Ordering::SeqCst) + 1;
                        reads.most.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    match body.next().await {
                        Some(piece) => Some((piece, (body, reads, true))),
                        None => {
                            reads.now.fetch_sub(1, Ordering::SeqCst);
                            None
                        }
                    }
                },
            ))
        }))
    }
}

/// Exports 4,000 rows in pages of 100 with eight requests in flight and `bodies_at_once`;
/// returns the rows and the most bodies read at once.
async fn export_with(bodies_at_once: usize) -> (usize, usize) {
    let emulator = emulator::start(Emulator::builder().rows("incident", 4_000)).await;
    let reads = Arc::new(Reads::default());
    let transport = SlowBodies {
        inner: emulator::BasicAuth::new(ReqwestTransport::new().expect("builds")),
        reads: Arc::clone(&reads),
    };
    let instance =
        servicenow_oauth::InstanceUrl::new(emulator.base_url()).expect("a loopback origin");
    let client = TableClient::new(instance, transport);
    let mut config = ExportConfig::fixed(8);
    config.page_size = 100;
    config.bodies_at_once = bodies_at_once;
    let options = ReadOptions {
        fields: vec![FieldName::new("sys_id").expect("valid")],
        ..ReadOptions::default()
    };
    let mut export = client
        .export::<Row>(
            &TableName::new("incident").expect("valid"),
            None,
            options,
            config,
            Arc::new(TestStopwatch(Instant::now())),
        )
        .expect("unordered");
    let mut rows = 0;
    while let Some(batch) = export.next_batch().await {
        rows += batch.expect("the export completes").rows.len();
    }
    (rows, reads.most.load(Ordering::SeqCst))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_requests_in_flight_read_at_most_two_bodies_at_once() {
    let (rows, most) = export_with(2).await;
    assert_eq!(rows, 4_000);
    assert!(most <= 2, "{most} bodies were read at once");
    assert!(most >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_permit_per_request_the_bodies_of_pages_in_flight_are_read_together() {
    // The same export with eight permits: the slow bodies overlap, which is what the permits
    // prevent above (and shows this test's counter can see it).
    let (rows, most) = export_with(8).await;
    assert_eq!(rows, 4_000);
    assert!(most > 2, "only {most} bodies were read at once");
}

//! The keyset stream's windows against an in-memory Table API: with prefetch, window requests
//! overlap (two in flight at once with the default prefetch of 1, never more than one without
//! prefetch), at most `prefetch + 1` pages are requested or held at once, and every row comes
//! once in `sys_id` order through dense stretches, sparse ones, hidden rows, either end rule and
//! a window the instance cancels.

mod support;

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use servicenow_http::{HttpTransport, TransportError, async_trait};
use servicenow_oauth::InstanceUrl;
use servicenow_table::{Paging, ReadOptions, Record, StreamConfig, TableClient, TableName};
use support::FakeTable;

fn incident() -> TableName {
    TableName::new("incident").expect("valid")
}

fn keyset(page_size: u32, prefetch: usize) -> StreamConfig {
    StreamConfig {
        page_size,
        prefetch,
        paging: Paging::Keyset,
    }
}

/// 100 rows 1,000 keys apart, then 60 rows on consecutive keys (a window sized for the first
/// stretch holds far more than a page), then 140 rows 50,000 keys apart (windows come back
/// nearly empty), then nothing up to the end of the key space.
fn uneven_key(index: usize) -> u128 {
    let index = index as u128;
    match index {
        0..100 => index * 1_000,
        100..160 => 100_000 + index,
        _ => 200_000 + index * 50_000,
    }
}

/// The queries sent, decoded.
fn queries(table: &FakeTable) -> Vec<String> {
    table
        .requests()
        .iter()
        .filter_map(|request| {
            let url = url::Url::parse(request.split_once(' ')?.1).ok()?;
            url.query_pairs()
                .find(|(name, _)| name == "sysparm_query")
                .map(|(_, query)| query.into_owned())
        })
        .collect()
}

/// The `sysparm_limit` of each request sent.
fn limits(table: &FakeTable) -> Vec<u32> {
    table
        .requests()
        .iter()
        .filter_map(|request| {
            let url = url::Url::parse(request.split_once(' ')?.1).ok()?;
            url.query_pairs()
                .find(|(name, _)| name == "sysparm_limit")
                .and_then(|(_, limit)| limit.parse().ok())
        })
        .collect()
}

/// A query that continues a window after its cursor: `sys_id>LAST^sys_id<END`.
fn continues_a_window(query: &str) -> bool {
    query.contains("sys_id<")
        && query
            .split('^')
            .any(|part| part.starts_with("sys_id>") && !part.starts_with("sys_id>="))
}

async fn sys_ids(client: &TableClient<Counting>, config: StreamConfig) -> Vec<String> {
    let rows: Vec<Record> = client
        .stream(&incident(), None, ReadOptions::default(), config)
        .try_collect()
        .await
        .expect("the stream completes");
    rows.iter()
        .map(|row| row.sys_id().unwrap_or_default().to_owned())
        .collect()
}

/// Rows alive per page (by the number of the request that returned them), across the one test
/// that streams [`Counted`] rows.
static LIVE_ROWS: Mutex<Option<HashMap<usize, usize>>> = Mutex::new(None);

/// Pages some of whose rows are alive: held by the stream (or by its caller).
fn pages_held() -> usize {
    let live = LIVE_ROWS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    live.as_ref()
        .map_or(0, |live| live.values().filter(|rows| **rows > 0).count())
}

#[derive(Deserialize)]
struct Tagged {
    page: String,
    sys_id: String,
}

/// A row that counts itself alive in [`LIVE_ROWS`] from its parse to its drop.
#[derive(Deserialize)]
#[serde(from = "Tagged")]
struct Counted {
    page: usize,
    sys_id: String,
}

impl From<Tagged> for Counted {
    fn from(tagged: Tagged) -> Self {
        let page = tagged.page.parse().unwrap_or(usize::MAX);
        let mut live = LIVE_ROWS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *live.get_or_insert_default().entry(page).or_default() += 1;
        Self {
            page,
            sys_id: tagged.sys_id,
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut live = LIVE_ROWS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(rows) = live.get_or_insert_default().get_mut(&self.page) {
            *rows = rows.saturating_sub(1);
        }
    }
}

/// The fake table behind a counter of requests in flight: for each request, whether another was
/// in flight at any moment of its life, and the most pages requested or held at once (seen as
/// each request starts).
struct Counting {
    table: FakeTable,
    in_flight: AtomicUsize,
    /// Per request: another request was in flight at some moment of its life.
    overlapped: Mutex<Vec<bool>>,
    /// The requests now in flight (indexes into `overlapped`).
    open: Mutex<Vec<usize>>,
    max_pages: AtomicUsize,
}

impl Counting {
    fn new(table: FakeTable) -> Self {
        Self {
            table,
            in_flight: AtomicUsize::new(0),
            overlapped: Mutex::new(Vec::new()),
            open: Mutex::new(Vec::new()),
            max_pages: AtomicUsize::new(0),
        }
    }

    /// Requests in flight plus pages held, recorded as the most seen.
    fn note_pages(&self) -> usize {
        let pages = self.in_flight.load(Ordering::SeqCst) + pages_held();
        self.max_pages.fetch_max(pages, Ordering::SeqCst);
        pages
    }

    fn overlapped(&self) -> Vec<bool> {
        self.overlapped
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

#[async_trait]
impl HttpTransport for Counting {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let index = {
            let mut overlapped = self
                .overlapped
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut open = self
                .open
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let index = overlapped.len();
            overlapped.push(!open.is_empty());
            for other in open.iter() {
                overlapped[*other] = true;
            }
            open.push(index);
            index
        };
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.note_pages();
        let response = self.table.send(request).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .retain(|open| *open != index);
        response
    }
}

fn client(table: FakeTable) -> TableClient<Counting> {
    TableClient::new(
        InstanceUrl::new("http://127.0.0.1:9").expect("loopback"),
        Counting::new(table),
    )
}

#[tokio::test]
async fn with_prefetch_one_window_requests_overlap_in_pairs_and_without_prefetch_never() {
    for prefetch in [1, 0] {
        let mut table = FakeTable::new(400);
        table.latency = Some(Duration::from_millis(20));
        let client = client(table);
        let rows = sys_ids(&client, keyset(20, prefetch)).await;
        assert_eq!(rows.len(), 400, "prefetch {prefetch}");
        let overlapped = client.sender().overlapped();
        let max_in_flight = client.sender().table.max_in_flight.load(Ordering::SeqCst);
        let overlapping = overlapped.iter().filter(|overlapped| **overlapped).count();
        if prefetch == 0 {
            assert_eq!(max_in_flight, 1, "one request at a time");
            assert_eq!(overlapping, 0);
        } else {
            assert_eq!(max_in_flight, 2, "the page being read and one more");
            // The first page is read alone; after it, every window shares the server's time
            // with another (the last one may end alone).
            assert!(
                overlapping + 2 >= overlapped.len(),
                "{overlapping} of {} requests overlapped another",
                overlapped.len()
            );
        }
    }
}

#[tokio::test]
async fn at_most_prefetch_plus_one_pages_are_requested_or_held_at_once() {
    for prefetch in [0, 1, 2, 3] {
        let mut table = FakeTable::new(300);
        table.key_of_row = Some(uneven_key);
        table.tag_pages = true;
        table.latency = Some(Duration::from_millis(1));
        let client = client(table);
        let mut rows = std::pin::pin!(client.stream::<Counted>(
            &incident(),
            None,
            ReadOptions::default(),
            keyset(10, prefetch),
        ));
        let mut delivered = Vec::new();
        while let Some(row) = rows.next().await {
            let row = row.expect("the stream completes");
            // Counted while the caller holds the row: its page is one of those held.
            client.sender().note_pages();
            delivered.push(row.sys_id.clone());
        }
        let expected: Vec<String> = (0..300)
            .map(|index| format!("{:032x}", uneven_key(index)))
            .collect();
        assert_eq!(
            delivered, expected,
            "prefetch {prefetch}: every row once, in order"
        );
        let max_pages = client.sender().max_pages.load(Ordering::SeqCst);
        assert!(
            max_pages <= prefetch + 1,
            "prefetch {prefetch}: {max_pages} pages requested or held at once"
        );
        if prefetch > 0 {
            assert!(
                max_pages >= 2,
                "prefetch {prefetch}: the windows overlapped"
            );
            let queries = queries(&client.sender().table);
            assert!(
                queries.iter().any(|query| continues_a_window(query)),
                "prefetch {prefetch}: the dense stretch was read by continuing a window: {queries:#?}"
            );
        }
    }
}

#[tokio::test]
async fn windows_end_with_link_alone_with_count_alone_and_with_neither() {
    for (send_link, send_count) in [(true, false), (false, true), (true, true), (false, false)] {
        let mut table = FakeTable::new(230);
        table.send_link = send_link;
        table.send_count = send_count;
        table.key_of_row = Some(uneven_key);
        let client = client(table);
        let rows = sys_ids(&client, keyset(10, 2)).await;
        let expected: Vec<String> = (0..230)
            .map(|index| format!("{:032x}", uneven_key(index)))
            .collect();
        assert_eq!(rows, expected, "link {send_link}, count {send_count}");
        let queries = queries(&client.sender().table);
        assert!(
            queries.iter().any(|query| query.contains("sys_id>=")),
            "link {send_link}, count {send_count}: read by windows"
        );
        // 230 rows in windows of about 5 (pages of 10); without a count, the empty key space
        // above the table is crossed by windows that double while they come back empty (and
        // without `Link` either, each window ends with an empty page).
        let bound = if send_count { 60 } else { 130 };
        assert!(
            queries.len() <= bound,
            "link {send_link}, count {send_count}: {} requests",
            queries.len()
        );
    }
}

#[tokio::test]
async fn rows_hidden_by_acls_inside_windows_do_not_end_them() {
    let hidden = [
        0, 5, 6, 7, 8, 9, 13, 24, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 99,
    ];
    let mut table = FakeTable::new(120);
    table.hidden = hidden.into_iter().collect();
    let client = client(table);
    let rows = sys_ids(&client, keyset(6, 2)).await;
    let expected: Vec<String> = (0..120)
        .filter(|index| !hidden.contains(index))
        .map(support::sys_id)
        .collect();
    assert_eq!(rows, expected);
}

#[tokio::test]
async fn a_cancelled_window_is_asked_again_with_half_the_page_and_the_windows_after_it_replanned() {
    let mut table = FakeTable::new(200);
    // The first page, then the first window: cancelled (the second window is on its way).
    table.cancelled_requests = [2].into_iter().collect();
    let client = client(table);
    let rows = sys_ids(&client, keyset(20, 1)).await;
    let expected: Vec<String> = (0..200).map(support::sys_id).collect();
    assert_eq!(rows, expected, "every row once, in order");
    let (queries, limits) = (
        queries(&client.sender().table),
        limits(&client.sender().table),
    );
    assert!(
        queries[1].contains("sys_id<"),
        "request 2 is a window: {queries:#?}"
    );
    assert_eq!(
        queries[3], queries[1],
        "after the window requested ahead of it, the cancelled window is asked again"
    );
    assert_eq!(&limits[..4], &[20, 20, 20, 10], "{limits:?}");
    let lower = |query: &str| {
        query
            .split('^')
            .find(|part| part.starts_with("sys_id>="))
            .map(str::to_owned)
    };
    assert_eq!(
        lower(&queries[4]),
        lower(&queries[2]),
        "the window after the cancelled one starts where it did"
    );
    assert_ne!(
        queries[4], queries[2],
        "but is planned again, for the smaller page"
    );
    assert!(
        limits[4..].iter().all(|limit| *limit == 10),
        "the smaller page stays, for the windows planned after it too: {limits:?}"
    );
}

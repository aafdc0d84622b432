//! The client's retries and the stream's paging rules, against an in-memory Table API.

mod support;

use std::{sync::atomic::Ordering, time::Duration};

use futures::TryStreamExt;
use servicenow_oauth::InstanceUrl;
use servicenow_table::{
    Condition, ListParams, Paging, Query, ReadOptions, Record, RetryPolicy, StreamConfig,
    TableClient, TableError, TableName, WriteOptions,
};
use support::{FakeTable, Fault, sys_id};

fn client(table: FakeTable) -> TableClient<FakeTable> {
    let policy = RetryPolicy {
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        ..RetryPolicy::default()
    };
    TableClient::new(
        InstanceUrl::new("http://127.0.0.1:9").expect("loopback"),
        table,
    )
    .with_retry_policy(policy)
}

fn incident() -> TableName {
    TableName::new("incident").expect("valid")
}

async fn stream_numbers(
    client: &TableClient<FakeTable>,
    config: StreamConfig,
) -> Result<Vec<String>, TableError> {
    let rows: Vec<Record> = client
        .stream(&incident(), None, ReadOptions::default(), config)
        .try_collect()
        .await?;
    Ok(rows
        .iter()
        .map(|row| row.sys_id().unwrap_or_default().to_owned())
        .collect())
}

fn expected(rows: usize, hidden: &[usize]) -> Vec<String> {
    (0..rows)
        .filter(|index| !hidden.contains(index))
        .map(sys_id)
        .collect()
}

#[tokio::test]
async fn short_and_empty_pages_from_acls_do_not_end_the_stream() {
    let hidden = [0, 5, 6, 7, 8, 9, 13, 24];
    let mut table = FakeTable::new(25);
    table.hidden = hidden.into_iter().collect();
    let client = client(table);
    let rows = stream_numbers(
        &client,
        StreamConfig {
            page_size: 5,
            prefetch: 2,
            paging: Paging::Offset,
        },
    )
    .await
    .expect("stream");
    assert_eq!(rows, expected(25, &hidden));
}

#[tokio::test]
async fn the_end_is_found_with_link_alone_with_count_alone_and_with_neither() {
    for (send_link, send_count) in [(true, false), (false, true), (true, true), (false, false)] {
        let mut table = FakeTable::new(23);
        table.send_link = send_link;
        table.send_count = send_count;
        let client = client(table);
        let rows = stream_numbers(
            &client,
            StreamConfig {
                page_size: 5,
                prefetch: 3,
                paging: Paging::Offset,
            },
        )
        .await
        .expect("stream");
        assert_eq!(
            rows,
            expected(23, &[]),
            "link {send_link}, count {send_count}"
        );
        let requests = client.sender().requests().len();
        // Without a count the stream cannot tell whether the table changed, so it also reads the
        // (empty) gap between prefetched pages.
        let bound = if send_count { 5 + 3 } else { 5 + 3 + 5 };
        assert!(
            requests <= bound,
            "link {send_link}, count {send_count}: {requests} requests for 5 pages"
        );
    }
}

#[tokio::test]
async fn a_stable_order_by_sys_id_is_added_and_the_callers_query_kept() {
    let client = client(FakeTable::new(3));
    let query = Query::new()
        .and("active", Condition::eq("true"))
        .build()
        .expect("safe");
    let _: Vec<Record> = client
        .stream(
            &incident(),
            Some(query),
            ReadOptions::default(),
            StreamConfig {
                page_size: 2,
                prefetch: 1,
                paging: Paging::Offset,
            },
        )
        .try_collect()
        .await
        .expect("stream");
    let first = client
        .sender()
        .requests()
        .into_iter()
        .next()
        .unwrap_or_default();
    assert!(
        first.contains(
            "sysparm_query=active%3Dtrue%5EORDERBYsys_id&sysparm_limit=2&sysparm_offset=0"
        ),
        "{first}"
    );
}

#[tokio::test]
async fn prefetch_keeps_the_page_being_read_and_at_most_prefetch_more_in_flight() {
    for prefetch in [0, 1, 2, 4] {
        let client = client(FakeTable::new(100));
        let rows = stream_numbers(
            &client,
            StreamConfig {
                page_size: 10,
                prefetch,
                paging: Paging::Offset,
            },
        )
        .await
        .expect("stream");
        assert_eq!(rows.len(), 100);
        let max = client.sender().max_in_flight.load(Ordering::SeqCst);
        assert_eq!(max, prefetch + 1, "prefetch {prefetch}");
    }
}

#[tokio::test]
async fn a_link_to_another_origin_ends_the_stream_with_an_error() {
    let mut table = FakeTable::new(20);
    table.send_link = true;
    table.link_origin = Some("https://collector.example".into());
    let client = client(table);
    let error = stream_numbers(&client, StreamConfig::default())
        .await
        .expect_err("foreign link");
    assert!(
        matches!(error, TableError::ForeignOrigin { ref origin, .. } if origin == "https://collector.example"),
        "{error:?}"
    );
}

#[tokio::test]
async fn idempotent_reads_are_retried_through_faults() {
    let table = FakeTable::new(12);
    table.faults.lock().expect("fresh").extend([
        Fault::Status(503, vec![]),
        Fault::Reset,
        Fault::Status(500, vec![]),
        Fault::Status(429, vec![("Retry-After", "0".into())]),
    ]);
    let client = client(table);
    let rows = stream_numbers(
        &client,
        StreamConfig {
            page_size: 5,
            prefetch: 2,
            paging: Paging::Offset,
        },
    )
    .await
    .expect("retried");
    assert_eq!(rows, expected(12, &[]));
}

#[tokio::test]
async fn a_post_is_not_retried_after_it_may_have_reached_the_server() {
    for fault in [Fault::Status(503, vec![]), Fault::Reset] {
        let table = FakeTable::new(0);
        table.faults.lock().expect("fresh").push_back(fault);
        let client = client(table);
        let result = client
            .create::<_, Record>(
                &incident(),
                &Record::new().with("short_description", "x"),
                &WriteOptions::default(),
            )
            .await;
        assert!(result.is_err());
        assert_eq!(client.sender().requests().len(), 1, "sent once");
    }
}

#[tokio::test]
async fn a_post_is_retried_when_the_connection_was_refused() {
    let table = FakeTable::new(0);
    table
        .faults
        .lock()
        .expect("fresh")
        .push_back(Fault::Refused);
    let client = client(table);
    let created = client
        .create::<_, Record>(
            &incident(),
            &Record::new().with("short_description", "x"),
            &WriteOptions::default(),
        )
        .await
        .expect("retried after the refusal");
    assert_eq!(created.record.get_str("number"), Some("INC1"));
    assert_eq!(client.sender().requests().len(), 2);
}

#[tokio::test]
async fn retries_stop_at_the_policy_limit_with_the_last_error() {
    let table = FakeTable::new(3);
    table
        .faults
        .lock()
        .expect("fresh")
        .extend((0..10).map(|_| Fault::Status(503, vec![])));
    let client = client(table).with_retry_policy(RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(1),
        ..RetryPolicy::default()
    });
    let error = client
        .list::<Record>(&incident(), &ListParams::default())
        .await
        .expect_err("always 503");
    assert!(matches!(error, TableError::ServerError { .. }), "{error:?}");
    assert_eq!(client.sender().requests().len(), 3);
}

#[tokio::test]
async fn count_and_first_are_single_small_requests() {
    let client = client(FakeTable::new(42));
    assert_eq!(client.count(&incident(), None).await.expect("count"), 42);
    let first: Option<Record> = client
        .first(&incident(), None, ReadOptions::default())
        .await
        .expect("first");
    assert_eq!(
        first.and_then(|row| row.sys_id().map(str::to_owned)),
        Some(sys_id(0))
    );
    let requests = client.sender().requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[1].ends_with("sysparm_limit=1"), "{}", requests[1]);
}

//! One page of 10,000 incident rows through the stream, and through `parse_list`, against serde_json alone on the same bytes.
//!
//! The baseline is the least a client can do with a page: `serde_json::from_slice` of
//! `{"result":[…]}` into a `Vec` of the caller's struct. `parse_list` adds the status, `Link`
//! and `X-Total-Count` checks; the stream adds, per row, the `sys_id` read of its exactly-once
//! rule (in the same pass as the struct, see `keyed_row.rs`) and the page bookkeeping, here over
//! an in-memory transport so that only client CPU is measured. The rows are shaped like the
//! emulator's incidents (22 fields, references as objects), of which the struct reads six.

use std::hint::black_box;

use async_trait::async_trait;
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::TryStreamExt as _;
use serde::Deserialize;
use servicenow_http::{HttpTransport, TransportError};
use servicenow_oauth::InstanceUrl;
use servicenow_table::{
    GlideDateTime, Paging, ReadOptions, StreamConfig, TableClient, TableName, de,
};

const ROWS: usize = 10_000;
const INSTANCE: &str = "https://dev1.service-now.com";

/// The struct every side parses rows into (the one of `cargo xtask bench`).
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // Fields are parsed to be measured, not read.
struct Incident {
    sys_id: String,
    number: String,
    short_description: String,
    #[serde(deserialize_with = "de::number_from_string")]
    priority: u8,
    #[serde(deserialize_with = "de::bool_from_string")]
    active: bool,
    sys_updated_on: GlideDateTime,
}

#[derive(Deserialize)]
struct Envelope {
    result: Vec<Incident>,
}

/// A `{"result":[…]}` body of `ROWS` incidents, fields in the emulator's order.
fn page_body() -> Bytes {
    let reference = |kind: &str, index: usize| {
        let value = format!("{index:0>24}{kind:0>8}");
        serde_json::json!({
            "link": format!("{INSTANCE}/api/now/table/sys_user/{value}"),
            "value": value,
        })
    };
    let rows: Vec<serde_json::Value> = (0..ROWS)
        .map(|index| {
            serde_json::json!({
                "number": format!("INC{index:07}"),
                "short_description": "Email is slow",
                "description": format!("Reported by phone. Email is slow since this morning (ticket {index})."),
                "caller_id": reference("caller", index),
                "category": "network",
                "impact": "1",
                "urgency": "3",
                "priority": "3",
                "state": "3",
                "active": "true",
                "assigned_to": reference("assignee", index),
                "cmdb_ci": "",
                "opened_at": "2023-01-01 00:00:00",
                "resolved_at": "",
                "sys_id": format!("{index:0>32x}"),
                "sys_created_on": "2023-01-01 00:00:00",
                "sys_created_by": "admin",
                "sys_updated_on": "2023-01-06 08:24:13",
                "sys_updated_by": "admin",
                "sys_mod_count": "3",
                "sys_class_name": "incident",
            })
        })
        .collect();
    Bytes::from(serde_json::to_vec(&serde_json::json!({ "result": rows })).expect("serializes"))
}

fn page_response(body: &Bytes) -> http::Response<Bytes> {
    http::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("x-total-count", ROWS.to_string())
        .body(body.clone())
        .expect("fixed headers are valid")
}

/// Answers every request with the same page (the whole table: the stream stops after it).
struct OnePage(Bytes);

#[async_trait]
impl HttpTransport for OnePage {
    async fn send(&self, _: http::Request<Bytes>) -> Result<http::Response<Bytes>, TransportError> {
        Ok(page_response(&self.0))
    }
}

fn page_of_ten_thousand(criterion: &mut Criterion) {
    let body = page_body();
    let response = page_response(&body);
    let instance = InstanceUrl::new(INSTANCE).expect("valid instance");
    let client = TableClient::new(instance, OnePage(body.clone()));
    let table = TableName::new("incident").expect("valid table");
    let config = StreamConfig {
        page_size: u32::try_from(ROWS).expect("fits"),
        prefetch: 0,
        paging: Paging::Offset,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");

    let mut group = criterion.benchmark_group("page of 10,000 incidents");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(20);
    group.bench_function("serde_json alone (baseline)", |bencher| {
        bencher.iter(|| {
            let page: Envelope = serde_json::from_slice(black_box(&body)).expect("parses");
            assert_eq!(page.result.len(), ROWS);
            page
        });
    });
    group.bench_function("TableApi::parse_list", |bencher| {
        bencher.iter(|| {
            let page = client
                .api()
                .parse_list::<Incident>(black_box(&response), "bench list")
                .expect("parses");
            assert_eq!(page.records.len(), ROWS);
            page
        });
    });
    group.bench_function("TableClient::stream (one-pass sys_id)", |bencher| {
        bencher.iter(|| {
            let rows: Vec<Incident> = runtime
                .block_on(
                    client
                        .stream(&table, None, ReadOptions::default(), config)
                        .try_collect(),
                )
                .expect("streams");
            assert_eq!(rows.len(), ROWS);
            rows
        });
    });
    group.finish();
}

criterion_group!(benches, page_of_ten_thousand);
criterion_main!(benches);

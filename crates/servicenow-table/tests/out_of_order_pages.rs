//! The stream's gap filling, shown deterministically: the instance evaluates a prefetched page
//! before the page in front of it, and a row inserted in between would fall through the crack.

use std::{collections::BTreeSet, sync::Mutex};

use bytes::Bytes;
use futures::TryStreamExt;
use servicenow_http::{HttpTransport, TransportError, async_trait};
use servicenow_oauth::InstanceUrl;
use servicenow_table::{
    Paging, ReadOptions, Record, RetryPolicy, StreamConfig, TableClient, TableName,
};

const PAGE: usize = 5;

/// A table of sys_ids where the first page is slow: the second page is evaluated first, and a
/// row is inserted at the very start of the table right after that.
struct GrowingTable {
    sys_ids: Mutex<BTreeSet<String>>,
    inserted: Mutex<Option<String>>,
}

impl GrowingTable {
    fn new(rows: usize) -> Self {
        let sys_ids = (0..rows)
            .map(|index| format!("{:032x}", (index + 1) * 16))
            .collect();
        Self {
            sys_ids: Mutex::new(sys_ids),
            inserted: Mutex::new(None),
        }
    }

    fn evaluate(&self, query: &str, offset: usize) -> (Vec<String>, usize) {
        let (mut after, mut before) = (None, None);
        for part in query.split('^') {
            if let Some(value) = part.strip_prefix("sys_id>") {
                after = Some(value.to_owned());
            } else if let Some(value) = part.strip_prefix("sys_id<") {
                before = Some(value.to_owned());
            }
        }
        let sys_ids = self
            .sys_ids
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let matching: Vec<&String> = sys_ids
            .iter()
            .filter(|sys_id| after.as_ref().is_none_or(|after| *sys_id > after))
            .filter(|sys_id| before.as_ref().is_none_or(|before| *sys_id < before))
            .collect();
        (
            matching
                .iter()
                .skip(offset)
                .take(PAGE)
                .map(|sys_id| (*sys_id).clone())
                .collect(),
            matching.len(),
        )
    }
}

#[async_trait]
impl HttpTransport for GrowingTable {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let url = url::Url::parse(&request.uri().to_string()).expect("absolute url");
        let parameter = |name: &str| {
            url.query_pairs()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
        };
        let offset: usize = parameter("sysparm_offset")
            .and_then(|value| value.parse().ok())
            .unwrap_or(0);
        let query = parameter("sysparm_query").unwrap_or_default();
        let is_range_query = query.contains("sys_id>");
        if offset == 0 && !is_range_query {
            // The first page is slow: let the prefetched second page be evaluated first.
            for _ in 0..50 {
                tokio::task::yield_now().await;
            }
        }
        let (rows, total) = self.evaluate(&query, offset);
        if offset == PAGE && !is_range_query {
            let mut inserted = self
                .inserted
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if inserted.is_none() {
                let sys_id = format!("{:032x}", 1);
                self.sys_ids
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .insert(sys_id.clone());
                *inserted = Some(sys_id);
            }
        }
        let body = rows
            .iter()
            .map(|sys_id| format!(r#"{{"sys_id":"{sys_id}"}}"#))
            .collect::<Vec<_>>()
            .join(",");
        Ok(http::Response::builder()
            .status(200)
            .header("X-Total-Count", total.to_string())
            .body(Bytes::from(format!(r#"{{"result":[{body}]}}"#)))
            .expect("valid response"))
    }
}

#[tokio::test]
async fn a_row_pushed_past_an_early_evaluated_page_is_read_from_the_gap() {
    let original: Vec<String> = GrowingTable::new(12)
        .sys_ids
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let instance = InstanceUrl::new("http://127.0.0.1:9").expect("loopback");
    let client =
        TableClient::new(instance, GrowingTable::new(12)).with_retry_policy(RetryPolicy::never());
    let table = TableName::new("incident").expect("valid");
    let rows: Vec<Record> = client
        .stream(
            &table,
            None,
            ReadOptions::default(),
            StreamConfig {
                page_size: PAGE as u32,
                prefetch: 2,
                paging: Paging::Offset,
            },
        )
        .try_collect()
        .await
        .expect("the stream completes");
    let streamed: Vec<String> = rows
        .iter()
        .filter_map(|row| row.sys_id().map(str::to_owned))
        .collect();
    let inserted = client
        .sender()
        .inserted
        .lock()
        .map(|inserted| inserted.clone())
        .ok()
        .flatten();
    assert!(
        inserted.is_some(),
        "the scenario inserted a row between the two page evaluations"
    );
    let distinct: BTreeSet<&String> = streamed.iter().collect();
    assert_eq!(
        distinct.len(),
        streamed.len(),
        "no row repeated: {streamed:?}"
    );
    for sys_id in &original {
        assert!(
            streamed.contains(sys_id),
            "row {sys_id} was lost: {streamed:?}"
        );
    }
}

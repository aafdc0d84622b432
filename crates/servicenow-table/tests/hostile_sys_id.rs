//! A `sys_id` read from a response never reaches the next page's query unchecked: an instance
//! (or anything between it and us) that answers with query syntax in a `sys_id` ends the
//! stream with a typed error, and the text is never sent back as a condition.

use std::sync::Mutex;

use bytes::Bytes;
use futures::TryStreamExt;
use servicenow_http::{HttpTransport, TransportError, async_trait};
use servicenow_oauth::InstanceUrl;
use servicenow_table::{
    Paging, ReadOptions, Record, RetryPolicy, StreamConfig, TableClient, TableError, TableName,
};

/// The injected text: were it pasted after `sys_id>`, the rest of the query would change.
const HOSTILE: &str = "ffffffffffffffffffffffffffffffff^NQactive=false^ORDERBYDESCnumber";

/// Answers its first pages with one good row and one whose `sys_id` carries query syntax, and
/// says that more pages follow; then an empty page, so a client that does not check ends
/// normally (and the test fails). Records every query it was sent.
#[derive(Default)]
struct HostileInstance {
    queries: Mutex<Vec<String>>,
}

#[async_trait]
impl HttpTransport for HostileInstance {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let sent = {
            let mut queries = self
                .queries
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            queries.push(request.uri().to_string());
            queries.len()
        };
        let body = if sent <= 3 {
            format!(
                r#"{{"result":[{{"sys_id":"{:032x}"}},{{"sys_id":"{HOSTILE}"}}]}}"#,
                1
            )
        } else {
            r#"{"result":[]}"#.to_owned()
        };
        Ok(http::Response::builder()
            .status(200)
            .header("X-Total-Count", "1000")
            .body(Bytes::from(body))
            .expect("valid response"))
    }
}

async fn stream_keyset() -> (Result<Vec<Record>, String>, Vec<String>) {
    let instance = InstanceUrl::new("http://127.0.0.1:9").expect("loopback");
    let client = TableClient::new(instance, HostileInstance::default())
        .with_retry_policy(RetryPolicy::never());
    let table = TableName::new("incident").expect("valid");
    let outcome: Result<Vec<Record>, _> = client
        .stream(
            &table,
            None,
            ReadOptions::default(),
            StreamConfig {
                page_size: 2,
                prefetch: 1,
                paging: Paging::Keyset,
            },
        )
        .try_collect()
        .await;
    let outcome = outcome.map_err(|error| match error {
        TableError::MalformedResponse { reason, .. } => reason,
        other => panic!("expected a malformed-response error, got: {other}"),
    });
    let queries = client
        .sender()
        .queries
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    (outcome, queries)
}

#[tokio::test]
async fn a_keyset_stream_refuses_a_sys_id_carrying_query_syntax_and_never_sends_it() {
    let (outcome, queries) = stream_keyset().await;
    let reason = outcome.expect_err("the hostile sys_id ends the stream");
    assert!(
        reason.contains("sys_id is not 32 hexadecimal digits"),
        "{reason}"
    );
    for query in &queries {
        assert!(
            !query.contains("NQactive") && !query.contains("ORDERBYDESC"),
            "the hostile text entered a query: {query}"
        );
    }
}

//! An in-memory Table API behind the `HttpTransport` trait, for client and stream tests without sockets.

use std::{
    collections::{BTreeSet, VecDeque},
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use bytes::Bytes;
use servicenow_http::{HttpTransport, TransportError, async_trait};

/// A scripted failure served instead of the next request's normal answer.
#[derive(Debug)]
pub(crate) enum Fault {
    Status(u16, Vec<(&'static str, String)>),
    Refused,
    Reset,
}

/// Rows `sys_id` = 32 hex digits of their index, sorted; some hidden by "ACLs" after the limit.
#[derive(Debug, Default)]
pub(crate) struct FakeTable {
    pub(crate) rows: usize,
    pub(crate) hidden: BTreeSet<usize>,
    pub(crate) send_link: bool,
    pub(crate) send_count: bool,
    pub(crate) link_origin: Option<String>,
    pub(crate) faults: Mutex<VecDeque<Fault>>,
    pub(crate) seen: Mutex<Vec<String>>,
    pub(crate) in_flight: AtomicUsize,
    pub(crate) max_in_flight: AtomicUsize,
}

pub(crate) fn sys_id(index: usize) -> String {
    format!("{index:032x}")
}

impl FakeTable {
    pub(crate) fn new(rows: usize) -> Self {
        Self {
            rows,
            send_count: true,
            ..Self::default()
        }
    }

    pub(crate) fn requests(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn answer(&self, request: &http::Request<Bytes>) -> http::Response<Bytes> {
        let url = url::Url::parse(&request.uri().to_string()).expect("absolute url");
        let parameter = |name: &str| {
            url.query_pairs()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
        };
        if request.method() == http::Method::POST {
            return respond(
                201,
                &[(
                    "Location",
                    "http://127.0.0.1:9/api/now/v2/table/incident/x".into(),
                )],
                r#"{"result":{"number":"INC1"}}"#.into(),
            );
        }
        let offset: usize = parameter("sysparm_offset")
            .and_then(|value| value.parse().ok())
            .unwrap_or(0);
        let limit: usize = parameter("sysparm_limit")
            .and_then(|value| value.parse().ok())
            .unwrap_or(10_000);
        let query = parameter("sysparm_query").unwrap_or_default();
        // Only what the stream sends: `[sys_id>A^][sys_id<B^]ORDERBYsys_id`.
        let mut after = None;
        let mut before = None;
        for part in query.split('^') {
            if let Some(value) = part.strip_prefix("sys_id>") {
                after = Some(value.to_owned());
            } else if let Some(value) = part.strip_prefix("sys_id<") {
                before = Some(value.to_owned());
            }
        }
        let matching: Vec<usize> = (0..self.rows)
            .filter(|index| after.as_ref().is_none_or(|after| sys_id(*index) > *after))
            .filter(|index| {
                before
                    .as_ref()
                    .is_none_or(|before| sys_id(*index) < *before)
            })
            .collect();
        let total = matching.len();
        let rows: Vec<String> = matching
            .iter()
            .skip(offset)
            .take(limit)
            .filter(|index| !self.hidden.contains(index))
            .map(|index| {
                format!(
                    r#"{{"sys_id":"{}","number":"INC{index:07}"}}"#,
                    sys_id(*index)
                )
            })
            .collect();
        let mut headers = Vec::new();
        if self.send_count {
            headers.push(("X-Total-Count", total.to_string()));
        }
        if self.send_link {
            let origin = self
                .link_origin
                .clone()
                .unwrap_or_else(|| "http://127.0.0.1:9".into());
            let mut link =
                format!("<{origin}/api/now/v2/table/incident?sysparm_offset=0>;rel=\"first\"");
            if offset + limit < total {
                link.push_str(&format!(
                    ",<{origin}/api/now/v2/table/incident?sysparm_offset={}>;rel=\"next\"",
                    offset + limit
                ));
            }
            headers.push(("Link", link));
        }
        respond(
            200,
            &headers,
            format!(r#"{{"result":[{}]}}"#, rows.join(",")),
        )
    }
}

fn respond(status: u16, headers: &[(&'static str, String)], body: String) -> http::Response<Bytes> {
    let mut builder = http::Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder.body(Bytes::from(body)).expect("valid response")
}

#[async_trait]
impl HttpTransport for FakeTable {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(format!("{} {}", request.method(), request.uri()));
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        // Let other requests start, as a real server's latency would.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let fault = self
            .faults
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop_front();
        match fault {
            Some(Fault::Status(status, headers)) => Ok(respond(
                status,
                &headers,
                r#"{"error":{"message":"fault","detail":null},"status":"failure"}"#.into(),
            )),
            Some(Fault::Refused) => Err(TransportError::Connect {
                origin: "http://127.0.0.1:9".into(),
                refused: true,
                source: "refused".into(),
            }),
            Some(Fault::Reset) => Err(TransportError::Io {
                origin: "http://127.0.0.1:9".into(),
                source: "reset".into(),
            }),
            None => Ok(self.answer(&request)),
        }
    }
}

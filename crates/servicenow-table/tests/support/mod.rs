//! An in-memory Table API behind the `HttpTransport` trait, for client and stream tests without sockets.

use std::{
    collections::{BTreeSet, VecDeque},
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use servicenow_http::{HttpTransport, TransportError, async_trait};

/// A scripted failure served instead of the next request's normal answer.
#[derive(Debug)]
#[allow(dead_code)] // Not every test binary scripts faults.
pub(crate) enum Fault {
    Status(u16, Vec<(&'static str, String)>),
    Refused,
    Reset,
}

/// Rows `sys_id` = 32 hex digits of their index (or of `key_of_row(index)`), sorted; some hidden
/// by "ACLs" after the limit.
#[derive(Debug, Default)]
pub(crate) struct FakeTable {
    pub(crate) rows: usize,
    /// The key of each row, increasing with the index (the index itself when `None`).
    pub(crate) key_of_row: Option<fn(usize) -> u128>,
    /// How long each request takes (a few yields when `None`).
    pub(crate) latency: Option<Duration>,
    /// Each row carries `"page"`: the number of the request that returned it (1 for the first).
    pub(crate) tag_pages: bool,
    pub(crate) hidden: BTreeSet<usize>,
    /// Requests (by number, 1 for the first) the instance cancels for taking too long.
    pub(crate) cancelled_requests: BTreeSet<usize>,
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

    /// The sys_id of row `index`.
    pub(crate) fn sys_id_of(&self, index: usize) -> String {
        match self.key_of_row {
            Some(key_of_row) => format!("{:032x}", key_of_row(index)),
            None => sys_id(index),
        }
    }

    pub(crate) fn requests(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn answer(&self, request: &http::Request<Bytes>, number: usize) -> http::Response<Bytes> {
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
        // Only what the stream sends: `[sys_id>A^|sys_id>=A^][sys_id<B^]ORDERBYsys_id`.
        let mut after = None;
        let mut from = None;
        let mut before = None;
        for part in query.split('^') {
            if let Some(value) = part.strip_prefix("sys_id>=") {
                from = Some(value.to_owned());
            } else if let Some(value) = part.strip_prefix("sys_id>") {
                after = Some(value.to_owned());
            } else if let Some(value) = part.strip_prefix("sys_id<") {
                before = Some(value.to_owned());
            }
        }
        let matching: Vec<usize> = (0..self.rows)
            .filter(|index| {
                let sys_id = self.sys_id_of(*index);
                after.as_ref().is_none_or(|after| sys_id > *after)
                    && from.as_ref().is_none_or(|from| sys_id >= *from)
                    && before.as_ref().is_none_or(|before| sys_id < *before)
            })
            .collect();
        let total = matching.len();
        let rows: Vec<String> = matching
            .iter()
            .skip(offset)
            .take(limit)
            .filter(|index| !self.hidden.contains(index))
            .map(|index| {
                let page = match self.tag_pages {
                    true => format!(r#","page":"{number}""#),
                    false => String::new(),
                };
                format!(
                    r#"{{"sys_id":"{}","number":"INC{index:07}"{page}}}"#,
                    self.sys_id_of(*index)
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
        let number = {
            let mut seen = self
                .seen
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            seen.push(format!("{} {}", request.method(), request.uri()));
            seen.len()
        };
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        // Let other requests start, as a real server's latency would.
        match self.latency {
            Some(latency) => tokio::time::sleep(latency).await,
            None => {
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
            }
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.cancelled_requests.contains(&number) {
            return Ok(respond(
                400,
                &[],
                r#"{"error":{"message":"Transaction cancelled: maximum execution time exceeded","detail":null},"status":"failure"}"#.into(),
            ));
        }
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
            None => Ok(self.answer(&request, number)),
        }
    }
}

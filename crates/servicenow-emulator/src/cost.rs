//! The cost model (opt-in): what a Table API request costs on an instance, so that a client's
//! paging and concurrency choices show up as time, 429s and cancelled transactions on
//! localhost (`servicenow-api-more.md` §6).
//!
//! A request is admitted to a node's `API_INT` semaphore (threads × nodes, a queue per node,
//! overflow answered with 429), holds a thread for its modelled execution time (per request, per
//! row rendered, per row skipped by an offset, per matching row counted), and is cancelled with
//! the real "Transaction cancelled" error when that time passes the transaction quota. Requests
//! that send back the `JSESSIONID` cookie the emulator set are serialized per session.
//!
//! The numbers of [`CostModel::instance_like`] are assumptions chosen to be plausible, not
//! measurements; the structural rules have sources (see `docs/emulator.md`).

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use parking_lot::Mutex;
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

/// The session cookie a real instance sets (`servicenow-api.md` §2, response headers).
pub(crate) const SESSION_COOKIE: &str = "JSESSIONID";
/// Sessions remembered at most; the oldest are forgotten beyond this (a client that returns no
/// cookie creates none).
const MAX_SESSIONS: usize = 65_536;

/// What a Table API request costs, and how many the instance runs at once.
///
/// Every duration is divided by [`time_divisor`](Self::time_divisor), so a benchmark can run a
/// scaled-down instance: ratios between clients do not change under a uniform scale.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct CostModel {
    /// Fixed cost of every Table API request (parsing, ACL set-up, the response envelope).
    pub per_request: Duration,
    /// Cost of each row rendered into the response.
    pub per_row_rendered: Duration,
    /// Cost of each row an offset skips (the database reads and discards it).
    pub per_row_skipped: Duration,
    /// Cost of each matching row counted for `X-Total-Count` (not paid with
    /// `sysparm_no_count=true`).
    pub per_row_counted: Duration,
    /// Application nodes behind the load balancer.
    pub nodes: u32,
    /// `API_INT` semaphore threads per node.
    pub threads_per_node: u32,
    /// Requests that may wait for a thread per node; one more is answered with 429.
    pub queue_per_node: u32,
    /// The REST transaction quota: a request whose modelled time exceeds it is cancelled when
    /// the quota has passed.
    pub transaction_quota: Duration,
    /// Set `JSESSIONID` and serialize the requests that send it back.
    pub session_serialization: bool,
    /// `Retry-After` (seconds) on a 429 for a full queue. The real header (if any) is not
    /// documented for semaphore overflow; `None` sends none.
    pub queue_full_retry_after: Option<u64>,
    /// Every duration above is divided by this (≥ 1).
    pub time_divisor: u32,
}

impl CostModel {
    /// The preset `instance-like`: 50 ms per request, 0.2 ms per row rendered, 0.01 ms per row
    /// skipped by an offset, 0.002 ms per matching row counted, 2 nodes × 4 `API_INT` threads,
    /// a queue of 50 per node, a 60 s quota, session serialization on. Assumptions, not
    /// measurements.
    pub fn instance_like() -> Self {
        Self {
            per_request: Duration::from_millis(50),
            per_row_rendered: Duration::from_micros(200),
            per_row_skipped: Duration::from_micros(10),
            per_row_counted: Duration::from_micros(2),
            nodes: 2,
            threads_per_node: 4,
            queue_per_node: 50,
            transaction_quota: Duration::from_secs(60),
            session_serialization: true,
            queue_full_retry_after: Some(1),
            time_divisor: 1,
        }
    }

    /// A named preset (`instance-like`).
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "instance-like" => Some(Self::instance_like()),
            _ => None,
        }
    }

    /// The same model with every duration divided by `divisor` (at least 1).
    pub fn scaled_down(mut self, divisor: u32) -> Self {
        self.time_divisor = divisor.max(1);
        self
    }

    /// Reads a model from JSON: an object with any of the fields `per_request_ms`,
    /// `per_row_rendered_ms`, `per_row_skipped_ms`, `per_row_counted_ms`, `nodes`,
    /// `threads_per_node`, `queue_per_node`, `transaction_quota_ms`, `session_serialization`,
    /// `queue_full_retry_after_s` (or `null`), `time_divisor`, and optionally `preset` (the
    /// starting point, else `instance-like`).
    pub fn from_json(text: &str) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|error| format!("not JSON: {error}"))?;
        let object = value
            .as_object()
            .ok_or("a cost model is a JSON object of numbers")?;
        let mut model = match object.get("preset") {
            None => Self::instance_like(),
            Some(name) => name
                .as_str()
                .and_then(Self::preset)
                .ok_or("preset: the only preset is \"instance-like\"")?,
        };
        for (key, value) in object {
            let millis = || {
                value
                    .as_f64()
                    .filter(|number| number.is_finite() && *number >= 0.0 && *number < 1e9)
                    .map(|number| Duration::from_secs_f64(number / 1000.0))
                    .ok_or(format!(
                        "{key}: expected a non-negative number of milliseconds"
                    ))
            };
            let count = || {
                value
                    .as_u64()
                    .filter(|number| *number >= 1 && *number <= 100_000)
                    .map(|number| number as u32)
                    .ok_or(format!("{key}: expected a whole number from 1 to 100000"))
            };
            match key.as_str() {
                "preset" => (),
                "per_request_ms" => model.per_request = millis()?,
                "per_row_rendered_ms" => model.per_row_rendered = millis()?,
                "per_row_skipped_ms" => model.per_row_skipped = millis()?,
                "per_row_counted_ms" => model.per_row_counted = millis()?,
                "transaction_quota_ms" => model.transaction_quota = millis()?,
                "nodes" => model.nodes = count()?,
                "threads_per_node" => model.threads_per_node = count()?,
                "queue_per_node" => model.queue_per_node = count()?,
                "time_divisor" => model.time_divisor = count()?,
                "session_serialization" => {
                    model.session_serialization = value
                        .as_bool()
                        .ok_or(format!("{key}: expected true or false"))?;
                }
                "queue_full_retry_after_s" => {
                    model.queue_full_retry_after = match value {
                        serde_json::Value::Null => None,
                        _ => Some(
                            value
                                .as_u64()
                                .ok_or(format!("{key}: expected seconds or null"))?,
                        ),
                    };
                }
                other => return Err(format!("{other}: not a field of the cost model")),
            }
        }
        Ok(model)
    }

    /// The modelled execution time of a list request.
    pub(crate) fn list_time(&self, work: ListWork) -> Duration {
        let cost = self.per_request
            + mul(self.per_row_rendered, work.rendered)
            + mul(self.per_row_skipped, work.skipped)
            + mul(self.per_row_counted, work.counted);
        self.scale(cost)
    }

    /// The modelled execution time of any other Table API request.
    pub(crate) fn request_time(&self) -> Duration {
        self.scale(self.per_request)
    }

    pub(crate) fn quota(&self) -> Duration {
        self.scale(self.transaction_quota)
    }

    fn scale(&self, duration: Duration) -> Duration {
        duration / self.time_divisor.max(1)
    }
}

fn mul(duration: Duration, rows: u64) -> Duration {
    Duration::from_nanos((duration.as_nanos() as u64).saturating_mul(rows))
}

/// What a list request made the database do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ListWork {
    pub(crate) rendered: u64,
    pub(crate) skipped: u64,
    pub(crate) counted: u64,
}

/// One node's `API_INT` semaphore and its queue.
#[derive(Debug)]
struct Node {
    threads: Arc<Semaphore>,
    waiting: AtomicUsize,
}

/// The running state of a cost model: nodes, round-robin assignment, sessions.
#[derive(Debug)]
pub(crate) struct CostState {
    pub(crate) model: CostModel,
    nodes: Vec<Node>,
    next_node: AtomicU64,
    next_session: AtomicU64,
    sessions: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A request admitted to a thread: hold it while the request executes.
#[derive(Debug)]
pub(crate) struct Admission {
    _thread: OwnedSemaphorePermit,
    _session: Option<OwnedMutexGuard<()>>,
    /// The session cookie to set, when the request sent none.
    pub(crate) new_session: Option<String>,
}

impl CostState {
    pub(crate) fn new(model: CostModel) -> Self {
        let nodes = (0..model.nodes.max(1))
            .map(|_| Node {
                threads: Arc::new(Semaphore::new(model.threads_per_node.max(1) as usize)),
                waiting: AtomicUsize::new(0),
            })
            .collect();
        Self {
            model,
            nodes,
            next_node: AtomicU64::new(0),
            next_session: AtomicU64::new(1),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for a thread on a node (the session's node when `session` names one), behind the
    /// session's earlier requests; `None` when the node's queue is full (answer 429).
    pub(crate) async fn admit(&self, session: Option<&str>, seed: u64) -> Option<Admission> {
        let node_count = self.nodes.len() as u64;
        let (node_index, session_lock) = match session.filter(|_| self.model.session_serialization)
        {
            Some(session) => {
                let node = session
                    .split_once('.')
                    .and_then(|(node, _)| node.parse::<u64>().ok())
                    .unwrap_or(0)
                    % node_count;
                let lock = {
                    let mut sessions = self.sessions.lock();
                    if sessions.len() >= MAX_SESSIONS && !sessions.contains_key(session) {
                        sessions.clear();
                    }
                    Arc::clone(sessions.entry(session.to_owned()).or_default())
                };
                (node, Some(lock))
            }
            None => (
                self.next_node.fetch_add(1, Ordering::Relaxed) % node_count,
                None,
            ),
        };
        let node = &self.nodes[node_index as usize];
        let session_guard = match session_lock {
            Some(lock) => Some(lock.lock_owned().await),
            None => None,
        };
        let thread = match Arc::clone(&node.threads).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let queued = node.waiting.fetch_add(1, Ordering::AcqRel);
                if queued >= self.model.queue_per_node as usize {
                    node.waiting.fetch_sub(1, Ordering::AcqRel);
                    return None;
                }
                let permit = Arc::clone(&node.threads).acquire_owned().await;
                node.waiting.fetch_sub(1, Ordering::AcqRel);
                permit.ok()?
            }
        };
        let new_session = (session.is_none() && self.model.session_serialization).then(|| {
            let number = self.next_session.fetch_add(1, Ordering::Relaxed);
            format!(
                "{node_index}.{:016X}{:016X}",
                seed.rotate_left(17) ^ number,
                number
            )
        });
        Some(Admission {
            _thread: thread,
            _session: session_guard,
            new_session,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instance_like_preset_has_the_issues_numbers() {
        let model = CostModel::instance_like();
        assert_eq!(model.per_request, Duration::from_millis(50));
        assert_eq!(model.per_row_rendered, Duration::from_micros(200));
        assert_eq!(model.per_row_skipped, Duration::from_micros(10));
        assert_eq!(model.per_row_counted, Duration::from_micros(2));
        assert_eq!(
            (model.nodes, model.threads_per_node, model.queue_per_node),
            (2, 4, 50)
        );
        assert_eq!(model.transaction_quota, Duration::from_secs(60));
        // 1,000 rows at offset 10,000 of a 100,000-row query: 50 + 200 + 100 + 200 ms.
        let work = ListWork {
            rendered: 1000,
            skipped: 10_000,
            counted: 100_000,
        };
        assert_eq!(model.list_time(work), Duration::from_millis(550));
        assert_eq!(
            model.clone().scaled_down(10).list_time(work),
            Duration::from_millis(55)
        );
    }

    #[test]
    fn a_json_model_starts_from_the_preset_and_refuses_unknown_fields() {
        let model = CostModel::from_json(r#"{"per_request_ms": 5, "nodes": 1}"#).expect("valid");
        assert_eq!(model.per_request, Duration::from_millis(5));
        assert_eq!(model.nodes, 1);
        assert_eq!(model.threads_per_node, 4);
        for bad in [
            "[]",
            r#"{"per_request_ms": -1}"#,
            r#"{"nodes": 0}"#,
            r#"{"threads": 4}"#,
            r#"{"preset": "fast"}"#,
        ] {
            assert!(CostModel::from_json(bad).is_err(), "{bad}");
        }
    }
}

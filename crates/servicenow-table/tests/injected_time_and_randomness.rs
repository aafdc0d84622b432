//! The client's waits come from what it is given: the injected sleep sees every delay, the
//! jitter seed decides the jitter, `X-RateLimit-Reset` is read against the response's `Date`,
//! and a sender's own failure is never retried but reaches the caller typed.

mod support;

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use futures::StreamExt;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use servicenow_http::{HttpTransport, RequestSender, SenderError, TransportError, async_trait};
use servicenow_oauth::InstanceUrl;
use servicenow_table::{
    DEFAULT_JITTER_SEED, ListParams, ReadOptions, Record, RetryPolicy, RetrySleep, StreamConfig,
    TableClient, TableError, TableName,
};
use support::{FakeTable, Fault};

/// Keeps every delay it is asked to sleep, and returns at once.
#[derive(Debug, Default)]
struct RecordingSleep {
    delays: Mutex<Vec<Duration>>,
}

impl RecordingSleep {
    fn delays(&self) -> Vec<Duration> {
        self.delays
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl RetrySleep for RecordingSleep {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.delays
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(duration);
        Box::pin(std::future::ready(()))
    }
}

const POLICY: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    initial_backoff: Duration::from_millis(100),
    max_backoff: Duration::from_secs(10),
    max_retry_after: Duration::from_secs(120),
};

fn instance() -> InstanceUrl {
    InstanceUrl::new("http://127.0.0.1:9").expect("loopback")
}

fn incident() -> TableName {
    TableName::new("incident").expect("valid")
}

/// A client over `sender` that sleeps through a fresh recorder, with `seed` if given.
fn recorded_client<S: RequestSender>(
    sender: S,
    seed: Option<[u8; 32]>,
) -> (TableClient<S>, Arc<RecordingSleep>) {
    let sleep = Arc::new(RecordingSleep::default());
    let client = TableClient::new(instance(), sender)
        .with_retry_policy(POLICY)
        .with_sleep(sleep.clone());
    let client = match seed {
        Some(seed) => client.with_jitter_seed(seed),
        None => client,
    };
    (client, sleep)
}

fn failing_three_times() -> FakeTable {
    let table = FakeTable::new(3);
    table
        .faults
        .lock()
        .expect("fresh")
        .extend((0..3).map(|_| Fault::Status(503, vec![])));
    table
}

/// The delays of retries 0, 1, 2 as the policy computes them from an RNG seeded with `seed`.
fn backoffs_from(seed: [u8; 32]) -> Vec<Duration> {
    let mut rng = ChaCha8Rng::from_seed(seed);
    (0..3)
        .map(|retry| POLICY.backoff(retry, &mut rng))
        .collect()
}

#[tokio::test]
async fn the_injected_sleep_sees_every_delay_and_the_seed_decides_the_jitter() {
    let seed = [7; 32];
    let (client_a, sleep_a) = recorded_client(failing_three_times(), Some(seed));
    client_a
        .list::<Record>(&incident(), &ListParams::default())
        .await
        .expect("the fourth attempt succeeds");
    assert_eq!(client_a.sender().requests().len(), 4);
    assert_eq!(
        sleep_a.delays(),
        backoffs_from(seed),
        "one sleep per retry, each the jittered backoff drawn from the seeded RNG"
    );

    let (client_b, sleep_b) = recorded_client(failing_three_times(), Some(seed));
    client_b
        .list::<Record>(&incident(), &ListParams::default())
        .await
        .expect("the fourth attempt succeeds");
    assert_eq!(sleep_b.delays(), sleep_a.delays(), "same seed, same delays");

    let (client_c, sleep_c) = recorded_client(failing_three_times(), Some([8; 32]));
    client_c
        .list::<Record>(&incident(), &ListParams::default())
        .await
        .expect("the fourth attempt succeeds");
    assert_ne!(
        sleep_c.delays(),
        sleep_a.delays(),
        "another seed, other delays"
    );

    let (client_d, sleep_d) = recorded_client(failing_three_times(), None);
    client_d
        .list::<Record>(&incident(), &ListParams::default())
        .await
        .expect("the fourth attempt succeeds");
    assert_eq!(
        sleep_d.delays(),
        backoffs_from(DEFAULT_JITTER_SEED),
        "without a seed, the documented default seed"
    );
}

#[tokio::test]
async fn a_rate_limit_reset_is_waited_for_relative_to_the_response_date() {
    // 4102444800 is 2100-01-01T00:00:00Z; the server's clock says 30 s before that. Were the
    // local clock read, the wait would be decades, past `max_retry_after`: no retry at all.
    let table = FakeTable::new(3);
    table.faults.lock().expect("fresh").push_back(Fault::Status(
        429,
        vec![
            ("X-RateLimit-Reset", "4102444800".into()),
            ("Date", "Thu, 31 Dec 2099 23:59:30 GMT".into()),
        ],
    ));
    let (dated, sleep) = recorded_client(table, Some([1; 32]));
    dated
        .list::<Record>(&incident(), &ListParams::default())
        .await
        .expect("retried after the reset");
    assert_eq!(sleep.delays(), [Duration::from_secs(30)]);

    // Without `Date` there is nothing to measure the reset against: the jittered backoff.
    let table = FakeTable::new(3);
    table.faults.lock().expect("fresh").push_back(Fault::Status(
        429,
        vec![("X-RateLimit-Reset", "4102444800".into())],
    ));
    let (undated, sleep) = recorded_client(table, Some([1; 32]));
    undated
        .list::<Record>(&incident(), &ListParams::default())
        .await
        .expect("retried after the backoff");
    assert_eq!(sleep.delays(), backoffs_from([1; 32])[..1]);
}

/// A credential layer's failure: its own, or the transport's below it.
#[derive(Debug, thiserror::Error)]
enum GateError {
    #[error("authorizing request: the gate is closed")]
    Closed,
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl SenderError for GateError {
    fn as_transport(&self) -> Option<&TransportError> {
        match self {
            Self::Transport(error) => Some(error),
            Self::Closed => None,
        }
    }
}

/// A layer over a transport, as the facade's authorizing sender is: refuses while closed.
struct Gate<T> {
    inner: T,
    open: bool,
}

#[async_trait]
impl<T: HttpTransport> RequestSender for Gate<T> {
    type Error = GateError;

    async fn send_request(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, GateError> {
        if !self.open {
            return Err(GateError::Closed);
        }
        Ok(self.inner.send(request).await?)
    }
}

#[tokio::test]
async fn a_senders_own_failure_is_never_retried_and_reaches_the_caller_typed() {
    let closed = Gate {
        inner: FakeTable::new(3),
        open: false,
    };
    let (client, sleep) = recorded_client(closed, None);
    let error = client
        .list::<Record>(&incident(), &ListParams::default())
        .await
        .expect_err("the gate is closed");
    assert!(
        matches!(&error, TableError::Sender { operation, source: GateError::Closed } if operation == "list incident"),
        "{error:?}"
    );
    assert!(sleep.delays().is_empty(), "not retried");
    assert_eq!(
        error.to_string(),
        "list incident: sending the request failed"
    );
    assert_eq!(
        std::error::Error::source(&error).map(ToString::to_string),
        Some("authorizing request: the gate is closed".to_owned())
    );

    // The stream reports the same typed error, and ends.
    let mut rows = std::pin::pin!(client.stream::<Record>(
        &incident(),
        None,
        ReadOptions::default(),
        StreamConfig::default()
    ));
    let first = rows.next().await.expect("one item: the error");
    assert!(
        matches!(
            first,
            Err(TableError::Sender {
                source: GateError::Closed,
                ..
            })
        ),
        "{first:?}"
    );
    assert!(
        rows.next().await.is_none(),
        "the stream ends after its error"
    );
    assert!(
        client.sender().inner.requests().is_empty(),
        "nothing was sent"
    );

    // The facade splits the error without a string or a downcast.
    let (operation, source) = error.into_sender_failure().expect("the sender's failure");
    assert_eq!(operation, "list incident");
    assert!(matches!(source, GateError::Closed));
}

#[tokio::test]
async fn a_transport_failure_under_a_layer_is_retried_as_a_transport_failure() {
    let table = FakeTable::new(3);
    table
        .faults
        .lock()
        .expect("fresh")
        .extend([Fault::Reset, Fault::Refused]);
    let open = Gate {
        inner: table,
        open: true,
    };
    let (client, sleep) = recorded_client(open, Some([3; 32]));
    let page = client
        .list::<Record>(&incident(), &ListParams::default())
        .await
        .expect("retried after the reset and the refusal");
    assert_eq!(page.records.len(), 3);
    assert_eq!(sleep.delays(), backoffs_from([3; 32])[..2]);
    assert_eq!(client.sender().inner.requests().len(), 3);

    // A status error is the Table API's own failure, not the sender's.
    let table = FakeTable::new(3);
    table
        .faults
        .lock()
        .expect("fresh")
        .push_back(Fault::Status(403, vec![]));
    let (forbidding, _) = recorded_client(
        Gate {
            inner: table,
            open: true,
        },
        None,
    );
    let forbidden = forbidding
        .list::<Record>(&incident(), &ListParams::default())
        .await
        .expect_err("forbidden");
    assert!(matches!(
        forbidden.into_sender_failure(),
        Err(TableError::Forbidden { .. })
    ));
}

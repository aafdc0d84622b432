//! A user-written transport is a first-class path: used through `Arc<dyn HttpTransport>`, and
//! as a `RequestSender`, alone or under a layer with its own typed error.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use servicenow_http::{HttpTransport, RequestSender, SenderError, TransportError, async_trait};

/// Records every request and answers from a script, as an integrator's test double would.
#[derive(Default)]
struct RecordingTransport {
    seen: Mutex<Vec<(http::Method, String, Bytes)>>,
}

#[async_trait]
impl HttpTransport for RecordingTransport {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let (parts, body) = request.into_parts();
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        seen.push((parts.method, parts.uri.to_string(), body));
        let status = if seen.len() == 1 { 201 } else { 204 };
        Ok(http::Response::builder()
            .status(status)
            .body(Bytes::new())
            .expect("static response"))
    }
}

/// Code written against the trait object, as the table client and the token manager are.
async fn create_then_delete(transport: Arc<dyn HttpTransport>) -> Result<Vec<u16>, TransportError> {
    let create = http::Request::post("https://dev1.service-now.com/api/now/table/incident")
        .body(Bytes::from_static(b"{}"))
        .expect("valid request");
    let delete = http::Request::delete("https://dev1.service-now.com/api/now/table/incident/abc")
        .body(Bytes::new())
        .expect("valid request");
    let first = transport.send(create).await?.status().as_u16();
    let second = transport.send(delete).await?.status().as_u16();
    Ok(vec![first, second])
}

#[tokio::test]
async fn a_recording_transport_works_through_an_arc_dyn_http_transport() {
    let recorder = Arc::new(RecordingTransport::default());
    let statuses = create_then_delete(recorder.clone())
        .await
        .expect("the recorder never fails");
    assert_eq!(statuses, [201, 204]);
    let seen = recorder
        .seen
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    assert_eq!(
        seen,
        [
            (
                http::Method::POST,
                "https://dev1.service-now.com/api/now/table/incident".to_owned(),
                Bytes::from_static(b"{}")
            ),
            (
                http::Method::DELETE,
                "https://dev1.service-now.com/api/now/table/incident/abc".to_owned(),
                Bytes::new()
            ),
        ]
    );
}

#[tokio::test]
async fn boxes_and_references_to_transports_are_transports_too() {
    let boxed: Box<dyn HttpTransport> = Box::new(RecordingTransport::default());
    let request = || {
        http::Request::get("https://dev1.service-now.com/")
            .body(Bytes::new())
            .expect("valid request")
    };
    assert_eq!(boxed.send(request()).await.expect("boxed").status(), 201);
    let borrowed: &dyn HttpTransport = &*boxed;
    assert_eq!(
        (&borrowed)
            .send(request())
            .await
            .expect("borrowed")
            .status(),
        204
    );
}

/// Fails every request the way a refused connection does.
struct Refusing;

#[async_trait]
impl HttpTransport for Refusing {
    async fn send(
        &self,
        _request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        Err(TransportError::Connect {
            origin: "https://dev1.service-now.com".into(),
            refused: true,
            source: "connection refused".into(),
        })
    }
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

/// A layer written outside this crate, over any transport: adds a header when open, refuses
/// with its own error when closed.
struct Gate<T> {
    inner: T,
    open: bool,
}

#[async_trait]
impl<T: HttpTransport> RequestSender for Gate<T> {
    type Error = GateError;

    async fn send_request(
        &self,
        mut request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, GateError> {
        if !self.open {
            return Err(GateError::Closed);
        }
        request
            .headers_mut()
            .insert("x-gate", http::HeaderValue::from_static("open"));
        Ok(self.inner.send(request).await?)
    }
}

/// Client code written against the trait, as the table client is: generic over the sender, it
/// reads the transport failure without knowing the layer's error type.
async fn status_or_transport_failure<S: RequestSender>(
    sender: &S,
) -> Result<u16, (String, Option<bool>)> {
    let request = http::Request::get("https://dev1.service-now.com/api/now/table/incident")
        .body(Bytes::new())
        .expect("valid request");
    match sender.send_request(request).await {
        Ok(response) => Ok(response.status().as_u16()),
        Err(error) => Err((
            error.to_string(),
            error.as_transport().map(TransportError::is_transient),
        )),
    }
}

#[tokio::test]
async fn every_transport_is_a_request_sender_whose_failures_are_transport_failures() {
    let recorder = RecordingTransport::default();
    assert_eq!(status_or_transport_failure(&recorder).await, Ok(201));
    let shared: Arc<dyn HttpTransport> = Arc::new(RecordingTransport::default());
    assert_eq!(status_or_transport_failure(&shared).await, Ok(201));
    let (message, transient) = status_or_transport_failure(&Refusing)
        .await
        .expect_err("the transport refuses");
    assert_eq!(
        message,
        "sending request: connecting to https://dev1.service-now.com failed"
    );
    assert_eq!(transient, Some(true), "a refused connection is transient");
}

#[tokio::test]
async fn a_layer_reports_its_own_failure_typed_and_passes_transport_failures_through() {
    let open = Gate {
        inner: RecordingTransport::default(),
        open: true,
    };
    assert_eq!(status_or_transport_failure(&open).await, Ok(201));
    let seen = open
        .inner
        .seen
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .len();
    assert_eq!(seen, 1, "the open gate forwarded the request");

    let closed = Gate {
        inner: RecordingTransport::default(),
        open: false,
    };
    let request = http::Request::get("https://dev1.service-now.com/")
        .body(Bytes::new())
        .expect("valid request");
    let error = closed
        .send_request(request)
        .await
        .expect_err("the gate is closed");
    assert!(matches!(error, GateError::Closed), "typed, not a string");
    assert!(error.as_transport().is_none(), "not a transport failure");
    assert!(
        closed
            .inner
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_empty(),
        "nothing was sent"
    );

    let over_refusing = Gate {
        inner: Refusing,
        open: true,
    };
    let (_, transient) = status_or_transport_failure(&over_refusing)
        .await
        .expect_err("the transport below refuses");
    assert_eq!(transient, Some(true), "the transport failure is reachable");
}

//! A user-written transport is a first-class path: used through `Arc<dyn HttpTransport>`.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use servicenow_http::{HttpTransport, TransportError, async_trait};

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

//! What the facade's drivers share: sending one machine request and turning the answer into the machine's next input.

use std::time::Duration;

use bytes::Bytes;
use servicenow_auth::{Input, RequestId, TransportFailure};
use servicenow_http::{HttpTransport, TransportError};
use servicenow_store::StoreError;
use tracing::Instrument as _;

use crate::{
    clock::Clock,
    error::{Error, Result},
};

/// Sends a token-endpoint or revocation request the machine emitted and returns the input that
/// answers it. The body (a form carrying secrets) and the response body are never logged: the
/// span records the method, the endpoint path and the status only.
///
/// A transport that has not answered after `timeout` (the machine's request timeout) counts as
/// timed out, so that a custom transport without deadlines of its own cannot hang every caller.
pub(crate) async fn exchange(
    transport: &dyn HttpTransport,
    clock: &dyn Clock,
    id: RequestId,
    request: http::Request<Vec<u8>>,
    timeout: Duration,
) -> Input {
    let span = tracing::info_span!(
        "token_request",
        method = %request.method(),
        endpoint = request.uri().path(),
        status = tracing::field::Empty,
    );
    async move {
        let result = tokio::time::timeout(timeout, transport.send(request.map(Bytes::from))).await;
        let now = clock.now();
        let Ok(result) = result else {
            tracing::warn!(?timeout, "token request got no answer in time");
            return Input::TransportFailed {
                now,
                id,
                failure: TransportFailure::TimedOut,
            };
        };
        match result {
            Ok(response) => {
                tracing::Span::current().record("status", response.status().as_u16());
                Input::Response {
                    now,
                    id,
                    response: response.map(Vec::from),
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "token request failed in the transport");
                Input::TransportFailed {
                    now,
                    id,
                    failure: classify(&error),
                }
            }
        }
    }
    .instrument(span)
    .await
}

/// Which machine-level failure a transport error is.
pub(crate) fn classify(error: &TransportError) -> TransportFailure {
    match error {
        TransportError::Connect { .. } | TransportError::Tls { .. } => TransportFailure::Connect,
        TransportError::Timeout { .. } => TransportFailure::TimedOut,
        TransportError::BodyTooLarge { .. } => TransportFailure::BodyTooLarge,
        _ => TransportFailure::Interrupted,
    }
}

/// 32 bytes from the operating system's RNG, to seed a machine (the machine itself never reads
/// an OS RNG).
pub(crate) fn os_seed() -> Result<[u8; 32]> {
    let mut seed = [0_u8; 32];
    getrandom::fill(&mut seed).map_err(|_| Error::Store(StoreError::Random))?;
    Ok(seed)
}

//! The one drive loop: runs an authentication machine until it waits, carrying out what it asks through one executor (transport, store, clock).
//!
//! The token manager and every `Login` step use [`TokenEndpoint::run_until_waiting`]; they
//! differ only in what they do with the events it hands back.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use servicenow_auth::{
    AuthMachine, Command, Event, Input, Output, RequestId, Timestamp, TokenSet, TransportFailure,
};
use servicenow_http::{HttpTransport, machine};
use servicenow_store::{CredentialKey, TokenStore, Version};
use tracing::Instrument as _;

use crate::{
    clock::Clock,
    codec,
    error::{ConfigError, Error, Result},
};

/// What a drive loop carries out a machine's requests with: the token endpoint's transport, the
/// store, and the clock that stamps every input.
#[derive(Clone)]
pub(crate) struct TokenEndpoint {
    pub(crate) transport: Arc<dyn HttpTransport>,
    pub(crate) store: Arc<dyn TokenStore>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("store", &self.store)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// Where a run of the machine stopped.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The machine reported an event its driver acts on (a `Persist` is carried out by the
    /// loop and reported as [`Stop::Persisted`] or [`Stop::PersistFailed`]).
    Event(Event),
    /// A token set was saved in the store, before anything else was polled.
    Persisted,
    /// Saving a token set failed; the set is handed back so the driver can keep it.
    PersistFailed(TokenSet, Error),
    /// The machine has nothing more to do until `deadline` (or until a new input).
    Waiting(Timestamp),
}

impl TokenEndpoint {
    /// Feeds a command to the machine, stamped with the current time.
    pub(crate) fn command(&self, machine: &mut AuthMachine, command: Command) -> Result<()> {
        machine.handle_input(Input::Command {
            now: self.clock.now(),
            command,
        })?;
        Ok(())
    }

    /// The version the store holds for `key`, if it holds one.
    pub(crate) async fn stored_version(&self, key: &CredentialKey) -> Result<Option<Version>> {
        Ok(self.store.load(key).await?.map(|stored| stored.version))
    }

    /// Tells the machine that the deadline it asked to be woken at has passed.
    pub(crate) fn deadline_passed(&self, machine: &mut AuthMachine) -> Result<()> {
        machine.handle_input(Input::Timeout {
            now: self.clock.now(),
        })?;
        Ok(())
    }

    /// The drive loop: polls the machine, sends each token-endpoint or revocation request it
    /// emits and feeds back the answer, saves each token set it asks to persist (compare-and-swap
    /// on `version`, which is updated) before polling further, and stops at the first other
    /// event or when the machine waits.
    ///
    /// `requests` counts the requests sent (for the manager's statistics).
    pub(crate) async fn run_until_waiting(
        &self,
        machine: &mut AuthMachine,
        key: &CredentialKey,
        version: &mut Option<Version>,
        requests: &(dyn Fn() + Sync),
    ) -> Result<Stop> {
        loop {
            match machine.poll_output() {
                Output::HttpRequest { id, request } => {
                    requests();
                    let timeout = machine.config().timing.request_timeout;
                    let sent = request.body().clone();
                    let input = self.send(id, request, timeout).await;
                    feed_then_wipe(machine, input, sent).0?;
                }
                Output::Event(Event::Persist(token_set)) => {
                    let saved =
                        codec::save_newest(self.store.as_ref(), key, &token_set, *version).await;
                    return Ok(match saved {
                        Ok(saved) => {
                            *version = Some(saved);
                            Stop::Persisted
                        }
                        Err(error) => Stop::PersistFailed(token_set, error),
                    });
                }
                Output::Event(event) => return Ok(Stop::Event(event)),
                Output::Timeout(deadline) => return Ok(Stop::Waiting(deadline)),
                _ => {}
            }
        }
    }

    /// Sends one request the machine emitted and returns the input that answers it. The body (a
    /// form carrying secrets) and the response body are never logged: the span records the
    /// method, the endpoint path and the status only.
    ///
    /// A transport that has not answered after `timeout` (the machine's request timeout) counts
    /// as timed out, so that a custom transport without deadlines cannot hang every caller.
    async fn send(&self, id: RequestId, request: http::Request<Bytes>, timeout: Duration) -> Input {
        let span = tracing::info_span!(
            "token_request",
            method = %request.method(),
            endpoint = request.uri().path(),
            status = tracing::field::Empty,
        );
        async move {
            let result = tokio::time::timeout(timeout, self.transport.send(request)).await;
            let now = self.clock.now();
            let Ok(result) = result else {
                tracing::warn!(?timeout, "token request got no answer in time");
                return Input::TransportFailed {
                    now,
                    id,
                    failure: TransportFailure::TimedOut,
                };
            };
            match &result {
                Ok(response) => {
                    tracing::Span::current().record("status", response.status().as_u16());
                }
                Err(error) => {
                    tracing::warn!(error = %error, "token request failed in the transport");
                }
            }
            machine::answer(id, result, now)
        }
        .instrument(span)
        .await
    }
}

/// Feeds `input` to the machine, then wipes the token or revocation request body that was sent
/// (`sent`: the form with the code, verifier, refresh token or client secret) and the response
/// body that came back (the tokens), each if nothing else holds it any more. Returns what the
/// machine said, and the two bodies as left (zeros when wiped).
fn feed_then_wipe(
    machine: &mut AuthMachine,
    input: Input,
    mut sent: Bytes,
) -> (
    std::result::Result<(), servicenow_auth::AuthError>,
    Bytes,
    Option<Bytes>,
) {
    let mut received = match &input {
        Input::Response { response, .. } => Some(response.body().clone()),
        _ => None,
    };
    let handled = machine.handle_input(input);
    crate::wipe::wipe_bytes(&mut sent);
    if let Some(body) = &mut received {
        crate::wipe::wipe_bytes(body);
    }
    (handled, sent, received)
}

/// 32 bytes from the operating system's RNG, to seed a machine or the table client's jitter (the
/// layers below never read an OS RNG).
pub(crate) fn os_seed() -> Result<[u8; 32]> {
    Ok(machine::os_seed().map_err(|_| ConfigError::Randomness)?)
}

#[cfg(test)]
mod tests {
    use servicenow_auth::AuthConfig;
    use servicenow_oauth::{ClientId, ClientSecret, InstanceUrl, OAuthClient};

    use super::*;

    #[test]
    fn token_request_and_response_bodies_are_wiped_once_the_machine_has_read_them() {
        let config = AuthConfig::client_credentials(
            InstanceUrl::new("https://example.service-now.com").unwrap(),
            OAuthClient::confidential(
                ClientId::new("client").unwrap(),
                ClientSecret::new("the-client-secret").unwrap(),
            ),
        );
        let now = Timestamp::from_unix_seconds(1_700_000_000);
        let mut machine = AuthMachine::new(config, now, [7; 32]);
        machine
            .handle_input(Input::Command {
                now,
                command: Command::Acquire,
            })
            .unwrap();
        let Output::HttpRequest { id, request } = machine.poll_output() else {
            panic!("Acquire sends a token request");
        };
        // The transport consumed its request; the drive loop kept a handle on the body.
        let sent = request.body().clone();
        assert!(
            std::str::from_utf8(&sent)
                .unwrap()
                .contains("the-client-secret")
        );
        drop(request);
        let body = Bytes::from_static(
            br#"{"access_token":"the-access-token","token_type":"Bearer","expires_in":1800}"#,
        );
        let response = http::Response::builder()
            .status(200)
            .body(Bytes::from(body.to_vec()))
            .unwrap();
        let (handled, sent, received) =
            feed_then_wipe(&mut machine, Input::Response { now, id, response }, sent);
        handled.unwrap();
        assert_eq!(
            machine.token_set().unwrap().access_token().secret(),
            "the-access-token",
            "read first"
        );
        assert!(
            !sent.is_empty() && sent.iter().all(|byte| *byte == 0),
            "the form was wiped"
        );
        let received = received.unwrap();
        assert_eq!(received.len(), body.len());
        assert!(
            received.iter().all(|byte| *byte == 0),
            "the response was wiped"
        );
    }
}

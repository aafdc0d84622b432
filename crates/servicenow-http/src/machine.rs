//! Glue for a driver of `servicenow-auth`'s machine (feature `machine`): send a request it emits through an `HttpTransport` and turn the outcome into its next input, seed it from the OS RNG, read the wall clock as its `Timestamp`.
//!
//! The facade's own drive loop is built on these; a driver that brings its own loop (and its own
//! transport) uses them without depending on the facade.
//!
//! # The drain contract
//!
//! After each [`Input`] given to `AuthMachine::handle_input`, `AuthMachine::poll_output` is
//! called until it returns `Output::Timeout` (always the last output of a drain). A drain holds
//! **at most two** `Output::HttpRequest`s, one of each kind: at most one to the token endpoint (no
//! token request is emitted while another, even one the machine has given up on, awaits its
//! answer or its deadline) and at most one revocation (a logout revokes its tokens one request
//! at a time). Every request must be answered with [`exchange`] or [`answer`], in any order,
//! or left to time out: the machine counts a request unanswered by its deadline as a failure.
//!
//! ```
//! use std::collections::VecDeque;
//!
//! use servicenow_auth::{AuthConfig, AuthMachine, Command, Event, Input, Output};
//! use servicenow_http::machine::{exchange, os_seed, system_now};
//! use servicenow_http::{HttpTransport, TransportError, async_trait, bytes::Bytes, http};
//! use servicenow_oauth::{ClientId, ClientSecret, InstanceUrl, OAuthClient};
//!
//! /// A stand-in token endpoint that always issues a token.
//! struct TokenEndpoint;
//!
//! #[async_trait]
//! impl HttpTransport for TokenEndpoint {
//!     async fn send(&self, _: http::Request<Bytes>) -> Result<http::Response<Bytes>, TransportError> {
//!         let body = r#"{"access_token":"eyJ0","token_type":"Bearer","expires_in":1800}"#;
//!         Ok(http::Response::new(Bytes::from_static(body.as_bytes())))
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let client = OAuthClient::confidential(ClientId::new("my-client")?, ClientSecret::new("s3cr3t")?);
//! let config = AuthConfig::client_credentials(InstanceUrl::new("https://dev1.service-now.com")?, client);
//! let mut machine = AuthMachine::new(config, system_now(), os_seed()?);
//! let mut saved = None;
//!
//! let mut inputs = VecDeque::from([Input::Command { now: system_now(), command: Command::EnsureFresh }]);
//! while let Some(input) = inputs.pop_front() {
//!     machine.handle_input(input)?;
//!     loop {
//!         match machine.poll_output() {
//!             // At most two in one drain; a driver may also send them concurrently.
//!             Output::HttpRequest { id, request } => {
//!                 inputs.push_back(exchange(&TokenEndpoint, id, request, system_now).await);
//!             }
//!             Output::Event(Event::Persist(token_set)) => saved = Some(token_set), // before polling on
//!             Output::Event(event) => println!("{event:?}"),
//!             Output::Timeout(_deadline) => break, // sleep until then, then feed Input::Timeout
//!             _ => {}
//!         }
//!     }
//! }
//! let token = machine.access_token(system_now()).expect("a usable token");
//! assert_eq!(token.token.secret(), "eyJ0");
//! assert!(saved.is_some());
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```

use std::time::SystemTime;

use bytes::Bytes;
use servicenow_auth::{Input, RequestId, Timestamp, TransportFailure};

use crate::{HttpTransport, TransportError};

/// Sends `request` (from `Output::HttpRequest { id, request }`) through `transport` and
/// returns the input that answers it, stamped with `now()` read when the answer came.
///
/// The transport's own deadlines bound the wait (the built-in transports have a total timeout;
/// [`TransportConfig::for_token_endpoint`](crate::TransportConfig::for_token_endpoint) is the
/// preset for token endpoints). The request body holds secrets: it is handed to the transport
/// and never logged here.
pub async fn exchange<T: HttpTransport + ?Sized>(
    transport: &T,
    id: RequestId,
    request: http::Request<Bytes>,
    now: impl FnOnce() -> Timestamp,
) -> Input {
    let result = transport.send(request).await;
    answer(id, result, now())
}

/// The input telling the machine how request `id` ended: [`Input::Response`] for any response
/// (a 4xx or 5xx included: the machine reads the status), [`Input::TransportFailed`] with the
/// failure's class otherwise.
pub fn answer(
    id: RequestId,
    result: Result<http::Response<Bytes>, TransportError>,
    now: Timestamp,
) -> Input {
    match result {
        Ok(response) => Input::Response { now, id, response },
        Err(error) => Input::TransportFailed {
            now,
            id,
            failure: TransportFailure::from(&error),
        },
    }
}

/// Which machine-level failure a transport error is: no connection (connect, TLS), timed out,
/// too large, or interrupted (anything else: the exchange broke or could not be made).
impl From<&TransportError> for TransportFailure {
    fn from(error: &TransportError) -> Self {
        match error {
            TransportError::Connect { .. } | TransportError::Tls { .. } => Self::Connect,
            TransportError::Timeout { .. } => Self::TimedOut,
            TransportError::BodyTooLarge { .. } => Self::BodyTooLarge,
            TransportError::Io { .. }
            | TransportError::InsecureUrl { .. }
            | TransportError::Configuration { .. }
            | TransportError::Setup { .. }
            | TransportError::InvalidRequest { .. } => Self::Interrupted,
        }
    }
}

/// 32 bytes from the operating system's RNG: the seed for `AuthMachine::new` (the machine
/// draws its `state`, PKCE verifiers and jitter from it, and never reads an OS RNG itself).
///
/// # Errors
///
/// When the operating system's RNG fails (on Linux, only before the kernel's pool is
/// initialised, or under a seccomp policy that forbids `getrandom(2)`).
pub fn os_seed() -> Result<[u8; 32], std::io::Error> {
    let mut seed = [0_u8; 32];
    getrandom::fill(&mut seed).map_err(|error| {
        std::io::Error::other(format!(
            "reading the operating system's random number generator failed: {error}"
        ))
    })?;
    Ok(seed)
}

/// The wall clock now, as the machine's [`Timestamp`]; pass it as `now` to [`exchange`].
pub fn system_now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::TimeoutPhase;

    #[test]
    fn every_transport_error_maps_to_the_failure_the_machine_expects() {
        let uri: http::Uri = "https://dev1.service-now.com/oauth_token.do"
            .parse()
            .unwrap();
        let cases = [
            (
                TransportError::connect(&uri, "dns"),
                TransportFailure::Connect,
            ),
            (
                TransportError::connect_refused(&uri, "refused"),
                TransportFailure::Connect,
            ),
            (
                TransportError::tls(&uri, crate::TlsProblem::Other, "alert"),
                TransportFailure::Connect,
            ),
            (
                TransportError::timeout(TimeoutPhase::Total, Duration::from_secs(1)),
                TransportFailure::TimedOut,
            ),
            (
                TransportError::body_too_large(1),
                TransportFailure::BodyTooLarge,
            ),
            (
                TransportError::interrupted(&uri, "reset"),
                TransportFailure::Interrupted,
            ),
        ];
        for (error, expected) in cases {
            let input = answer(RequestId::from_raw(7), Err(error), Timestamp::UNIX_EPOCH);
            assert!(
                matches!(input, Input::TransportFailed { id, failure, .. } if id == RequestId::from_raw(7) && failure == expected),
                "{input:?}"
            );
        }
        let response = http::Response::builder()
            .status(503)
            .body(Bytes::new())
            .unwrap();
        let input = answer(RequestId::from_raw(8), Ok(response), Timestamp::UNIX_EPOCH);
        assert!(matches!(input, Input::Response { ref response, .. } if response.status() == 503));
    }

    #[test]
    fn seeds_differ_and_the_clock_is_after_2020() {
        assert_ne!(os_seed().unwrap(), os_seed().unwrap());
        assert!(system_now() > Timestamp::from_unix_seconds(1_577_836_800));
    }
}

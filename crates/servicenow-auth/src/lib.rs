//! The sans-IO OAuth 2.0 authentication machine for ServiceNow.
//!
//! This crate does no IO, reads no clock and draws no randomness from the operating system.
//! It decides everything about one credential's authentication (when to log in, refresh,
//! retry, give up, revoke) and does none of it itself: it emits HTTP requests for a driver to
//! send, events for the application, and the next instant it wants to be woken at. Time comes in
//! as a [`Timestamp`] on every [`Input`]; randomness (for `state`, PKCE verifiers and jitter) from
//! a seed given to [`AuthMachine::new`]. That makes every schedule reproducible, so the machine is
//! tested through millions of them, step by step against an independent reference model (see
//! `tests/properties/`), and `cargo xtask mutants` checks that those tests catch deliberate bugs.
//!
//! ```text
//!                 Command (BeginLogin, CompleteLogin, EnsureFresh, Unauthorized, Restore, Revoke, …)
//!   application ───────────────────────────────┐
//!                                              ▼
//!   driver ──── Input::Response / TransportFailed / Timeout ───►  ┌──────────────┐
//!     ▲  │                                                         │ AuthMachine  │
//!     │  └──── sends request, waits ◄── Output::HttpRequest ────── │  (no IO, no  │
//!     │                                                            │   clock)     │
//!     └── persists, surfaces ◄────────── Output::Event ──────────  │              │
//!         sleeps until ◄──────────────── Output::Timeout ────────  └──────────────┘
//!                                               │
//!   application ◄── AuthMachine::access_token(now) (only after Persist was polled)
//! ```
//!
//! # The drive contract
//!
//! 1. Feed exactly one [`Input`] to [`AuthMachine::handle_input`], with the current time.
//! 2. Call [`AuthMachine::poll_output`] until it returns [`Output::Timeout`]:
//!    send every [`Output::HttpRequest`] (and later feed its answer back as [`Input::Response`] or
//!    [`Input::TransportFailed`] with the same [`RequestId`]); handle every [`Output::Event`] in
//!    order, writing the store on [`Event::Persist`] before polling further.
//! 3. Wait for the next answer, command, or the timeout's deadline (then feed [`Input::Timeout`]).
//!
//! A drain (step 2) holds **at most two** [`Output::HttpRequest`]s, one of each kind: at most one
//! to the token endpoint (none is emitted while another, even one the machine has given up on,
//! awaits its answer or its deadline) and at most one revocation (a logout revokes its tokens
//! one request at a time). Each answer is its own input, fed in any order; a request left
//! unanswered counts as failed at its deadline. `servicenow-http`'s `machine` module (feature
//! `machine`) sends a request through any `HttpTransport` and turns the outcome into the
//! input, and seeds a machine from the operating system's RNG; `examples/blocking-driver` in the
//! repository is a whole driver built on them, with a blocking client, run against the emulator
//! by `cargo test`.
//!
//! `handle_input` returns `Err` only for API misuse; what servers, browsers and users do comes
//! out as events. Here is a whole drive loop, with a closure standing in for the HTTP transport:
//!
//! ```
//! use std::collections::VecDeque;
//!
//! use servicenow_auth::{AuthConfig, AuthMachine, Command, Event, Input, Output, Timestamp};
//! use servicenow_auth::{ClientId, ClientSecret, InstanceUrl, OAuthClient, bytes::Bytes, http};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = OAuthClient::confidential(ClientId::new("my-client")?, ClientSecret::new("s3cr3t")?);
//! let config = AuthConfig::client_credentials(InstanceUrl::new("https://dev12345.service-now.com")?, client);
//! let mut now = Timestamp::from_unix_seconds(1_700_000_000);
//! // A driver seeds from the operating system's RNG; a fixed seed makes runs repeat.
//! let mut machine = AuthMachine::new(config, now, [42; 32]);
//!
//! // The transport: here a stand-in token endpoint that always issues a token.
//! let send = |request: http::Request<Bytes>| {
//!     assert_eq!(request.uri().path(), "/oauth_token.do");
//!     let body = r#"{"access_token":"eyJ0","token_type":"Bearer","expires_in":1800,"scope":"useraccount"}"#;
//!     http::Response::new(Bytes::from_static(body.as_bytes()))
//! };
//! let mut store = None;
//!
//! let mut inputs = VecDeque::from([Input::Command { now, command: Command::EnsureFresh }]);
//! let mut deadline = Timestamp::NEVER;
//! while let Some(input) = inputs.pop_front() {
//!     machine.handle_input(input)?;
//!     deadline = loop {
//!         match machine.poll_output() {
//!             // Sent in turn here; a real driver sends them concurrently, feeding each answer
//!             // as it comes.
//!             Output::HttpRequest { id, request } => {
//!                 inputs.push_back(Input::Response { now, id, response: send(request) });
//!             }
//!             Output::Event(Event::Persist(token_set)) => store = Some(token_set), // save before going on
//!             Output::Event(event) => println!("event: {event:?}"),
//!             Output::Timeout(deadline) => break deadline,
//!             _ => (),
//!         }
//!     };
//! }
//!
//! let token = machine.access_token(now).expect("a usable token");
//! assert_eq!(token.token.secret(), "eyJ0");
//! assert!(store.is_some(), "persisted before it was handed out");
//! // The machine wants to be woken for its proactive refresh, before the 60 s skew point.
//! assert!(deadline < Timestamp::from_unix_seconds(1_700_000_000 + 1800 - 60));
//! now = deadline;
//! machine.handle_input(Input::Timeout { now })?;
//! assert!(matches!(machine.poll_output(), Output::HttpRequest { .. }), "the refresh is due");
//! # Ok(())
//! # }
//! ```
//!
//! # What it enforces
//!
//! - At most one token request (code exchange, refresh, acquisition) in flight.
//! - An access token is handed out only while `now < expires_at - skew` (60 s by default, at
//!   most half the token's lifetime); the proactive refresh comes a seeded-random jitter earlier.
//! - A callback is accepted only for a `state` this machine issued (or imported), before its
//!   deadline, once, compared in constant time; `iss` must match when both sides have one;
//!   `error=` callbacks fail the login.
//! - A refresh without `refresh_token` keeps the old one (RFC 6749 §6); the same string keeps its
//!   first-issue time and expiry (ServiceNow does not rotate); [`Event::Persist`] comes before
//!   the new access token is handed out.
//! - A rejected refresh means [`Event::ReauthorizationRequired`] and no token request until a
//!   login, restore or `Acquire`; transient failures retry with capped exponential backoff and
//!   jitter while the old token is handed out as long as it is usable.
//! - A 401 for the current access token triggers exactly one refresh; for an older one, nothing.
//! - Every input acts on what has fallen due by its `now` (a proactive refresh, a retry whose
//!   backoff has elapsed), so [`Command::EnsureFresh`] needs no [`Input::Timeout`] before it;
//!   [`Status::refresh_at`] says when the held token's refresh falls due. A token obtained by a
//!   refresh or an acquisition satisfies any `EnsureFresh` waiting for one: no second request.
//! - No secret in any `Debug` output of the machine, inputs, outputs, events or errors.
//!
//! # Features
//!
//! - `password-grant`: the resource owner password grant, which RFC 9700 §2.4 forbids.
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backoff;
mod config;
mod error;
mod event;
mod io;
mod lifecycle;
mod login;
mod login_flow;
mod logout;
mod machine;
mod protocol;
mod schedule;
mod time;
mod token_set;

/// The `bytes` crate: [`Bytes`](bytes::Bytes) is the body of every request and response the
/// machine emits and takes.
pub use bytes;
/// The `http` crate, whose `Request` and `Response` the machine emits and takes.
pub use http;
/// The `servicenow-oauth` types this crate's API takes and returns, so that a driver needs no
/// other crate of ours to configure a machine and read its tokens.
pub use servicenow_oauth::{
    AccessToken, ClientAuthMethod, ClientId, ClientSecret, ErrorCode, InstanceUrl, OAuthClient,
    RedirectUri, RefreshToken, RevocationStyle, Scope, ScopeSet, State, TokenEndpointError,
    TokenResponseOptions,
};
#[cfg(feature = "password-grant")]
#[cfg_attr(docsrs, doc(cfg(feature = "password-grant")))]
pub use servicenow_oauth::{ResourceOwnerPassword, ResourceOwnerUsername};

pub use crate::backoff::BackoffPolicy;
pub use crate::config::{AuthConfig, Credential, Timing};
pub use crate::error::AuthError;
pub use crate::event::{
    AuthorizationUrl, Event, LoginFailure, LoginStarted, ReauthorizationReason, Revocation,
    RevocationOutcome, TokenFailure,
};
pub use crate::io::{Command, Input, Output, RequestId, TransportFailure};
pub use crate::login::PendingLogin;
pub use crate::machine::{AuthMachine, CurrentToken, Status};
pub use crate::time::Timestamp;
pub use crate::token_set::{RefreshTokenRecord, TokenId, TokenSet};

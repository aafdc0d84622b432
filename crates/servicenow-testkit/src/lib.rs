//! Test support for the servicenow crates: a deterministic simulation of the authentication machine.
//!
//! [`Sim`] holds an [`AuthMachine`](servicenow_auth::AuthMachine), a [`FakeTokenServer`] (a
//! rule-based, in-process, sans-IO stand-in for ServiceNow's token endpoint: it issues, expires,
//! revokes, rotates or not, and fails on demand) and a virtual clock. Tests read as stories:
//!
//! ```
//! use std::time::Duration;
//! use servicenow_testkit::{Sim, fixtures};
//!
//! let mut sim = Sim::new(fixtures::authorization_code_config(), fixtures::servicenow_server());
//! sim.login();
//! let first = sim.access_token().expect("a token after login");
//! sim.advance(Duration::from_secs(1800)); // the refresh happens on the way, driven by the timeout
//! assert_eq!(sim.server.grants_seen("refresh_token"), 1);
//! assert_ne!(sim.access_token(), Some(first));
//! ```
//!
//! This is not the emulator: no sockets, no HTML, just the rules of the token endpoint.

pub mod fixtures;
mod server;
mod sim;

pub use crate::server::{
    FakeTokenServer, Fault, RefreshTokenPolicy, RegisteredClient, SERVICENOW_ACCESS_DENIED,
    ServerAnswer, assertion_claims, form,
};
pub use crate::sim::{EPOCH, SEED, Sim, copy_request, render_request};

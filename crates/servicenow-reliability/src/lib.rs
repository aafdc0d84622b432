//! The fault and crash suite of the workspace: shared fixtures for its tests and for the worker process they kill.
//!
//! The tests in `tests/` prove, against the emulator and the real stores, that
//! - an export reads every row exactly once while the instance injects faults and rate-limits
//!   (`fault_export.rs`);
//! - a process killed with SIGKILL in the middle of a refresh leaves a credential that the next
//!   process uses without a new login, with nothing corrupt in SQLite, PostgreSQL or Redis,
//!   and every phase of a refresh is confirmed hit by a kill (`crash_refresh.rs`);
//! - four processes in a token storm all end with a valid token when the instance restarts
//!   under them (`storm_restart.rs`);
//! - ten thousand malformed responses give typed errors, no panic and no secret in any error
//!   text (`malformed_responses.rs`).
//!
//! `docs/reliability.md` says what each test proves, with its figures.
#![warn(missing_docs)]

pub mod fixture;
pub mod phase_store;
pub mod phases;
pub mod responses;
pub mod services;
pub mod stores;
pub mod workers;

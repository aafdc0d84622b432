//! A ServiceNow instance on localhost: the OAuth 2.0 endpoints with real login and consent
//! pages, the Table API with encoded queries, the Attachment, Aggregate and Batch APIs, and the
//! knobs tests need (a controllable clock, counters, rate limits, fault injection).
//!
//! It shares no code with the client crates of this workspace, so that a misunderstanding in
//! the client cannot hide in a shared parser. What it reproduces, and where it deliberately
//! differs from a real instance, is in `docs/emulator.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), servicenow_emulator::Error> {
//! use std::time::Duration;
//! use servicenow_emulator::{Emulator, user_agent::{ConsentDecision, ScriptedUserAgent}};
//!
//! let emulator = Emulator::builder().rows("incident", 100_000).start().await?;
//! println!("instance at {}", emulator.base_url());
//! // A client builds an authorization URL; the scripted user agent logs in and allows it.
//! let authorization_url = format!(
//!     "{}/oauth_auth.do?response_type=code&client_id=emulator-client\
//!      &redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&state=xyz",
//!     emulator.base_url()
//! );
//! let redirect = ScriptedUserAgent::new()
//!     .authorize(&authorization_url, "admin", "admin", ConsentDecision::Allow)
//!     .await?;
//! assert!(redirect.location().starts_with("http://127.0.0.1:8765/callback?code="));
//! emulator.clock().advance(Duration::from_secs(1801)); // access tokens are now expired
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod aggregate;
mod attachment;
mod batch;
mod clock;
mod config;
mod cost;
mod counters;
mod data;
mod emulator;
mod error;
mod faults;
mod oauth;
pub mod pdi;
pub mod query;
mod rate_limit;
mod secret;
mod server;
mod settings;
mod table;
mod tls;
pub mod user_agent;
mod wire;

pub use attachment::AttachmentStorage;
pub use clock::EmulatorClock;
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub use config::EmulatorArgs;
pub use config::{
    ClientRegistration, DEFAULT_ACCESS_TOKEN_TTL, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
    DEFAULT_PUBLIC_CLIENT_ID, DEFAULT_REDIRECT_URIS, DEFAULT_REFRESH_TOKEN_TTL, DEFAULT_ROWS,
    DEFAULT_USERS, MAX_GENERATED_ROWS, UserAccount,
};
pub use cost::CostModel;
pub use counters::{CountersSnapshot, TokenOutcome};
pub use emulator::{Emulator, EmulatorBuilder, EmulatorHandle};
pub use error::Error;
pub use oauth::jwt::{JwtAudienceRule, JwtEndpoint, JwtUserField, JwtVerifierKey};
pub use pdi::Dataset;
pub use secret::Secret;
pub use settings::{
    FaultKind, FaultPlan, FirstPagePrevLink, NoResponseBodyStatus, RateLimitRule, Settings,
    WriteDenial,
};

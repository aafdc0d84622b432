//! Secure, effortless ServiceNow integrations: the facade that stitches the layers together.
//!
//! This crate holds no protocol logic: it drives the sans-IO machine of `servicenow-auth` with a
//! transport from `servicenow-http`, a store from `servicenow-store` and a [`Clock`], and hands
//! the Table API client of `servicenow-table` an [`AuthorizedTransport`], so that the table
//! client never sees a token.
//!
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod app;
mod attachments;
mod authorized;
mod client;
mod clock;
mod codec;
mod drive;
mod error;
mod import;
mod login;
mod manager;
pub mod stores;
mod wipe;

pub use crate::app::{Servicenow, ServicenowBuilder, default_transport};
pub use crate::attachments::Attachments;
pub use crate::authorized::AuthorizedTransport;
pub use crate::client::{Client, ClientTransport, Table};
pub use crate::clock::{COARSE_LAG_BOUND, Clock, ManualClock, SystemClock};
pub use crate::error::{ConfigError, Error, ErrorKind, LoginError, Result};
pub use crate::login::Login;
pub use crate::manager::{Bearer, BearerFuture, ManagerOptions, ManagerStats, TokenManager};

#[doc(inline)]
pub use servicenow_auth as auth;
/// The transport layer (`servicenow-http`): [`HttpTransport`](transport::HttpTransport), the
/// built-in transports, [`TransportError`](transport::TransportError). Named `transport`, not
/// `http`, so that `servicenow::http` is the `http` crate itself (re-exported below).
#[doc(inline)]
pub use servicenow_http as transport;
#[doc(inline)]
pub use servicenow_oauth as oauth;
#[doc(inline)]
pub use servicenow_store as store;
#[doc(inline)]
pub use servicenow_table as table;

/// The `http` crate whose `Request` and `Response` every layer speaks, so that a manifest with
/// only `servicenow` can write a transport.
pub use ::http;
/// The `bytes` crate: [`Bytes`](bytes::Bytes) is the body type of every request and response.
pub use bytes;

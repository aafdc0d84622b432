//! The ServiceNow Table API: typed and dynamic records, an injection-safe query builder,
//! streaming pagination in constant memory, and every failure as a typed error.
//!
//! This crate does not authenticate: it never sees a token. It sends requests through an
//! [`HttpTransport`](servicenow_http::HttpTransport), and the caller (the `servicenow` facade)
//! gives it one that adds the `Authorization` header for the instance.
//!
//! Layers, bottom up:
//!
//! - **pure core**: [`TableApi`] builds each request as an `http::Request<Bytes>` and parses each
//!   response from an `http::Response<Bytes>`; [`Query`] builds encoded queries and refuses
//!   values that would change their meaning; [`error_from_response`] maps ServiceNow's error
//!   envelope to [`TableError`];
//! - **client**: [`TableClient`] sends them through a transport, with [`RetryPolicy`] (idempotent
//!   requests only, unless the request provably never reached the instance);
//! - **stream**: [`TableClient::stream`] reads a whole table page by page with bounded prefetch,
//!   every row exactly once while rows are inserted, in memory bounded by the page size.
//!
//! ```text
//!   Query ──build──▶ EncodedQuery ─┐
//!   ReadOptions / WriteOptions ────┼─▶ TableApi::*_request ─▶ http::Request ─▶ HttpTransport
//!                                  │                                                │
//!   Page<R> / R / TableError ◀─────┴── TableApi::parse_* ◀── http::Response ◀───────┘
//! ```

#![warn(missing_docs)]

mod client;
mod error;
mod keyed_row;
mod names;
mod options;
mod query;
mod record;
mod request;
mod response;
mod retry;
mod stream;
mod values;

pub use crate::{
    client::TableClient,
    error::{ServiceNowMessage, TableError},
    names::{FieldName, InstanceBase, SysId, TableName},
    options::{ApiVersion, DisplayValues, ReadOptions, View, WriteOptions},
    query::{Condition, EncodedQuery, Query},
    record::Record,
    request::{ListParams, TableApi},
    response::{Created, Page, error_from_response},
    retry::{RetryOutcome, RetryPolicy},
    stream::StreamConfig,
    values::{DisplayValue, GlideDateTime, Reference, de},
};

//! The ServiceNow Table API: typed and dynamic records, an injection-safe query builder,
//! streaming pagination in constant memory, and every failure as a typed error.
//!
//! This crate does not authenticate: it never sees a token. It sends requests through a
//! [`RequestSender`](servicenow_http::RequestSender): any
//! [`HttpTransport`](servicenow_http::HttpTransport), or (from the `servicenow` facade) a layer
//! over one that adds the `Authorization` header for the instance and reports its own failures
//! in its own error type, which reaches the caller inside [`TableError::Sender`]. The instance
//! is a [`servicenow_oauth::InstanceUrl`], whose [`same_origin`](servicenow_oauth::InstanceUrl::same_origin)
//! check is the one that pins `Link` headers to the instance.
//!
//! It reads no clock and no OS randomness: retry jitter comes from a seeded RNG
//! ([`TableClient::with_jitter_seed`]), waiting from an injected [`RetrySleep`], and
//! `X-RateLimit-Reset` is read against the response's `Date` header.
//!
//! `examples/table-basic-auth` in the repository uses this crate alone, with HTTP Basic
//! authentication added by a transport of its own, run against the emulator by `cargo test`.
//!
//! Layers, bottom up:
//!
//! - **pure core**: [`TableApi`] builds each request as an `http::Request<Bytes>` and parses each
//!   response from an `http::Response<Bytes>`; [`Query`] builds encoded queries and refuses
//!   values that would change their meaning; [`error_from_response`] maps ServiceNow's error
//!   envelope to [`TableError`]. Nothing here can fail in a sender, so its errors are
//!   `TableError<Infallible>` ([`TableError::widen`] makes them any client's);
//! - **client**: [`TableClient`] sends them through a sender, with [`RetryPolicy`] (idempotent
//!   requests only, unless the request provably never reached the instance; a sender's own
//!   failure never);
//! - **stream**: [`TableClient::stream`] reads a whole table page by page (keyset paging unless
//!   the caller orders it), every row that exists throughout exactly once, in memory bounded by
//!   the page size;
//! - **export**: [`TableClient::export`] reads a whole table unordered, in `sys_id` ranges (or
//!   windows of `sys_created_on`, [`Partition`]) at once under adaptive concurrency, resumable
//!   from an [`ExportCheckpoint`];
//! - **attachments**: [`TableClient::attachments`] is the Attachment API
//!   ([`attachment::AttachmentClient`]): list, metadata, delete, rename, and downloads and
//!   uploads streamed in constant memory through the sender's streaming path
//!   ([`RequestSender::send_request_streaming`](servicenow_http::RequestSender::send_request_streaming)),
//!   a download checked against the instance's SHA-256 `hash`.
//!
//! ```text
//!   Query ──build──▶ EncodedQuery ─┐
//!   ReadOptions / WriteOptions ────┼─▶ TableApi::*_request ─▶ http::Request ─▶ RequestSender
//!                                  │                                                │
//!   Page<R> / R / TableError ◀─────┴── TableApi::parse_* ◀── http::Response ◀───────┘
//! ```

#![warn(missing_docs)]

mod aggregate;
pub mod attachment;
mod batch;
mod client;
mod error;
mod export;
mod keyed_row;
mod keys;
mod keyset;
mod names;
mod options;
mod query;
mod record;
mod request;
mod response;
mod retry;
mod stream;
mod values;
mod waiting;

/// The instance a client talks to (from `servicenow-oauth`), so a manifest with only this crate
/// and a transport can build a client.
pub use servicenow_oauth::InstanceUrl;

pub use crate::{
    aggregate::{
        Aggregate, AggregateFunction, AggregateGroup, AggregateResult, AggregateStats,
        AggregateValue, GroupValue, HavingOperator,
    },
    batch::{BatchAnswer, BatchConfig, BatchItem, BatchItemError, BatchResponse, BatchResults},
    client::TableClient,
    error::{ServiceNowMessage, TableError},
    export::{
        DEFAULT_EXPORT_PAGE_LIMITS, Export, ExportBatch, ExportCheckpoint, ExportConfig,
        ExportStats, Partition, RangeCheckpoint, Stopwatch,
    },
    names::{FieldName, SysId, TableName},
    options::{ApiVersion, CountMethod, DisplayValues, ReadOptions, View, WriteOptions},
    query::{Condition, EncodedQuery, Query},
    record::Record,
    request::{ListParams, TableApi},
    response::{Created, Page, Written, error_from_response},
    retry::{RetryOutcome, RetryPolicy},
    stream::{MAX_PAGE_HALVINGS, Paging, StreamConfig},
    values::{DisplayValue, GlideDateTime, Reference, de},
    waiting::{DEFAULT_JITTER_SEED, RetrySleep, TokioSleep},
};

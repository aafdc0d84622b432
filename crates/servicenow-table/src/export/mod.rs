//! Partitioned parallel export: the key space split into `sys_id` ranges, each read with keyset
//! paging, several pages at once under adaptive concurrency, unordered.
//!
//! - **Ranges.** Two one-row probes find the smallest and largest `sys_id`; the keys between
//!   are split into [`ExportConfig::initial_concurrency`] even ranges (the first open below,
//!   the last open above). When a request slot is free and no range is idle, the range with the
//!   most rows not yet asked for (estimated from the density seen so far) is split in two
//!   after its cursor and after the keys its page in flight is expected to cover: a range that
//!   turns out large is shared out, whatever the key distribution, and near the end the last
//!   rows are shared among the free slots in smaller pages instead of being read one page after
//!   another. With [`ExportConfig::split_ranges_above`], each starting range is first counted
//!   with the Aggregate API and split in two while it holds more rows than that (where the
//!   instance refuses the Aggregate API, the ranges stay as they are).
//! - **Pages.** Each range pages with `<conditions>^sys_id>CURSOR^sys_id<BELOW^ORDERBYsys_id`
//!   (`sysparm_no_count=true` unless [`ExportConfig::count`]), the cursor validated. Rows at or
//!   past a range's end (after a split) are left to the range above. Every row that exists for
//!   the whole export is delivered exactly once.
//! - **Concurrency** (`control.rs`): grows by half per round while no request waits in the
//!   instance's queue, then keeps one to three waiting (estimated once per round from the mean
//!   latency against the best), halves on 429 and waits out `Retry-After`, capped by
//!   [`ExportConfig::max_concurrency`]. Each request is its own: no session cookie is kept by
//!   this crate, so the instance does not serialize them.
//! - **Memory** is bounded by `(max_concurrency + 1) × page_size` rows: the pages in flight and
//!   the batch being handed out. Page bodies are read through the streaming exchange and only
//!   [`ExportConfig::bodies_at_once`] at a time (each into one buffer sized from its
//!   `Content-Length`), so pages that arrive together do not each hold their raw body at once.
//! - **Partitioning by creation time** ([`ExportConfig::partition`], `partition.rs`): the ranges
//!   are windows of `sys_created_on` instead, each read by `sys_id` keyset as above.
//! - **Resuming**: [`Export::checkpoint`] after each batch the caller has stored records every
//!   range's cursor; [`TableClient::resume_export`] continues from it.

mod control;
mod partition;
mod ranges;

use std::{convert::Infallible, fmt, sync::Arc, time::Duration};

use futures::{FutureExt, Stream, StreamExt, future::BoxFuture, stream::FuturesUnordered};
use serde::de::DeserializeOwned;
use servicenow_http::{RequestSender, StreamLimits};

use self::{
    control::Concurrency,
    ranges::{Range, initial_ranges, key_of, text_of},
};
pub use self::{
    partition::Partition,
    ranges::{ExportCheckpoint, RangeCheckpoint},
};
use crate::{
    EncodedQuery, ListParams, ReadOptions, TableClient, TableError, TableName,
    keyed_row::KeyedRow,
    keyset::checked_sys_id,
    query::SysIdBound,
    stream::{
        FetchedPage, PageFuture, Reading, fetch_page, fetch_page_with, halved_page_size,
        with_sys_id_field,
    },
};

/// A range is split only while it has more rows left than this share of a page (not counting
/// the page in flight): smaller pages cost a request's fixed time each, so splitting stops
/// where sharing the rest among idle threads no longer pays for it.
const MIN_SPLIT_PAGES: f64 = 0.125;

/// Time since some fixed start, for measuring latency: the export's concurrency control reads
/// it. This crate reads no clock itself; the `servicenow` facade passes its own.
pub trait Stopwatch: Send + Sync + fmt::Debug {
    /// Time elapsed since the stopwatch's start (monotonic).
    fn since_start(&self) -> Duration;
}

/// Settings of [`TableClient::export`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportConfig {
    /// `sysparm_limit` of each page (default 2,000: the per-request cost is a smaller share of
    /// a bigger page; community guidance is 500–2,000, `servicenow-api-more.md` §6).
    pub page_size: u32,
    /// The most requests in flight (default 16).
    pub max_concurrency: usize,
    /// Requests in flight at the start, and the number of ranges at the start (default 8: two
    /// nodes' `API_INT` threads, a production instance's typical capacity,
    /// `servicenow-api-more.md` §6; on a one-node instance the other four wait in its queue of
    /// 50); the control grows or shrinks it from there.
    pub initial_concurrency: usize,
    /// Ask for `X-Total-Count` on every page (default `false`: `sysparm_no_count=true`, so the
    /// instance does not count the query again for every page).
    pub count: bool,
    /// Before the first page, count each starting range with the Aggregate API and split one
    /// holding more rows than this in two, until none does (at most `4 × max_concurrency`
    /// ranges): a range that is large from the start is shared out before it is read, whatever
    /// the key distribution. Default `None` (no counting; ranges are still split after their
    /// cursor while they are read). Where the instance refuses the Aggregate API, the ranges
    /// stay as they are.
    pub split_ranges_above: Option<u64>,
    /// How the table is cut into ranges: even `sys_id` ranges (default) or even windows of
    /// `sys_created_on`, each read by `sys_id` keyset (sndml3's partitioned loads,
    /// `servicenow-api-more.md` §6). A checkpoint resumes only with the partitioning it was
    /// taken with.
    pub partition: Partition,
    /// Page bodies read and parsed at once (default 2). Pages of several ranges often arrive
    /// together; the others wait with their bodies unread (in the connection's and the kernel's
    /// buffers) until a permit is free, so the export holds about this many page bodies rather
    /// than one per request in flight. Parsing takes milliseconds against a page's hundreds on
    /// the instance, so the wait costs next to nothing.
    pub bodies_at_once: usize,
    /// The limits of each page's exchange: pages are read through the streaming exchange (so
    /// that their bodies can wait), which takes its size cap and idle timeout from here
    /// rather than from the transport's configuration (default: 64 MiB, as the transports'
    /// default cap, and 120 s without progress, as their default total deadline).
    pub page_limits: StreamLimits,
}

/// The default [`ExportConfig::page_limits`].
pub const DEFAULT_EXPORT_PAGE_LIMITS: StreamLimits = StreamLimits {
    max_body: 64 * 1024 * 1024,
    idle_timeout: Duration::from_secs(120),
};

impl Default for ExportConfig {
    fn default() -> Self {
        Self {
            page_size: 2_000,
            max_concurrency: 16,
            initial_concurrency: 8,
            count: false,
            split_ranges_above: None,
            partition: Partition::SysId,
            bodies_at_once: 2,
            page_limits: DEFAULT_EXPORT_PAGE_LIMITS,
        }
    }
}

impl ExportConfig {
    /// Exactly `requests` in flight (no adaptation): `sn export --parallel N`.
    pub fn fixed(requests: usize) -> Self {
        let requests = requests.max(1);
        Self {
            max_concurrency: requests,
            initial_concurrency: requests,
            ..Self::default()
        }
    }
}

/// Rows of one page of one range, in `sys_id` order within the range.
#[derive(Debug)]
#[non_exhaustive]
pub struct ExportBatch<R> {
    /// The rows.
    pub rows: Vec<R>,
    /// Which range they came from (an index into the checkpoint's ranges, in creation order).
    pub range: usize,
}

/// What an export has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ExportStats {
    /// List requests sent (probes included).
    pub requests: u64,
    /// Requests answered 429.
    pub throttled: u64,
    /// Ranges, splits included.
    pub ranges: usize,
    /// Requests allowed in flight now.
    pub concurrency: usize,
    /// Requests in flight now.
    pub in_flight: usize,
    /// The most requests that were in flight at once.
    pub peak_in_flight: usize,
    /// The page size asked for now: the configured one, halved after each page the instance
    /// cancelled ("maximum execution time exceeded").
    pub page_size: u32,
    /// Aggregate API counts of ranges before their first page
    /// ([`ExportConfig::split_ranges_above`]).
    pub ranges_counted: u64,
    /// Ranges split before their first page because their count was over the limit.
    pub ranges_split_by_count: u64,
}

/// A page on its way, with the range it reads, its page size and when it left.
type InFlight<'a, S, R> = BoxFuture<
    'a,
    (
        usize,
        u32,
        Duration,
        Result<FetchedPage<R>, TableError<<S as RequestSender>::Error>>,
    ),
>;

/// A running export: [`next_batch`](Self::next_batch) until `None`.
pub struct Export<'a, S: RequestSender, R> {
    client: &'a TableClient<S>,
    table: TableName,
    conditions: EncodedQuery,
    options: ReadOptions,
    config: ExportConfig,
    stopwatch: Arc<dyn Stopwatch>,
    /// In creation order; a range's index never changes.
    ranges: Vec<Range>,
    /// The smallest and largest keys seen by the probes: the span that open ends stand for.
    low: u128,
    high: u128,
    started: bool,
    in_flight: FuturesUnordered<InFlight<'a, S, R>>,
    control: Concurrency,
    /// Permits to read a page body ([`ExportConfig::bodies_at_once`]).
    bodies: Arc<tokio::sync::Semaphore>,
    stats: ExportStats,
    /// Page-size halvings since the last page of the current size arrived.
    halvings_in_a_row: u32,
    failed: bool,
}

impl<S: RequestSender, R> fmt::Debug for Export<'_, S, R> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Export")
            .field("table", &self.table)
            .field("ranges", &self.ranges.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<S: RequestSender> TableClient<S> {
    /// Every record of `table` matching `query`, **unordered**, read by several keyset streams
    /// at once (see the module docs of `export/mod.rs`). A query with an order of its own is
    /// refused ([`TableError::Export`]): use [`stream`](Self::stream) for ordered reads.
    pub fn export<R: DeserializeOwned + Send>(
        &self,
        table: &TableName,
        query: Option<EncodedQuery>,
        options: ReadOptions,
        config: ExportConfig,
        stopwatch: Arc<dyn Stopwatch>,
    ) -> Result<Export<'_, S, R>, TableError<Infallible>> {
        let conditions =
            query.unwrap_or_else(|| EncodedQuery::unchecked_raw_from_trusted_source(""));
        if !conditions.allows_keyset() {
            return Err(TableError::Export {
                table: table.to_string(),
                reason: "an export is unordered; remove ORDERBY from the query or use stream"
                    .to_owned(),
            });
        }
        let mut options = options;
        with_sys_id_field(&mut options);
        options.no_count = !config.count;
        let config = ExportConfig {
            page_size: config.page_size.max(1),
            max_concurrency: config.max_concurrency.max(1),
            initial_concurrency: config
                .initial_concurrency
                .clamp(1, config.max_concurrency.max(1)),
            count: config.count,
            split_ranges_above: config.split_ranges_above,
            partition: config.partition,
            bodies_at_once: config.bodies_at_once.max(1),
            page_limits: config.page_limits,
        };
        Ok(Export {
            bodies: Arc::new(tokio::sync::Semaphore::new(config.bodies_at_once)),
            client: self,
            table: table.clone(),
            conditions,
            options,
            control: Concurrency::new(config.initial_concurrency, config.max_concurrency),
            stats: ExportStats {
                page_size: config.page_size,
                ..ExportStats::default()
            },
            config,
            stopwatch,
            ranges: Vec::new(),
            low: 0,
            high: u128::MAX,
            started: false,
            in_flight: FuturesUnordered::new(),
            halvings_in_a_row: 0,
            failed: false,
        })
    }

    /// [`export`](Self::export), continuing from a checkpoint of the same table and query:
    /// every range goes on after its cursor, finished ranges are skipped.
    pub fn resume_export<R: DeserializeOwned + Send>(
        &self,
        table: &TableName,
        query: Option<EncodedQuery>,
        options: ReadOptions,
        config: ExportConfig,
        stopwatch: Arc<dyn Stopwatch>,
        checkpoint: &ExportCheckpoint,
    ) -> Result<Export<'_, S, R>, TableError<Infallible>> {
        let refuse = |reason: &str| TableError::Export {
            table: table.to_string(),
            reason: format!("cannot resume: {reason}"),
        };
        let query_text = query.as_ref().map(EncodedQuery::as_str).unwrap_or_default();
        if let Some(reason) = partition::resume_refusal(checkpoint, &config) {
            return Err(refuse(&reason));
        }
        if checkpoint.table != table.as_str() || checkpoint.query != query_text {
            return Err(refuse(
                "the checkpoint is of another table or query (give the same table and filters)",
            ));
        }
        let ranges = checkpoint
            .ranges
            .iter()
            .map(Range::restore)
            .collect::<Option<Vec<_>>>()
            .filter(|ranges| !ranges.is_empty())
            .ok_or_else(|| {
                refuse("a range's bound or cursor is not 32 hexadecimal digits, or a window's bound not a date-time")
            })?;
        let mut export = self.export(table, query, options, config, stopwatch)?;
        let keys = ranges
            .iter()
            .flat_map(|range| [range.from, range.below])
            .flatten();
        export.low = keys.clone().min().unwrap_or(0);
        export.high = keys.max().unwrap_or(u128::MAX).max(export.low);
        export.stats.ranges = ranges.len();
        export.ranges = ranges;
        partition::restore_spans(&mut export.ranges);
        export.started = true;
        Ok(export)
    }
}

impl<'a, S: RequestSender, R: DeserializeOwned + Send + 'a> Export<'a, S, R> {
    /// The next page of rows from any range; `None` when every range is done. The first error
    /// ends the export (a checkpoint taken before it stays valid).
    pub async fn next_batch(&mut self) -> Option<Result<ExportBatch<R>, TableError<S::Error>>> {
        if self.failed {
            return None;
        }
        match self.next_batch_or_error().await {
            Ok(batch) => batch.map(Ok),
            Err(error) => {
                self.failed = true;
                self.in_flight = FuturesUnordered::new();
                Some(Err(error))
            }
        }
    }

    /// Where the export stands after the batches handed out so far.
    pub fn checkpoint(&self) -> ExportCheckpoint {
        ExportCheckpoint {
            version: partition::checkpoint_version(self.config.partition),
            table: self.table.to_string(),
            query: self.conditions.as_str().to_owned(),
            ranges: self.ranges.iter().map(Range::checkpoint).collect(),
            partition: self.config.partition,
        }
    }

    /// Requests, 429s, ranges and concurrency so far.
    pub fn stats(&self) -> ExportStats {
        ExportStats {
            concurrency: self.control.limit(),
            in_flight: self.in_flight.len(),
            throttled: self.control.throttled,
            ranges: self.ranges.len(),
            ..self.stats
        }
    }

    /// The rows one by one, as a stream (the checkpoint is then out of reach).
    pub fn into_rows(self) -> impl Stream<Item = Result<R, TableError<S::Error>>> + Send + 'a
    where
        S: 'a,
    {
        futures::stream::unfold(self, |mut export| async move {
            let batch = export.next_batch().await?;
            Some((batch, export))
        })
        .flat_map(|batch| {
            let rows: Vec<Result<R, TableError<S::Error>>> = match batch {
                Ok(batch) => batch.rows.into_iter().map(Ok).collect(),
                Err(error) => vec![Err(error)],
            };
            futures::stream::iter(rows)
        })
    }

    async fn next_batch_or_error(
        &mut self,
    ) -> Result<Option<ExportBatch<R>>, TableError<S::Error>> {
        if !self.started {
            self.start().await?;
        }
        loop {
            let now = self.stopwatch.since_start();
            let paused = self.control.paused_until.filter(|until| *until > now);
            if paused.is_none() {
                while self.in_flight.len() < self.control.limit() && self.launch() {}
                self.stats.peak_in_flight = self.stats.peak_in_flight.max(self.in_flight.len());
            }
            let Some((range, limit, sent, result)) = self.in_flight.next().await else {
                match paused {
                    Some(until) => {
                        self.client.sleeper().sleep(until.saturating_sub(now)).await;
                        continue;
                    }
                    None => return Ok(None),
                }
            };
            let latency = self.stopwatch.since_start().saturating_sub(sent);
            self.ranges[range].busy = false;
            match result {
                Ok(page) => {
                    if limit == self.config.page_size {
                        self.halvings_in_a_row = 0;
                    }
                    if let Some(batch) = self.accept(range, page, latency)? {
                        return Ok(Some(batch));
                    }
                }
                Err(TableError::RateLimited { retry_after, .. }) => {
                    // The instance's queue is full (or a rate limit rule applies): fewer
                    // requests, none before Retry-After (a second when it sends none).
                    let wait = retry_after.unwrap_or(Duration::from_secs(1));
                    self.control
                        .on_throttled(self.stopwatch.since_start(), Some(wait));
                }
                // A page asked for with a bigger size than now: the range asks again with the
                // size already halved.
                Err(TableError::TransactionTimeout { .. }) if limit > self.config.page_size => (),
                Err(error) => {
                    let operation = format!("export {}", self.table);
                    let halved = halved_page_size(
                        &error,
                        self.config.page_size,
                        self.halvings_in_a_row,
                        &operation,
                    );
                    let Some(halved) = halved else {
                        return Err(error);
                    };
                    // The range is idle again with its cursor unchanged: its next request asks
                    // for the same window with the smaller page.
                    self.config.page_size = halved;
                    self.halvings_in_a_row += 1;
                    self.stats.page_size = halved;
                }
            }
        }
    }

    /// Finds the smallest and largest keys and splits the space between them into ranges.
    async fn start(&mut self) -> Result<(), TableError<S::Error>> {
        self.started = true;
        let probe = |query| probe(self.client, &self.table, &self.options, query, &["sys_id"]);
        let (lowest, highest) = futures::join!(
            probe(self.conditions.within_sys_id_range(None, None)),
            probe(self.conditions.descending_by_sys_id()),
        );
        self.stats.requests += 2;
        let key = |page: FetchedPage<crate::Record>| -> Result<Option<u128>, TableError<S::Error>> {
            match page.rows.into_iter().next().and_then(|keyed| keyed.sys_id) {
                None => Ok(None),
                Some(sys_id) => {
                    let sys_id = checked_sys_id(&self.table, sys_id).map_err(TableError::widen)?;
                    Ok(key_of(sys_id.as_str()))
                }
            }
        };
        let (low, high) = (key(lowest?)?, key(highest?)?);
        self.ranges = match (low, high) {
            (Some(low), Some(high)) if low <= high => {
                (self.low, self.high) = (low, high);
                initial_ranges(low, high, self.config.initial_concurrency)
            }
            // An empty table (or one that changed between the probes): one open range.
            _ => vec![Range::new(None, None)],
        };
        if self.config.partition == Partition::CreatedOn {
            self.ranges = self.created_on_ranges().await?;
        }
        if let Some(limit) = self.config.split_ranges_above {
            self.split_counted_ranges(limit).await;
        }
        Ok(())
    }

    /// Counts each starting range with the Aggregate API and splits those over `limit` rows
    /// until none is (bounded by `4 × max_concurrency` ranges); the first refusal of the
    /// Aggregate API ends the counting and leaves the ranges as they are.
    async fn split_counted_ranges(&mut self, limit: u64) {
        let most = 4 * self.config.max_concurrency.max(1);
        let mut to_count: Vec<usize> = (0..self.ranges.len()).collect();
        while let Some(index) = to_count.pop() {
            let range = &self.ranges[index];
            let from = range.from.map(text_of);
            let below = range.below.map(text_of);
            let query = partition::page_query(
                &self.conditions,
                range.window.as_ref(),
                from.as_deref().map(SysIdBound::From),
                below.as_deref(),
            );
            let aggregate = crate::Aggregate::new().query(query).count();
            self.stats.ranges_counted += 1;
            let count = match self.client.aggregate(&self.table, &aggregate).await {
                Ok(result) => result.total_count(),
                Err(error) => {
                    tracing::debug!(table = %self.table, error = %error, "export: the Aggregate API did not count a range; ranges are not split by count");
                    return;
                }
            };
            if count.is_none_or(|rows| rows <= limit) || self.ranges.len() >= most {
                continue;
            }
            let (low, high) = (self.low, self.high);
            if let Some(upper) = self.ranges[index].split(low, high, 0) {
                self.ranges.push(upper);
                self.stats.ranges_split_by_count += 1;
                to_count.push(index);
                to_count.push(self.ranges.len() - 1);
            }
        }
    }

    /// Sends the next page of an idle range, splitting the fullest range when none is idle;
    /// `false` when there is nothing to send.
    fn launch(&mut self) -> bool {
        let idle = self
            .ranges
            .iter()
            .position(|range| !range.busy && !range.done);
        let index = match idle {
            Some(index) => index,
            None => match self.split_fullest() {
                Some(index) => index,
                None => return false,
            },
        };
        let range = &mut self.ranges[index];
        range.busy = true;
        let cursor = range.cursor.clone();
        let from = range.from.map(text_of);
        let lower = match (&cursor, &from) {
            (Some(cursor), _) => Some(SysIdBound::After(cursor.as_str())),
            (None, Some(from)) => Some(SysIdBound::From(from)),
            (None, None) => None,
        };
        let below = range.below.map(text_of);
        let query = partition::page_query(
            &self.conditions,
            range.window.as_ref(),
            lower,
            below.as_deref(),
        );
        let offset = range.offset_after_cursor;
        let params = ListParams {
            query: Some(query),
            options: self.options.clone(),
            limit: Some(self.config.page_size),
            offset: (offset > 0).then_some(offset),
        };
        self.stats.requests += 1;
        let sent = self.stopwatch.since_start();
        let limit = self.config.page_size;
        let page = fetch_page_with(
            self.client,
            self.table.clone(),
            params,
            offset,
            Reading::Gated {
                bodies: Arc::clone(&self.bodies),
                limits: self.config.page_limits,
            },
        );
        self.in_flight
            .push(page.map(move |result| (index, limit, sent, result)).boxed());
        true
    }

    /// Splits the range with the most rows not yet asked for, if that is more than
    /// [`MIN_SPLIT_PAGES`] of a page; returns the new (idle) range. A busy range is split after
    /// the keys its page in flight is expected to cover, so that page reads no row of the new
    /// range. Near the end this shares the last rows out among the free request slots (smaller
    /// pages, each on its own thread of the instance) instead of leaving the slots idle.
    fn split_fullest(&mut self) -> Option<usize> {
        let (low, high) = (self.low, self.high);
        let page = f64::from(self.config.page_size);
        let density = self.density();
        let (index, _) = self
            .ranges
            .iter()
            .enumerate()
            .filter(|(_, range)| !range.done)
            .map(|(index, range)| {
                let asked = if range.busy { page } else { 0.0 };
                (index, range.rows_left(low, high, density) - asked)
            })
            .filter(|(_, rows)| *rows > MIN_SPLIT_PAGES * page)
            .max_by(|left, right| left.1.total_cmp(&right.1))?;
        let range = &self.ranges[index];
        let skip = match (range.busy, range.density(low).or(density)) {
            (true, Some(density)) => (page / density).min(u128::MAX as f64) as u128,
            _ => 0,
        };
        let upper = self.ranges[index].split(low, high, skip)?;
        self.ranges.push(upper);
        Some(self.ranges.len() - 1)
    }

    /// Rows per key over every range read so far; `None` before the first row.
    fn density(&self) -> Option<f64> {
        let (rows, keys) = self.ranges.iter().fold((0.0, 0.0), |(rows, keys), range| {
            let covered = range
                .next_key(self.low)
                .saturating_sub(range.from.unwrap_or(self.low));
            (rows + range.rows as f64, keys + covered as f64)
        });
        (rows > 0.0 && keys >= 1.0).then(|| rows / keys)
    }

    /// Takes the rows of a page that belong to its range; `None` when there are none to hand
    /// out (the range goes on or is done).
    fn accept(
        &mut self,
        index: usize,
        page: FetchedPage<R>,
        latency: Duration,
    ) -> Result<Option<ExportBatch<R>>, TableError<S::Error>> {
        let page_size = self.config.page_size;
        let full = page.rows.len() == page_size as usize;
        self.control.on_page(latency, full);
        let is_last = page.is_last(page_size);
        let range = &mut self.ranges[index];
        let mut rows = Vec::with_capacity(page.rows.len());
        let mut past_end = false;
        let mut cursor_key = range
            .cursor
            .as_ref()
            .and_then(|cursor| key_of(cursor.as_str()));
        for KeyedRow { sys_id, row } in page.rows {
            let Some(sys_id) = sys_id else {
                return Err(TableError::MalformedResponse {
                    operation: format!("export {}", self.table),
                    status: http::StatusCode::OK,
                    reason: "a row has no sys_id, which keyset paging needs".to_owned(),
                });
            };
            let sys_id = checked_sys_id(&self.table, sys_id).map_err(TableError::widen)?;
            let key = key_of(sys_id.as_str()).unwrap_or_default();
            // Rows an instance sent outside the range (ignoring a condition) are not this
            // range's: before the cursor or start they were delivered, past the end they are the
            // next range's.
            if cursor_key.is_some_and(|cursor| key <= cursor)
                || range.from.is_some_and(|from| key < from)
            {
                continue;
            }
            if range.below.is_some_and(|below| key >= below) {
                past_end = true;
                continue;
            }
            cursor_key = Some(key);
            range.cursor = Some(sys_id);
            rows.push(row);
        }
        if rows.is_empty() && !is_last && !past_end {
            range.offset_after_cursor += u64::from(page_size);
        } else if !rows.is_empty() {
            range.offset_after_cursor = 0;
        }
        range.rows += rows.len() as u64;
        range.done = is_last || past_end;
        Ok((!rows.is_empty()).then_some(ExportBatch { rows, range: index }))
    }
}

/// A one-row page of `query` with only `fields`, stored values and no count: the export's
/// probes of the smallest and largest key or creation time. A function of what it needs rather
/// than a method, so that its future does not hold the export (which is not `Sync`).
pub(super) fn probe<'a, S: RequestSender>(
    client: &'a TableClient<S>,
    table: &TableName,
    options: &ReadOptions,
    query: EncodedQuery,
    fields: &[&str],
) -> PageFuture<'a, S, crate::Record> {
    let mut options = options.clone();
    options.fields = fields
        .iter()
        .filter_map(|name| crate::FieldName::new(*name).ok())
        .collect();
    options.display_values = crate::DisplayValues::Stored;
    options.no_count = true;
    let params = ListParams {
        query: Some(query),
        options,
        limit: Some(1),
        offset: None,
    };
    fetch_page::<S, crate::Record>(client, table.clone(), params, 0)
}

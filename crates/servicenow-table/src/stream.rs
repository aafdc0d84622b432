//! Pagination as an async `Stream`: keyset paging (`keyset/`; with prefetch, by `sys_id`
//! windows read ahead) for a query without an order of the caller's, offset paging with bounded
//! prefetch otherwise or when asked for ([`Paging::Offset`]).
//!
//! How offset paging keeps rows from being lost or repeated:
//!
//! - the query is ordered by `sys_id` (appended when the caller gave no `ORDERBYsys_id`), so
//!   every row has one place in the order;
//! - rows inserted before the current offset push rows already read onto the next page: since
//!   the stream emits rows in `sys_id` order, it drops any row not greater than the last one
//!   emitted (constant memory: one sys_id);
//! - with prefetch, the instance may evaluate page `k + 1` before page `k`; an insert in between
//!   can then push a row past both. When two neighbouring pages report different
//!   `X-Total-Count`s (the table changed; or no count is sent), the stream reads the gap
//!   between them with a `sys_id` range query before going on;
//! - a short or empty page does not end the stream (ACLs are applied after the limit): the end
//!   is the absence of `rel="next"` in `Link`, or else the page that reaches `X-Total-Count`, or
//!   else (neither header sent) an empty page.
//!
//! Rows deleted during the stream can still be missed by offset paging (keyset paging cannot
//! miss them); the caller's own `ORDERBY` (then followed by `sys_id`) disables the
//! exactly-once filter. Every sys_id that enters a query is validated first.

use std::{collections::VecDeque, sync::Arc};

use futures::{FutureExt, Stream, StreamExt, future::BoxFuture, stream::FuturesOrdered};
use serde::de::DeserializeOwned;
use servicenow_http::{RequestSender, StreamLimits};

use crate::{
    EncodedQuery, FieldName, ListParams, ReadOptions, SysId, TableClient, TableError, TableName,
    client::RateLimits,
    keyed_row::KeyedRow,
    keyset::{KeysetPager, checked_sys_id},
};

/// How a stream pages through the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Paging {
    /// Keyset paging (`sys_id>LAST^ORDERBYsys_id`) when the query has no order of the
    /// caller's (or orders by `sys_id` only), offset paging otherwise (the default): each page
    /// costs the instance the same, and a row that exists for the whole stream is delivered
    /// exactly once whatever is written meanwhile. With [`prefetch`](StreamConfig::prefetch),
    /// the rows after a first page of an eighth of the page size (at least 100 rows) are read
    /// as consecutive `sys_id` ranges sized from it to hold a bit less than a page each (`sys_id>=START^sys_id<END`), `prefetch`
    /// of them requested ahead of the one being read; a range that holds more is continued
    /// after its last row before the next one's rows are handed out.
    #[default]
    Keyset,
    /// `sysparm_offset` paging with [`prefetch`](StreamConfig::prefetch) pages in flight: the
    /// instance reads and discards every skipped row, and a row deleted during the stream can
    /// push another past the reader.
    Offset,
}

/// Page size and prefetch depth of [`TableClient::stream`]: memory stays bounded by about
/// `page_size × (prefetch + 1)` rows, whatever the table size (at most `prefetch + 1` pages
/// are requested or held at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// `sysparm_limit` of each page (default 1,000). When the instance cancels a page for
    /// taking too long ("Transaction cancelled: maximum execution time exceeded"), the stream
    /// halves it and asks for the same window again (see [`MAX_PAGE_HALVINGS`]).
    pub page_size: u32,
    /// Pages requested ahead of the one being read (default 1): while the rows of page `k` are
    /// handed out, pages `k + 1 ..= k + prefetch` are already on their way (with keyset paging,
    /// the `prefetch` key ranges after the one being read, see [`Paging::Keyset`]). 0 reads one
    /// page at a time.
    pub prefetch: usize,
    /// Keyset (the default) or offset paging.
    pub paging: Paging,
}

/// How many times in a row a stream or an export halves its page size and asks for the same
/// window again after the instance cancelled the transaction ("maximum execution time
/// exceeded"), before it returns [`TableError::TransactionTimeout`]; it also stops at a page of
/// one row. Each halving is a `tracing` warning. A page that succeeds resets the count, and the
/// smaller page size stays.
pub const MAX_PAGE_HALVINGS: u32 = 10;

/// The page size to ask for the same window again with after `error`, or `None` when `error`
/// is not a cancelled transaction or the bound is reached.
pub(crate) fn halved_page_size<E>(
    error: &TableError<E>,
    page_size: u32,
    halvings_in_a_row: u32,
    operation: &str,
) -> Option<u32> {
    if !matches!(error, TableError::TransactionTimeout { .. })
        || page_size <= 1
        || halvings_in_a_row >= MAX_PAGE_HALVINGS
    {
        return None;
    }
    let halved = (page_size / 2).max(1);
    tracing::warn!(
        operation,
        from = page_size,
        to = halved,
        "{operation}: the instance cancelled the transaction (maximum execution time exceeded); asking for the same rows again with the page size halved from {page_size} to {halved}"
    );
    Some(halved)
}

impl StreamConfig {
    /// The default [`prefetch`](Self::prefetch): one page ahead, so two requests in flight at
    /// most (gentle on an instance's per-user concurrency; raise it for high-latency links).
    pub const DEFAULT_PREFETCH: usize = 1;
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            page_size: 1_000,
            prefetch: Self::DEFAULT_PREFETCH,
            paging: Paging::Keyset,
        }
    }
}

impl<S: RequestSender> TableClient<S> {
    /// Every record of `table` matching `query`, as a stream (see the module docs of
    /// `stream.rs` for the exactly-once rules). The stream ends after the first error, which
    /// is the same `TableError<S::Error>` the other methods return.
    pub fn stream<'a, R>(
        &'a self,
        table: &TableName,
        query: Option<EncodedQuery>,
        options: ReadOptions,
        config: StreamConfig,
    ) -> impl Stream<Item = Result<R, TableError<S::Error>>> + Send + 'a
    where
        R: DeserializeOwned + Send + 'a,
    {
        let query = query
            .unwrap_or_else(|| EncodedQuery::unchecked_raw_from_trusted_source(""))
            .with_stable_order();
        let exactly_once = query.is_ordered_by_sys_id_only();
        let mut options = options;
        if exactly_once {
            with_sys_id_field(&mut options);
        }
        if config.paging == Paging::Keyset && query.allows_keyset() {
            let pager = KeysetPager::new(
                self,
                table.clone(),
                query,
                options,
                config.page_size,
                config.prefetch,
            );
            let rows = futures::stream::unfold(pager, |mut pager| async move {
                pager.next_row().await.map(|row| (row, pager))
            });
            return rows.left_stream();
        }
        let state = Pager {
            client: self,
            table: table.clone(),
            query,
            options,
            page_size: config.page_size.max(1),
            prefetch: config.prefetch,
            exactly_once,
            in_flight: FuturesOrdered::new(),
            next_offset: 0,
            accepted_end: 0,
            halvings_in_a_row: 0,
            ready: VecDeque::new(),
            last_sys_id: None,
            previous_total: None,
            gap_pending: false,
            finished: false,
        };
        futures::stream::unfold(state, |mut state| async move {
            state.next_row().await.map(|row| (row, state))
        })
        .right_stream()
    }
}

/// Adds `sys_id` to an explicit field list (paging needs it; all fields include it).
pub(crate) fn with_sys_id_field(options: &mut ReadOptions) {
    if !options.fields.is_empty()
        && !options
            .fields
            .iter()
            .any(|field| field.as_str() == "sys_id")
    {
        if let Ok(sys_id) = FieldName::new("sys_id") {
            options.fields.push(sys_id);
        }
    }
}

/// One fetched page: rows with their sys_ids, and what the headers said about the rest.
pub(crate) struct FetchedPage<R> {
    pub(crate) offset: u64,
    pub(crate) rows: Vec<KeyedRow<R>>,
    pub(crate) total_count: Option<u64>,
    pub(crate) has_next: Option<bool>,
}

impl<R> FetchedPage<R> {
    /// Whether this page is the last one (see the module docs).
    pub(crate) fn is_last(&self, page_size: u32) -> bool {
        match (self.has_next, self.total_count) {
            (Some(has_next), _) => !has_next,
            (None, Some(total)) => self.offset + u64::from(page_size) >= total,
            (None, None) => self.rows.is_empty(),
        }
    }
}

/// A page on its way: the future of one list request, parsed.
pub(crate) type PageFuture<'a, S, R> =
    BoxFuture<'a, Result<FetchedPage<R>, TableError<<S as RequestSender>::Error>>>;

struct Pager<'a, S: RequestSender, R> {
    client: &'a TableClient<S>,
    table: TableName,
    query: EncodedQuery,
    options: ReadOptions,
    page_size: u32,
    prefetch: usize,
    exactly_once: bool,
    in_flight: FuturesOrdered<PageFuture<'a, S, R>>,
    next_offset: u64,
    /// Where the page after the last accepted one starts: a cancelled page is asked for again
    /// from here.
    accepted_end: u64,
    /// Page-size halvings since the last page that arrived.
    halvings_in_a_row: u32,
    /// Pages accepted and not yet handed out, oldest first; the exactly-once filter applies as
    /// each row is handed out (no row is copied in between).
    ready: VecDeque<std::vec::IntoIter<KeyedRow<R>>>,
    last_sys_id: Option<SysId>,
    previous_total: Option<u64>,
    gap_pending: bool,
    finished: bool,
}

impl<'a, S: RequestSender, R: DeserializeOwned + Send + 'a> Pager<'a, S, R> {
    async fn next_row(&mut self) -> Option<Result<R, TableError<S::Error>>> {
        loop {
            match self.next_ready_row() {
                Ok(Some(row)) => return Some(Ok(row)),
                Ok(None) => (),
                Err(error) => return Some(Err(self.fail(error))),
            }
            if self.finished {
                return None;
            }
            // The page about to be read and `prefetch` pages after it.
            while self.in_flight.len() <= self.prefetch {
                let page = fetch_page(
                    self.client,
                    self.table.clone(),
                    self.params(self.query.clone(), self.next_offset),
                    self.next_offset,
                );
                self.in_flight.push_back(page);
                self.next_offset += u64::from(self.page_size);
            }
            let page = match self.in_flight.next().await {
                Some(Ok(page)) => page,
                Some(Err(error)) => {
                    let operation = format!("stream {}", self.table);
                    match halved_page_size(
                        &error,
                        self.page_size,
                        self.halvings_in_a_row,
                        &operation,
                    ) {
                        Some(halved) => {
                            // The pages after the cancelled one are asked for again too.
                            self.page_size = halved;
                            self.halvings_in_a_row += 1;
                            self.in_flight = FuturesOrdered::new();
                            self.next_offset = self.accepted_end;
                            continue;
                        }
                        None => return Some(Err(self.fail(error))),
                    }
                }
                None => {
                    self.finished = true;
                    continue;
                }
            };
            if let Err(error) = self.accept(page).await {
                return Some(Err(self.fail(error)));
            }
        }
    }

    async fn accept(&mut self, page: FetchedPage<R>) -> Result<(), TableError<S::Error>> {
        let is_last = page.is_last(self.page_size);
        self.halvings_in_a_row = 0;
        self.accepted_end = page.offset + u64::from(self.page_size);
        // Sequential pages cannot skip a row (inserts only push rows forward), so gaps are
        // checked only when pages may be evaluated out of order.
        if self.exactly_once && self.prefetch > 0 && self.last_sys_id.is_some() {
            let table_changed =
                page.total_count.is_none() || page.total_count != self.previous_total;
            self.gap_pending |= table_changed;
            let first = match page.rows.iter().find_map(|keyed| keyed.sys_id.clone()) {
                Some(sys_id) => {
                    Some(checked_sys_id(&self.table, sys_id).map_err(TableError::widen)?)
                }
                None => None,
            };
            if self.gap_pending && (first.is_some() || is_last) {
                self.fill_gap(first.as_ref()).await?;
                self.gap_pending = false;
            }
        }
        self.previous_total = page.total_count;
        self.ready.push_back(page.rows.into_iter());
        if is_last {
            self.finished = true;
            self.in_flight = FuturesOrdered::new();
        }
        Ok(())
    }

    /// Reads the rows between the last one emitted and `before` (or the end), sequentially.
    async fn fill_gap(&mut self, before: Option<&SysId>) -> Result<(), TableError<S::Error>> {
        let Some(after) = self.last_sys_id.clone() else {
            return Ok(());
        };
        let query = self.query.restricted_to_sys_id_range(&after, before);
        let mut offset = 0;
        loop {
            let page = fetch_page(
                self.client,
                self.table.clone(),
                self.params(query.clone(), offset),
                offset,
            )
            .await?;
            let is_last = page.is_last(self.page_size);
            tracing::debug!(table = %self.table, rows = page.rows.len(), "table stream: filled a gap left by a concurrent insert");
            self.ready.push_back(page.rows.into_iter());
            if is_last {
                return Ok(());
            }
            offset += u64::from(self.page_size);
        }
    }

    /// The next row of the accepted pages that the exactly-once filter lets through.
    fn next_ready_row(&mut self) -> Result<Option<R>, TableError<S::Error>> {
        while let Some(page) = self.ready.front_mut() {
            for KeyedRow { sys_id, row } in page.by_ref() {
                // A row without a sys_id (which the instance always sends when asked) cannot
                // be checked, so it is passed on rather than lost.
                if let (true, Some(sys_id)) = (self.exactly_once, sys_id) {
                    // Validated: it enters the query of a gap read.
                    let sys_id = checked_sys_id(&self.table, sys_id).map_err(TableError::widen)?;
                    if self
                        .last_sys_id
                        .as_ref()
                        .is_some_and(|last| sys_id <= *last)
                    {
                        continue;
                    }
                    self.last_sys_id = Some(sys_id);
                }
                return Ok(Some(row));
            }
            self.ready.pop_front();
        }
        Ok(None)
    }

    fn params(&self, query: EncodedQuery, offset: u64) -> ListParams {
        ListParams {
            query: Some(query),
            options: self.options.clone(),
            limit: Some(self.page_size),
            offset: Some(offset),
        }
    }

    fn fail(&mut self, error: TableError<S::Error>) -> TableError<S::Error> {
        self.finished = true;
        self.ready.clear();
        self.in_flight = FuturesOrdered::new();
        error
    }
}

/// One list request, parsed; `offset` is where the page starts (for its end rule).
pub(crate) fn fetch_page<'a, S: RequestSender, R: DeserializeOwned + Send + 'a>(
    client: &'a TableClient<S>,
    table: TableName,
    params: ListParams,
    offset: u64,
) -> PageFuture<'a, S, R> {
    fetch_page_with(client, table, params, offset, Reading::Buffered)
}

/// How a page's response is read.
#[derive(Debug, Clone)]
pub(crate) enum Reading {
    /// Buffered by the sender, 429s retried by the policy.
    Buffered,
    /// The export's: 429s returned to the caller, the body read through the streaming exchange
    /// while holding a permit of `bodies` ([`TableClient::execute_gated`]).
    Gated {
        bodies: Arc<tokio::sync::Semaphore>,
        limits: StreamLimits,
    },
}

/// [`fetch_page`], read as `reading` says.
pub(crate) fn fetch_page_with<'a, S: RequestSender, R: DeserializeOwned + Send + 'a>(
    client: &'a TableClient<S>,
    table: TableName,
    params: ListParams,
    offset: u64,
    reading: Reading,
) -> PageFuture<'a, S, R> {
    async move {
        let operation = format!("stream {table}");
        let request = client
            .api()
            .list_request(&table, &params)
            .map_err(TableError::widen)?;
        // One pass over the body gives each row as `R` and its sys_id (see `keyed_row.rs`).
        let parse = |response: &http::Response<bytes::Bytes>| {
            client.api().parse_page::<KeyedRow<R>>(response, &operation)
        };
        let page = match reading {
            Reading::Buffered => {
                client
                    .execute_with(request, &operation, parse, RateLimits::Retry)
                    .await?
            }
            Reading::Gated { bodies, limits } => {
                client
                    .execute_gated(
                        request,
                        &operation,
                        parse,
                        RateLimits::Return,
                        &bodies,
                        limits,
                    )
                    .await?
            }
        };
        Ok(FetchedPage {
            offset,
            rows: page.records,
            total_count: page.total_count,
            has_next: page.has_next,
        })
    }
    .boxed()
}

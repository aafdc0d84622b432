//! Keyset paging: each page is `<conditions>^sys_id>LAST^ORDERBYsys_id`, where `LAST` is the
//! last `sys_id` of the page before, validated before it enters the query.
//!
//! Why it is the default for a stream without a caller's order
//! (`servicenow-api-more.md` §6, "Paging"; sndml3's `RestTableReader`):
//!
//! - the instance seeks to `LAST` instead of reading and discarding `offset` rows, so page
//!   `k` costs what page 1 costs;
//! - a row's place is its `sys_id`, which never changes, so every row that exists for the whole
//!   stream is delivered exactly once, whatever is inserted, updated or deleted meanwhile (a row
//!   inserted after the cursor is delivered, one inserted before it is not).
//!
//! The next page's query depends on the page before, so prefetch is at most one page: the
//! next request leaves as soon as a page has arrived, while its rows are handed out. The
//! parallelism of an export comes from several key ranges at once (`export.rs`).
//!
//! A short page does not end the stream (ACLs are applied after the limit); the end is
//! `Link` without `rel="next"`, or else `X-Total-Count` reached, or else an empty page. A page
//! whose rows were all hidden but that says more follow moves on by offset from the same
//! cursor.

use std::{convert::Infallible, vec};

use serde::de::DeserializeOwned;
use servicenow_http::RequestSender;

use crate::{
    EncodedQuery, ListParams, ReadOptions, SysId, TableClient, TableError, TableName,
    keyed_row::KeyedRow,
    query::SysIdBound,
    stream::{FetchedPage, PageFuture, fetch_page, halved_page_size},
};

/// Reads a table page by page with keyset paging.
pub(crate) struct KeysetPager<'a, S: RequestSender, R> {
    client: &'a TableClient<S>,
    table: TableName,
    conditions: EncodedQuery,
    options: ReadOptions,
    page_size: u32,
    prefetch: bool,
    /// Page-size halvings since the last page that arrived.
    halvings_in_a_row: u32,
    /// The last sys_id handed out.
    cursor: Option<SysId>,
    /// Rows hidden on pages after the cursor that said more follow: read on by offset.
    offset_after_cursor: u64,
    in_flight: Option<PageFuture<'a, S, R>>,
    ready: vec::IntoIter<KeyedRow<R>>,
    /// The page just accepted was the last one.
    last_page_seen: bool,
    finished: bool,
}

impl<'a, S: RequestSender, R: DeserializeOwned + Send + 'a> KeysetPager<'a, S, R> {
    pub(crate) fn new(
        client: &'a TableClient<S>,
        table: TableName,
        conditions: EncodedQuery,
        options: ReadOptions,
        page_size: u32,
        prefetch: bool,
    ) -> Self {
        Self {
            client,
            table,
            conditions,
            options,
            page_size: page_size.max(1),
            prefetch,
            halvings_in_a_row: 0,
            cursor: None,
            offset_after_cursor: 0,
            in_flight: None,
            ready: Vec::new().into_iter(),
            last_page_seen: false,
            finished: false,
        }
    }

    /// The next row, `None` at the end of the range; the first error ends the pager.
    pub(crate) async fn next_row(&mut self) -> Option<Result<R, TableError<S::Error>>> {
        loop {
            match self.next_ready_row() {
                Ok(Some(row)) => return Some(Ok(row)),
                Ok(None) => (),
                Err(error) => return Some(Err(self.fail(error.widen()))),
            }
            if self.finished {
                return None;
            }
            if self.last_page_seen {
                self.finished = true;
                return None;
            }
            let page = match self.in_flight.take() {
                Some(page) => page,
                None => self.request_next(),
            };
            let page = match page.await {
                Ok(page) => page,
                Err(error) => {
                    let operation = format!("stream {}", self.table);
                    match halved_page_size(
                        &error,
                        self.page_size,
                        self.halvings_in_a_row,
                        &operation,
                    ) {
                        // The same window: the rows before it have all been handed out, so
                        // the cursor is where the cancelled page started.
                        Some(halved) => {
                            self.page_size = halved;
                            self.halvings_in_a_row += 1;
                            continue;
                        }
                        None => return Some(Err(self.fail(error))),
                    }
                }
            };
            self.halvings_in_a_row = 0;
            self.accept(page);
        }
    }

    /// The rows of the page that has arrived, and what comes after it: the next request leaves
    /// now (with prefetch) or when these rows are used up.
    fn accept(&mut self, page: FetchedPage<R>) {
        let is_last = page.is_last(self.page_size);
        let hidden_rows_follow = page.rows.is_empty() && !is_last;
        if hidden_rows_follow {
            self.offset_after_cursor += u64::from(self.page_size);
        }
        self.last_page_seen = is_last;
        // The page's last sys_id, checked: it becomes the next page's cursor.
        let next_cursor = page
            .rows
            .iter()
            .rev()
            .find_map(|keyed| keyed.sys_id.as_deref())
            .map(SysId::new);
        self.ready = page.rows.into_iter();
        if self.prefetch && !is_last {
            match next_cursor {
                Some(Ok(cursor)) => self.in_flight = Some(self.request_after(Some(&cursor), 0)),
                Some(Err(_)) => (), // reported when the row is handed out
                None if hidden_rows_follow => self.in_flight = Some(self.request_next()),
                None => (),
            }
        }
    }

    /// The request for the page after the cursor.
    fn request_next(&mut self) -> PageFuture<'a, S, R> {
        let cursor = self.cursor.clone();
        self.request_after(cursor.as_ref(), self.offset_after_cursor)
    }

    fn request_after(&mut self, cursor: Option<&SysId>, offset: u64) -> PageFuture<'a, S, R> {
        let lower = cursor.map(|cursor| SysIdBound::After(cursor.as_str()));
        let query = self.conditions.within_sys_id_range(lower, None);
        let params = ListParams {
            query: Some(query),
            options: self.options.clone(),
            limit: Some(self.page_size),
            offset: (offset > 0).then_some(offset),
        };
        fetch_page(self.client, self.table.clone(), params, offset)
    }

    /// The next row of the current page, its sys_id validated and past the cursor (a row at or
    /// before it, which an instance ignoring the condition would send, is dropped).
    fn next_ready_row(&mut self) -> Result<Option<R>, TableError<Infallible>> {
        for KeyedRow { sys_id, row } in self.ready.by_ref() {
            let Some(sys_id) = sys_id else {
                return Err(TableError::MalformedResponse {
                    operation: format!("stream {}", self.table),
                    status: http::StatusCode::OK,
                    reason: "a row has no sys_id, which keyset paging needs".to_owned(),
                });
            };
            let sys_id = checked_sys_id(&self.table, sys_id)?;
            if self.cursor.as_ref().is_some_and(|cursor| sys_id <= *cursor) {
                continue;
            }
            self.offset_after_cursor = 0;
            self.cursor = Some(sys_id);
            return Ok(Some(row));
        }
        Ok(None)
    }

    fn fail(&mut self, error: TableError<S::Error>) -> TableError<S::Error> {
        self.finished = true;
        self.in_flight = None;
        self.ready = Vec::new().into_iter();
        error
    }
}

/// A sys_id read from a response, validated before it can enter a query.
pub(crate) fn checked_sys_id(
    table: &TableName,
    sys_id: String,
) -> Result<SysId, TableError<Infallible>> {
    SysId::new(sys_id).map_err(|_| TableError::MalformedResponse {
        operation: format!("stream {table}"),
        status: http::StatusCode::OK,
        reason: "a row's sys_id is not 32 hexadecimal digits, so it cannot page on".to_owned(),
    })
}

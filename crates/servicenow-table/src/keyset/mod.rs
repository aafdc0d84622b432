//! Keyset paging: each page is `<conditions>^sys_id>LAST^ORDERBYsys_id`, where `LAST` is the
//! last `sys_id` handed out, validated before it enters the query.
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
//! **Prefetch by windows.** Page `k + 1` needs page `k`'s last `sys_id`, so one cursor cannot
//! have two requests in flight. With prefetch `p > 0` the stream therefore reads a first page
//! of an eighth of the page size (at least 100 rows: it only measures the density, and the
//! sooner it arrives the sooner the windows overlap), estimates from it how densely rows fill the key space (a sys_id is a 128-bit
//! number, `keys.rs`), and reads the rest as consecutive `sys_id` ranges `[start, end)`, the
//! **windows** (`windows.rs`), each sized to hold a bit less than a page:
//! `<conditions>^sys_id>=START^sys_id<END^ORDERBYsys_id`, the last one open above. While
//! one window's rows are handed out, the `p` windows after it are on their way, so their server
//! time overlaps. Rows are handed out window by window in key order; a window whose page says
//! more follow (a denser stretch than estimated) is continued by keyset within it
//! (`sys_id>LAST^sys_id<END`) before any later window's rows, which wait as pages. The windows
//! partition the key space, so the exactly-once rule above holds whatever the estimate; at
//! most `p + 1` pages are requested or held at once. Prefetch 0 reads one page at a time with
//! the one cursor, as does a stream whose first page cannot give a density (fewer than two
//! rows) until a page can.
//!
//! Windows rather than splitting the key space up front (as the export does, `export/`): a
//! stream hands rows out in order, so a range read ahead must wait in memory, and a window of
//! about a page is the most that can wait within the bound of `StreamConfig`.
//!
//! A short page does not end a window (ACLs are applied after the limit); the end is `Link`
//! without `rel="next"`, or else `X-Total-Count` reached, or else an empty page. A page whose
//! rows were all hidden but that says more follow moves on by offset from the same cursor. A
//! row at or before the cursor, or at or past the window's end (which an instance ignoring a
//! condition would send), is dropped.

mod windows;

use std::{convert::Infallible, vec};

use serde::de::DeserializeOwned;
use servicenow_http::RequestSender;

use self::windows::{Ahead, Planner, Window};
use crate::{
    EncodedQuery, ListParams, ReadOptions, SysId, TableClient, TableError, TableName,
    keyed_row::KeyedRow,
    keys::key_of,
    stream::{FetchedPage, PageFuture, fetch_page, halved_page_size},
};

/// Reads a table page by page with keyset paging, by windows with prefetch.
pub(crate) struct KeysetPager<'a, S: RequestSender, R> {
    client: &'a TableClient<S>,
    table: TableName,
    conditions: EncodedQuery,
    options: ReadOptions,
    page_size: u32,
    prefetch: usize,
    /// Page-size halvings since the last page that arrived.
    halvings_in_a_row: u32,
    /// The last sys_id handed out.
    cursor: Option<SysId>,
    /// Rows hidden on pages after the cursor that said more follow: read on by offset.
    offset_after_cursor: u64,
    /// The window being read: the whole table until windows start.
    window: Window,
    /// The window being read has no rows beyond those in `ready`.
    window_done: bool,
    ready: vec::IntoIter<KeyedRow<R>>,
    /// Sizes the windows, once a page gave a density (with prefetch only).
    planner: Option<Planner>,
    /// The windows after the one being read, requested or arrived.
    ahead: Ahead<'a, S, R>,
    finished: bool,
}

impl<'a, S: RequestSender, R: DeserializeOwned + Send + 'a> KeysetPager<'a, S, R> {
    pub(crate) fn new(
        client: &'a TableClient<S>,
        table: TableName,
        conditions: EncodedQuery,
        options: ReadOptions,
        page_size: u32,
        prefetch: usize,
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
            window: Window::default(),
            window_done: false,
            ready: Vec::new().into_iter(),
            planner: None,
            ahead: Ahead::new(),
            finished: false,
        }
    }

    /// The next row, `None` at the end of the table; the first error ends the pager.
    pub(crate) async fn next_row(&mut self) -> Option<Result<R, TableError<S::Error>>> {
        loop {
            // The windows ahead progress while rows are handed out.
            self.ahead.progress().await;
            match self.next_ready_row() {
                Ok(Some(row)) => return Some(Ok(row)),
                Ok(None) => (),
                Err(error) => return Some(Err(self.fail(error.widen()))),
            }
            if self.finished {
                return None;
            }
            let outcome = if self.window_done {
                // The window is read: the next one in key order, one more requested behind it.
                self.top_up();
                match self.ahead.next_window().await {
                    Some((window, limit, page)) => {
                        self.window = window;
                        self.offset_after_cursor = 0;
                        self.window_done = false;
                        self.receive(page, limit)
                    }
                    None => {
                        self.finished = true;
                        return None;
                    }
                }
            } else {
                // More rows of this window follow: the next page after the cursor.
                let limit = match (&self.planner, &self.cursor) {
                    (None, None) if self.prefetch > 0 => first_page_size(self.page_size),
                    _ => self.page_size,
                };
                let request = self.request(limit);
                let page = self.ahead.alongside(request).await;
                self.receive(page, limit)
            };
            if let Err(error) = outcome {
                return Some(Err(self.fail(error)));
            }
        }
    }

    /// A page of the window being read (asked with `limit`): its rows, or the same window
    /// again with the page size halved when the instance cancelled it.
    fn receive(
        &mut self,
        page: Result<FetchedPage<R>, TableError<S::Error>>,
        limit: u32,
    ) -> Result<(), TableError<S::Error>> {
        let error = match page {
            Ok(page) => {
                self.halvings_in_a_row = 0;
                self.accept(page, limit);
                return Ok(());
            }
            Err(error) => error,
        };
        let operation = format!("stream {}", self.table);
        let halved =
            halved_page_size(&error, limit, self.halvings_in_a_row, &operation).ok_or(error)?;
        // The rows before the window have all been handed out, so the cursor is where the
        // cancelled page started; the windows after it are planned again for the smaller page.
        self.page_size = self.page_size.min(halved);
        self.halvings_in_a_row += 1;
        self.window_done = false;
        self.ahead.clear();
        if let Some(planner) = &mut self.planner {
            planner.restart_after(&self.window);
        }
        Ok(())
    }

    /// The rows of the page that has arrived, and what comes after it.
    fn accept(&mut self, page: FetchedPage<R>, limit: u32) {
        let is_last = page.is_last(limit);
        if page.rows.is_empty() && !is_last {
            self.offset_after_cursor += u64::from(limit);
        }
        self.window_done = is_last;
        let last = page
            .rows
            .iter()
            .rev()
            .find_map(|keyed| keyed.sys_id.as_deref());
        match &mut self.planner {
            Some(planner) => {
                let covered_to = match is_last {
                    true => self.window.end.as_deref().and_then(key_of),
                    false => last.and_then(key_of).and_then(|key| key.checked_add(1)),
                };
                planner.observe(page.rows.len(), covered_to, is_last);
            }
            None if self.prefetch > 0 && !is_last => {
                self.planner = start_windows(&page, limit);
                // This page ends the first window: the windows start after its last row.
                self.window_done = self.planner.is_some();
            }
            None => (),
        }
        self.ready = page.rows.into_iter();
        self.top_up();
    }

    /// Requests windows until `prefetch` are ahead of the one being read (one more once its
    /// rows are all handed out): at most `prefetch + 1` pages requested or held.
    fn top_up(&mut self) {
        let Some(planner) = &mut self.planner else {
            return;
        };
        let window_holds_a_page = !self.window_done || self.ready.len() > 0;
        let capacity = self.prefetch + usize::from(!window_holds_a_page);
        while self.ahead.len() < capacity {
            let Some(window) = planner.plan(self.page_size, self.ahead.len()) else {
                break;
            };
            let request = request_page(
                self.client,
                &self.table,
                window.query(&self.conditions, None),
                &self.options,
                self.page_size,
                0,
            );
            self.ahead.push(window, self.page_size, request);
        }
    }

    /// The request for the window's rows after the cursor (and past the hidden rows after it).
    fn request(&self, limit: u32) -> PageFuture<'a, S, R> {
        request_page(
            self.client,
            &self.table,
            self.window.query(&self.conditions, self.cursor.as_ref()),
            &self.options,
            limit,
            self.offset_after_cursor,
        )
    }

    /// The next row of the current page, its sys_id validated, past the cursor and within the
    /// window.
    fn next_ready_row(&mut self) -> Result<Option<R>, TableError<Infallible>> {
        while let Some(KeyedRow { sys_id, row }) = self.ready.next() {
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
            if self.window.is_past_end(&sys_id) {
                // Sorted by sys_id: the window has no rows after this one.
                self.window_done = true;
                self.ready = Vec::new().into_iter();
                return Ok(None);
            }
            self.offset_after_cursor = 0;
            self.cursor = Some(sys_id);
            return Ok(Some(row));
        }
        Ok(None)
    }

    fn fail(&mut self, error: TableError<S::Error>) -> TableError<S::Error> {
        self.finished = true;
        self.ahead.clear();
        self.ready = Vec::new().into_iter();
        error
    }
}

/// The size of the first page of a stream with prefetch: an eighth of the page (at least 100
/// rows, or the page when smaller). It only measures how densely the keys lie, and the sooner
/// it arrives, the sooner the windows after it overlap; the rows it leaves are read by them.
pub(crate) fn first_page_size(page_size: u32) -> u32 {
    (page_size / 8).max(page_size.min(100)).max(1)
}

/// Windows after `page` (asked with `limit`), when it gives a density: valid sys_ids, at least
/// two keys apart.
fn start_windows<R>(page: &FetchedPage<R>, limit: u32) -> Option<Planner> {
    let sys_ids = page.rows.iter().filter_map(|keyed| keyed.sys_id.as_deref());
    let keys = sys_ids.clone().map(key_of).collect::<Option<Vec<u128>>>()?;
    let last = SysId::new(sys_ids.last()?).ok()?;
    let rows_after = page
        .total_count
        .map(|total| total.saturating_sub(page.offset + u64::from(limit)));
    Planner::start(&keys, &last, rows_after)
}

fn request_page<'a, S: RequestSender, R: DeserializeOwned + Send + 'a>(
    client: &'a TableClient<S>,
    table: &TableName,
    query: EncodedQuery,
    options: &ReadOptions,
    limit: u32,
    offset: u64,
) -> PageFuture<'a, S, R> {
    let params = ListParams {
        query: Some(query),
        options: options.clone(),
        limit: Some(limit),
        offset: (offset > 0).then_some(offset),
    };
    fetch_page(client, table.clone(), params, offset)
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

#[cfg(test)]
mod tests {
    use super::first_page_size;

    #[test]
    fn the_first_page_of_a_stream_with_prefetch_is_an_eighth_of_a_page_and_at_least_100_rows() {
        assert_eq!(first_page_size(10_000), 1_250);
        assert_eq!(first_page_size(1_000), 125);
        assert_eq!(first_page_size(400), 100);
        assert_eq!(first_page_size(60), 60, "never more than a page");
        assert_eq!(first_page_size(0), 1);
    }
}

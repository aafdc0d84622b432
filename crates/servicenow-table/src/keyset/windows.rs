//! The windows of a keyset stream with prefetch: consecutive `sys_id` ranges
//! `[start, end)`, each sized from the density of the rows seen so far so that it is expected
//! to hold a bit less than a page, requested up to `prefetch` ahead of the window being read.
//!
//! - **Size.** A window is expected to hold `page − 4·√page` rows (at least half a page): a
//!   Poisson count of that mean reaches a full page about once in 30,000 windows, so with a
//!   right density a window is read in one request. The density is first that of the middle
//!   half of the first page (robust to a few outlying sys_ids), then the rows seen over the
//!   keys they cover up to the end of the last window read (an empty window counts as
//!   covered). After `n` empty windows in a row the next is `2ⁿ` times
//!   larger (and the keys it covered lower the density), so a gap in the key space, or the
//!   empty keys above the table when no count was sent, is crossed in at most 128 windows.
//! - **End.** The last window is open above. It is planned once the rows the instance counted
//!   (`X-Total-Count` of the page windows started after) less the rows read since and the
//!   windows already requested leave at most one window's rows, or once the next end would pass
//!   the largest key.
//! - **Bounds.** A window's bounds are key text (32 lowercase digits), compared by the
//!   instance as text, so consecutive windows partition the rows whatever the density: an
//!   estimate that is wrong costs requests, never a row.

use std::{
    collections::VecDeque,
    task::{Context, Poll},
};

use futures::{FutureExt, StreamExt, future::poll_fn, stream::FuturesOrdered};
use servicenow_http::RequestSender;

use crate::{
    EncodedQuery, SysId, TableError,
    keys::{key_of, text_of},
    query::SysIdBound,
    stream::{FetchedPage, PageFuture},
};

/// Where a window starts.
#[derive(Debug, Clone)]
pub(crate) enum Lower {
    /// After the last row of the page the windows started after (`sys_id>LAST`).
    After(SysId),
    /// From a key on (`sys_id>=START`): the end of the window before.
    From(String),
}

/// A `sys_id` range read by keyset within it; the default is the whole table.
#[derive(Debug, Clone, Default)]
pub(crate) struct Window {
    /// `None`: from the first row.
    pub(crate) lower: Option<Lower>,
    /// The key text above the window (`sys_id<END`); `None`: open above.
    pub(crate) end: Option<String>,
}

impl Window {
    /// The query for the window's rows after `cursor`: `sys_id>CURSOR` once the cursor is
    /// inside the window, the window's own lower bound before that; `sys_id<END` when bounded.
    pub(crate) fn query(&self, conditions: &EncodedQuery, cursor: Option<&SysId>) -> EncodedQuery {
        let lower = match (&self.lower, cursor) {
            (Some(Lower::After(after)), Some(cursor)) if cursor > after => {
                Some(SysIdBound::After(cursor.as_str()))
            }
            (Some(Lower::After(after)), _) => Some(SysIdBound::After(after.as_str())),
            (Some(Lower::From(from)), Some(cursor)) if cursor.as_str() >= from.as_str() => {
                Some(SysIdBound::After(cursor.as_str()))
            }
            (Some(Lower::From(from)), _) => Some(SysIdBound::From(from)),
            (None, cursor) => cursor.map(|cursor| SysIdBound::After(cursor.as_str())),
        };
        conditions.within_sys_id_range(lower, self.end.as_deref())
    }

    /// Whether `sys_id` is at or above the window's end, which only an instance ignoring
    /// `sys_id<END` sends: the window has no rows after it.
    pub(crate) fn is_past_end(&self, sys_id: &SysId) -> bool {
        self.end
            .as_deref()
            .is_some_and(|end| sys_id.as_str() >= end)
    }
}

/// The rows a window is sized to hold (see the module docs).
fn target_rows(page_size: u32) -> f64 {
    let page = f64::from(page_size);
    (page - 4.0 * page.sqrt()).max(page / 2.0)
}

/// Sizes the windows from the rows seen so far.
#[derive(Debug)]
pub(crate) struct Planner {
    /// Where the rows seen would start at the first page's density: the density is measured
    /// from here.
    first_key: u128,
    /// Every key below this one has been read.
    covered_end: u128,
    rows_seen: u64,
    /// Rows of the window being read so far.
    rows_in_window: u64,
    empty_windows_in_a_row: u32,
    /// Rows the instance counted above the start of the windows, less those read since.
    rows_left: Option<u64>,
    /// Where the next window starts, and its key; `None` once the open window is planned.
    next: Option<(Lower, u128)>,
}

impl Planner {
    /// Windows after a page that says more follow: `keys` are its rows' keys in order, `last`
    /// its last row's sys_id, `rows_after` what the instance counted after it. The density
    /// comes from the middle half of the page, so that a few outlying sys_ids at either end do
    /// not size every window. `None` when the page cannot give a density.
    pub(crate) fn start(keys: &[u128], last: &SysId, rows_after: Option<u64>) -> Option<Self> {
        let rows = keys.len();
        let (low, high) = (rows / 4, (rows * 3 / 4).max(rows / 4 + 1));
        let keys_between = keys.get(high)?.checked_sub(*keys.get(low)?)?;
        if keys_between == 0 {
            return None;
        }
        let density = (high - low) as f64 / keys_between as f64;
        let covered_end = key_of(last.as_str())?.checked_add(1)?;
        let span = ((rows as f64 / density) as u128).max(1);
        Some(Self {
            first_key: covered_end.saturating_sub(span),
            covered_end,
            rows_seen: rows as u64,
            rows_in_window: 0,
            empty_windows_in_a_row: 0,
            rows_left: rows_after,
            next: Some((Lower::After(last.clone()), covered_end)),
        })
    }

    /// A page of the window being read: `rows` rows, and `covered_to` the key every row below
    /// which has been read (the window's end once it is done).
    pub(crate) fn observe(&mut self, rows: usize, covered_to: Option<u128>, window_done: bool) {
        let rows = rows as u64;
        self.rows_seen += rows;
        self.rows_in_window += rows;
        self.rows_left = self.rows_left.map(|left| left.saturating_sub(rows));
        if let Some(covered_to) = covered_to {
            self.covered_end = self.covered_end.max(covered_to);
        }
        if window_done {
            self.empty_windows_in_a_row = match self.rows_in_window {
                0 => self.empty_windows_in_a_row.saturating_add(1),
                _ => 0,
            };
            self.rows_in_window = 0;
        }
    }

    /// The next window, `None` after the open one; `requested` windows are already on their way.
    pub(crate) fn plan(&mut self, page_size: u32, requested: usize) -> Option<Window> {
        let (lower, start) = self.next.take()?;
        let target = target_rows(page_size);
        let last_rows = self
            .rows_left
            .is_some_and(|left| left as f64 - requested as f64 * target <= target);
        let span = self.covered_end.saturating_sub(self.first_key) as f64;
        let growth = 2_f64.powi(self.empty_windows_in_a_row.min(128) as i32);
        // Saturating: a window past the largest key is the open one.
        let keys = (target * span / self.rows_seen.max(1) as f64 * growth) as u128;
        let end = match last_rows {
            true => None,
            false => start.checked_add(keys.max(1)),
        };
        self.next = end.map(|end| (Lower::From(text_of(end)), end));
        Some(Window {
            lower: Some(lower),
            end: end.map(text_of),
        })
    }

    /// The windows after `window` are planned again (for a smaller page).
    pub(crate) fn restart_after(&mut self, window: &Window) {
        self.next = window.end.as_ref().and_then(|end| {
            let key = key_of(end)?;
            Some((Lower::From(end.clone()), key))
        });
    }
}

/// A window requested ahead, and its page once it arrived.
struct Requested<R, E> {
    window: Window,
    /// The `sysparm_limit` it was asked with (its end rule depends on it).
    limit: u32,
    page: Option<Result<FetchedPage<R>, TableError<E>>>,
}

/// The windows requested ahead of the one being read, in key order: their requests progress
/// whenever the pager is polled, and pages that arrive wait here for their turn.
pub(crate) struct Ahead<'a, S: RequestSender, R> {
    windows: VecDeque<Requested<R, S::Error>>,
    in_flight: FuturesOrdered<PageFuture<'a, S, R>>,
}

/// The next window in key order, the limit it was asked with, and its page.
pub(crate) type ArrivedWindow<R, E> = (Window, u32, Result<FetchedPage<R>, TableError<E>>);

impl<'a, S: RequestSender, R> Ahead<'a, S, R> {
    pub(crate) fn new() -> Self {
        Self {
            windows: VecDeque::new(),
            in_flight: FuturesOrdered::new(),
        }
    }

    /// Windows requested or held.
    pub(crate) fn len(&self) -> usize {
        self.windows.len()
    }

    pub(crate) fn push(&mut self, window: Window, limit: u32, request: PageFuture<'a, S, R>) {
        self.windows.push_back(Requested {
            window,
            limit,
            page: None,
        });
        self.in_flight.push_back(request);
    }

    pub(crate) fn clear(&mut self) {
        self.windows.clear();
        self.in_flight = FuturesOrdered::new();
    }

    /// Polls the requests on their way, keeping the pages that arrived.
    fn drive(&mut self, context: &mut Context<'_>) {
        while let Poll::Ready(Some(page)) = self.in_flight.poll_next_unpin(context) {
            if let Some(slot) = self.windows.iter_mut().find(|slot| slot.page.is_none()) {
                slot.page = Some(page);
            }
        }
    }

    /// Lets the requests on their way progress, without waiting.
    pub(crate) async fn progress(&mut self) {
        if !self.windows.is_empty() {
            poll_fn(|context| {
                self.drive(context);
                Poll::Ready(())
            })
            .await;
        }
    }

    /// `request`'s page, the requests ahead progressing meanwhile.
    pub(crate) async fn alongside<T>(
        &mut self,
        mut request: futures::future::BoxFuture<'a, T>,
    ) -> T {
        poll_fn(|context| {
            self.drive(context);
            request.poll_unpin(context)
        })
        .await
    }

    /// The first window's page, once it arrived; `None` when no window is ahead.
    pub(crate) async fn next_window(&mut self) -> Option<ArrivedWindow<R, S::Error>> {
        poll_fn(|context| {
            self.drive(context);
            match self.windows.front() {
                None => Poll::Ready(None),
                Some(Requested { page: None, .. }) => Poll::Pending,
                Some(_) => Poll::Ready(self.windows.pop_front().and_then(|requested| {
                    let page = requested.page?;
                    Some((requested.window, requested.limit, page))
                })),
            }
        })
        .await
    }
}

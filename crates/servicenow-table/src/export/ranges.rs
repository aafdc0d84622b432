//! The key space of an export: `sys_id` ranges as 128-bit numbers (a sys_id is 32 lowercase
//! hexadecimal digits, whose text order is their numeric order), how a range is split, and the
//! checkpoint that records each range's cursor. A range may also carry a creation-time window
//! (`partition.rs`).

use serde::{Deserialize, Serialize};

use super::partition::{Partition, Window, parse_glide_date_time};
use crate::SysId;
pub(crate) use crate::keys::{key_of, text_of};

/// One range of the export and how far it has been delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeCheckpoint {
    /// Inclusive lower bound (32 hexadecimal digits); `None` is open.
    pub from: Option<String>,
    /// Exclusive upper bound (32 hexadecimal digits); `None` is open.
    pub below: Option<String>,
    /// The last sys_id delivered from this range.
    pub cursor: Option<String>,
    /// Every row of the range has been delivered.
    pub done: bool,
    /// Inclusive lower bound of the range's creation-time window (`YYYY-MM-DD HH:MM:SS`, UTC),
    /// when the export is partitioned by `sys_created_on`; `None` is open (or no window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_from: Option<String>,
    /// Exclusive upper bound of the range's creation-time window; `None` is open (or no
    /// window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_below: Option<String>,
}

/// Where an export stands: enough to resume it without a repeated or missing row (every range
/// continues after its cursor). Written by the caller after each batch it has stored
/// ([`Export::checkpoint`](crate::Export::checkpoint)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportCheckpoint {
    /// The format of this record: 1 for `sys_id` ranges, 2 for creation-time windows (so a
    /// client that knows only version 1 refuses those instead of misreading them).
    pub version: u32,
    /// The table exported.
    pub table: String,
    /// The encoded query exported (empty for all rows).
    pub query: String,
    /// Every range, in creation order.
    pub ranges: Vec<RangeCheckpoint>,
    /// How the ranges were cut; absent (the default, `sys_id`) in version 1.
    #[serde(default, skip_serializing_if = "Partition::is_sys_id")]
    pub partition: Partition,
}

/// A range while the export runs.
#[derive(Debug, Clone)]
pub(crate) struct Range {
    pub(crate) from: Option<u128>,
    pub(crate) below: Option<u128>,
    pub(crate) cursor: Option<SysId>,
    /// Rows hidden on pages after the cursor that said more follow: read on by offset.
    pub(crate) offset_after_cursor: u64,
    pub(crate) rows: u64,
    pub(crate) busy: bool,
    pub(crate) done: bool,
    /// The creation-time window the range is confined to, if the export is partitioned by it.
    pub(crate) window: Option<Window>,
}

impl Range {
    pub(crate) fn new(from: Option<u128>, below: Option<u128>) -> Self {
        Self {
            from,
            below,
            cursor: None,
            offset_after_cursor: 0,
            rows: 0,
            busy: false,
            done: false,
            window: None,
        }
    }

    /// A range over every `sys_id` of one creation-time window.
    pub(crate) fn within(window: Window) -> Self {
        Self {
            window: Some(window),
            ..Self::new(None, None)
        }
    }

    /// The first key not yet delivered.
    pub(crate) fn next_key(&self, low: u128) -> u128 {
        match &self.cursor {
            Some(cursor) => key_of(cursor.as_str()).map_or(low, |key| key.saturating_add(1)),
            None => self.from.unwrap_or(low),
        }
    }

    /// Keys left between the cursor and the end; `low`/`high` stand for open ends.
    pub(crate) fn keys_left(&self, low: u128, high: u128) -> u128 {
        self.below
            .unwrap_or(high)
            .saturating_sub(self.next_key(low))
    }

    /// Rows per key seen in this range so far; `None` before its first row.
    pub(crate) fn density(&self, low: u128) -> Option<f64> {
        let covered = self.next_key(low).saturating_sub(self.from.unwrap_or(low)) as f64;
        (self.rows > 0 && covered >= 1.0).then(|| self.rows as f64 / covered)
    }

    /// An estimate of the rows left: `density` (this range's own once it has rows, else the
    /// export's) times the keys left; infinite when no density is known (worth splitting).
    pub(crate) fn rows_left(&self, low: u128, high: u128, density: Option<f64>) -> f64 {
        match self.density(low).or(density) {
            Some(density) => self.keys_left(low, high) as f64 * density,
            None => f64::INFINITY,
        }
    }

    /// Splits off the upper half of what is left: in time while nobody has read the range's
    /// window (`partition.rs`), otherwise at a key after the cursor and after the next `skip`
    /// keys (those the page in flight is expected to cover, so that it reads no row the new
    /// range will read again; both halves keep the window); `None` when fewer than two keys are
    /// left after them.
    pub(crate) fn split(&mut self, low: u128, high: u128, skip: u128) -> Option<Self> {
        let unread = self.cursor.is_none() && !self.busy && self.offset_after_cursor == 0;
        if let Some(later) = self
            .window
            .as_mut()
            .filter(|_| unread)
            .and_then(Window::split)
        {
            return Some(Self {
                window: Some(later),
                ..Self::new(self.from, self.below)
            });
        }
        let start = self.next_key(low).saturating_add(skip);
        let end = self.below.unwrap_or(high);
        if end.saturating_sub(start) < 2 {
            return None;
        }
        let middle = start + (end - start) / 2;
        let upper = Self {
            window: self.window,
            ..Self::new(Some(middle), self.below)
        };
        self.below = Some(middle);
        Some(upper)
    }

    pub(crate) fn checkpoint(&self) -> RangeCheckpoint {
        let (created_from, created_below) = self
            .window
            .map(|window| window.checkpoint())
            .unwrap_or_default();
        RangeCheckpoint {
            from: self.from.map(text_of),
            below: self.below.map(text_of),
            cursor: self
                .cursor
                .as_ref()
                .map(|cursor| cursor.as_str().to_owned()),
            done: self.done,
            created_from,
            created_below,
        }
    }

    /// A range restored from a checkpoint; `None` when a bound or cursor is not a sys_id, or a
    /// window bound not a date-time. A window's span is set by `partition::restore_spans`.
    pub(crate) fn restore(checkpoint: &RangeCheckpoint) -> Option<Self> {
        let bound = |text: &Option<String>| match text {
            None => Some(None),
            Some(text) => key_of(text).map(Some),
        };
        let cursor = match &checkpoint.cursor {
            None => None,
            Some(text) => {
                key_of(text)?;
                Some(SysId::new(text.to_ascii_lowercase()).ok()?)
            }
        };
        let time = |text: &Option<String>| match text {
            None => Some(None),
            Some(text) => parse_glide_date_time(text).map(Some),
        };
        let (created_from, created_below) = (
            time(&checkpoint.created_from)?,
            time(&checkpoint.created_below)?,
        );
        let window = (created_from.is_some() || created_below.is_some()).then_some(Window {
            from: created_from,
            below: created_below,
            span: (0, 0),
        });
        Some(Self {
            cursor,
            done: checkpoint.done,
            window,
            ..Self::new(bound(&checkpoint.from)?, bound(&checkpoint.below)?)
        })
    }
}

/// `count` ranges splitting `[low, high]` evenly, the first open below and the last open
/// above (rows inserted outside the keys seen at the start are still read).
pub(crate) fn initial_ranges(low: u128, high: u128, count: usize) -> Vec<Range> {
    let count = count.max(1) as u128;
    let span = high.saturating_sub(low).saturating_add(1);
    let step = (span / count).max(1);
    let mut bounds: Vec<u128> = (1..count)
        .map(|index| low.saturating_add(step.saturating_mul(index)))
        .filter(|bound| *bound <= high)
        .collect();
    bounds.dedup();
    let mut ranges = Vec::with_capacity(bounds.len() + 1);
    let mut from = None;
    for bound in bounds {
        ranges.push(Range::new(from, Some(bound)));
        from = Some(bound);
    }
    ranges.push(Range::new(from, None));
    ranges
}

#[cfg(test)]
mod tests {
    use super::{super::partition::initial_windows, *};

    #[test]
    fn a_window_is_split_in_time_before_it_is_read_and_by_sys_id_once_it_is() {
        let mut range = Range::within(initial_windows(0, 99, 1)[0]);
        let later = range.split(0, u128::MAX, 0).expect("unread: split in time");
        let bounds = |range: &Range| range.window.map(|window| (window.from, window.below));
        assert_eq!(bounds(&later), Some((Some(50), None)));
        assert_eq!(bounds(&range), Some((None, Some(50))));
        assert_eq!((later.from, later.below), (None, None), "every sys_id");
        range.busy = true;
        let upper = range
            .split(0, 1000, 0)
            .expect("being read: split by sys_id");
        assert_eq!(
            bounds(&upper),
            bounds(&range),
            "both halves keep the window"
        );
        assert_eq!((upper.from, range.below), (Some(500), Some(500)));
        let restored = Range::restore(&upper.checkpoint()).expect("valid");
        assert_eq!(bounds(&restored), bounds(&upper));
        assert_eq!(restored.checkpoint(), upper.checkpoint());
    }

    #[test]
    fn initial_ranges_cover_the_key_space_without_overlap() {
        let ranges = initial_ranges(1000, 1999, 4);
        assert_eq!(ranges.len(), 4);
        assert_eq!(ranges[0].from, None);
        assert_eq!(ranges[3].below, None);
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].below, pair[1].from);
        }
        assert_eq!(initial_ranges(5, 5, 8).len(), 1, "one key, one range");
    }

    #[test]
    fn a_split_leaves_the_delivered_part_below_and_round_trips_through_a_checkpoint() {
        let mut range = Range::new(Some(0), Some(100));
        range.cursor = Some(SysId::new(text_of(10)).unwrap());
        let upper = range.split(0, u128::MAX, 0).expect("room to split");
        assert_eq!((upper.from, upper.below), (Some(55), Some(100)));
        assert_eq!(range.below, Some(55));
        let restored = Range::restore(&range.checkpoint()).expect("valid");
        assert_eq!(restored.checkpoint(), range.checkpoint());
        let mut tiny = Range::new(Some(0), Some(12));
        tiny.cursor = Some(SysId::new(text_of(10)).unwrap());
        assert!(tiny.split(0, u128::MAX, 0).is_none());
        let mut busy = Range::new(Some(0), Some(100));
        let upper = busy
            .split(0, u128::MAX, 50)
            .expect("room after the page in flight");
        assert_eq!(
            (busy.below, upper.from),
            (Some(75), Some(75)),
            "the page in flight keeps its keys"
        );
        assert!(
            Range::new(Some(0), Some(100))
                .split(0, u128::MAX, 99)
                .is_none()
        );
    }
}

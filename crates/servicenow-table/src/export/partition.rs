//! Partitioning an export by creation time (`sys_created_on`), as sndml3's date-partitioned
//! loads do (`servicenow-api-more.md` §6), chosen with [`ExportConfig::partition`].
//!
//! - **Windows.** Two one-row probes (`sys_created_onISNOTEMPTY^ORDERBYsys_created_on`, and
//!   the same `ORDERBYDESC`) find the earliest and latest creation time; the span between them
//!   is split **evenly** into [`ExportConfig::initial_concurrency`] windows `[from, below)`
//!   (sndml3 splits by calendar interval, a year to a minute; an even split gives every window the same
//!   share of the time line without a choice of interval). The first window is open below, the
//!   last open above: rows created after the probes are read by the last window. (The `sys_id`
//!   probes still run: their keys stand for the open ends of a `sys_id` split inside a window.)
//!   sndml3 asks the Aggregate API for `min`/`max` instead; the probes are two list requests
//!   that work wherever the Table API does, while the Aggregate API may be refused (its own
//!   ACLs), and they cost the same round trip. Windows are read oldest first (sndml3 goes
//!   newest first); with every window in flight at once the order hardly matters.
//! - **Empty creation times.** A row whose `sys_created_on` is empty (NULL in the instance, which
//!   no `<` or `>=` matches) is read by the first window, which asks for
//!   `sys_created_on<B^ORsys_created_onISEMPTY` (`^OR` binds to the condition before it,
//!   `servicenow-api.md` §3.1). No other window matches an empty value, so such a row is read
//!   once too.
//! - **Pages.** Inside a window the pages are keyset by `sys_id` as for `sys_id` ranges:
//!   `<conditions>^sys_created_on>=A^sys_created_on<B^sys_id>CURSOR^ORDERBYsys_id`, so the
//!   cursor, the checkpoint and the exactly-once argument are those of a `sys_id` range. Each
//!   range carries its window besides its `sys_id` bounds.
//! - **Splitting.** A window is split in time only while nobody has read it (no cursor, no page
//!   in flight): that is the count-based splitting before the first page
//!   ([`ExportConfig::split_ranges_above`]). Once a window is being read, the adaptive split of
//!   `mod.rs` splits it by `sys_id` after its cursor, both halves keeping the window: a page in
//!   flight asked for the whole window, and its rows can be told apart by `sys_id` (which the
//!   export reads) but not by creation time (which it does not).
//! - **Time values** are ServiceNow's `YYYY-MM-DD HH:MM:SS` in UTC (the probes ask for stored
//!   values, `sysparm_display_value=false`); one that is not exactly that shape, or not a real
//!   date, is [`TableError::MalformedResponse`]. The bounds sent are the same format. If an
//!   instance read a date literal of a query in the user's time zone instead, every bound would
//!   move by the same offset: the windows would still tile the time line, so every row is still
//!   read once, only the balance between windows changes.
//! - **Exactly once** holds as long as a row's `sys_created_on` does not change during the
//!   export (the Table API cannot write it; a script can): a row moved from one window to
//!   another can be missed or read twice.
//! - **Resuming.** The checkpoint records the partitioning (version 2 when it is by creation
//!   time, so a client that knows only version 1 refuses it rather than reading it as `sys_id`
//!   ranges) and each range's window; resuming with the other partitioning is refused with
//!   [`TableError::Export`] rather than silently taking the checkpoint's.

use serde::{Deserialize, Serialize};
use servicenow_http::RequestSender;

use super::{Export, ExportCheckpoint, ExportConfig, ranges::Range};
use crate::{EncodedQuery, GlideDateTime, TableError, query::SysIdBound, stream::FetchedPage};

/// How an export splits the table into ranges read in parallel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Partition {
    /// Even `sys_id` ranges between the smallest and largest `sys_id` (the default).
    #[default]
    #[serde(rename = "sys_id")]
    SysId,
    /// Even windows of creation time between the earliest and latest `sys_created_on`, each read
    /// by `sys_id` keyset (see [`TableClient::export`](crate::TableClient::export)).
    #[serde(rename = "sys_created_on")]
    CreatedOn,
}

impl Partition {
    /// The field the ranges are cut along: `sys_id` or `sys_created_on`.
    pub fn field(self) -> &'static str {
        match self {
            Self::SysId => "sys_id",
            Self::CreatedOn => "sys_created_on",
        }
    }

    /// Whether this is the default, which a checkpoint does not write (so version-1 checkpoints
    /// read as before).
    pub(crate) fn is_sys_id(&self) -> bool {
        *self == Self::SysId
    }
}

/// Seconds since the UNIX epoch of a `YYYY-MM-DD HH:MM:SS` (UTC) date-time; `None` for anything
/// else (another shape, a sign, a 30th of February).
pub(crate) fn parse_glide_date_time(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 19
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            10 => *byte == b' ',
            13 | 16 => *byte == b':',
            _ => byte.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    GlideDateTime::parse(text)
        .ok()
        .map(|time| time.unix_timestamp())
}

/// The `YYYY-MM-DD HH:MM:SS` (UTC) text of a time; `None` outside years 0–9999.
pub(crate) fn glide_date_time(seconds: i64) -> Option<String> {
    let time = time::OffsetDateTime::from_unix_timestamp(seconds).ok()?;
    if !(0..=9999).contains(&time.year()) {
        return None;
    }
    Some(GlideDateTime::from(time).to_string())
}

/// A creation-time window `[from, below)` in seconds since the UNIX epoch; `None` is open. The
/// window open below also holds the rows with an empty creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) from: Option<i64>,
    pub(crate) below: Option<i64>,
    /// The earliest and latest creation times the probes saw: what the open ends stand for
    /// when the window is split.
    pub(crate) span: (i64, i64),
}

impl Window {
    /// The window's conditions, built from numbers (never server text).
    pub(crate) fn terms(&self) -> Vec<String> {
        let mut terms = Vec::new();
        if let Some(from) = self.from.and_then(glide_date_time) {
            terms.push(format!("sys_created_on>={from}"));
        }
        if let Some(below) = self.below.and_then(glide_date_time) {
            let empty = if self.from.is_none() {
                "^ORsys_created_onISEMPTY"
            } else {
                ""
            };
            terms.push(format!("sys_created_on<{below}{empty}"));
        }
        terms
    }

    /// Splits off the later half of the window; `None` when it spans fewer than two seconds.
    pub(crate) fn split(&mut self) -> Option<Self> {
        let start = self.from.unwrap_or(self.span.0);
        let end = self.below.unwrap_or(self.span.1.saturating_add(1));
        if end.saturating_sub(start) < 2 {
            return None;
        }
        let middle = start + (end - start) / 2;
        let upper = Self {
            from: Some(middle),
            ..*self
        };
        self.below = Some(middle);
        Some(upper)
    }

    /// The window's bounds as a checkpoint writes them.
    pub(crate) fn checkpoint(&self) -> (Option<String>, Option<String>) {
        (
            self.from.and_then(glide_date_time),
            self.below.and_then(glide_date_time),
        )
    }
}

/// `count` windows splitting `[earliest, latest]` evenly, the first open below and the last
/// open above.
pub(crate) fn initial_windows(earliest: i64, latest: i64, count: usize) -> Vec<Window> {
    let span = (earliest, latest.max(earliest));
    let count = i64::try_from(count.max(1)).unwrap_or(i64::MAX);
    let seconds = span.1.saturating_sub(span.0).saturating_add(1);
    let step = (seconds / count).max(1);
    let mut bounds: Vec<i64> = (1..count)
        .map(|index| span.0.saturating_add(step.saturating_mul(index)))
        .take_while(|bound| *bound <= span.1)
        .collect();
    bounds.dedup();
    let mut windows = Vec::with_capacity(bounds.len() + 1);
    let mut from = None;
    for bound in bounds {
        windows.push(Window {
            from,
            below: Some(bound),
            span,
        });
        from = Some(bound);
    }
    windows.push(Window {
        from,
        below: None,
        span,
    });
    windows
}

/// The query of a page: the conditions, the range's window, its `sys_id` bounds, by `sys_id`.
pub(crate) fn page_query(
    conditions: &EncodedQuery,
    window: Option<&Window>,
    lower: Option<SysIdBound<'_>>,
    upper: Option<&str>,
) -> EncodedQuery {
    let mut terms = window.map(Window::terms).unwrap_or_default();
    terms.extend(crate::query::sys_id_range_terms(lower, upper));
    conditions.restricted_by(&terms, "ORDERBYsys_id")
}

/// Why a checkpoint cannot be resumed with `config`, if it cannot: its format version or its
/// partitioning does not fit.
pub(crate) fn resume_refusal(
    checkpoint: &ExportCheckpoint,
    config: &ExportConfig,
) -> Option<String> {
    let expected_version = checkpoint_version(checkpoint.partition);
    if checkpoint.version != expected_version {
        return Some(format!(
            "the checkpoint's format is version {}, and a checkpoint partitioned by {} is version {expected_version}",
            checkpoint.version,
            checkpoint.partition.field()
        ));
    }
    if checkpoint.partition != config.partition {
        return Some(format!(
            "the checkpoint's ranges are partitioned by {}, and this export by {} (resume with the same partitioning)",
            checkpoint.partition.field(),
            config.partition.field()
        ));
    }
    None
}

/// The version a checkpoint of `partition` is written with.
pub(crate) fn checkpoint_version(partition: Partition) -> u32 {
    match partition {
        Partition::SysId => 1,
        _ => 2,
    }
}

/// Gives restored windows the span their open ends stand for: the earliest and latest bounds
/// of all windows (the probes' times are not in the checkpoint).
pub(crate) fn restore_spans(ranges: &mut [Range]) {
    let bounds = ranges
        .iter()
        .filter_map(|range| range.window)
        .flat_map(|window| [window.from, window.below])
        .flatten();
    let (Some(earliest), Some(latest)) = (bounds.clone().min(), bounds.max()) else {
        return;
    };
    for window in ranges.iter_mut().filter_map(|range| range.window.as_mut()) {
        window.span = (earliest, latest);
    }
}

impl<'a, S: RequestSender, R> Export<'a, S, R> {
    /// The starting ranges by creation time: one per window, each over every `sys_id`; one open
    /// range when no row has a creation time.
    pub(super) async fn created_on_ranges(&mut self) -> Result<Vec<Range>, TableError<S::Error>> {
        let probe = |order: &str| {
            let query = self
                .conditions
                .restricted_by(&["sys_created_onISNOTEMPTY".to_owned()], order);
            super::probe(
                self.client,
                &self.table,
                &self.options,
                query,
                &["sys_id", "sys_created_on"],
            )
        };
        let (earliest, latest) = futures::join!(
            probe("ORDERBYsys_created_on"),
            probe("ORDERBYDESCsys_created_on"),
        );
        self.stats.requests += 2;
        let earliest = created_on_of(self.table.as_str(), earliest?)?;
        let latest = created_on_of(self.table.as_str(), latest?)?;
        Ok(match (earliest, latest) {
            (Some(earliest), Some(latest)) if earliest <= latest => {
                initial_windows(earliest, latest, self.config.initial_concurrency)
                    .into_iter()
                    .map(Range::within)
                    .collect()
            }
            // No creation time at all (or the table changed between the probes): one range.
            _ => vec![Range::new(None, None)],
        })
    }
}

/// The creation time of a probe's row, if it found one.
fn created_on_of<E>(
    table: &str,
    page: FetchedPage<crate::Record>,
) -> Result<Option<i64>, TableError<E>> {
    let Some(keyed) = page.rows.into_iter().next() else {
        return Ok(None);
    };
    let text = keyed.row.get_str("sys_created_on").unwrap_or_default();
    parse_glide_date_time(text)
        .map(Some)
        .ok_or_else(|| TableError::MalformedResponse {
            operation: format!("export {table}"),
            status: http::StatusCode::OK,
            reason: format!(
                "the probe for the creation-time span got sys_created_on \"{}\", which is not YYYY-MM-DD HH:MM:SS",
                text.chars().take(40).flat_map(char::escape_default).collect::<String>()
            ),
        })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn glide_date_times_parse_strictly() {
        assert_eq!(parse_glide_date_time("1970-01-01 00:00:00"), Some(0));
        assert_eq!(
            parse_glide_date_time("2023-01-01 00:00:00"),
            Some(1_672_531_200)
        );
        assert_eq!(
            parse_glide_date_time("2024-02-29 23:59:59"),
            Some(1_709_251_199)
        );
        for malformed in [
            "",
            "2023-02-30 00:00:00",
            "2023-13-01 00:00:00",
            "2023-01-01 24:00:00",
            "2023-01-01T00:00:00",
            "2023-01-01 00:00",
            "+2023-01-01 00:00:0",
            "2023-01-01 00:00:00Z",
            "01/01/2023 00:00:00",
            "２０２３-01-01 00:00:0",
        ] {
            assert_eq!(parse_glide_date_time(malformed), None, "{malformed}");
        }
    }

    #[test]
    fn the_first_window_takes_empty_creation_times_and_the_last_is_open_above() {
        let windows = initial_windows(1_672_531_200, 1_672_531_200 + 399, 4);
        assert_eq!(windows.len(), 4);
        assert_eq!(
            windows[0].terms(),
            vec!["sys_created_on<2023-01-01 00:01:40^ORsys_created_onISEMPTY".to_owned()]
        );
        assert_eq!(
            windows[1].terms(),
            vec![
                "sys_created_on>=2023-01-01 00:01:40".to_owned(),
                "sys_created_on<2023-01-01 00:03:20".to_owned()
            ]
        );
        assert_eq!(
            windows[3].terms(),
            vec!["sys_created_on>=2023-01-01 00:05:00".to_owned()]
        );
        assert_eq!(initial_windows(5, 5, 8).len(), 1, "one second, one window");
        assert!(initial_windows(5, 5, 8)[0].terms().is_empty());
    }

    #[test]
    fn a_window_is_split_in_time_until_it_spans_one_second() {
        let mut window = initial_windows(0, 99, 1)[0];
        let upper = window.split().expect("100 seconds");
        assert_eq!((window.from, window.below), (None, Some(50)));
        assert_eq!((upper.from, upper.below), (Some(50), None));
        let mut second = Window {
            from: Some(7),
            below: Some(8),
            span: (0, 99),
        };
        assert_eq!(second.split(), None);
    }

    #[test]
    fn every_query_group_gets_the_window_and_the_cursor() {
        let conditions = EncodedQuery::unchecked_raw_from_trusted_source("a=1^NQb=2");
        let window = initial_windows(0, 99, 2)[0];
        let cursor = "0123456789abcdef0123456789abcdef";
        let query = page_query(
            &conditions,
            Some(&window),
            Some(SysIdBound::After(cursor)),
            None,
        );
        let group =
            format!("sys_created_on<1970-01-01 00:00:50^ORsys_created_onISEMPTY^sys_id>{cursor}");
        assert_eq!(
            query.as_str(),
            format!("a=1^{group}^NQb=2^{group}^ORDERBYsys_id")
        );
        assert_eq!(
            page_query(&conditions, None, None, Some(cursor)).as_str(),
            format!("a=1^sys_id<{cursor}^NQb=2^sys_id<{cursor}^ORDERBYsys_id"),
            "without a window, a sys_id range as before"
        );
    }

    /// Which window of `windows` a time falls into, by the windows' own terms' meaning.
    fn windows_holding(windows: &[Window], at: Option<i64>) -> usize {
        windows
            .iter()
            .filter(|window| match at {
                None => window.from.is_none(),
                Some(at) => {
                    window.from.is_none_or(|from| at >= from)
                        && window.below.is_none_or(|below| at < below)
                }
            })
            .count()
    }

    proptest! {
        #[test]
        fn date_times_round_trip(seconds in -62_167_219_200_i64..253_402_300_799) {
            let text = glide_date_time(seconds).expect("years 0-9999");
            prop_assert_eq!(text.len(), 19);
            prop_assert_eq!(parse_glide_date_time(&text), Some(seconds));
        }

        #[test]
        fn windows_tile_the_time_line(
            earliest in 0_i64..4_000_000_000,
            length in 0_i64..100_000_000,
            count in 1_usize..64,
            splits in proptest::collection::vec(0_usize..64, 0..16),
            probes in proptest::collection::vec(proptest::option::of(-1_000_i64..4_200_000_000), 1..32),
        ) {
            let mut windows = initial_windows(earliest, earliest + length, count);
            prop_assert!(windows.len() <= count);
            for split in splits {
                let index = split % windows.len();
                if let Some(upper) = windows[index].split() {
                    windows.push(upper);
                }
            }
            for at in probes {
                prop_assert_eq!(windows_holding(&windows, at), 1, "{:?}", at);
            }
        }
    }
}

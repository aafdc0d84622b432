//! `GET` on a table (a page of records with `X-Total-Count` and `Link`) and on a record
//! (`servicenow-api.md` §2.3–§2.5).
//!
//! Unfiltered pages in natural order (or ordered by a field that follows it, such as `sys_id`)
//! cost O(page): rows are computed from their index. Anything else scans the table once and
//! the matching ids are cached per (table, version, query), so paging through a filtered or
//! sorted result costs the scan once.

use std::{collections::VecDeque, sync::Arc};

use http::{Response, StatusCode};

use super::{
    ApiVersion, TableRoute, insert_header,
    render::{RenderOptions, select_columns, write_record},
};
use crate::{
    FirstPagePrevLink, Settings,
    cost::ListWork,
    data::{Database, RowBuffer, Table},
    query::{EncodedQuery, compare_values},
    server::{Incoming, Shared},
    wire::{Body, error_envelope, first, form_pairs, json_response},
};

/// The default and the value used when `sysparm_limit` is missing, zero or not a number.
const DEFAULT_LIMIT: u64 = 10_000;
const CACHE_ENTRIES: usize = 8;

/// Recently computed matching ids, keyed by table, table version and query.
#[derive(Debug, Default)]
pub(crate) struct QueryCache {
    entries: VecDeque<(String, u64, String, Arc<Vec<u64>>)>,
}

impl QueryCache {
    fn get(&mut self, table: &str, version: u64, query: &str) -> Option<Arc<Vec<u64>>> {
        let position =
            self.entries
                .iter()
                .position(|(cached_table, cached_version, cached_query, _)| {
                    cached_table == table && *cached_version == version && cached_query == query
                })?;
        let entry = self.entries.remove(position)?;
        let ids = Arc::clone(&entry.3);
        self.entries.push_front(entry);
        Some(ids)
    }

    fn put(&mut self, table: &str, version: u64, query: &str, ids: Arc<Vec<u64>>) {
        self.entries
            .push_front((table.to_owned(), version, query.to_owned(), ids));
        self.entries.truncate(CACHE_ENTRIES);
    }
}

/// Which rows a query selects, in order.
enum Selection {
    Natural {
        descending: bool,
    },
    /// The live ids in `start..end`, ascending: a `sys_id` range (keyset paging) on a table
    /// whose natural order is `sys_id` order, found by binary search instead of a scan.
    IdRange {
        start: u64,
        end: u64,
    },
    Ids(Arc<Vec<u64>>),
}

/// `sysparm_limit`, or the instance's default when it is absent, zero or not a number.
pub(super) fn page_limit(pairs: &[(String, String)]) -> u64 {
    first(pairs, "sysparm_limit")
        .and_then(|limit| limit.trim().parse::<u64>().ok())
        .filter(|limit| *limit > 0)
        .unwrap_or(DEFAULT_LIMIT)
}

pub(super) fn list(
    shared: &Shared,
    request: &Incoming,
    route: &TableRoute,
    settings: &Settings,
) -> (Response<Body>, ListWork) {
    let mut work = ListWork::default();
    let response = list_counting(shared, request, route, settings, &mut work);
    (response, work)
}

/// [`list`], recording in `work` what the database did (for the cost model).
fn list_counting(
    shared: &Shared,
    request: &Incoming,
    route: &TableRoute,
    settings: &Settings,
    work: &mut ListWork,
) -> Response<Body> {
    let raw_query = request.uri.query().unwrap_or_default();
    let pairs = form_pairs(raw_query.as_bytes());
    let limit = page_limit(&pairs);
    let offset = first(&pairs, "sysparm_offset")
        .and_then(|offset| offset.trim().parse::<i64>().ok())
        .unwrap_or(0)
        .max(0) as u64;
    let flag =
        |name: &str| first(&pairs, name).is_some_and(|value| value.eq_ignore_ascii_case("true"));
    let query_text = query_text(&pairs);
    let Ok(mut query) = EncodedQuery::parse(&query_text) else {
        return error_envelope(
            StatusCode::BAD_REQUEST,
            "Invalid query",
            Some("javascript: values are not evaluated by this emulator"),
        );
    };
    let database = shared.database.read();
    let Some(table) = database.tables.get(&route.table) else {
        return invalid_table(&route.table);
    };
    query.retain_fields(|field| database.field_exists(table, field));
    let no_rows = settings.invalid_query_returns_no_rows && !query.invalid_terms.is_empty();
    let selection = if no_rows {
        Selection::Ids(Arc::new(Vec::new()))
    } else {
        select(shared, &database, table, &query, &query_text)
    };
    let total = match &selection {
        Selection::Natural { .. } => table.live_count(),
        Selection::IdRange { start, end } => (end - start) - table.deleted_in(*start..*end) as u64,
        Selection::Ids(ids) => ids.len() as u64,
    };
    let page: Vec<u64> = match &selection {
        Selection::Natural { descending: false } => {
            table.live_ids_from(offset).take(limit as usize).collect()
        }
        Selection::Natural { descending: true } => table
            .live_ids_descending_from(offset)
            .take(limit as usize)
            .collect(),
        Selection::IdRange { start, end } => (*start..*end)
            .filter(|id| table.is_live(*id))
            .skip(offset as usize)
            .take(limit as usize)
            .collect(),
        Selection::Ids(ids) => ids
            .iter()
            .skip(offset.min(ids.len() as u64) as usize)
            .take(limit as usize)
            .copied()
            .collect(),
    };
    let no_count = flag("sysparm_no_count");
    *work = ListWork {
        rendered: page.len() as u64,
        skipped: offset.min(total),
        counted: if no_count { 0 } else { total },
    };
    if settings
        .transaction_timeout_above_rows
        .is_some_and(|threshold| page.len() as u64 > threshold)
    {
        shared
            .counters
            .bump(|counters| &mut counters.transactions_cancelled);
        return super::transaction_cancelled();
    }
    if route.version == ApiVersion::V1 && total == 0 {
        return no_record_found();
    }
    let origin = shared.link_origin();
    let options = RenderOptions::from_query(raw_query, origin.clone());
    let selected = select_columns(&database, table, &options);
    let mut body = Vec::with_capacity(64 + page.len() * 900);
    body.extend_from_slice(b"{\"result\":[");
    let mut buffer = RowBuffer::default();
    for (position, id) in page.iter().enumerate() {
        if position > 0 {
            body.push(b',');
        }
        write_record(
            &mut body,
            &database,
            table,
            *id,
            &selected,
            &options,
            &mut buffer,
        );
    }
    body.extend_from_slice(b"]}");
    drop(database);
    let mut response = json_response(StatusCode::OK, body);
    if !no_count {
        insert_header(&mut response, "X-Total-Count", &total.to_string());
    }
    if !flag("sysparm_suppress_pagination_header") {
        let page_rows = page.len() as u64;
        let link = link_header(
            &origin,
            request.uri.path(),
            &pairs,
            limit,
            offset,
            (!no_count).then_some(total),
            page_rows,
            settings.first_page_prev_link,
        );
        insert_header(&mut response, "Link", &link);
    }
    response
}

pub(super) fn get_record(
    shared: &Shared,
    request: &Incoming,
    route: &TableRoute,
) -> Response<Body> {
    let database = shared.database.read();
    let Some(table) = database.tables.get(&route.table) else {
        return invalid_table(&route.table);
    };
    let Some(id) = route
        .sys_id
        .as_deref()
        .and_then(|sys_id| table.id_of_sys_id(sys_id))
    else {
        return no_record_found();
    };
    let options = RenderOptions::from_query(
        request.uri.query().unwrap_or_default(),
        shared.link_origin(),
    );
    json_response(
        StatusCode::OK,
        single_record_body(&database, table, id, &options),
    )
}

/// `{"result":{…}}` for one record.
pub(super) fn single_record_body(
    database: &Database,
    table: &Table,
    id: u64,
    options: &RenderOptions,
) -> Vec<u8> {
    let selected = select_columns(database, table, options);
    let mut body = Vec::with_capacity(1024);
    body.extend_from_slice(b"{\"result\":");
    write_record(
        &mut body,
        database,
        table,
        id,
        &selected,
        options,
        &mut RowBuffer::default(),
    );
    body.push(b'}');
    body
}

pub(super) fn no_record_found() -> Response<Body> {
    error_envelope(
        StatusCode::NOT_FOUND,
        "No Record found",
        Some("Record doesn't exist or ACL restricts the record retrieval"),
    )
}

pub(super) fn invalid_table(table: &str) -> Response<Body> {
    error_envelope(
        StatusCode::BAD_REQUEST,
        &format!("Invalid table {table}"),
        None,
    )
}

/// `sysparm_query`, or else the `name=value` pairs (mutually exclusive with it) as conditions.
fn query_text(pairs: &[(String, String)]) -> String {
    if let Some(query) = first(pairs, "sysparm_query") {
        return query.to_owned();
    }
    pairs
        .iter()
        .filter(|(name, _)| !name.starts_with("sysparm_"))
        .map(|(name, value)| format!("{name}={}", value.replace('^', "^^")))
        .collect::<Vec<_>>()
        .join("^")
}

fn select(
    shared: &Shared,
    database: &Database,
    table: &Table,
    query: &EncodedQuery,
    query_text: &str,
) -> Selection {
    if query.is_unconditional() {
        match query.order_by.as_slice() {
            [] => return Selection::Natural { descending: false },
            [only] if table.is_ordered_by(&only.field) => {
                return Selection::Natural {
                    descending: only.descending,
                };
            }
            _ => (),
        }
    }
    if let Some((start, end)) = sys_id_range(table, query) {
        return Selection::IdRange { start, end };
    }
    if let Some(ids) = shared
        .query_cache
        .lock()
        .get(&table.name, table.version, query_text)
    {
        return Selection::Ids(ids);
    }
    let mut ids: Vec<u64> = table
        .live_ids_from(0)
        .filter(|id| {
            query.matches(|field| database.path_value(table, *id, field).unwrap_or_default())
        })
        .collect();
    match query.order_by.as_slice() {
        [] => (),
        [only] if table.is_ordered_by(&only.field) => {
            if only.descending {
                ids.reverse();
            }
        }
        _ => ids = sorted(database, table, query, ids),
    }
    let ids = Arc::new(ids);
    shared
        .query_cache
        .lock()
        .put(&table.name, table.version, query_text, Arc::clone(&ids));
    Selection::Ids(ids)
}

/// For a query that is only a range of `sys_id`s (`sys_id>A^sys_id<B`, in any of `>`, `>=`,
/// `<`, `<=`), ascending, on a table in `sys_id` order: the ids of the range.
fn sys_id_range(table: &Table, query: &EncodedQuery) -> Option<(u64, u64)> {
    use crate::query::Operator;
    let ascending = match query.order_by.as_slice() {
        [] => true,
        [only] => only.field == "sys_id" && !only.descending,
        _ => false,
    };
    let [group] = query.groups.as_slice() else {
        return None;
    };
    if !ascending || !table.is_ordered_by("sys_id") || group.clauses.is_empty() {
        return None;
    }
    let (mut start, mut end) = (0, table.id_end());
    // The first id whose sys_id is not below `bound` (or not at or below it).
    let first_id = |bound: &str, inclusive: bool| {
        let (mut low, mut high) = (0, table.id_end());
        while low < high {
            let middle = low + (high - low) / 2;
            let sys_id = table.sys_id_of(middle);
            let before = if inclusive {
                sys_id.as_str() < bound
            } else {
                sys_id.as_str() <= bound
            };
            if before {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        low
    };
    for clause in &group.clauses {
        let [condition] = clause.as_slice() else {
            return None;
        };
        if condition.field != "sys_id" {
            return None;
        }
        let value = condition.value.as_str();
        match condition.operator {
            Operator::GreaterThan => start = start.max(first_id(value, false)),
            Operator::GreaterOrEqual => start = start.max(first_id(value, true)),
            Operator::LessThan => end = end.min(first_id(value, true)),
            Operator::LessOrEqual => end = end.min(first_id(value, false)),
            _ => return None,
        }
    }
    Some((start, end.max(start)))
}

/// `ids` sorted by the query's ORDERBY keys, ties in natural order.
fn sorted(database: &Database, table: &Table, query: &EncodedQuery, ids: Vec<u64>) -> Vec<u64> {
    let mut keyed: Vec<(Vec<String>, u64)> = ids
        .iter()
        .map(|id| {
            let keys = query
                .order_by
                .iter()
                .map(|order| {
                    database
                        .path_value(table, *id, &order.field)
                        .unwrap_or_default()
                        .into_owned()
                })
                .collect();
            (keys, *id)
        })
        .collect();
    keyed.sort_by(|(left_keys, left_id), (right_keys, right_id)| {
        for ((left, right), order) in left_keys.iter().zip(right_keys).zip(&query.order_by) {
            let ordering = compare_values(left, right);
            let ordering = if order.descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering.is_ne() {
                return ordering;
            }
        }
        left_id.cmp(right_id)
    });
    keyed.into_iter().map(|(_, id)| id).collect()
}

/// The `Link` header in the real format: one header, entries comma-separated without spaces,
/// each `<URL>;rel="name"`, the caller's other parameters kept, `sysparm_limit` and
/// `sysparm_offset` last.
#[allow(clippy::too_many_arguments)] // Each argument is one input of the documented format.
fn link_header(
    origin: &str,
    path: &str,
    pairs: &[(String, String)],
    limit: u64,
    offset: u64,
    total: Option<u64>,
    page_rows: u64,
    first_page_prev: FirstPagePrevLink,
) -> String {
    let others = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            pairs
                .iter()
                .filter(|(name, _)| name != "sysparm_limit" && name != "sysparm_offset"),
        )
        .finish();
    let separator = if others.is_empty() { "" } else { "&" };
    let url = |at: i64| {
        format!("<{origin}{path}?{others}{separator}sysparm_limit={limit}&sysparm_offset={at}>")
    };
    let (limit_signed, offset_signed) = (limit as i64, offset as i64);
    let mut entries = vec![format!("{};rel=\"first\"", url(0))];
    let prev = match (offset, first_page_prev) {
        (0, FirstPagePrevLink::Omitted) => None,
        (0, FirstPagePrevLink::MinusOne) => Some(-1),
        _ => Some(offset_signed - limit_signed),
    };
    if let Some(prev) = prev {
        entries.push(format!("{};rel=\"prev\"", url(prev)));
    }
    let has_next = match total {
        Some(total) => offset + limit < total,
        None => page_rows == limit,
    };
    if has_next {
        entries.push(format!(
            "{};rel=\"next\"",
            url(offset_signed + limit_signed)
        ));
    }
    if let Some(total) = total {
        let last = if total == 0 {
            0
        } else {
            (total - 1) / limit * limit
        };
        entries.push(format!("{};rel=\"last\"", url(last as i64)));
    }
    entries.join(",")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn a_sys_id_range_found_by_binary_search_is_the_range_a_scan_finds() {
        let rows = BTreeMap::from([("incident".to_owned(), 300)]);
        let mut database = Database::new(5, &rows, crate::Dataset::Generated);
        for id in [0, 10, 11, 150, 299] {
            database.delete("incident", id).expect("live row");
        }
        let table = &database.tables["incident"];
        let mut bounds: Vec<String> = [0, 1, 10, 12, 150, 151, 298, 299]
            .iter()
            .map(|id| table.sys_id_of(*id))
            .collect();
        // Between two sys_ids, below the first and above the last.
        bounds.push(format!("{}8", &table.sys_id_of(40)[..31]));
        bounds.extend(["0".repeat(32), "f".repeat(32), "5".to_owned()]);
        for low in &bounds {
            for (high, operators) in bounds.iter().zip([(">", "<"), (">=", "<=")].iter().cycle()) {
                let text = format!(
                    "sys_id{}{low}^sys_id{}{high}^ORDERBYsys_id",
                    operators.0, operators.1
                );
                let query = EncodedQuery::parse(&text).expect("parses");
                let (start, end) = sys_id_range(table, &query).expect("a range query");
                let fast: Vec<u64> = (start..end).filter(|id| table.is_live(*id)).collect();
                let scan: Vec<u64> = table
                    .live_ids_from(0)
                    .filter(|id| {
                        query.matches(|field| {
                            database.path_value(table, *id, field).unwrap_or_default()
                        })
                    })
                    .collect();
                assert_eq!(fast, scan, "{text}");
            }
        }
    }

    #[test]
    fn the_link_header_matches_the_captured_example() {
        let link = link_header(
            "https://devNNN.service-now.com",
            "/api/now/table/incident",
            &[("sysparm_limit".to_owned(), "1".to_owned())],
            1,
            0,
            Some(73),
            1,
            FirstPagePrevLink::OffsetMinusLimit,
        );
        assert_eq!(
            link,
            "<https://devNNN.service-now.com/api/now/table/incident?sysparm_limit=1&sysparm_offset=0>;rel=\"first\",\
             <https://devNNN.service-now.com/api/now/table/incident?sysparm_limit=1&sysparm_offset=-1>;rel=\"prev\",\
             <https://devNNN.service-now.com/api/now/table/incident?sysparm_limit=1&sysparm_offset=1>;rel=\"next\",\
             <https://devNNN.service-now.com/api/now/table/incident?sysparm_limit=1&sysparm_offset=72>;rel=\"last\""
        );
    }
}

//! The Aggregate API, `GET /api/now/[v1/]stats/{table}` (`servicenow-api-more.md` §2): count,
//! avg, min, max and sum over the rows an encoded query selects, optionally grouped, filtered by
//! `sysparm_having` and ordered by `sysparm_order_by`.
//!
//! Shapes: ungrouped, `result` is an object `{"stats":{…}}`; grouped, an array of
//! `{"stats":{…},"groupby_fields":[{"field","value"}]}` (the documented sample). Every number is
//! a string. Where the sources say nothing (group order, display values in `groupby_fields`, the
//! answer to a request with no aggregate), the choice is documented in `docs/emulator.md`.

use std::{cmp::Ordering, collections::BTreeMap};

use http::{Response, StatusCode};
use serde_json::{Map, Value, json};

use crate::{
    data::{Database, Table, schema::FieldKind},
    query::{EncodedQuery, compare_values},
    server::{Incoming, Shared},
    table::{authenticate, unauthorized},
    wire::{Body, HandlerResult, error_envelope, first, form_pairs, json_response},
};

/// The aggregate functions, in the order their members are written.
const FUNCTIONS: [Function; 4] = [Function::Avg, Function::Min, Function::Max, Function::Sum];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Function {
    Count,
    Avg,
    Min,
    Max,
    Sum,
}

impl Function {
    fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_uppercase().as_str() {
            "COUNT" => Some(Self::Count),
            "AVG" => Some(Self::Avg),
            "MIN" => Some(Self::Min),
            "MAX" => Some(Self::Max),
            "SUM" => Some(Self::Sum),
            _ => None,
        }
    }

    fn member(self) -> &'static str {
        match self {
            Self::Count => "count",
            Self::Avg => "avg",
            Self::Min => "min",
            Self::Max => "max",
            Self::Sum => "sum",
        }
    }

    fn parameter(self) -> &'static str {
        match self {
            Self::Count => "sysparm_count",
            Self::Avg => "sysparm_avg_fields",
            Self::Min => "sysparm_min_fields",
            Self::Max => "sysparm_max_fields",
            Self::Sum => "sysparm_sum_fields",
        }
    }
}

/// `aggregate^field^operator^value`.
#[derive(Debug)]
struct Having {
    function: Function,
    field: String,
    operator: String,
    value: f64,
}

/// A field (of the grouping) or an aggregate, with its direction.
#[derive(Debug)]
struct OrderKey {
    function: Option<Function>,
    field: String,
    descending: bool,
}

/// One group's accumulated values.
#[derive(Debug, Default)]
struct Accumulator {
    count: u64,
    /// Per field: (sum of the numeric values, how many were numeric, min, max).
    fields: BTreeMap<String, FieldStats>,
}

#[derive(Debug, Default)]
struct FieldStats {
    sum: f64,
    numeric: u64,
    min: Option<String>,
    max: Option<String>,
}

impl FieldStats {
    fn add(&mut self, value: &str) {
        if let Ok(number) = value.trim().parse::<f64>() {
            self.sum += number;
            self.numeric += 1;
        }
        if value.is_empty() {
            return;
        }
        if self
            .min
            .as_deref()
            .is_none_or(|min| compare_values(value, min) == Ordering::Less)
        {
            self.min = Some(value.to_owned());
        }
        if self
            .max
            .as_deref()
            .is_none_or(|max| compare_values(value, max) == Ordering::Greater)
        {
            self.max = Some(value.to_owned());
        }
    }

    fn value(&self, function: Function) -> Option<f64> {
        match function {
            Function::Avg if self.numeric > 0 => Some(self.sum / self.numeric as f64),
            Function::Sum => Some(self.sum),
            _ => None,
        }
    }
}

/// The requested aggregates.
#[derive(Debug, Default)]
struct Request {
    count: bool,
    fields: Vec<(Function, Vec<String>)>,
    group_by: Vec<String>,
    having: Vec<Having>,
    order_by: Vec<OrderKey>,
    display_value: String,
}

/// The Aggregate API behind the Table API's gates: authentication, the rate limit, faults.
pub(crate) async fn serve(shared: &Shared, request: &Incoming) -> HandlerResult {
    let Some(user) = authenticate(shared, request) else {
        return Ok(unauthorized());
    };
    crate::table::gated(shared, &user, async { Ok(handle(shared, request)) }).await
}

fn handle(shared: &Shared, request: &Incoming) -> Response<Body> {
    let Some(table_name) = table_of(request.uri.path()) else {
        return error_envelope(
            StatusCode::BAD_REQUEST,
            "Requested URI does not represent any resource",
            None,
        );
    };
    if authenticate(shared, request).is_none() {
        return unauthorized();
    }
    shared
        .counters
        .bump(|counters| &mut counters.aggregate_requests);
    if request.method != http::Method::GET {
        return error_envelope(StatusCode::METHOD_NOT_ALLOWED, "Method not Supported", None);
    }
    let pairs = form_pairs(request.uri.query().unwrap_or_default().as_bytes());
    let wanted = match parse_request(&pairs) {
        Ok(wanted) => wanted,
        Err(message) => return error_envelope(StatusCode::BAD_REQUEST, &message, None),
    };
    if !wanted.count && wanted.fields.is_empty() {
        // The Go SDK's mock of this case; the docs say only "no aggregate operation is performed".
        return error_envelope(
            StatusCode::BAD_REQUEST,
            "No request parameter for aggregate operation specified",
            Some(""),
        );
    }
    let query_text = query_text(&pairs);
    let Ok(mut query) = EncodedQuery::parse(&query_text) else {
        return error_envelope(
            StatusCode::BAD_REQUEST,
            "Invalid query",
            Some("javascript: values are not evaluated by this emulator"),
        );
    };
    let database = shared.database.read();
    let Some(table) = database.tables.get(table_name) else {
        return error_envelope(
            StatusCode::BAD_REQUEST,
            "Invalid table",
            Some(&format!("Table '{table_name}' does not exist")),
        );
    };
    query.retain_fields(|field| database.field_exists(table, field));
    let result = compute(&database, table, &query, &wanted);
    json_response(StatusCode::OK, json!({ "result": result }).to_string())
}

/// Whether `path` is an Aggregate API path.
pub(crate) fn is_stats_path(path: &str) -> bool {
    path.starts_with("/api/now/stats/") || path.starts_with("/api/now/v1/stats/")
}

/// `/api/now/stats/{table}` or `/api/now/v1/stats/{table}`.
fn table_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/api/now/")?;
    let rest = rest.strip_prefix("v1/").unwrap_or(rest);
    let table = rest.strip_prefix("stats/")?.trim_end_matches('/');
    (!table.is_empty() && !table.contains('/')).then_some(table)
}

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

fn list(pairs: &[(String, String)], name: &str) -> Vec<String> {
    first(pairs, name)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|field| !field.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_request(pairs: &[(String, String)]) -> Result<Request, String> {
    let mut wanted = Request {
        count: first(pairs, "sysparm_count")
            .is_some_and(|value| value.eq_ignore_ascii_case("true")),
        group_by: list(pairs, "sysparm_group_by"),
        display_value: first(pairs, "sysparm_display_value")
            .unwrap_or("false")
            .to_ascii_lowercase(),
        ..Request::default()
    };
    for function in FUNCTIONS {
        let fields = list(pairs, function.parameter());
        if !fields.is_empty() {
            wanted.fields.push((function, fields));
        }
    }
    for having in list(pairs, "sysparm_having") {
        let parts: Vec<&str> = having.split('^').collect();
        let [function, field, operator, value] = parts.as_slice() else {
            return Err(format!("Invalid sysparm_having: {having}"));
        };
        let (Some(function), Ok(value)) = (Function::parse(function), value.parse::<f64>()) else {
            return Err(format!("Invalid sysparm_having: {having}"));
        };
        if !matches!(*operator, "=" | "!=" | ">" | ">=" | "<" | "<=") {
            return Err(format!("Invalid sysparm_having operator: {operator}"));
        }
        wanted.having.push(Having {
            function,
            field: (*field).to_owned(),
            operator: (*operator).to_owned(),
            value,
        });
    }
    for key in list(pairs, "sysparm_order_by") {
        let mut parts: Vec<&str> = key.split('^').collect();
        let descending = parts
            .last()
            .is_some_and(|last| last.eq_ignore_ascii_case("DESC"));
        if descending {
            parts.pop();
        }
        let order = match parts.as_slice() {
            [single] => match Function::parse(single) {
                Some(Function::Count) => OrderKey {
                    function: Some(Function::Count),
                    field: String::new(),
                    descending,
                },
                _ => OrderKey {
                    function: None,
                    field: (*single).to_owned(),
                    descending,
                },
            },
            [function, field] => OrderKey {
                function: Some(
                    Function::parse(function)
                        .ok_or_else(|| format!("Invalid sysparm_order_by: {key}"))?,
                ),
                field: (*field).to_owned(),
                descending,
            },
            _ => return Err(format!("Invalid sysparm_order_by: {key}")),
        };
        wanted.order_by.push(order);
    }
    Ok(wanted)
}

/// The `result` member: an object without grouping, an array of groups with it.
fn compute(database: &Database, table: &Table, query: &EncodedQuery, wanted: &Request) -> Value {
    let group_by: Vec<&String> = wanted
        .group_by
        .iter()
        .filter(|field| database.field_exists(table, field))
        .collect();
    let mut groups: BTreeMap<Vec<String>, Accumulator> = BTreeMap::new();
    if group_by.is_empty() {
        groups.insert(Vec::new(), Accumulator::default());
    }
    for id in table.live_ids_from(0) {
        let value = |field: &str| database.path_value(table, id, field).unwrap_or_default();
        if !query.matches(value) {
            continue;
        }
        let key: Vec<String> = group_by
            .iter()
            .map(|field| value(field).into_owned())
            .collect();
        let group = groups.entry(key).or_default();
        group.count += 1;
        for (_, fields) in &wanted.fields {
            for field in fields {
                let stats = group.fields.entry(field.clone()).or_default();
                stats.add(&value(field));
            }
        }
    }
    let stats_of = |group: &Accumulator| -> Value {
        let mut stats = Map::new();
        for (function, fields) in &wanted.fields {
            let mut members = Map::new();
            for field in fields {
                let field_stats = group.fields.get(field);
                let text = match function {
                    Function::Avg => field_stats
                        .and_then(|stats| stats.value(Function::Avg))
                        .map(|avg| format!("{avg:.4}"))
                        .unwrap_or_default(),
                    Function::Sum => field_stats
                        .and_then(|stats| stats.value(Function::Sum))
                        .map(format_number)
                        .unwrap_or_else(|| "0".to_owned()),
                    Function::Min => field_stats
                        .and_then(|stats| stats.min.clone())
                        .unwrap_or_default(),
                    Function::Max => field_stats
                        .and_then(|stats| stats.max.clone())
                        .unwrap_or_default(),
                    Function::Count => String::new(),
                };
                members.insert(field.clone(), Value::String(text));
            }
            stats.insert(function.member().to_owned(), Value::Object(members));
        }
        if wanted.count {
            stats.insert("count".to_owned(), Value::String(group.count.to_string()));
        }
        json!({ "stats": stats })
    };
    if group_by.is_empty() {
        return groups.values().next().map(stats_of).unwrap_or(Value::Null);
    }
    let mut selected: Vec<(&Vec<String>, &Accumulator)> = groups
        .iter()
        .filter(|(_, group)| wanted.having.iter().all(|having| passes(group, having)))
        .collect();
    selected.sort_by(|(left_key, left), (right_key, right)| {
        for order in &wanted.order_by {
            let ordering = match order.function {
                None => match group_by.iter().position(|field| **field == order.field) {
                    Some(position) => compare_values(&left_key[position], &right_key[position]),
                    None => Ordering::Equal,
                },
                Some(function) => aggregate_value(left, function, &order.field)
                    .partial_cmp(&aggregate_value(right, function, &order.field))
                    .unwrap_or(Ordering::Equal),
            };
            let ordering = if order.descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering.is_ne() {
                return ordering;
            }
        }
        left_key
            .iter()
            .zip(right_key.iter())
            .map(|(left, right)| compare_values(left, right))
            .find(|ordering| ordering.is_ne())
            .unwrap_or(Ordering::Equal)
    });
    let groups: Vec<Value> = selected
        .into_iter()
        .map(|(key, group)| {
            let mut entry = stats_of(group);
            let fields: Vec<Value> = group_by
                .iter()
                .zip(key)
                .map(|(field, value)| {
                    groupby_field(database, table, field, value, &wanted.display_value)
                })
                .collect();
            entry["groupby_fields"] = Value::Array(fields);
            entry
        })
        .collect();
    Value::Array(groups)
}

/// `{"value","field"}` as in the documented sample; with display values (shape undocumented)
/// `true` puts the display value in `value`, `all` adds `display_value`.
fn groupby_field(
    database: &Database,
    table: &Table,
    field: &str,
    value: &str,
    display: &str,
) -> Value {
    let kind = table
        .column_index(field)
        .map_or(FieldKind::Text, |column| table.columns[column].kind);
    match display {
        "true" => json!({ "value": database.display_of(kind, value), "field": field }),
        "all" => json!({
            "value": value,
            "display_value": database.display_of(kind, value),
            "field": field,
        }),
        _ => json!({ "value": value, "field": field }),
    }
}

fn aggregate_value(group: &Accumulator, function: Function, field: &str) -> Option<f64> {
    match function {
        Function::Count => Some(group.count as f64),
        Function::Avg | Function::Sum => group.fields.get(field)?.value(function),
        Function::Min => group.fields.get(field)?.min.as_deref()?.parse().ok(),
        Function::Max => group.fields.get(field)?.max.as_deref()?.parse().ok(),
    }
}

fn passes(group: &Accumulator, having: &Having) -> bool {
    let Some(value) = aggregate_value(group, having.function, &having.field) else {
        return false;
    };
    match having.operator.as_str() {
        "=" => value == having.value,
        "!=" => value != having.value,
        ">" => value > having.value,
        ">=" => value >= having.value,
        "<" => value < having.value,
        _ => value <= having.value,
    }
}

/// A sum: an integer when it is one, else four decimals like `avg`.
fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value:.4}")
    }
}

//! The Aggregate API (`GET /api/now/stats/{table}`, `servicenow-api-more.md` §2): a builder over
//! the same injection-safe names and [`EncodedQuery`] as the Table API, and a typed result for
//! both shapes the instance sends (an object without grouping, an array of groups with it).
//!
//! Every number arrives as a string: counts are parsed into `u64` (a count that is not one is a
//! malformed response), the other aggregates stay [`AggregateValue`]s, because `min` and `max`
//! of a date or a string field are dates and strings.

use std::{collections::BTreeMap, convert::Infallible};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use serde::Deserialize;

use crate::{
    DisplayValues, EncodedQuery, FieldName, TableApi, TableError, TableName,
    response::{body_text, expect_status, malformed},
};

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum AggregateFunction {
    /// `COUNT` (of records; the field is ignored).
    Count,
    /// `AVG`.
    Avg,
    /// `MIN`.
    Min,
    /// `MAX`.
    Max,
    /// `SUM`.
    Sum,
}

impl AggregateFunction {
    fn name(self) -> &'static str {
        match self {
            Self::Count => "COUNT",
            Self::Avg => "AVG",
            Self::Min => "MIN",
            Self::Max => "MAX",
            Self::Sum => "SUM",
        }
    }
}

/// The comparison of a `sysparm_having` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HavingOperator {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl HavingOperator {
    fn symbol(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Lt => "<",
            Self::Le => "<=",
        }
    }
}

/// A request to the Aggregate API, built like a [`Query`](crate::Query): every field is a
/// validated [`FieldName`] and every `having` value a number, so nothing can add a condition or
/// an aggregate the caller did not ask for.
///
/// ```
/// use servicenow_table::{Aggregate, AggregateFunction, HavingOperator};
///
/// let aggregate = Aggregate::new()
///     .count()
///     .avg("reassignment_count")?
///     .group_by("assignment_group")?
///     .having(AggregateFunction::Count, "assignment_group", HavingOperator::Gt, 3)?
///     .order_by_aggregate_desc(AggregateFunction::Count, None)?;
/// assert_eq!(
///     aggregate.parameters(),
///     [
///         ("sysparm_count", "true".to_owned()),
///         ("sysparm_avg_fields", "reassignment_count".to_owned()),
///         ("sysparm_group_by", "assignment_group".to_owned()),
///         ("sysparm_having", "count^assignment_group^>^3".to_owned()),
///         ("sysparm_order_by", "COUNT^DESC".to_owned()),
///     ]
/// );
/// # Ok::<(), servicenow_table::TableError<std::convert::Infallible>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aggregate {
    query: Option<EncodedQuery>,
    count: bool,
    fields: BTreeMap<AggregateFunction, Vec<FieldName>>,
    group_by: Vec<FieldName>,
    having: Vec<String>,
    order_by: Vec<String>,
    display_values: DisplayValues,
}

impl Aggregate {
    /// No aggregate yet (the instance performs none until one is added).
    pub fn new() -> Self {
        Self::default()
    }

    /// Only records matching `query`.
    pub fn query(mut self, query: EncodedQuery) -> Self {
        self.query = Some(query);
        self
    }

    /// `sysparm_count=true`: the number of records (per group).
    pub fn count(mut self) -> Self {
        self.count = true;
        self
    }

    /// `sysparm_avg_fields`: the average of `field`.
    pub fn avg(self, field: impl Into<String>) -> Result<Self, TableError<Infallible>> {
        self.field(AggregateFunction::Avg, field)
    }

    /// `sysparm_min_fields`: the smallest value of `field`.
    pub fn min(self, field: impl Into<String>) -> Result<Self, TableError<Infallible>> {
        self.field(AggregateFunction::Min, field)
    }

    /// `sysparm_max_fields`: the largest value of `field`.
    pub fn max(self, field: impl Into<String>) -> Result<Self, TableError<Infallible>> {
        self.field(AggregateFunction::Max, field)
    }

    /// `sysparm_sum_fields`: the sum of `field`.
    pub fn sum(self, field: impl Into<String>) -> Result<Self, TableError<Infallible>> {
        self.field(AggregateFunction::Sum, field)
    }

    /// Adds `field` to the list of `function` ([`AggregateFunction::Count`] is
    /// [`Aggregate::count`] and takes no field).
    pub fn field(
        mut self,
        function: AggregateFunction,
        field: impl Into<String>,
    ) -> Result<Self, TableError<Infallible>> {
        let field = FieldName::new(field)?;
        if function == AggregateFunction::Count {
            self.count = true;
        } else {
            self.fields.entry(function).or_default().push(field);
        }
        Ok(self)
    }

    /// `sysparm_group_by`: one group per distinct value of `field` (repeat for several).
    pub fn group_by(mut self, field: impl Into<String>) -> Result<Self, TableError<Infallible>> {
        self.group_by.push(FieldName::new(field)?);
        Ok(self)
    }

    /// `sysparm_having`: only groups whose `function` of `field` compares to `value`
    /// (`count^priority^>^3`).
    pub fn having(
        mut self,
        function: AggregateFunction,
        field: impl Into<String>,
        operator: HavingOperator,
        value: impl Into<f64>,
    ) -> Result<Self, TableError<Infallible>> {
        let field = FieldName::new(field)?;
        let value: f64 = value.into();
        if !value.is_finite() {
            return Err(TableError::InvalidName {
                kind: "having value",
                value: value.to_string(),
                reason: "must be a finite number",
            });
        }
        self.having.push(format!(
            "{}^{field}^{}^{value}",
            function.name().to_ascii_lowercase(),
            operator.symbol()
        ));
        Ok(self)
    }

    /// `sysparm_order_by`: groups in ascending order of a grouped field.
    pub fn order_by(mut self, field: impl Into<String>) -> Result<Self, TableError<Infallible>> {
        self.order_by.push(FieldName::new(field)?.to_string());
        Ok(self)
    }

    /// `sysparm_order_by`: groups in descending order of a grouped field.
    pub fn order_by_desc(
        mut self,
        field: impl Into<String>,
    ) -> Result<Self, TableError<Infallible>> {
        self.order_by
            .push(format!("{}^DESC", FieldName::new(field)?));
        Ok(self)
    }

    /// `sysparm_order_by`: groups in ascending order of an aggregate (`AVG^state`, `COUNT`).
    pub fn order_by_aggregate(
        self,
        function: AggregateFunction,
        field: Option<&str>,
    ) -> Result<Self, TableError<Infallible>> {
        self.order_by_aggregate_in(function, field, false)
    }

    /// `sysparm_order_by`: groups in descending order of an aggregate (`COUNT^DESC`).
    pub fn order_by_aggregate_desc(
        self,
        function: AggregateFunction,
        field: Option<&str>,
    ) -> Result<Self, TableError<Infallible>> {
        self.order_by_aggregate_in(function, field, true)
    }

    fn order_by_aggregate_in(
        mut self,
        function: AggregateFunction,
        field: Option<&str>,
        descending: bool,
    ) -> Result<Self, TableError<Infallible>> {
        let mut key = function.name().to_owned();
        if let Some(field) = field {
            key.push('^');
            key.push_str(FieldName::new(field)?.as_str());
        }
        if descending {
            key.push_str("^DESC");
        }
        self.order_by.push(key);
        Ok(self)
    }

    /// `sysparm_display_value` for grouped reference and choice fields.
    pub fn display_values(mut self, display_values: DisplayValues) -> Self {
        self.display_values = display_values;
        self
    }

    /// The `sysparm_*` parameters, in the order they are sent.
    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        let mut parameters = Vec::new();
        if let Some(query) = &self.query {
            parameters.push(("sysparm_query", query.as_str().to_owned()));
        }
        if self.count {
            parameters.push(("sysparm_count", "true".to_owned()));
        }
        for (function, fields) in &self.fields {
            let name = match function {
                AggregateFunction::Avg => "sysparm_avg_fields",
                AggregateFunction::Min => "sysparm_min_fields",
                AggregateFunction::Max => "sysparm_max_fields",
                AggregateFunction::Sum | AggregateFunction::Count => "sysparm_sum_fields",
            };
            parameters.push((name, join(fields.iter().map(FieldName::as_str))));
        }
        if !self.group_by.is_empty() {
            parameters.push((
                "sysparm_group_by",
                join(self.group_by.iter().map(FieldName::as_str)),
            ));
        }
        if !self.having.is_empty() {
            parameters.push((
                "sysparm_having",
                join(self.having.iter().map(String::as_str)),
            ));
        }
        if !self.order_by.is_empty() {
            parameters.push((
                "sysparm_order_by",
                join(self.order_by.iter().map(String::as_str)),
            ));
        }
        match self.display_values {
            DisplayValues::Stored => (),
            DisplayValues::Display => parameters.push(("sysparm_display_value", "true".to_owned())),
            DisplayValues::All => parameters.push(("sysparm_display_value", "all".to_owned())),
        }
        parameters
    }
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(",")
}

/// One aggregate as the instance sent it: a string (`"804162.7143"`, `"2016-09-25 14:41:46"`,
/// or `""` when the group had no value).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct AggregateValue(String);

impl AggregateValue {
    /// The text as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value as a number, when it is one (`avg` and `sum` always are, unless empty).
    pub fn as_f64(&self) -> Option<f64> {
        self.0.trim().parse().ok()
    }
}

/// The aggregates of one group (or of every matching record, without grouping).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AggregateStats {
    /// `count`, when asked for.
    pub count: Option<u64>,
    /// `avg`, by field.
    pub avg: BTreeMap<String, AggregateValue>,
    /// `min`, by field.
    pub min: BTreeMap<String, AggregateValue>,
    /// `max`, by field.
    pub max: BTreeMap<String, AggregateValue>,
    /// `sum`, by field.
    pub sum: BTreeMap<String, AggregateValue>,
}

/// The value of one grouping field for a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    /// The field grouped by.
    pub field: String,
    /// Its value (`""` for the group of records without one); with
    /// [`DisplayValues::Display`], what the instance put there.
    pub value: String,
    /// The display value, when the instance sent one beside `value`.
    pub display_value: Option<String>,
}

/// One group of a grouped aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateGroup {
    /// The grouping fields' values, in `group_by` order.
    pub fields: Vec<GroupValue>,
    /// Its aggregates.
    pub stats: AggregateStats,
}

/// What the Aggregate API answered, in the shape it answered.
#[derive(Debug, Clone, PartialEq)]
pub enum AggregateResult {
    /// `{"result":{"stats":{…}}}`: no grouping.
    Ungrouped(AggregateStats),
    /// `{"result":[{"stats":{…},"groupby_fields":[…]}, …]}`.
    Grouped(Vec<AggregateGroup>),
}

impl AggregateResult {
    /// The groups; an ungrouped result is one group without fields.
    pub fn groups(&self) -> Vec<AggregateGroup> {
        match self {
            Self::Ungrouped(stats) => vec![AggregateGroup {
                fields: Vec::new(),
                stats: stats.clone(),
            }],
            Self::Grouped(groups) => groups.clone(),
        }
    }

    /// The sum of the counts of every group (`None` when no count was asked for).
    pub fn total_count(&self) -> Option<u64> {
        match self {
            Self::Ungrouped(stats) => stats.count,
            Self::Grouped(groups) => groups
                .iter()
                .map(|group| group.stats.count)
                .sum::<Option<u64>>(),
        }
    }
}

#[derive(Deserialize)]
struct WireEnvelope {
    result: WireResult,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum WireResult {
    Grouped(Vec<WireGroup>),
    Ungrouped(WireGroup),
}

#[derive(Deserialize)]
struct WireGroup {
    #[serde(default)]
    stats: WireStats,
    #[serde(default)]
    groupby_fields: Vec<WireGroupValue>,
}

#[derive(Deserialize, Default)]
struct WireStats {
    #[serde(default)]
    count: Option<String>,
    #[serde(default)]
    avg: BTreeMap<String, AggregateValue>,
    #[serde(default)]
    min: BTreeMap<String, AggregateValue>,
    #[serde(default)]
    max: BTreeMap<String, AggregateValue>,
    #[serde(default)]
    sum: BTreeMap<String, AggregateValue>,
}

#[derive(Deserialize)]
struct WireGroupValue {
    field: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    display_value: Option<String>,
}

impl TableApi {
    /// `GET /api/now/stats/{table}?sysparm_…`.
    pub fn aggregate_request(
        &self,
        table: &TableName,
        aggregate: &Aggregate,
    ) -> Result<Request<Bytes>, TableError<Infallible>> {
        let path = format!("/api/now/stats/{table}");
        self.request_to(Method::GET, &path, &aggregate.parameters(), None)
    }

    /// Parses an Aggregate API response (`200`, either shape).
    pub fn parse_aggregate(
        &self,
        response: &Response<Bytes>,
        operation: &str,
    ) -> Result<AggregateResult, TableError<Infallible>> {
        expect_status(response, StatusCode::OK, operation)?;
        let envelope: WireEnvelope = serde_json::from_str(body_text(response, operation)?)
            .map_err(|error| malformed(operation, response.status(), &error))?;
        let stats = |wire: WireStats| -> Result<AggregateStats, TableError<Infallible>> {
            let count = match wire.count {
                None => None,
                Some(count) => Some(count.trim().parse::<u64>().map_err(|_| {
                    TableError::MalformedResponse {
                        operation: operation.to_owned(),
                        status: response.status(),
                        reason: format!("the count {count:?} is not a whole number"),
                    }
                })?),
            };
            Ok(AggregateStats {
                count,
                avg: wire.avg,
                min: wire.min,
                max: wire.max,
                sum: wire.sum,
            })
        };
        Ok(match envelope.result {
            WireResult::Ungrouped(group) => AggregateResult::Ungrouped(stats(group.stats)?),
            WireResult::Grouped(groups) => AggregateResult::Grouped(
                groups
                    .into_iter()
                    .map(|group| {
                        Ok(AggregateGroup {
                            fields: group
                                .groupby_fields
                                .into_iter()
                                .map(|field| GroupValue {
                                    field: field.field,
                                    value: field.value,
                                    display_value: field.display_value,
                                })
                                .collect(),
                            stats: stats(group.stats)?,
                        })
                    })
                    .collect::<Result<_, TableError<Infallible>>>()?,
            ),
        })
    }
}

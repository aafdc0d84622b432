//! The injection-safe encoded-query builder (`sysparm_query`): conditions that mean what they say.
//!
//! ServiceNow has no documented escape inside an encoded query, so the builder refuses, with an
//! error naming the value, everything that would change the query's meaning:
//!
//! - `^` in a value or a field name (it would end the condition and start another, `^OR`, `^NQ`);
//! - `,` inside an `IN` / `NOT IN` value (it would split one value into two);
//! - `@` inside a `BETWEEN` bound (it separates the bounds);
//! - a value starting with `javascript:` (the instance would run it as a script);
//! - a `<` or `>` value starting with `=` (it would read as `<=` or `>=`; found by the
//!   injection property test);
//! - a field name outside `[a-z0-9_.]` (upper case included: the operators are upper case, so
//!   `activeIN` would read as the field `active` with the operator `IN`).
//!
//! ```
//! use servicenow_table::{Condition, Query};
//!
//! let query = Query::new()
//!     .and("active", Condition::eq("true"))
//!     .and("priority", Condition::le(2))
//!     .or("short_description", Condition::like("printer"))
//!     .order_by_desc("sys_created_on")
//!     .build()?;
//! assert_eq!(query.as_str(), "active=true^priority<=2^ORshort_descriptionLIKEprinter^ORDERBYDESCsys_created_on");
//!
//! let refused = Query::new().and("caller_id", Condition::eq("me^ORactive=false")).build();
//! assert!(refused.unwrap_err().to_string().contains("me^ORactive=false"));
//! # Ok::<(), servicenow_table::TableError<std::convert::Infallible>>(())
//! ```

use std::{
    convert::Infallible,
    fmt::{self, Display},
};

use crate::{FieldName, SysId, TableError};

/// A finished, validated encoded query, ready for `sysparm_query`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EncodedQuery {
    text: String,
    ordered: bool,
}

impl EncodedQuery {
    /// **Unchecked**: takes an encoded query string as is, with no validation at all.
    ///
    /// Only for query text written by the developer (a constant, a filter copied from the
    /// instance's list view); never for text that contains anything a user or a remote system
    /// supplied, which could rewrite the query (`x^ORsys_id!=0`) or run a script
    /// (`javascript:`). Use [`Query`] for those.
    pub fn unchecked_raw_from_trusted_source(text: impl Into<String>) -> Self {
        let text = text.into();
        let ordered = text.contains("ORDERBY");
        Self { text, ordered }
    }

    /// The encoded query text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the query sets an order (`ORDERBY` / `ORDERBYDESC`).
    pub fn has_order(&self) -> bool {
        self.ordered
    }

    /// Whether the query's only order is `ORDERBYsys_id` (ascending), at its end.
    pub(crate) fn is_ordered_by_sys_id_only(&self) -> bool {
        let last_order = self.text.rfind("ORDERBY");
        let first_order = self.text.find("ORDERBY");
        first_order == last_order && self.text.ends_with("ORDERBYsys_id")
    }

    /// This query with `^ORDERBYsys_id` appended, unless it already orders by sys_id, so that
    /// offset paging is stable: with a total order, a row cannot move between pages unless rows
    /// are inserted or deleted before it.
    pub(crate) fn with_stable_order(&self) -> Self {
        if self.text.contains("ORDERBYsys_id") || self.text.contains("ORDERBYDESCsys_id") {
            return self.clone();
        }
        let text = if self.text.is_empty() {
            "ORDERBYsys_id".to_owned()
        } else {
            format!("{}^ORDERBYsys_id", self.text)
        };
        Self {
            text,
            ordered: true,
        }
    }

    /// For a query ordered by sys_id only: the same conditions restricted to
    /// `after < sys_id < before` (in every `^NQ` group), ordered by sys_id.
    pub(crate) fn restricted_to_sys_id_range(&self, after: &SysId, before: Option<&SysId>) -> Self {
        self.within_sys_id_range(
            Some(SysIdBound::After(after.as_str())),
            before.map(SysId::as_str),
        )
    }

    /// Whether keyset paging applies: no order, or `ORDERBYsys_id` as the only order.
    pub(crate) fn allows_keyset(&self) -> bool {
        !self.ordered || self.is_ordered_by_sys_id_only()
    }

    /// The conditions of a query without order or with `ORDERBYsys_id` as its only order,
    /// restricted to `lower` (exclusive after a cursor, or inclusive from a partition bound)
    /// and `sys_id < upper` in every `^NQ` group, ordered by sys_id. The bounds are validated
    /// sys_ids or hexadecimal partition bounds, never server text.
    pub(crate) fn within_sys_id_range(
        &self,
        lower: Option<SysIdBound<'_>>,
        upper: Option<&str>,
    ) -> Self {
        self.restricted_by(&sys_id_range_terms(lower, upper), "ORDERBYsys_id")
    }

    /// The conditions of a query without order or with `ORDERBYsys_id` as its only order, with
    /// `terms` (built by this crate from validated values, never server text) added to every
    /// `^NQ` group, ordered by `order` (an `ORDERBY…` term).
    pub(crate) fn restricted_by(&self, terms: &[String], order: &str) -> Self {
        let conditions = self
            .text
            .strip_suffix("ORDERBYsys_id")
            .unwrap_or(&self.text)
            .trim_end_matches('^');
        let range = terms.join("^");
        let text = match (conditions.is_empty(), range.is_empty()) {
            (true, true) => order.to_owned(),
            (true, false) => format!("{range}^{order}"),
            (false, true) => format!("{conditions}^{order}"),
            (false, false) => {
                let groups: Vec<String> = conditions
                    .split("^NQ")
                    .map(|group| format!("{group}^{range}"))
                    .collect();
                format!("{}^{order}", groups.join("^NQ"))
            }
        };
        Self {
            text,
            ordered: true,
        }
    }
}

impl EncodedQuery {
    /// The conditions of a keyset-capable query ordered by sys_id descending (the export's probe
    /// for the largest key).
    pub(crate) fn descending_by_sys_id(&self) -> Self {
        let ascending = self.within_sys_id_range(None, None);
        let conditions = ascending
            .text
            .strip_suffix("ORDERBYsys_id")
            .unwrap_or_default();
        Self {
            text: format!("{conditions}ORDERBYDESCsys_id"),
            ordered: true,
        }
    }
}

/// The conditions `sys_id>cursor` or `sys_id>=from`, and `sys_id<upper`, of a range.
pub(crate) fn sys_id_range_terms(
    lower: Option<SysIdBound<'_>>,
    upper: Option<&str>,
) -> Vec<String> {
    let mut terms = Vec::new();
    match lower {
        Some(SysIdBound::After(after)) => terms.push(format!("sys_id>{after}")),
        Some(SysIdBound::From(from)) => terms.push(format!("sys_id>={from}")),
        None => (),
    }
    if let Some(upper) = upper {
        terms.push(format!("sys_id<{upper}"));
    }
    terms
}

/// The lower end of a sys_id range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SysIdBound<'a> {
    /// `sys_id>cursor`: after the last row read.
    After(&'a str),
    /// `sys_id>=bound`: a partition's first key.
    From(&'a str),
}

impl Display for EncodedQuery {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.text)
    }
}

/// What a condition tests, with its value(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    operator: Operator,
    values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Equals,
    NotEquals,
    LessThan,
    LessOrEquals,
    GreaterThan,
    GreaterOrEquals,
    Like,
    NotLike,
    StartsWith,
    EndsWith,
    In,
    NotIn,
    IsEmpty,
    IsNotEmpty,
    Between,
}

impl Operator {
    fn token(self) -> &'static str {
        match self {
            Self::Equals => "=",
            Self::NotEquals => "!=",
            Self::LessThan => "<",
            Self::LessOrEquals => "<=",
            Self::GreaterThan => ">",
            Self::GreaterOrEquals => ">=",
            Self::Like => "LIKE",
            Self::NotLike => "NOT LIKE",
            Self::StartsWith => "STARTSWITH",
            Self::EndsWith => "ENDSWITH",
            Self::In => "IN",
            Self::NotIn => "NOT IN",
            Self::IsEmpty => "ISEMPTY",
            Self::IsNotEmpty => "ISNOTEMPTY",
            Self::Between => "BETWEEN",
        }
    }
}

impl Condition {
    fn single(operator: Operator, value: impl Display) -> Self {
        Self {
            operator,
            values: vec![value.to_string()],
        }
    }

    /// `field=value`.
    pub fn eq(value: impl Display) -> Self {
        Self::single(Operator::Equals, value)
    }
    /// `field!=value`.
    pub fn ne(value: impl Display) -> Self {
        Self::single(Operator::NotEquals, value)
    }
    /// `field<value`.
    pub fn lt(value: impl Display) -> Self {
        Self::single(Operator::LessThan, value)
    }
    /// `field<=value`.
    pub fn le(value: impl Display) -> Self {
        Self::single(Operator::LessOrEquals, value)
    }
    /// `field>value`.
    pub fn gt(value: impl Display) -> Self {
        Self::single(Operator::GreaterThan, value)
    }
    /// `field>=value`.
    pub fn ge(value: impl Display) -> Self {
        Self::single(Operator::GreaterOrEquals, value)
    }
    /// `fieldLIKEvalue` (contains).
    pub fn like(value: impl Display) -> Self {
        Self::single(Operator::Like, value)
    }
    /// `fieldNOT LIKEvalue` (does not contain).
    pub fn not_like(value: impl Display) -> Self {
        Self::single(Operator::NotLike, value)
    }
    /// `fieldSTARTSWITHvalue`.
    pub fn starts_with(value: impl Display) -> Self {
        Self::single(Operator::StartsWith, value)
    }
    /// `fieldENDSWITHvalue`.
    pub fn ends_with(value: impl Display) -> Self {
        Self::single(Operator::EndsWith, value)
    }
    /// `fieldINa,b,c`; no value may contain `,`.
    pub fn is_in<V: Display>(values: impl IntoIterator<Item = V>) -> Self {
        Self {
            operator: Operator::In,
            values: values.into_iter().map(|value| value.to_string()).collect(),
        }
    }
    /// `fieldNOT INa,b,c`; no value may contain `,`.
    pub fn not_in<V: Display>(values: impl IntoIterator<Item = V>) -> Self {
        Self {
            operator: Operator::NotIn,
            values: values.into_iter().map(|value| value.to_string()).collect(),
        }
    }
    /// `fieldISEMPTY`.
    pub fn is_empty() -> Self {
        Self {
            operator: Operator::IsEmpty,
            values: Vec::new(),
        }
    }
    /// `fieldISNOTEMPTY`.
    pub fn is_not_empty() -> Self {
        Self {
            operator: Operator::IsNotEmpty,
            values: Vec::new(),
        }
    }
    /// `fieldBETWEENlow@high`; neither bound may contain `@`.
    pub fn between(low: impl Display, high: impl Display) -> Self {
        Self {
            operator: Operator::Between,
            values: vec![low.to_string(), high.to_string()],
        }
    }

    fn encode(&self, field: &FieldName, out: &mut String) -> Result<(), TableError<Infallible>> {
        for value in &self.values {
            check_value(value)?;
        }
        let glued = matches!(self.operator, Operator::LessThan | Operator::GreaterThan);
        if let Some(value) = self
            .values
            .iter()
            .find(|value| glued && value.starts_with('='))
        {
            return Err(refuse(
                "value",
                value.clone(),
                "`=` right after `<` or `>` would read as `<=` or `>=`",
            ));
        }
        let joined = match self.operator {
            Operator::IsEmpty | Operator::IsNotEmpty => String::new(),
            Operator::In | Operator::NotIn => {
                if self.values.is_empty() {
                    return Err(refuse(
                        "IN list",
                        String::new(),
                        "an IN list needs at least one value",
                    ));
                }
                if let Some(value) = self.values.iter().find(|value| value.contains(',')) {
                    return Err(refuse(
                        "IN value",
                        value.clone(),
                        "`,` separates IN values and has no escape",
                    ));
                }
                self.values.join(",")
            }
            Operator::Between => {
                if let Some(value) = self.values.iter().find(|value| value.contains('@')) {
                    return Err(refuse(
                        "BETWEEN bound",
                        value.clone(),
                        "`@` separates BETWEEN bounds and has no escape",
                    ));
                }
                self.values.join("@")
            }
            _ => self.values.concat(),
        };
        out.push_str(field.as_str());
        out.push_str(self.operator.token());
        out.push_str(&joined);
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connector {
    And,
    Or,
    NewQuery,
}

/// Builds an [`EncodedQuery`] from conditions; nothing is validated until [`Query::build`],
/// which reports the first refused field name or value.
#[derive(Debug, Clone, Default)]
pub struct Query {
    conditions: Vec<(Connector, String, Condition)>,
    orders: Vec<(String, bool)>,
}

impl Query {
    /// An empty query (matches every row).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `^field…` (AND); the first condition of a query or group needs no connector.
    pub fn and(mut self, field: impl Into<String>, condition: Condition) -> Self {
        self.conditions
            .push((Connector::And, field.into(), condition));
        self
    }

    /// Adds `^ORfield…`, OR-ed with the condition before it.
    pub fn or(mut self, field: impl Into<String>, condition: Condition) -> Self {
        self.conditions
            .push((Connector::Or, field.into(), condition));
        self
    }

    /// Adds `^NQfield…`: starts a new query OR-ed with everything before it.
    pub fn new_query(mut self, field: impl Into<String>, condition: Condition) -> Self {
        self.conditions
            .push((Connector::NewQuery, field.into(), condition));
        self
    }

    /// Adds `^ORDERBYfield` (ascending).
    pub fn order_by(mut self, field: impl Into<String>) -> Self {
        self.orders.push((field.into(), false));
        self
    }

    /// Adds `^ORDERBYDESCfield` (descending).
    pub fn order_by_desc(mut self, field: impl Into<String>) -> Self {
        self.orders.push((field.into(), true));
        self
    }

    /// Validates every field name and value and encodes the query.
    pub fn build(&self) -> Result<EncodedQuery, TableError<Infallible>> {
        let mut text = String::new();
        for (index, (connector, field, condition)) in self.conditions.iter().enumerate() {
            let field = checked_field(field)?;
            if index > 0 {
                text.push_str(match connector {
                    Connector::And => "^",
                    Connector::Or => "^OR",
                    Connector::NewQuery => "^NQ",
                });
            }
            condition.encode(&field, &mut text)?;
        }
        for (field, descending) in &self.orders {
            let field = checked_field(field)?;
            if !text.is_empty() {
                text.push('^');
            }
            text.push_str(if *descending {
                "ORDERBYDESC"
            } else {
                "ORDERBY"
            });
            text.push_str(field.as_str());
        }
        Ok(EncodedQuery {
            text,
            ordered: !self.orders.is_empty(),
        })
    }
}

fn refuse(what: &'static str, value: String, reason: &'static str) -> TableError<Infallible> {
    TableError::UnsafeQuery {
        what,
        value,
        reason,
    }
}

fn checked_field(field: &str) -> Result<FieldName, TableError<Infallible>> {
    if field.contains('^') {
        return Err(refuse(
            "field name",
            field.to_owned(),
            "`^` would end the condition and start another",
        ));
    }
    FieldName::new(field).map_err(|_| {
        refuse(
            "field name",
            field.to_owned(),
            "field names may contain only a-z, 0-9, _ and . (operators are upper case)",
        )
    })
}

fn check_value(value: &str) -> Result<(), TableError<Infallible>> {
    if value.contains('^') {
        return Err(refuse(
            "value",
            value.to_owned(),
            "`^` would end the condition and start another",
        ));
    }
    if value
        .trim_start()
        .get(..11)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("javascript:"))
    {
        return Err(refuse(
            "value",
            value.to_owned(),
            "a value starting with `javascript:` is run as a script by the instance",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(query: Query) -> (String, String) {
        match query.build() {
            Err(TableError::UnsafeQuery { what, value, .. }) => (what.to_owned(), value),
            other => (format!("not refused: {other:?}"), String::new()),
        }
    }

    #[test]
    fn every_operator_encodes_as_servicenow_writes_it() {
        let query = Query::new()
            .and("a", Condition::eq("1"))
            .and("b", Condition::ne("2"))
            .or("c", Condition::lt(3))
            .or("d", Condition::le(4))
            .new_query("e", Condition::gt(5))
            .and("f", Condition::ge(6))
            .and("g", Condition::like("x y"))
            .and("h", Condition::not_like("z"))
            .and("i", Condition::starts_with("IN"))
            .and("j", Condition::ends_with("01"))
            .and("k", Condition::is_in(["1", "2"]))
            .and("l", Condition::not_in([7, 8]))
            .and("m", Condition::is_empty())
            .and("n", Condition::is_not_empty())
            .and("o.p", Condition::between(1, 3))
            .order_by("number")
            .order_by_desc("sys_created_on")
            .build()
            .expect("every part is safe");
        assert_eq!(
            query.as_str(),
            "a=1^b!=2^ORc<3^ORd<=4^NQe>5^f>=6^gLIKEx y^hNOT LIKEz^iSTARTSWITHIN^jENDSWITH01\
             ^kIN1,2^lNOT IN7,8^mISEMPTY^nISNOTEMPTY^o.pBETWEEN1@3^ORDERBYnumber^ORDERBYDESCsys_created_on"
        );
        assert!(query.has_order());
    }

    #[test]
    fn the_builder_refuses_what_would_change_the_meaning_and_names_the_value() {
        assert_eq!(
            refused(Query::new().and("a", Condition::eq("x^ORb=1"))),
            ("value".into(), "x^ORb=1".into())
        );
        assert_eq!(
            refused(Query::new().and("a", Condition::like("x^NQb=1"))),
            ("value".into(), "x^NQb=1".into())
        );
        assert_eq!(
            refused(Query::new().and("a^ORb", Condition::eq("1"))),
            ("field name".into(), "a^ORb".into())
        );
        assert_eq!(
            refused(Query::new().and("a=1", Condition::eq("1"))),
            ("field name".into(), "a=1".into())
        );
        assert_eq!(
            refused(Query::new().and("ä", Condition::eq("1"))),
            ("field name".into(), "ä".into())
        );
        assert_eq!(
            refused(Query::new().and("a", Condition::is_in(["1", "2,3"]))),
            ("IN value".into(), "2,3".into())
        );
        assert_eq!(
            refused(Query::new().and("a", Condition::not_in(["1,2"]))),
            ("IN value".into(), "1,2".into())
        );
        assert_eq!(
            refused(Query::new().and("a", Condition::between("1@2", 3))),
            ("BETWEEN bound".into(), "1@2".into())
        );
        assert_eq!(
            refused(Query::new().and("a", Condition::eq(" JavaScript:gs.getUserID()"))),
            ("value".into(), " JavaScript:gs.getUserID()".into())
        );
        assert_eq!(
            refused(Query::new().order_by("number^ORa=1")),
            ("field name".into(), "number^ORa=1".into())
        );
        let message = Query::new()
            .and("a", Condition::eq("x^y"))
            .build()
            .expect_err("refused")
            .to_string();
        assert!(
            message.contains("\"x^y\"") && message.starts_with("building query"),
            "{message}"
        );
    }

    #[test]
    fn commas_and_at_signs_are_ordinary_characters_outside_in_and_between() {
        let query = Query::new()
            .and("a", Condition::eq("1,2"))
            .and("b", Condition::eq("x@y"))
            .and("c", Condition::eq("javascript"))
            .build()
            .expect("safe values");
        assert_eq!(query.as_str(), "a=1,2^b=x@y^c=javascript");
    }

    #[test]
    fn a_stable_order_is_appended_only_when_missing() {
        let empty = Query::new().build().expect("empty");
        assert_eq!(empty.with_stable_order().as_str(), "ORDERBYsys_id");
        let filtered = Query::new()
            .and("active", Condition::eq("true"))
            .build()
            .expect("safe");
        assert_eq!(
            filtered.with_stable_order().as_str(),
            "active=true^ORDERBYsys_id"
        );
        assert!(filtered.with_stable_order().is_ordered_by_sys_id_only());
        let ordered = Query::new()
            .order_by("number")
            .build()
            .expect("safe")
            .with_stable_order();
        assert_eq!(ordered.as_str(), "ORDERBYnumber^ORDERBYsys_id");
        assert!(!ordered.is_ordered_by_sys_id_only());
        let (low, high) = (
            SysId::new("01".repeat(16)).expect("valid"),
            SysId::new("09".repeat(16)).expect("valid"),
        );
        let grouped = Query::new()
            .and("a", Condition::eq(1))
            .new_query("b", Condition::eq(2))
            .build()
            .expect("safe");
        assert_eq!(
            grouped
                .with_stable_order()
                .restricted_to_sys_id_range(&low, Some(&high))
                .as_str(),
            format!(
                "a=1^sys_id>{low}^sys_id<{high}^NQb=2^sys_id>{low}^sys_id<{high}^ORDERBYsys_id"
            )
        );
        assert_eq!(
            grouped
                .within_sys_id_range(Some(SysIdBound::From("8")), Some("c"))
                .as_str(),
            "a=1^sys_id>=8^sys_id<c^NQb=2^sys_id>=8^sys_id<c^ORDERBYsys_id"
        );
        assert_eq!(
            empty
                .with_stable_order()
                .restricted_to_sys_id_range(&low, None)
                .as_str(),
            format!("sys_id>{low}^ORDERBYsys_id")
        );
        assert!(empty.allows_keyset() && filtered.allows_keyset());
        assert!(!ordered.allows_keyset());
        let raw = EncodedQuery::unchecked_raw_from_trusted_source("active=true^ORDERBYDESCsys_id");
        assert_eq!(
            raw.with_stable_order().as_str(),
            "active=true^ORDERBYDESCsys_id"
        );
    }
}

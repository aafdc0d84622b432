//! Encoded queries (`sysparm_query`), parsed and evaluated independently of any client code
//! (`servicenow-api.md` §3).
//!
//! Syntax: conditions `<field><OPERATOR><value>` joined by `^` (AND) and `^OR` (OR, binding
//! tighter than AND), groups joined by `^NQ` (OR of groups), `ORDERBY<field>` and
//! `ORDERBYDESC<field>` anywhere, `^^` for a literal caret, a trailing `^EQ` ignored.
//! Field names are `[a-z0-9_.]` (dots walk references). Values are compared as integers when
//! both sides are integers, otherwise byte-wise as strings (so glide date-times compare in time
//! order); everything is case-sensitive, as the docs say.
//!
//! ```
//! use servicenow_emulator::query::EncodedQuery;
//!
//! let query = EncodedQuery::parse("active=true^priority<=2^ORDERBYDESCnumber").unwrap();
//! let row = |field: &str| match field {
//!     "active" => Some("true".to_owned()),
//!     "priority" => Some("1".to_owned()),
//!     _ => None,
//! };
//! assert!(query.matches(|field| row(field).unwrap_or_default()));
//! assert_eq!(query.order_by[0].field, "number");
//! ```

mod eval;
mod parse;

pub use eval::compare_values;

/// A comparison operator of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operator {
    /// `=`
    Equals,
    /// `!=`
    NotEquals,
    /// `<`
    LessThan,
    /// `<=`
    LessOrEqual,
    /// `>`
    GreaterThan,
    /// `>=`
    GreaterOrEqual,
    /// `LIKE` (contains)
    Like,
    /// `NOT LIKE` (also accepted as `NOTLIKE`)
    NotLike,
    /// `STARTSWITH`
    StartsWith,
    /// `ENDSWITH`
    EndsWith,
    /// `IN` (comma-separated list)
    In,
    /// `NOT IN` (also accepted as `NOTIN`)
    NotIn,
    /// `ISEMPTY`
    IsEmpty,
    /// `ISNOTEMPTY`
    IsNotEmpty,
    /// `EMPTYSTRING`
    EmptyString,
    /// `ANYTHING`
    Anything,
    /// `BETWEEN low@high` (inclusive)
    Between,
}

impl Operator {
    /// The operator as written in an encoded query (the documented spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equals => "=",
            Self::NotEquals => "!=",
            Self::LessThan => "<",
            Self::LessOrEqual => "<=",
            Self::GreaterThan => ">",
            Self::GreaterOrEqual => ">=",
            Self::Like => "LIKE",
            Self::NotLike => "NOT LIKE",
            Self::StartsWith => "STARTSWITH",
            Self::EndsWith => "ENDSWITH",
            Self::In => "IN",
            Self::NotIn => "NOT IN",
            Self::IsEmpty => "ISEMPTY",
            Self::IsNotEmpty => "ISNOTEMPTY",
            Self::EmptyString => "EMPTYSTRING",
            Self::Anything => "ANYTHING",
            Self::Between => "BETWEEN",
        }
    }

    /// Whether the operator takes no value.
    pub fn is_unary(self) -> bool {
        matches!(
            self,
            Self::IsEmpty | Self::IsNotEmpty | Self::EmptyString | Self::Anything
        )
    }
}

/// One condition, e.g. `priority<=2`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// The field, possibly dot-walked.
    pub field: String,
    /// The operator.
    pub operator: Operator,
    /// The value as written, with `^^` already turned into `^`.
    pub value: String,
}

/// An ORDERBY key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderBy {
    /// The field.
    pub field: String,
    /// `ORDERBYDESC`.
    pub descending: bool,
}

/// Conditions joined by `^`; each inner list is one condition and its `^OR` alternatives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryGroup {
    /// All of these must hold; each holds when any of its conditions does.
    pub clauses: Vec<Vec<Condition>>,
}

/// A parsed encoded query: groups joined by `^NQ`, plus ordering and the parts that could not
/// be understood (a real instance ignores those).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncodedQuery {
    /// Any group must hold; no groups means every row matches.
    pub groups: Vec<QueryGroup>,
    /// Sort keys in order.
    pub order_by: Vec<OrderBy>,
    /// Terms that were ignored (unknown operator, malformed, or an unknown field once
    /// [`retain_fields`](Self::retain_fields) ran).
    pub invalid_terms: Vec<String>,
}

/// Why a query was refused outright.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryRefusal {
    /// A value contains `javascript:`, which a real instance would run as a script.
    Script,
}

impl EncodedQuery {
    /// Parses an encoded query. Unknown parts are kept in `invalid_terms`; only script values
    /// are refused.
    pub fn parse(text: &str) -> Result<Self, QueryRefusal> {
        parse::parse(text)
    }

    /// Moves conditions on fields for which `exists` is false into `invalid_terms` (a real
    /// instance ignores them); a clause left empty is dropped.
    pub fn retain_fields(&mut self, exists: impl Fn(&str) -> bool) {
        for group in &mut self.groups {
            for clause in &mut group.clauses {
                let (kept, dropped): (Vec<Condition>, Vec<Condition>) = clause
                    .drain(..)
                    .partition(|condition| exists(&condition.field));
                self.invalid_terms.extend(dropped.iter().map(|condition| {
                    format!(
                        "{}{}{}",
                        condition.field,
                        condition.operator.as_str(),
                        condition.value
                    )
                }));
                *clause = kept;
            }
            group.clauses.retain(|clause| !clause.is_empty());
        }
        let (kept, dropped): (Vec<OrderBy>, Vec<OrderBy>) = self
            .order_by
            .drain(..)
            .partition(|order| exists(&order.field));
        self.invalid_terms.extend(
            dropped
                .into_iter()
                .map(|order| format!("ORDERBY{}", order.field)),
        );
        self.order_by = kept;
    }

    /// Whether the query has no conditions (it may still order).
    pub fn is_unconditional(&self) -> bool {
        self.groups.iter().all(|group| group.clauses.is_empty())
    }

    /// Whether a row matches; `value` gives a field's value (`""` when empty).
    pub fn matches<V: AsRef<str>>(&self, mut value: impl FnMut(&str) -> V) -> bool {
        eval::matches(self, &mut value)
    }
}

//! Evaluating a parsed query against one row, and the value ordering used by comparisons and
//! ORDERBY.

use std::cmp::Ordering;

use super::{Condition, EncodedQuery, Operator};

pub(super) fn matches<V: AsRef<str>>(
    query: &EncodedQuery,
    value: &mut impl FnMut(&str) -> V,
) -> bool {
    query.groups.is_empty()
        || query.groups.iter().any(|group| {
            group
                .clauses
                .iter()
                .all(|clause| clause.iter().any(|condition| holds(condition, value)))
        })
}

fn holds<V: AsRef<str>>(condition: &Condition, value: &mut impl FnMut(&str) -> V) -> bool {
    let actual = value(&condition.field);
    let actual = actual.as_ref();
    let expected = condition.value.as_str();
    // A sys_id is a GUID string: it compares as text even when a bound looks like a number
    // (`sys_id>00000000000000000000000000000001`, a partition bound).
    let compare_values: fn(&str, &str) -> Ordering = if is_sys_id_field(&condition.field) {
        |left, right| left.cmp(right)
    } else {
        compare_values
    };
    match condition.operator {
        Operator::Equals => actual == expected,
        Operator::NotEquals => actual != expected,
        Operator::LessThan => compare_values(actual, expected) == Ordering::Less,
        Operator::LessOrEqual => compare_values(actual, expected) != Ordering::Greater,
        Operator::GreaterThan => compare_values(actual, expected) == Ordering::Greater,
        Operator::GreaterOrEqual => compare_values(actual, expected) != Ordering::Less,
        Operator::Like => actual.contains(expected),
        Operator::NotLike => !actual.contains(expected),
        Operator::StartsWith => actual.starts_with(expected),
        Operator::EndsWith => actual.ends_with(expected),
        Operator::In => expected.split(',').any(|item| item == actual),
        Operator::NotIn => !expected.split(',').any(|item| item == actual),
        Operator::IsEmpty | Operator::EmptyString => actual.is_empty(),
        Operator::IsNotEmpty => !actual.is_empty(),
        Operator::Anything => true,
        Operator::Between => match expected.split_once('@') {
            Some((low, high)) => {
                compare_values(actual, low) != Ordering::Less
                    && compare_values(actual, high) != Ordering::Greater
            }
            None => false,
        },
    }
}

/// Whether a (possibly dot-walked) field is a `sys_id`.
fn is_sys_id_field(field: &str) -> bool {
    field == "sys_id" || field.ends_with(".sys_id")
}

/// The order of two field values: integers numerically and before non-integers; everything
/// else byte-wise (glide date-times sort in time order). A total order, so sorting is safe.
pub fn compare_values(left: &str, right: &str) -> Ordering {
    match (left.parse::<i64>(), right.parse::<i64>()) {
        (Ok(left), Ok(right)) => left.cmp(&right),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => left.cmp(right),
    }
}

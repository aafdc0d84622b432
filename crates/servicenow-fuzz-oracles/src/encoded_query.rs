//! The oracle of the `encoded_query` fuzz target: the emulator's encoded-query parser round-trips through the documented syntax, and its value order is a total order.
//!
//! [`print()`] writes a parsed query back in the syntax of `servicenow-api.md` §3, independently
//! of the parser: conditions `<field><OPERATOR><value>` joined by `^` within a group and by
//! `^OR` within a clause, groups joined by `^NQ`, `ORDERBY…` terms last, and `^` inside a value
//! written `^^`. Whatever parses must print to a query that parses to the same conditions and
//! order, and print again to the same text.

use std::cmp::Ordering;

use servicenow_emulator::query::{EncodedQuery, compare_values};

/// Checks the properties of the target on one input; panics when one does not hold.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(query) = EncodedQuery::parse(text) {
        let printed = print(&query);
        let again = EncodedQuery::parse(&printed).unwrap_or_else(|refusal| {
            panic!("{printed:?} (printed from {text:?}) is refused: {refusal:?}")
        });
        assert_eq!(
            again.groups, query.groups,
            "{text:?} printed as {printed:?} parses to other conditions"
        );
        assert_eq!(
            again.order_by, query.order_by,
            "{text:?} printed as {printed:?} parses to another order"
        );
        assert!(
            again.invalid_terms.is_empty(),
            "{printed:?} has terms the parser ignores: {:?}",
            again.invalid_terms
        );
        assert_eq!(print(&again), printed, "printing is not a fixed point");
        evaluate(query, text);
    }
    // The value ordering used by comparisons and ORDERBY is a total order: antisymmetric,
    // transitive, and equal only for equal text.
    let values: Vec<&str> = text.split('\u{0}').take(3).collect();
    for left in &values {
        for right in &values {
            let order = compare_values(left, right);
            assert_eq!(
                order,
                compare_values(right, left).reverse(),
                "{left:?} vs {right:?}"
            );
            assert_eq!(
                order == Ordering::Equal,
                left == right || same_integer(left, right),
                "{left:?} vs {right:?}"
            );
        }
    }
    if let [a, b, c] = values[..] {
        if compare_values(a, b) != Ordering::Greater && compare_values(b, c) != Ordering::Greater {
            assert_ne!(
                compare_values(a, c),
                Ordering::Greater,
                "not transitive: {a:?} {b:?} {c:?}"
            );
        }
    }
}

/// Two texts that are the same integer (`"007"` and `"7"`).
fn same_integer(left: &str, right: &str) -> bool {
    matches!((left.parse::<i64>(), right.parse::<i64>()), (Ok(a), Ok(b)) if a == b)
}

/// The query in encoded-query syntax.
pub fn print(query: &EncodedQuery) -> String {
    let escape = |text: &str| text.replace('^', "^^");
    let groups = query.groups.iter().map(|group| {
        group
            .clauses
            .iter()
            .map(|clause| {
                clause
                    .iter()
                    .map(|condition| {
                        format!(
                            "{}{}{}",
                            condition.field,
                            condition.operator.as_str(),
                            escape(&condition.value)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("^OR")
            })
            .collect::<Vec<_>>()
            .join("^")
    });
    let orders = query.order_by.iter().map(|order| {
        format!(
            "ORDERBY{}{}",
            if order.descending { "DESC" } else { "" },
            order.field
        )
    });
    let conditions = groups.collect::<Vec<_>>().join("^NQ");
    std::iter::once(conditions)
        .filter(|conditions| !conditions.is_empty())
        .chain(orders)
        .collect::<Vec<_>>()
        .join("^")
}

/// Evaluation never panics, and a row built to hold every condition's own value makes every
/// `=` condition of a one-condition clause hold.
fn evaluate(mut query: EncodedQuery, text: &str) {
    let values: Vec<&str> = text.split(['^', '=']).collect();
    for offset in 0..values.len().min(4) {
        let _ = query.matches(|field| values[(field.len() + offset) % values.len()]);
    }
    for group in &query.groups {
        for clause in &group.clauses {
            if let [condition] = &clause[..] {
                if condition.operator == servicenow_emulator::query::Operator::Equals {
                    let single = EncodedQuery {
                        groups: vec![servicenow_emulator::query::QueryGroup {
                            clauses: vec![clause.clone()],
                        }],
                        ..EncodedQuery::default()
                    };
                    assert!(
                        single.matches(|field| if field == condition.field {
                            condition.value.as_str()
                        } else {
                            ""
                        }),
                        "{}={} does not hold for a row holding that value",
                        condition.field,
                        condition.value
                    );
                }
            }
        }
    }
    let _ = query.is_unconditional();
    query.retain_fields(|field| field.len() % 2 == 0);
    let _ = query.matches(str::to_owned);
}

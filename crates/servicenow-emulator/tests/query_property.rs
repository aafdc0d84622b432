//! Property test of the encoded-query parser and evaluator against a straightforward reference
//! filter over generated rows (servicenow-api.md §3.1 structure, §3.2 operators, §3.4 `^^`).
//!
//! A random query is built as data, written as an encoded query (carets in values escaped as
//! `^^`), parsed by the emulator and evaluated on random rows; the reference evaluates the
//! data directly. Both must select the same rows.

use std::{cmp::Ordering, collections::BTreeMap};

use proptest::prelude::*;
use servicenow_emulator::query::{EncodedQuery, Operator};

const FIELDS: &[&str] = &["a", "b", "c_d"];
/// Values that exercise numbers, prefixes, empty strings and the characters that need care.
const VALUES: &[&str] = &[
    "", "1", "2", "10", "-3", "x", "xy", "yx", "a^b", "^NQ", "q^OR", "end^", "y,z", "m@n", "Ü",
];
/// Values safe inside an IN list (no comma) or a BETWEEN bound (no `@`).
const LIST_ITEMS: &[&str] = &["", "1", "2", "10", "x", "xy", "a^b", "Ü"];

const OPERATORS: &[Operator] = &[
    Operator::Equals,
    Operator::NotEquals,
    Operator::LessThan,
    Operator::LessOrEqual,
    Operator::GreaterThan,
    Operator::GreaterOrEqual,
    Operator::Like,
    Operator::NotLike,
    Operator::StartsWith,
    Operator::EndsWith,
    Operator::In,
    Operator::NotIn,
    Operator::IsEmpty,
    Operator::IsNotEmpty,
    Operator::EmptyString,
    Operator::Anything,
    Operator::Between,
];

#[derive(Clone, Debug)]
struct ModelCondition {
    field: &'static str,
    operator: Operator,
    /// For IN lists the items, for BETWEEN the two bounds, otherwise one value.
    values: Vec<&'static str>,
}

type Row = BTreeMap<&'static str, &'static str>;

fn condition() -> impl Strategy<Value = ModelCondition> {
    (
        prop::sample::select(FIELDS),
        prop::sample::select(OPERATORS),
        prop::sample::select(VALUES),
        prop::collection::vec(prop::sample::select(LIST_ITEMS), 1..4),
    )
        .prop_map(|(field, operator, value, items)| {
            let values = match operator {
                Operator::In | Operator::NotIn => items,
                Operator::Between => vec![items[0], *items.last().unwrap_or(&"")],
                _ if operator.is_unary() => Vec::new(),
                _ => vec![value],
            };
            ModelCondition {
                field,
                operator,
                values,
            }
        })
}

/// Groups (joined by ^NQ) of clauses (joined by ^) of alternatives (joined by ^OR).
fn query_model() -> impl Strategy<Value = Vec<Vec<Vec<ModelCondition>>>> {
    prop::collection::vec(
        prop::collection::vec(prop::collection::vec(condition(), 1..3), 1..4),
        1..3,
    )
}

fn rows() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec(
        (
            prop::sample::select(VALUES),
            prop::sample::select(VALUES),
            prop::sample::select(VALUES),
        )
            .prop_map(|(a, b, c)| Row::from([("a", a), ("b", b), ("c_d", c)])),
        0..25,
    )
}

fn encode(groups: &[Vec<Vec<ModelCondition>>], order_by: Option<&str>) -> String {
    let escape = |value: &str| value.replace('^', "^^");
    let condition = |condition: &ModelCondition| {
        let value = match condition.operator {
            Operator::In | Operator::NotIn => condition
                .values
                .iter()
                .map(|item| escape(item))
                .collect::<Vec<_>>()
                .join(","),
            Operator::Between => format!(
                "{}@{}",
                escape(condition.values[0]),
                escape(condition.values[1])
            ),
            _ => condition
                .values
                .first()
                .map(|value| escape(value))
                .unwrap_or_default(),
        };
        format!(
            "{}{}{}",
            condition.field,
            condition.operator.as_str(),
            value
        )
    };
    let mut text = groups
        .iter()
        .map(|group| {
            group
                .iter()
                .map(|clause| clause.iter().map(condition).collect::<Vec<_>>().join("^OR"))
                .collect::<Vec<_>>()
                .join("^")
        })
        .collect::<Vec<_>>()
        .join("^NQ");
    if let Some(field) = order_by {
        text.push_str(&format!("^ORDERBYDESC{field}"));
    }
    text
}

/// The reference: integers compare as integers, anything else byte-wise.
fn reference_compare(left: &str, right: &str) -> Ordering {
    match (left.parse::<i64>(), right.parse::<i64>()) {
        (Ok(left), Ok(right)) => left.cmp(&right),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        _ => left.as_bytes().cmp(right.as_bytes()),
    }
}

fn reference_holds(condition: &ModelCondition, row: &Row) -> bool {
    let actual = row[condition.field];
    let value = condition.values.first().copied().unwrap_or_default();
    match condition.operator {
        Operator::Equals => actual == value,
        Operator::NotEquals => actual != value,
        Operator::LessThan => reference_compare(actual, value).is_lt(),
        Operator::LessOrEqual => reference_compare(actual, value).is_le(),
        Operator::GreaterThan => reference_compare(actual, value).is_gt(),
        Operator::GreaterOrEqual => reference_compare(actual, value).is_ge(),
        Operator::Like => actual.contains(value),
        Operator::NotLike => !actual.contains(value),
        Operator::StartsWith => actual.starts_with(value),
        Operator::EndsWith => actual.ends_with(value),
        Operator::In => condition.values.contains(&actual),
        Operator::NotIn => !condition.values.contains(&actual),
        Operator::IsEmpty | Operator::EmptyString => actual.is_empty(),
        Operator::IsNotEmpty => !actual.is_empty(),
        Operator::Anything => true,
        Operator::Between => {
            reference_compare(actual, condition.values[0]).is_ge()
                && reference_compare(actual, condition.values[1]).is_le()
        }
        other => panic!("the model does not generate {other:?}"),
    }
}

fn reference_matches(groups: &[Vec<Vec<ModelCondition>>], row: &Row) -> bool {
    groups.iter().any(|group| {
        group.iter().all(|clause| {
            clause
                .iter()
                .any(|condition| reference_holds(condition, row))
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_parsed_query_selects_exactly_the_rows_the_reference_filter_selects(
        groups in query_model(),
        rows in rows(),
        order_by in prop::option::of(prop::sample::select(FIELDS)),
    ) {
        let text = encode(&groups, order_by);
        let query = EncodedQuery::parse(&text).expect("no script values are generated");
        prop_assert!(query.invalid_terms.is_empty(), "{text} left {:?}", query.invalid_terms);
        prop_assert_eq!(query.order_by.len(), usize::from(order_by.is_some()));
        for row in &rows {
            let emulator = query.matches(|field| row.get(field).copied().unwrap_or_default());
            prop_assert_eq!(emulator, reference_matches(&groups, row), "query {} on row {:?}", text, row);
        }
    }

    #[test]
    fn arbitrary_text_parses_to_conditions_on_well_formed_field_names_only(text in "\\PC{0,80}") {
        if let Ok(query) = EncodedQuery::parse(&text) {
            let fields = query.groups.iter().flat_map(|group| &group.clauses).flatten().map(|condition| &condition.field);
            for field in fields.chain(query.order_by.iter().map(|order| &order.field)) {
                prop_assert!(!field.is_empty() && field.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"_.".contains(&byte)), "{field:?} from {text:?}");
            }
        }
    }
}

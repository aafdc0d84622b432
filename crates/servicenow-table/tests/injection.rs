//! The injection-safety property: for random field names and values (with `^`, `^OR`, `^NQ`,
//! `,`, `@`, `javascript:` and Unicode), the query builder either refuses with a reason that
//! holds, or the emulator returns exactly the rows a straightforward in-test filter selects
//! from the same generated data.

mod emulator;

use std::{cell::Cell, collections::BTreeSet};

use proptest::{
    prelude::*,
    sample::select,
    test_runner::{TestRng, TestRunner},
};
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use servicenow_emulator::Emulator;
use servicenow_table::{Condition, ListParams, Query, Record, TableError, TableName, WriteOptions};

/// The pieces values are made of: query metacharacters, operator words, Unicode.
const PIECES: &[&str] = &[
    "x", "y", "^", "^OR", "^NQ", ",", "@", "=", "!=", " ", "LIKE", "IN", "é", "日本", "ORDERBY",
    "z^^",
];
const COLUMNS: &[&str] = &["u_a", "u_b"];
const ROWS: usize = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Ge,
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

#[derive(Clone, Copy, Debug)]
enum Join {
    And,
    Or,
    NewQuery,
}

#[derive(Clone, Debug)]
struct Term {
    field: String,
    op: Op,
    values: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Row {
    sys_id: String,
    u_a: String,
    u_b: String,
}

fn value() -> impl Strategy<Value = String> {
    (
        prop::bool::weighted(0.1),
        prop::collection::vec(select(PIECES), 0..4),
    )
        .prop_map(|(script, pieces)| {
            format!(
                "{}{}",
                if script { "javascript:" } else { "" },
                pieces.concat()
            )
        })
}

fn field() -> BoxedStrategy<String> {
    prop_oneof![
        4 => select(COLUMNS).prop_map(str::to_owned),
        1 => "[a-zA-Z_.^=,@ äIN]{0,8}",
        1 => select(&["u_a^ORu_b", "u_a=x", "u_aIN", "u_A", "u_a,u_b", "u_a^NQu_b", "javascript:", ".u_a"][..]).prop_map(str::to_owned),
    ]
    .boxed()
}

fn term() -> impl Strategy<Value = Term> {
    let op = select(
        &[
            Op::Eq,
            Op::Ne,
            Op::Lt,
            Op::Gt,
            Op::Ge,
            Op::Like,
            Op::NotLike,
            Op::StartsWith,
            Op::EndsWith,
            Op::In,
            Op::NotIn,
            Op::IsEmpty,
            Op::IsNotEmpty,
            Op::Between,
        ][..],
    );
    (field(), op, prop::collection::vec(value(), 1..4)).prop_map(|(field, op, values)| Term {
        field,
        op,
        values,
    })
}

fn query() -> impl Strategy<Value = (Term, Option<(Join, Term)>)> {
    (
        term(),
        prop::option::of((select(&[Join::And, Join::Or, Join::NewQuery][..]), term())),
    )
}

fn condition(term: &Term) -> Condition {
    let first = term.values[0].clone();
    match term.op {
        Op::Eq => Condition::eq(first),
        Op::Ne => Condition::ne(first),
        Op::Lt => Condition::lt(first),
        Op::Gt => Condition::gt(first),
        Op::Ge => Condition::ge(first),
        Op::Like => Condition::like(first),
        Op::NotLike => Condition::not_like(first),
        Op::StartsWith => Condition::starts_with(first),
        Op::EndsWith => Condition::ends_with(first),
        Op::In => Condition::is_in(term.values.clone()),
        Op::NotIn => Condition::not_in(term.values.clone()),
        Op::IsEmpty => Condition::is_empty(),
        Op::IsNotEmpty => Condition::is_not_empty(),
        Op::Between => Condition::between(first, term.values.get(1).cloned().unwrap_or_default()),
    }
}

/// The values a term sends, as the builder sees them.
fn sent_values(term: &Term) -> Vec<&str> {
    match term.op {
        Op::IsEmpty | Op::IsNotEmpty => Vec::new(),
        Op::In | Op::NotIn => term.values.iter().map(String::as_str).collect(),
        Op::Between => vec![
            term.values[0].as_str(),
            term.values.get(1).map_or("", String::as_str),
        ],
        _ => vec![term.values[0].as_str()],
    }
}

/// Whether the builder must refuse the term, by the rules the issue lists.
fn must_refuse(term: &Term) -> bool {
    let field_ok = !term.field.is_empty()
        && term.field.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'.'
        })
        && !term.field.starts_with('.')
        && !term.field.ends_with('.')
        && !term.field.contains("..");
    let values = sent_values(term);
    let bad_value = values.iter().any(|value| {
        value.contains('^') || value.trim_start().to_lowercase().starts_with("javascript:")
    });
    let bad_list =
        matches!(term.op, Op::In | Op::NotIn) && values.iter().any(|value| value.contains(','));
    let bad_bound = term.op == Op::Between && values.iter().any(|value| value.contains('@'));
    // Found by this test: `a<` followed by `=x` reads as `a<=` `x`.
    let glued_operator =
        matches!(term.op, Op::Lt | Op::Gt) && values.iter().any(|value| value.starts_with('='));
    !field_ok || bad_value || bad_list || bad_bound || glued_operator
}

/// The straightforward filter: what the term means, applied to one generated row.
fn holds(term: &Term, row: &Row) -> bool {
    let actual = if term.field == "u_a" {
        row.u_a.as_str()
    } else {
        row.u_b.as_str()
    };
    let values = sent_values(term);
    match term.op {
        Op::Eq => actual == values[0],
        Op::Ne => actual != values[0],
        Op::Lt => actual < values[0],
        Op::Gt => actual > values[0],
        Op::Ge => actual >= values[0],
        Op::Like => actual.contains(values[0]),
        Op::NotLike => !actual.contains(values[0]),
        Op::StartsWith => actual.starts_with(values[0]),
        Op::EndsWith => actual.ends_with(values[0]),
        Op::In => values.contains(&actual),
        Op::NotIn => !values.contains(&actual),
        Op::IsEmpty => actual.is_empty(),
        Op::IsNotEmpty => !actual.is_empty(),
        Op::Between => values[0] <= actual && actual <= values[1],
    }
}

#[test]
fn the_builder_refuses_or_the_instance_returns_exactly_the_rows_the_query_means() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let emulator = runtime.block_on(emulator::start(Emulator::builder()));
    let client = emulator::client(&emulator);
    let table = TableName::new("u_injection").expect("valid");

    // The generated data: both columns drawn from the same pieces as the queries' values.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let piece_value = |rng: &mut rand_chacha::ChaCha8Rng| -> String {
        (0..rng.random_range(0..3))
            .map(|_| PIECES[rng.random_range(0..PIECES.len())])
            .collect()
    };
    let rows: Vec<Row> = runtime.block_on(async {
        let mut rows = Vec::new();
        for _ in 0..ROWS {
            let (u_a, u_b) = (piece_value(&mut rng), piece_value(&mut rng));
            let record = Record::new().with("u_a", u_a).with("u_b", u_b);
            let created = client
                .create::<_, Row>(&table, &record, &WriteOptions::default())
                .await
                .expect("insert a row");
            rows.push(created.record);
        }
        rows
    });

    let config = ProptestConfig {
        cases: 1_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config.clone(),
        TestRng::deterministic_rng(config.rng_algorithm),
    );
    let (refused, compared, matched_rows) = (Cell::new(0), Cell::new(0), Cell::new(0));
    let outcome = runner.run(&query(), |(first, second)| {
        let mut builder = Query::new().and(first.field.clone(), condition(&first));
        let mut terms = vec![&first];
        if let Some((join, term)) = &second {
            builder = match join {
                Join::And => builder.and(term.field.clone(), condition(term)),
                Join::Or => builder.or(term.field.clone(), condition(term)),
                Join::NewQuery => builder.new_query(term.field.clone(), condition(term)),
            };
            terms.push(term);
        }
        let expect_refusal = terms.iter().any(|term| must_refuse(term));
        let built = builder.build();
        match built {
            Err(TableError::UnsafeQuery { .. }) => {
                prop_assert!(expect_refusal, "refused a safe query: {first:?} {second:?}");
                refused.set(refused.get() + 1);
                return Ok(());
            }
            Err(other) => return Err(TestCaseError::fail(format!("unexpected error {other:?}"))),
            Ok(_) => prop_assert!(
                !expect_refusal,
                "built an unsafe query: {first:?} {second:?}"
            ),
        }
        // A valid name that is not a column says nothing about injection.
        prop_assume!(
            terms
                .iter()
                .all(|term| COLUMNS.contains(&term.field.as_str()))
        );
        let query = built.map_err(|error| TestCaseError::fail(error.to_string()))?;
        let params = ListParams {
            query: Some(query.clone()),
            ..ListParams::default()
        };
        let page = runtime
            .block_on(client.list::<Row>(&table, &params))
            .map_err(|error| TestCaseError::fail(error.to_string()))?;
        let returned: BTreeSet<String> = page.records.into_iter().map(|row| row.sys_id).collect();
        let expected: BTreeSet<String> = rows
            .iter()
            .filter(|row| match &second {
                None => holds(&first, row),
                Some((Join::And, term)) => holds(&first, row) && holds(term, row),
                Some((Join::Or | Join::NewQuery, term)) => holds(&first, row) || holds(term, row),
            })
            .map(|row| row.sys_id.clone())
            .collect();
        compared.set(compared.get() + 1);
        matched_rows.set(matched_rows.get() + expected.len());
        prop_assert_eq!(returned, expected, "query {}", query);
        Ok(())
    });
    runtime.block_on(emulator.shutdown());
    if let Err(failure) = outcome {
        unreachable!("injection property failed: {failure}");
    }
    eprintln!(
        "{} queries refused, {} compared with the in-test filter ({} matching rows in all)",
        refused.get(),
        compared.get(),
        matched_rows.get()
    );
    assert!(
        refused.get() >= 100 && compared.get() >= 100,
        "both sides of the property were exercised"
    );
}

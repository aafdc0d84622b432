//! The Aggregate API (`servicenow-api-more.md` §2): the exact requests the builder produces, both
//! result shapes parsed from the documented samples (numbers arrive as strings), the error
//! bodies mapped to `TableError`, and a property: over the emulator, the aggregate of random
//! queries and groupings equals the count, min and max computed here from the same rows.

mod emulator;

use std::{collections::BTreeMap, convert::Infallible};

use bytes::Bytes;
use http::StatusCode;
use proptest::prelude::*;
use servicenow_emulator::Emulator;
use servicenow_oauth::InstanceUrl;
use servicenow_table::{
    Aggregate, AggregateFunction, AggregateResult, Condition, DisplayValues, HavingOperator, Query,
    Record, TableApi, TableError, TableName,
};

fn api() -> TableApi {
    TableApi::new(InstanceUrl::new("https://dev1.service-now.com").expect("valid instance"))
}

fn incident() -> TableName {
    TableName::new("incident").expect("valid table")
}

fn render(request: Result<http::Request<Bytes>, TableError<Infallible>>) -> String {
    let request = request.expect("the request builds");
    let mut text = format!("{} {}\n", request.method(), request.uri());
    for (name, value) in request.headers() {
        text.push_str(&format!(
            "{name}: {}\n",
            value.to_str().unwrap_or("<binary>")
        ));
    }
    text
}

fn response(status: u16, body: &str) -> http::Response<Bytes> {
    http::Response::builder()
        .status(status)
        .body(Bytes::from(body.to_owned()))
        .expect("valid response")
}

#[test]
fn an_ungrouped_count_with_min_and_max_of_a_date() -> Result<(), TableError<Infallible>> {
    let query = Query::new().and("active", Condition::eq("true")).build()?;
    let aggregate = Aggregate::new()
        .query(query)
        .count()
        .min("sys_created_on")?
        .max("sys_created_on")?;
    insta::assert_snapshot!(render(api().aggregate_request(&incident(), &aggregate)));
    Ok(())
}

#[test]
fn a_grouped_average_with_having_order_and_display_values() -> Result<(), TableError<Infallible>> {
    let aggregate = Aggregate::new()
        .count()
        .avg("business_stc")?
        .avg("reassignment_count")?
        .sum("reassignment_count")?
        .group_by("assignment_group")?
        .group_by("priority")?
        .having(AggregateFunction::Count, "priority", HavingOperator::Gt, 3)?
        .order_by_aggregate(AggregateFunction::Avg, Some("reassignment_count"))?
        .order_by_desc("priority")?
        .display_values(DisplayValues::All);
    insta::assert_snapshot!(render(api().aggregate_request(&incident(), &aggregate)));
    Ok(())
}

#[test]
fn names_that_could_reshape_the_request_are_refused() {
    for bad in ["priority,state", "a^b", "count^x"] {
        assert!(Aggregate::new().group_by(bad).is_err(), "{bad}");
        assert!(Aggregate::new().avg(bad).is_err(), "{bad}");
    }
    assert!(
        Aggregate::new()
            .having(
                AggregateFunction::Count,
                "priority",
                HavingOperator::Gt,
                f64::NAN
            )
            .is_err()
    );
}

/// The documented grouped sample (`c_AggregateAPI.md`), every number a string, the empty group
/// with `value: ""`.
const GROUPED_SAMPLE: &str = r#"{"result":[{"stats":{"avg":{"business_stc":"804162.7143","reassignment_count":"1.0000"}},"groupby_fields":[{"value":"","field":"assignment_group"}]},{"stats":{"avg":{"business_stc":"1163148.0000","reassignment_count":"0.0000"}},"groupby_fields":[{"field":"assignment_group","value":"8a5055c9c61122780043563ef53438e3"}]}]}"#;
/// The ungrouped shape sndml3 reads (`/result/stats/count`, `/result/stats/min/sys_created_on`).
const UNGROUPED_SAMPLE: &str = r#"{"result":{"stats":{"count":"42","sum":{"f":"17"},"min":{"sys_created_on":"2016-08-12 09:41:10"},"max":{"sys_created_on":"2026-12-01 10:00:00"}}}}"#;

#[test]
fn both_documented_shapes_parse_into_typed_results() -> Result<(), TableError<Infallible>> {
    let grouped = api().parse_aggregate(&response(200, GROUPED_SAMPLE), "aggregate incident")?;
    let AggregateResult::Grouped(groups) = &grouped else {
        return Err(unexpected(&grouped));
    };
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].fields[0].field, "assignment_group");
    assert_eq!(groups[0].fields[0].value, "", "the group without a value");
    assert_eq!(
        groups[0].stats.avg["business_stc"].as_f64(),
        Some(804_162.714_3)
    );
    assert_eq!(groups[1].stats.avg["reassignment_count"].as_str(), "0.0000");
    assert_eq!(grouped.total_count(), None, "no count was asked for");

    let ungrouped =
        api().parse_aggregate(&response(200, UNGROUPED_SAMPLE), "aggregate incident")?;
    let AggregateResult::Ungrouped(stats) = &ungrouped else {
        return Err(unexpected(&ungrouped));
    };
    assert_eq!(stats.count, Some(42), "the count string parsed");
    assert_eq!(stats.sum["f"].as_f64(), Some(17.0));
    assert_eq!(stats.min["sys_created_on"].as_str(), "2016-08-12 09:41:10");
    assert_eq!(
        stats.max["sys_created_on"].as_f64(),
        None,
        "a date is not a number"
    );
    assert_eq!(ungrouped.total_count(), Some(42));
    Ok(())
}

fn unexpected(result: &AggregateResult) -> TableError<Infallible> {
    TableError::MalformedResponse {
        operation: "test".into(),
        status: StatusCode::OK,
        reason: format!("unexpected shape {result:?}"),
    }
}

#[test]
fn a_count_that_is_not_a_number_is_a_malformed_response() {
    let body = r#"{"result":{"stats":{"count":"many"}}}"#;
    let error = api()
        .parse_aggregate(&response(200, body), "aggregate incident")
        .expect_err("not a count");
    assert!(
        matches!(error, TableError::MalformedResponse { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("\"many\" is not a whole number"),
        "{error}"
    );
}

#[test]
fn the_documented_error_bodies_map_to_typed_errors() {
    // The only error bodies published for this API are the Go SDK's mocks (statuses unknown);
    // the emulator answers them with 400. 401 and 403 are the documented statuses.
    let cases = [
        (
            400,
            r#"{"error":{"message":"No request parameter for aggregate operation specified","detail":""},"status":"failure"}"#,
            "bad request",
        ),
        (
            400,
            r#"{"error":{"message":"Invalid table","detail":"Table 'x' does not exist"},"status":"failure"}"#,
            "bad request",
        ),
        (
            401,
            r#"{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"}"#,
            "not authenticated",
        ),
        (
            403,
            r#"{"error":{"message":"Insufficient rights","detail":"No access to the table"},"status":"failure"}"#,
            "forbidden",
        ),
        (
            500,
            r#"{"error":{"message":"Transaction cancelled: maximum execution time exceeded","detail":""},"status":"failure"}"#,
            "transaction cancelled",
        ),
    ];
    for (status, body, says) in cases {
        let error = api()
            .parse_aggregate(&response(status, body), "aggregate incident")
            .expect_err("an error status");
        let message = error.to_string();
        assert!(message.starts_with("aggregate incident: "), "{message}");
        assert!(message.contains(says), "{status}: {message}");
        let servicenow = error.service_now_message().expect("the envelope was read");
        assert_eq!(servicenow.status.as_u16(), status);
        assert!(!servicenow.message.is_empty());
    }
}

#[tokio::test]
async fn the_emulator_answers_both_shapes_to_the_client()
-> Result<(), TableError<servicenow_http::TransportError>> {
    let emulator = emulator::start(Emulator::builder().rows("incident", 200)).await;
    let client = emulator::client(&emulator);
    let wide = TableError::widen;
    let min_max = Aggregate::new()
        .count()
        .min("number")
        .and_then(|aggregate| aggregate.max("number"))
        .map_err(wide)?;
    let ungrouped = client.aggregate(&incident(), &min_max).await?;
    let AggregateResult::Ungrouped(stats) = ungrouped else {
        panic_free(&ungrouped)
    };
    assert_eq!(stats.count, Some(200));
    assert_eq!(stats.min["number"].as_str(), "INC0000001");
    assert_eq!(stats.max["number"].as_str(), "INC0000200");

    let grouped = client
        .aggregate(
            &incident(),
            &Aggregate::new()
                .count()
                .group_by("priority")
                .and_then(|aggregate| {
                    aggregate.order_by_aggregate_desc(AggregateFunction::Count, None)
                })
                .map_err(wide)?
                .display_values(DisplayValues::All),
        )
        .await?;
    let groups = grouped.groups();
    assert!(groups.len() > 1);
    assert_eq!(grouped.total_count(), Some(200));
    let counts: Vec<u64> = groups
        .iter()
        .map(|group| group.stats.count.unwrap_or(0))
        .collect();
    assert!(
        counts.windows(2).all(|pair| pair[0] >= pair[1]),
        "COUNT^DESC: {counts:?}"
    );
    assert!(
        groups
            .iter()
            .all(|group| group.fields[0].display_value.is_some()),
        "display values beside the values"
    );

    let error = client
        .aggregate(&incident(), &Aggregate::new())
        .await
        .expect_err("no aggregate asked for");
    assert!(matches!(error, TableError::BadRequest { .. }), "{error:?}");
    Ok(())
}

fn panic_free(result: &AggregateResult) -> ! {
    unreachable!("unexpected shape {result:?}")
}

/// The fields the property groups by and filters on: choice fields with few values.
const GROUPABLE: [&str; 5] = ["priority", "state", "category", "active", "impact"];

fn condition() -> impl Strategy<Value = (usize, u8, Vec<String>)> {
    let values = prop::collection::vec(
        prop::sample::select(vec![
            "1", "2", "3", "6", "true", "false", "software", "network",
        ]),
        1..3,
    )
    .prop_map(|values| values.into_iter().map(str::to_owned).collect());
    (0..GROUPABLE.len(), 0..3_u8, values)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn aggregates_equal_a_count_min_and_max_computed_from_the_rows(
        conditions in prop::collection::vec(condition(), 0..3),
        grouping in prop::sample::subsequence(GROUPABLE.to_vec(), 0..3),
    ) {
        let (emulator, runtime, rows) = &*FIXTURE;
        let client = runtime.block_on(async { emulator::client(emulator) });
        // The query, built with the injection-safe builder.
        let mut query = Query::new();
        for (field, operator, values) in &conditions {
            let field = GROUPABLE[*field];
            let condition = match operator {
                0 => Condition::eq(&values[0]),
                1 => Condition::ne(&values[0]),
                _ => Condition::is_in(values.iter()),
            };
            query = query.and(field, condition);
        }
        let mut aggregate = Aggregate::new().count().min("sys_mod_count").unwrap().max("sys_mod_count").unwrap();
        if !conditions.is_empty() {
            aggregate = aggregate.query(query.build().unwrap());
        }
        for field in &grouping {
            aggregate = aggregate.group_by(*field).unwrap();
        }
        let result = runtime.block_on(client.aggregate(&incident(), &aggregate)).unwrap();

        // The reference: filter and group the rows read through the Table API.
        let matches = |row: &BTreeMap<String, String>| conditions.iter().all(|(field, operator, values)| {
            let value = &row[GROUPABLE[*field]];
            match operator {
                0 => *value == values[0],
                1 => *value != values[0],
                _ => values.contains(value),
            }
        });
        let mut expected: BTreeMap<Vec<String>, (u64, i64, i64)> = BTreeMap::new();
        for row in rows.iter().filter(|row| matches(row)) {
            let key: Vec<String> = grouping.iter().map(|field| row[*field].clone()).collect();
            let mod_count: i64 = row["sys_mod_count"].parse().unwrap();
            let entry = expected.entry(key).or_insert((0, i64::MAX, i64::MIN));
            entry.0 += 1;
            entry.1 = entry.1.min(mod_count);
            entry.2 = entry.2.max(mod_count);
        }
        let mut actual: BTreeMap<Vec<String>, (u64, i64, i64)> = BTreeMap::new();
        for group in result.groups() {
            let key: Vec<String> = group.fields.iter().map(|field| field.value.clone()).collect();
            let count = group.stats.count.unwrap();
            if count == 0 {
                continue; // the ungrouped result of a query matching nothing
            }
            let min = group.stats.min["sys_mod_count"].as_f64().unwrap() as i64;
            let max = group.stats.max["sys_mod_count"].as_f64().unwrap() as i64;
            actual.insert(key, (count, min, max));
        }
        prop_assert_eq!(actual, expected);
    }
}

type Fixture = (
    servicenow_emulator::EmulatorHandle,
    tokio::runtime::Runtime,
    Vec<BTreeMap<String, String>>,
);

/// One emulator for every case, its rows read once through the Table API.
static FIXTURE: std::sync::LazyLock<Fixture> = std::sync::LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let (emulator, rows) = runtime.block_on(async {
        let emulator = emulator::start(Emulator::builder().seed(11).rows("incident", 400)).await;
        let client = emulator::client(&emulator);
        let params = servicenow_table::ListParams {
            limit: Some(1000),
            ..Default::default()
        };
        let page = client
            .list::<Record>(&incident(), &params)
            .await
            .expect("the rows are read");
        let rows = page
            .records
            .iter()
            .map(|record| {
                GROUPABLE
                    .iter()
                    .chain(&["sys_mod_count"])
                    .map(|field| {
                        let value = record.get_str(field).unwrap_or_default().to_owned();
                        ((*field).to_owned(), value)
                    })
                    .collect()
            })
            .collect();
        (emulator, rows)
    });
    (emulator, runtime, rows)
});

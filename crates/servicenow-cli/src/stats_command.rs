//! `sn stats TABLE --count --group-by F --avg F …`: the Aggregate API through the profile's
//! client, printed as aligned columns (one row per group) or as JSON with numbers as numbers.

use serde_json::{Map, Value};
use servicenow::table::{Aggregate, AggregateFunction, AggregateGroup, AggregateStats};

use crate::{
    auth_commands::profile_client,
    cli::{Format, GlobalArgs, StatsArgs, StatsFormat},
    failure::{CliError, CliResult},
    output::{CellSafety, write_records},
    table_commands::{display_values, encoded_query},
};

/// Runs `sn stats`.
pub(crate) async fn run(global: &GlobalArgs, args: &StatsArgs) -> CliResult<()> {
    let aggregate = aggregate_of(args)?;
    let client = profile_client(global).await?;
    let result = client.aggregate(&args.table, &aggregate).await?;
    let rows: Vec<Map<String, Value>> = result.groups().iter().map(row_of).collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        StatsFormat::Table => {
            write_records(&mut out, &rows, &[], Format::Table, CellSafety::default())
        }
        StatsFormat::Json => {
            write_records(&mut out, &rows, &[], Format::Json, CellSafety::default())
        }
    }
}

/// The Aggregate request the flags describe.
pub(crate) fn aggregate_of(args: &StatsArgs) -> CliResult<Aggregate> {
    let mut aggregate = Aggregate::new().display_values(display_values(args.display_values));
    if let Some(query) = encoded_query(&args.filters)? {
        aggregate = aggregate.query(query);
    }
    if args.count {
        aggregate = aggregate.count();
    }
    for (function, fields) in [
        (AggregateFunction::Avg, &args.avg),
        (AggregateFunction::Min, &args.min),
        (AggregateFunction::Max, &args.max),
        (AggregateFunction::Sum, &args.sum),
    ] {
        for field in fields {
            aggregate = aggregate.field(function, field.trim())?;
        }
    }
    for field in &args.group_by {
        aggregate = aggregate.group_by(field.trim())?;
    }
    if !args.count
        && [&args.avg, &args.min, &args.max, &args.sum]
            .iter()
            .all(|fields| fields.is_empty())
    {
        return Err(CliError::usage(
            "sn stats needs at least one aggregate",
            Some("add --count, --avg FIELD, --min FIELD, --max FIELD or --sum FIELD".to_owned()),
        ));
    }
    Ok(aggregate)
}

/// One output row: the group's fields, then `count`, then `avg(F)`, `min(F)` … in that order;
/// numeric aggregates as JSON numbers.
fn row_of(group: &AggregateGroup) -> Map<String, Value> {
    let mut row = Map::new();
    for field in &group.fields {
        let value = field.display_value.as_ref().unwrap_or(&field.value);
        row.insert(field.field.clone(), Value::String(value.clone()));
    }
    let AggregateStats {
        count,
        avg,
        min,
        max,
        sum,
    } = &group.stats;
    if let Some(count) = count {
        row.insert("count".to_owned(), Value::from(*count));
    }
    for (name, values) in [("avg", avg), ("min", min), ("max", max), ("sum", sum)] {
        for (field, value) in values {
            let shown = value
                .as_f64()
                .and_then(serde_json::Number::from_f64)
                .map_or_else(|| Value::String(value.as_str().to_owned()), Value::Number);
            row.insert(format!("{name}({field})"), shown);
        }
    }
    row
}

//! `sn table list|get|create|update|delete`: the query builder's operators from flags, and the
//! Table API through the profile's client.

use serde_json::{Map, Value};
use servicenow::table::{
    Condition, DisplayValues, EncodedQuery, FieldName, ListParams, Query, ReadOptions, Record,
    SysId, WriteOptions,
};

use crate::{
    auth_commands::profile_client,
    cli::{
        CreateArgs, DeleteArgs, DisplayValuesArg, FilterArgs, Format, GetArgs, GlobalArgs,
        ListArgs, TableCommand, UpdateArgs, ValueArgs, ValuesArgs,
    },
    failure::{CliError, CliResult},
    output::{CellSafety, say, write_records},
    untrusted::CsvFormulas,
};

/// Runs one `sn table` subcommand.
pub(crate) async fn run(global: &GlobalArgs, command: &TableCommand) -> CliResult<()> {
    match command {
        TableCommand::List(args) => list(global, args).await,
        TableCommand::Get(args) => get(global, args).await,
        TableCommand::Create(args) => create(global, args).await,
        TableCommand::Update(args) => update(global, args).await,
        TableCommand::Delete(args) => delete(global, args).await,
    }
}

async fn list(global: &GlobalArgs, args: &ListArgs) -> CliResult<()> {
    let query = encoded_query(&args.filters)?;
    let params = ListParams {
        query,
        options: read_options(&args.fields, &args.values)?,
        limit: Some(args.limit),
        offset: (args.offset > 0).then_some(args.offset),
    };
    let client = profile_client(global).await?;
    let page = client.table::<Record>(&args.table)?.list(&params).await?;
    let records: Vec<Map<String, Value>> =
        page.records.into_iter().map(Record::into_fields).collect();
    print_records(&records, &args.fields, args.format, global.csv_formulas)?;
    if args.format == Format::Table {
        if let Some(total) = page.total_count {
            eprintln!("{} of {total} matching records", records.len());
        }
    }
    Ok(())
}

async fn get(global: &GlobalArgs, args: &GetArgs) -> CliResult<()> {
    let sys_id = SysId::new(args.sys_id.clone())?;
    let options = read_options(&args.fields, &args.values)?;
    let client = profile_client(global).await?;
    let record = client
        .table::<Record>(&args.table)?
        .get(&sys_id, &options)
        .await?;
    print_records(
        &[record.into_fields()],
        &args.fields,
        args.format,
        global.csv_formulas,
    )
}

async fn create(global: &GlobalArgs, args: &CreateArgs) -> CliResult<()> {
    let values = field_values(&args.values)?;
    let client = profile_client(global).await?;
    let created = client
        .table::<Record>(&args.table)?
        .create(&values, &WriteOptions::default())
        .await?;
    if let Some(sys_id) = created.record.sys_id() {
        eprintln!("created {} {sys_id}", args.table);
    }
    print_records(
        &[created.record.into_fields()],
        &[],
        args.values.format,
        global.csv_formulas,
    )
}

async fn update(global: &GlobalArgs, args: &UpdateArgs) -> CliResult<()> {
    let sys_id = SysId::new(args.sys_id.clone())?;
    let values = field_values(&args.values)?;
    let client = profile_client(global).await?;
    let record = client
        .table::<Record>(&args.table)?
        .update(&sys_id, &values, &WriteOptions::default())
        .await?;
    print_records(
        &[record.into_fields()],
        &[],
        args.values.format,
        global.csv_formulas,
    )
}

async fn delete(global: &GlobalArgs, args: &DeleteArgs) -> CliResult<()> {
    let sys_id = SysId::new(args.sys_id.clone())?;
    let client = profile_client(global).await?;
    client.table::<Record>(&args.table)?.delete(&sys_id).await?;
    say(&format!("deleted {} {}", args.table, args.sys_id));
    Ok(())
}

fn print_records(
    records: &[Map<String, Value>],
    fields: &[String],
    format: Format,
    csv_formulas: CsvFormulas,
) -> CliResult<()> {
    let stdout = std::io::stdout();
    let safety = CellSafety {
        csv_formulas,
        terminal: std::io::IsTerminal::is_terminal(&stdout),
    };
    let mut out = stdout.lock();
    write_records(&mut out, records, fields, format, safety)
}

/// `sysparm_fields`, `sysparm_display_value` and `sysparm_exclude_reference_link` from flags.
pub(crate) fn read_options(fields: &[String], values: &ValueArgs) -> CliResult<ReadOptions> {
    let fields = fields
        .iter()
        .map(|field| FieldName::new(field.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ReadOptions {
        fields,
        display_values: display_values(values.display_values),
        exclude_reference_link: values.exclude_reference_link,
        ..ReadOptions::default()
    })
}

/// The library's `DisplayValues` for `--display-values`.
pub(crate) fn display_values(flag: DisplayValuesArg) -> DisplayValues {
    match flag {
        DisplayValuesArg::False => DisplayValues::Stored,
        DisplayValuesArg::True => DisplayValues::Display,
        DisplayValuesArg::All => DisplayValues::All,
    }
}

/// The encoded query the flags describe: `--query` as written, or the operator flags built by
/// the injection-safe query builder (AND-ed), or none.
pub(crate) fn encoded_query(filters: &FilterArgs) -> CliResult<Option<EncodedQuery>> {
    let FilterArgs {
        equals,
        not_equals,
        less_than,
        at_most,
        greater_than,
        at_least,
        contains,
        not_contains,
        starts_with,
        ends_with,
        one_of,
        empty,
        not_empty,
        order_by,
        order_by_desc,
        query: raw,
    } = filters;
    let has_flags = [
        equals,
        not_equals,
        less_than,
        at_most,
        greater_than,
        at_least,
        contains,
        not_contains,
        starts_with,
        ends_with,
        one_of,
        empty,
        not_empty,
        order_by,
        order_by_desc,
    ]
    .iter()
    .any(|values| !values.is_empty());
    if let Some(raw) = raw {
        if has_flags {
            return Err(CliError::usage(
                "--query cannot be combined with the condition flags",
                Some("write the whole encoded query in --query, or use only the flags".to_owned()),
            ));
        }
        return Ok(Some(EncodedQuery::unchecked_raw_from_trusted_source(
            raw.clone(),
        )));
    }
    if !has_flags {
        return Ok(None);
    }
    let mut query = Query::new();
    type MakeCondition = fn(String) -> Condition;
    let binary: [(&Vec<String>, MakeCondition); 10] = [
        (equals, Condition::eq),
        (not_equals, Condition::ne),
        (less_than, Condition::lt),
        (at_most, Condition::le),
        (greater_than, Condition::gt),
        (at_least, Condition::ge),
        (contains, Condition::like),
        (not_contains, Condition::not_like),
        (starts_with, Condition::starts_with),
        (ends_with, Condition::ends_with),
    ];
    for (pairs, condition) in binary {
        for pair in pairs {
            let (field, value) = split_pair(pair)?;
            query = query.and(field, condition(value));
        }
    }
    for pair in one_of {
        let (field, values) = split_pair(pair)?;
        let values: Vec<String> = values.split(',').map(str::to_owned).collect();
        query = query.and(field, Condition::is_in(values));
    }
    for field in empty {
        query = query.and(field.clone(), Condition::is_empty());
    }
    for field in not_empty {
        query = query.and(field.clone(), Condition::is_not_empty());
    }
    for field in order_by {
        query = query.order_by(field.clone());
    }
    for field in order_by_desc {
        query = query.order_by_desc(field.clone());
    }
    Ok(Some(query.build()?))
}

fn split_pair(pair: &str) -> CliResult<(String, String)> {
    pair.split_once('=')
        .map(|(field, value)| (field.trim().to_owned(), value.to_owned()))
        .ok_or_else(|| {
            CliError::usage(
                format!("{pair:?} is not FIELD=VALUE"),
                Some("write it like --eq active=true".to_owned()),
            )
        })
}

/// The fields of a write: `--data` JSON, then each `--set FIELD=VALUE` over it.
fn field_values(args: &ValuesArgs) -> CliResult<Map<String, Value>> {
    let mut values = match &args.data {
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => object,
            _ => {
                return Err(CliError::usage(
                    "--data must be a JSON object",
                    Some(
                        r#"write it like --data '{"short_description":"Printer jam"}'"#.to_owned(),
                    ),
                ));
            }
        },
        None => Map::new(),
    };
    for pair in &args.set {
        let (field, value) = split_pair(pair)?;
        values.insert(field, Value::String(value));
    }
    if values.is_empty() {
        return Err(CliError::usage(
            "no field values given",
            Some("pass --set FIELD=VALUE (repeatable) or --data JSON".to_owned()),
        ));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters() -> FilterArgs {
        FilterArgs::default()
    }

    #[test]
    fn operator_flags_become_an_encoded_query() {
        let args = FilterArgs {
            equals: vec!["active=true".to_owned()],
            less_than: vec!["priority=3".to_owned()],
            one_of: vec!["state=1,2".to_owned()],
            not_empty: vec!["assigned_to".to_owned()],
            order_by_desc: vec!["number".to_owned()],
            ..filters()
        };
        let query = encoded_query(&args).unwrap().unwrap();
        assert_eq!(
            query.as_str(),
            "active=true^priority<3^stateIN1,2^assigned_toISNOTEMPTY^ORDERBYDESCnumber"
        );
    }

    #[test]
    fn a_value_that_would_inject_a_condition_is_refused() {
        let args = FilterArgs {
            equals: vec!["short_description=x^active=false".to_owned()],
            ..filters()
        };
        assert!(matches!(encoded_query(&args), Err(CliError::Usage { .. })));
    }

    #[test]
    fn a_raw_query_is_sent_as_written_and_not_mixed_with_flags() {
        let raw = FilterArgs {
            query: Some("active=true^ORpriority=1".to_owned()),
            ..filters()
        };
        assert_eq!(
            encoded_query(&raw).unwrap().unwrap().as_str(),
            "active=true^ORpriority=1"
        );
        let mixed = FilterArgs {
            equals: vec!["a=b".to_owned()],
            ..raw
        };
        assert!(matches!(encoded_query(&mixed), Err(CliError::Usage { .. })));
        assert!(encoded_query(&filters()).unwrap().is_none());
    }

    #[test]
    fn set_pairs_override_data() {
        let args = ValuesArgs {
            set: vec!["priority=1".to_owned()],
            data: Some(r#"{"priority":"3","short_description":"Printer jam"}"#.to_owned()),
            format: Format::Json,
        };
        let values = field_values(&args).unwrap();
        assert_eq!(values["priority"], "1");
        assert_eq!(values["short_description"], "Printer jam");
    }
}

//! Writing to the user: plain messages, times in words, and records as JSON, JSON Lines, CSV or
//! an aligned table.

use std::io::{self, Write};

use serde_json::{Map, Value};
use servicenow::auth::Timestamp;

use crate::{
    cli::Format,
    failure::{CliError, CliResult},
    untrusted::{CsvFormulas, terminal_text},
};

/// Prints a message for the user on standard output. A closed stdout (`sn … | head`) is not an
/// error worth a panic: the message is dropped.
pub(crate) fn say(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
}

/// `2026-11-28 19:44:05 UTC (in 29 min)`.
pub(crate) fn describe_time(at: Timestamp, now: Timestamp) -> String {
    let seconds = i64::try_from(at.as_unix_millis() / 1000).unwrap_or(i64::MAX);
    let absolute = time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|moment| {
            let format = time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            );
            moment.format(&format).ok()
        })
        .unwrap_or_else(|| "far in the future".to_owned());
    let relative = if at >= now {
        format!(
            "in {}",
            describe_duration(at.saturating_duration_since(now))
        )
    } else {
        format!(
            "{} ago",
            describe_duration(now.saturating_duration_since(at))
        )
    };
    format!("{absolute} ({relative})")
}

fn describe_duration(duration: std::time::Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0..120 => format!("{seconds} s"),
        120..7200 => format!("{} min", seconds / 60),
        7200..172_800 => format!("{} h", seconds / 3600),
        _ => format!("{} days", seconds / 86_400),
    }
}

/// A field value as one line of text: strings as they are, references and display-value objects
/// by their value, anything else as compact JSON.
pub(crate) fn cell(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        Value::Object(object) => object
            .get("display_value")
            .or_else(|| object.get("value"))
            .map(cell)
            .unwrap_or_else(|| value.to_string()),
        other => other.to_string(),
    }
}

/// The columns to show: the requested fields, else the fields of the first record.
pub(crate) fn columns(requested: &[String], first: Option<&Map<String, Value>>) -> Vec<String> {
    if !requested.is_empty() {
        return requested.to_vec();
    }
    first
        .map(|record| record.keys().cloned().collect())
        .unwrap_or_default()
}

/// How record data is made safe for where it goes (see [`crate::untrusted`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CellSafety {
    /// What CSV does with cells a spreadsheet would take for formulas.
    pub(crate) csv_formulas: CsvFormulas,
    /// The output is a terminal: CSV cells lose control characters and escape sequences too (the
    /// table format always does; JSON escapes control characters itself).
    pub(crate) terminal: bool,
}

impl CellSafety {
    /// A CSV cell as written.
    pub(crate) fn csv_cell(self, text: &str) -> String {
        let cell = self.csv_formulas.cell(text);
        if self.terminal {
            terminal_text(&cell).into_owned()
        } else {
            cell.into_owned()
        }
    }
}

/// Writes `records` in `format` to `out`.
pub(crate) fn write_records(
    out: &mut dyn Write,
    records: &[Map<String, Value>],
    requested: &[String],
    format: Format,
    safety: CellSafety,
) -> CliResult<()> {
    let written = match format {
        Format::Json => serde_json::to_writer_pretty(&mut *out, records)
            .map_err(io::Error::other)
            .and_then(|()| writeln!(out)),
        Format::Jsonl => records.iter().try_for_each(|record| {
            serde_json::to_writer(&mut *out, record).map_err(io::Error::other)?;
            writeln!(out)
        }),
        Format::Csv => {
            let columns = columns(requested, records.first());
            let mut writer = csv::Writer::from_writer(&mut *out);
            let mut result =
                writer.write_record(columns.iter().map(|column| safety.csv_cell(column)));
            for record in records {
                if result.is_err() {
                    break;
                }
                result = writer.write_record(columns.iter().map(|column| {
                    safety.csv_cell(&record.get(column).map(cell).unwrap_or_default())
                }));
            }
            result
                .and_then(|()| writer.flush().map_err(csv::Error::from))
                .map_err(io::Error::other)
        }
        Format::Table => write_table(out, records, requested),
    };
    written.map_err(|error| output_error(&error))
}

fn write_table(
    out: &mut dyn Write,
    records: &[Map<String, Value>],
    requested: &[String],
) -> io::Result<()> {
    const MAX_WIDTH: usize = 60;
    let columns: Vec<String> = columns(requested, records.first())
        .iter()
        .map(|column| terminal_text(column).into_owned())
        .collect();
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|record| {
            columns
                .iter()
                .map(|column| {
                    let text = record.get(column).map(cell).unwrap_or_default();
                    shorten(&terminal_text(&text), MAX_WIDTH)
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(index, column)| {
            rows.iter()
                .map(|row| row[index].chars().count())
                .chain([column.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .zip(&widths)
            .map(|(text, width)| format!("{text:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    writeln!(out, "{}", line(&columns))?;
    for row in &rows {
        writeln!(out, "{}", line(row))?;
    }
    if records.is_empty() {
        writeln!(out, "(no records)")?;
    }
    Ok(())
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max - 1).collect();
    short.push('…');
    short
}

/// The error for a failed write to the output.
pub(crate) fn output_error(error: &dyn std::fmt::Display) -> CliError {
    CliError::local(format!("cannot write the output: {error}"), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pairs: &[(&str, Value)]) -> Map<String, Value> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), value.clone()))
            .collect()
    }

    #[test]
    fn references_and_display_values_show_as_text() {
        assert_eq!(cell(&Value::from("INC0010001")), "INC0010001");
        let reference = serde_json::json!({"link": "https://x/api", "value": "abc"});
        assert_eq!(cell(&reference), "abc");
        let both = serde_json::json!({"display_value": "Beth", "value": "abc"});
        assert_eq!(cell(&both), "Beth");
        assert_eq!(cell(&Value::Null), "");
    }

    #[test]
    fn csv_quotes_commas_and_keeps_the_requested_column_order() {
        let records = vec![record(&[
            ("number", "INC1".into()),
            ("short_description", "printer, 3rd floor".into()),
        ])];
        let mut out = Vec::new();
        let requested = vec!["short_description".to_owned(), "number".to_owned()];
        write_records(
            &mut out,
            &records,
            &requested,
            Format::Csv,
            CellSafety::default(),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "short_description,number\n\"printer, 3rd floor\",INC1\n"
        );
    }

    #[test]
    fn the_table_format_aligns_columns() {
        let records = vec![
            record(&[("number", "INC1".into()), ("priority", "1".into())]),
            record(&[("number", "INC10000".into()), ("priority", "3".into())]),
        ];
        let mut out = Vec::new();
        write_records(
            &mut out,
            &records,
            &[],
            Format::Table,
            CellSafety::default(),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "number    priority\nINC1      1\nINC10000  3\n"
        );
    }

    #[test]
    fn record_data_reaches_the_terminal_without_escape_sequences() {
        let records = vec![record(&[
            ("number", "INC1".into()),
            (
                "short_description",
                "\u{1b}]0;owned\u{7}\u{1b}[2Jprinter\u{1b}[31m down\nnow".into(),
            ),
        ])];
        let mut out = Vec::new();
        write_records(
            &mut out,
            &records,
            &[],
            Format::Table,
            CellSafety::default(),
        )
        .unwrap();
        let shown = String::from_utf8(out).unwrap();
        assert_eq!(
            shown,
            "number  short_description\nINC1    printer down now\n"
        );
    }

    #[test]
    fn csv_neutralises_formulas_unless_kept_and_strips_escapes_on_a_terminal() {
        let records = vec![record(&[
            ("a", "=1+1".into()),
            ("b", "-3".into()),
            ("c", "\u{1b}[31mred".into()),
        ])];
        let write = |safety| {
            let mut out = Vec::new();
            write_records(&mut out, &records, &[], Format::Csv, safety).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            write(CellSafety::default()),
            "a,b,c\n'=1+1,'-3,\u{1b}[31mred\n"
        );
        assert_eq!(
            write(CellSafety {
                csv_formulas: CsvFormulas::Keep,
                terminal: false
            }),
            "a,b,c\n=1+1,-3,\u{1b}[31mred\n"
        );
        assert_eq!(
            write(CellSafety {
                csv_formulas: CsvFormulas::Neutralise,
                terminal: true
            }),
            "a,b,c\n'=1+1,'-3,red\n"
        );
    }

    #[test]
    fn times_are_told_absolutely_and_relatively() {
        let now = Timestamp::from_unix_seconds(1_700_000_000);
        let later = Timestamp::from_unix_seconds(1_700_001_800);
        assert_eq!(
            describe_time(later, now),
            "2023-11-14 22:43:20 UTC (in 30 min)"
        );
        assert_eq!(
            describe_time(now, later),
            "2023-11-14 22:13:20 UTC (30 min ago)"
        );
    }
}

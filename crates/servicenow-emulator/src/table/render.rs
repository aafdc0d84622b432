//! Writing records as JSON straight into a byte buffer (no intermediate tree): every value a
//! string, references as `{link, value}` or `""`, display values (`servicenow-api.md` §2.4).

use crate::{
    data::{Database, RowBuffer, Table, schema::FieldKind},
    wire::{first, form_pairs},
};

/// `sysparm_display_value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DisplayMode {
    Value,
    Display,
    All,
}

/// How to render records for one request.
#[derive(Debug)]
pub(super) struct RenderOptions {
    pub(super) display: DisplayMode,
    pub(super) exclude_reference_link: bool,
    /// `sysparm_fields` as given, or `None` for every column.
    pub(super) fields: Option<Vec<String>>,
    /// Origin for reference links.
    pub(super) origin: String,
}

impl RenderOptions {
    pub(super) fn from_query(raw_query: &str, origin: String) -> Self {
        let pairs = form_pairs(raw_query.as_bytes());
        let display = match first(&pairs, "sysparm_display_value")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("true") => DisplayMode::Display,
            Some("all") => DisplayMode::All,
            _ => DisplayMode::Value,
        };
        let exclude_reference_link = first(&pairs, "sysparm_exclude_reference_link")
            .is_some_and(|value| value.eq_ignore_ascii_case("true"));
        let fields = first(&pairs, "sysparm_fields")
            .filter(|fields| !fields.trim().is_empty())
            .map(|fields| {
                fields
                    .split(',')
                    .map(|field| field.trim().to_owned())
                    .filter(|field| !field.is_empty())
                    .collect()
            });
        Self {
            display,
            exclude_reference_link,
            fields,
            origin,
        }
    }
}

/// A column chosen for output.
#[derive(Debug)]
pub(super) enum Selected {
    Column(usize),
    /// A dot-walked field, shown as a plain string under its dotted name.
    Path(String),
}

/// The columns to render, in order; invalid `sysparm_fields` entries are ignored.
pub(super) fn select_columns(
    database: &Database,
    table: &Table,
    options: &RenderOptions,
) -> Vec<Selected> {
    match &options.fields {
        None => (0..table.columns.len()).map(Selected::Column).collect(),
        Some(fields) => fields
            .iter()
            .filter_map(|field| match table.column_index(field) {
                Some(column) => Some(Selected::Column(column)),
                None if database.field_exists(table, field) => Some(Selected::Path(field.clone())),
                None => None,
            })
            .collect(),
    }
}

/// Appends one record as a JSON object; `buffer` is reused from row to row.
pub(super) fn write_record(
    out: &mut Vec<u8>,
    database: &Database,
    table: &Table,
    id: u64,
    selected: &[Selected],
    options: &RenderOptions,
    buffer: &mut RowBuffer,
) {
    let row = database.load_row(table, id, buffer);
    out.push(b'{');
    for (position, selection) in selected.iter().enumerate() {
        if position > 0 {
            out.push(b',');
        }
        match selection {
            Selected::Column(column) => {
                let definition = &table.columns[*column];
                write_string(out, &definition.name);
                out.push(b':');
                write_field(out, database, row.get(*column), definition.kind, options);
            }
            Selected::Path(path) => {
                write_string(out, path);
                out.push(b':');
                let value = database.path_value(table, id, path).unwrap_or_default();
                match options.display {
                    DisplayMode::All => write_pair(out, &value, &value),
                    _ => write_string(out, &value),
                }
            }
        }
    }
    out.push(b'}');
}

fn write_field(
    out: &mut Vec<u8>,
    database: &Database,
    value: &str,
    kind: FieldKind,
    options: &RenderOptions,
) {
    if let FieldKind::Reference(target) = kind {
        let link = !options.exclude_reference_link && !value.is_empty();
        match options.display {
            DisplayMode::Value if link => {
                out.extend_from_slice(b"{\"link\":");
                write_link(out, &options.origin, target, value);
                out.extend_from_slice(b",\"value\":");
                write_string(out, value);
                out.push(b'}');
            }
            DisplayMode::Value => write_string(out, value),
            DisplayMode::Display => {
                let display = database.reference_display(target, value);
                if link {
                    out.extend_from_slice(b"{\"display_value\":");
                    write_string(out, &display);
                    out.extend_from_slice(b",\"link\":");
                    write_link(out, &options.origin, target, value);
                    out.push(b'}');
                } else {
                    write_string(out, &display);
                }
            }
            DisplayMode::All => {
                let display = database.reference_display(target, value);
                out.extend_from_slice(b"{\"display_value\":");
                write_string(out, &display);
                if link {
                    out.extend_from_slice(b",\"link\":");
                    write_link(out, &options.origin, target, value);
                }
                out.extend_from_slice(b",\"value\":");
                write_string(out, value);
                out.push(b'}');
            }
        }
        return;
    }
    match options.display {
        DisplayMode::Value => write_string(out, value),
        DisplayMode::Display => write_string(out, &database.display_of(kind, value)),
        DisplayMode::All => write_pair(out, &database.display_of(kind, value), value),
    }
}

fn write_pair(out: &mut Vec<u8>, display: &str, value: &str) {
    out.extend_from_slice(b"{\"display_value\":");
    write_string(out, display);
    out.extend_from_slice(b",\"value\":");
    write_string(out, value);
    out.push(b'}');
}

/// Appends `text` as a JSON string (RFC 8259 escaping; bytes ≥ 0x80 pass through as UTF-8).
pub(super) fn write_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    write_string_content(out, text);
    out.push(b'"');
}

/// The escaped content of a JSON string, without quotes. Most values need no escaping, and a
/// plain scan for the bytes that do is much faster than escaping byte by byte.
fn write_string_content(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    if !bytes
        .iter()
        .any(|byte| *byte == b'"' || *byte == b'\\' || *byte < 0x20)
    {
        out.extend_from_slice(bytes);
        return;
    }
    let mut start = 0;
    for (index, byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..index]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(byte >> 4) as usize],
                HEX[(byte & 0xf) as usize],
            ]);
        } else {
            out.extend_from_slice(escape);
        }
        start = index + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends a reference link as a JSON string, without building it first.
fn write_link(out: &mut Vec<u8>, origin: &str, target: &str, sys_id: &str) {
    out.push(b'"');
    write_string_content(out, origin);
    out.extend_from_slice(b"/api/now/table/");
    write_string_content(out, target);
    out.push(b'/');
    write_string_content(out, sys_id);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_like_serde_json_does() {
        for text in [
            "plain",
            "quote \" and \\ slash",
            "tab\tnew\nline\r",
            "\u{1}\u{1f}",
            "caf\u{e9} \u{1F600}",
        ] {
            let mut out = Vec::new();
            write_string(&mut out, text);
            let parsed: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(parsed, text);
        }
    }
}

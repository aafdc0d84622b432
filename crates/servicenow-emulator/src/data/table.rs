//! One table: its columns, its generated row count, the overlay of writes, and the sys_id
//! scheme that finds a generated row without an index.

use std::collections::{BTreeSet, HashMap};

use super::{
    Column, generate, is_valid_table_name,
    schema::{self, FieldKind, TableSchema},
};
use crate::clock::glide_date_time;

/// One table: its columns, generated row count and the overlay of writes.
#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) name: String,
    pub(crate) schema: Option<&'static TableSchema>,
    pub(crate) columns: Vec<Column>,
    pub(crate) generated: u64,
    /// Bumped by every write, so cached query results can tell they are stale.
    pub(crate) version: u64,
    pub(crate) row_key: u64,
    pub(super) sys_id_prefix: String,
    pub(super) sys_id_stride: u64,
    pub(super) sys_id_offset: u64,
    /// Generated rows that were written to, materialized (values aligned with `columns`).
    pub(super) modified: HashMap<u64, Vec<String>>,
    /// Rows created by POST; `None` once deleted.
    pub(super) inserted: Vec<Option<Vec<String>>>,
    pub(super) deleted: BTreeSet<u64>,
    /// sys_ids chosen by clients on POST.
    pub(super) foreign_sys_ids: HashMap<String, u64>,
    pub(super) ordered_fields: BTreeSet<&'static str>,
    pub(super) next_number: u64,
    pub(super) last_created_on: String,
}

impl Table {
    pub(super) fn new(
        seed: u64,
        name: &str,
        schema: Option<&'static TableSchema>,
        generated: u64,
        first_number: u64,
    ) -> Self {
        let row_key = generate::mix(seed, fnv1a(name.as_bytes()));
        let sys_id_stride = (1_u64 << 35) | (generate::mix(row_key, 2) & ((1_u64 << 35) - 1));
        let columns = match schema {
            Some(schema) => schema
                .fields
                .iter()
                .map(|field| Column {
                    name: field.name.to_owned(),
                    kind: field.kind,
                    default: field.default,
                })
                .collect(),
            None => schema::SYSTEM_FIELDS
                .iter()
                .map(|name| Column {
                    name: (*name).to_owned(),
                    kind: match *name {
                        "sys_created_on" | "sys_updated_on" => FieldKind::DateTime,
                        "sys_mod_count" => FieldKind::Integer,
                        _ => FieldKind::Text,
                    },
                    default: "",
                })
                .collect(),
        };
        let mut ordered_fields = BTreeSet::from(["sys_id", "sys_created_on"]);
        let numbered = schema.is_some_and(|schema| schema.number_prefix.is_some());
        if numbered && generated + first_number < 10_000_000 {
            ordered_fields.insert("number");
        }
        Self {
            name: name.to_owned(),
            schema,
            columns,
            generated,
            version: 0,
            row_key,
            sys_id_prefix: format!("{:016x}", generate::mix(row_key, 1)),
            sys_id_stride,
            sys_id_offset: generate::mix(row_key, 3) % sys_id_stride,
            modified: HashMap::new(),
            inserted: Vec::new(),
            deleted: BTreeSet::new(),
            foreign_sys_ids: HashMap::new(),
            ordered_fields,
            next_number: generated + first_number,
            last_created_on: match generated {
                0 => String::new(),
                _ => glide_date_time(generate::created_at(generated - 1)),
            },
        }
    }

    /// The sys_id of row `id` (issued increasing with the id).
    pub(crate) fn sys_id_of(&self, id: u64) -> String {
        let mut sys_id = String::with_capacity(32);
        self.write_sys_id(&mut sys_id, id);
        sys_id
    }

    /// Appends the sys_id of row `id`: the table's 16-hex-digit prefix, then the id scaled.
    pub(crate) fn write_sys_id(&self, out: &mut String, id: u64) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        out.push_str(&self.sys_id_prefix);
        let encoded = self.sys_id_offset + id * self.sys_id_stride;
        for shift in (0..16).rev() {
            out.push(char::from(HEX[((encoded >> (shift * 4)) & 0xf) as usize]));
        }
    }

    /// The live row with this sys_id.
    pub(crate) fn id_of_sys_id(&self, sys_id: &str) -> Option<u64> {
        if let Some(id) = self.foreign_sys_ids.get(sys_id) {
            return Some(*id);
        }
        if sys_id.len() != 32 || !sys_id.starts_with(&self.sys_id_prefix) {
            return None;
        }
        let encoded = u64::from_str_radix(&sys_id[16..], 16).ok()?;
        let scaled = encoded.checked_sub(self.sys_id_offset)?;
        if scaled % self.sys_id_stride != 0 || format!("{encoded:016x}") != sys_id[16..] {
            return None;
        }
        let id = scaled / self.sys_id_stride;
        let stored_sys_id_is_ours = self.stored_row(id).is_none_or(|row| {
            self.column_index("sys_id")
                .and_then(|column| row.get(column))
                .is_some_and(|stored| stored == sys_id)
        });
        (self.is_live(id) && stored_sys_id_is_ours).then_some(id)
    }

    pub(crate) fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|column| column.name == name)
    }

    /// One past the largest id ever used.
    pub(crate) fn id_end(&self) -> u64 {
        self.generated + self.inserted.len() as u64
    }

    pub(crate) fn is_live(&self, id: u64) -> bool {
        id < self.id_end() && !self.deleted.contains(&id)
    }

    /// Deleted ids in `range`.
    pub(crate) fn deleted_in(&self, range: std::ops::Range<u64>) -> usize {
        self.deleted.range(range).count()
    }

    pub(crate) fn live_count(&self) -> u64 {
        self.id_end() - self.deleted.len() as u64
    }

    /// Whether natural (id) order is ascending order of `field`.
    pub(crate) fn is_ordered_by(&self, field: &str) -> bool {
        self.ordered_fields.contains(field)
    }

    /// The id at `position` in natural order, skipping deleted rows (O(deleted)).
    pub(crate) fn nth_live(&self, position: u64) -> Option<u64> {
        let mut id = position;
        for deleted in &self.deleted {
            if *deleted <= id {
                id += 1;
            } else {
                break;
            }
        }
        (id < self.id_end()).then_some(id)
    }

    /// Live ids in natural order, starting at `position`.
    pub(crate) fn live_ids_from(&self, position: u64) -> impl Iterator<Item = u64> + '_ {
        let start = self.nth_live(position).unwrap_or(self.id_end());
        (start..self.id_end()).filter(|id| !self.deleted.contains(id))
    }

    /// Live ids in reverse natural order, starting `position` rows from the end.
    pub(crate) fn live_ids_descending_from(&self, position: u64) -> impl Iterator<Item = u64> + '_ {
        let start = self
            .live_count()
            .checked_sub(position + 1)
            .and_then(|from_start| self.nth_live(from_start))
            .map_or(0, |id| id + 1);
        (0..start).rev().filter(|id| !self.deleted.contains(id))
    }

    pub(super) fn stored_row(&self, id: u64) -> Option<&Vec<String>> {
        if id < self.generated {
            self.modified.get(&id)
        } else {
            self.inserted.get((id - self.generated) as usize)?.as_ref()
        }
    }

    pub(super) fn stored_row_mut(&mut self, id: u64) -> Option<&mut Vec<String>> {
        if id < self.generated {
            self.modified.get_mut(&id)
        } else {
            self.inserted
                .get_mut((id - self.generated) as usize)?
                .as_mut()
        }
    }

    /// Custom tables grow a column for each new field written; built-in ones ignore unknown
    /// fields, as a real instance does.
    pub(super) fn add_columns_for(&mut self, input: &[(String, String)]) {
        if self.schema.is_some() {
            return;
        }
        for (field, _) in input {
            if is_valid_field_name(field) && self.column_index(field).is_none() {
                self.columns.push(Column {
                    name: field.clone(),
                    kind: FieldKind::Text,
                    default: "",
                });
            }
        }
    }

    /// The column a client may write, if any (system fields are not writable).
    pub(super) fn writable_column(&self, field: &str) -> Option<usize> {
        if field.starts_with("sys_") {
            return None;
        }
        self.column_index(field)
    }

    pub(super) fn set(&self, row: &mut Vec<String>, field: &str, value: String) {
        if let Some(column) = self.column_index(field) {
            row.resize(row.len().max(column + 1), String::new());
            row[column] = value;
        }
    }
}

pub(super) fn is_valid_field_name(name: &str) -> bool {
    is_valid_table_name(name) && !name.starts_with("sys_")
}

pub(super) fn is_sys_id(text: &str) -> bool {
    text.len() == 32
        && text
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

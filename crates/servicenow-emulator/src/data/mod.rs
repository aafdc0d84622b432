//! The tables: generated rows computed from their index, plus an overlay of writes
//! (`servicenow-api.md` §2; issue point 9).
//!
//! Row ids are positions in one space per table: `0..generated` are generated rows,
//! `generated..` rows created by POST. Natural order is id order, which is also `sys_id` order
//! (sys_ids are issued increasing), `number` order and `sys_created_on` order until a write
//! breaks that; such a field is then dropped from [`Table::is_ordered_by`] and sorting falls back
//! to the general path.

pub(crate) mod generate;
pub(crate) mod schema;
mod table;

use std::{borrow::Cow, collections::BTreeMap};

use schema::FieldKind;
pub(crate) use table::Table;
use table::is_sys_id;

use crate::{Dataset, config::MAX_GENERATED_ROWS, pdi};

/// Whether `name` can name a table: `[a-z0-9_]+`, at most 80 characters.
pub(crate) fn is_valid_table_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 80
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

/// A column of a table.
#[derive(Clone, Debug)]
pub(crate) struct Column {
    pub(crate) name: String,
    pub(crate) kind: FieldKind,
    pub(crate) default: &'static str,
}

/// What a write could not do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WriteProblem {
    NoSuchRecord,
    InvalidTableName,
}

/// One row's values, written into one reusable buffer (so rendering a page does not allocate
/// per value).
#[derive(Debug, Default)]
pub(crate) struct RowBuffer {
    text: String,
    ends: Vec<usize>,
}

/// A row's values by column: generated into a [`RowBuffer`], or stored.
#[derive(Debug)]
pub(crate) enum RowView<'a> {
    Generated(&'a RowBuffer),
    Stored(&'a [String]),
}

impl RowView<'_> {
    pub(crate) fn get(&self, column: usize) -> &str {
        match self {
            Self::Generated(buffer) => {
                let start = match column {
                    0 => 0,
                    _ => buffer.ends.get(column - 1).copied().unwrap_or(0),
                };
                let end = buffer.ends.get(column).copied().unwrap_or(start);
                buffer.text.get(start..end).unwrap_or_default()
            }
            Self::Stored(values) => values.get(column).map(String::as_str).unwrap_or_default(),
        }
    }
}

/// All tables.
#[derive(Debug)]
pub(crate) struct Database {
    pub(crate) seed: u64,
    pub(crate) dataset: Dataset,
    pub(crate) tables: BTreeMap<String, Table>,
}

impl Database {
    /// The built-in tables with `rows` generated rows each (none for those not given), plus
    /// the data set's fixed records.
    pub(crate) fn new(seed: u64, rows: &BTreeMap<String, u64>, dataset: Dataset) -> Self {
        let mut tables = BTreeMap::new();
        for schema in schema::BUILT_IN {
            let count = rows
                .get(schema.name)
                .copied()
                .unwrap_or(0)
                .min(MAX_GENERATED_ROWS);
            tables.insert(
                schema.name.to_owned(),
                Table::new(
                    seed,
                    schema.name,
                    Some(schema),
                    count,
                    dataset.first_number(),
                ),
            );
        }
        let mut database = Self {
            seed,
            dataset,
            tables,
        };
        if dataset == Dataset::Pdi {
            for (table, fields) in pdi::records() {
                let input: Vec<(String, String)> = fields
                    .into_iter()
                    .map(|(field, value)| (field.to_owned(), value.to_owned()))
                    .collect();
                // The fixed records name only built-in tables, so this cannot fail.
                let _ = database.insert(table, &input, "admin", pdi::CREATED_ON);
            }
        }
        database
    }

    /// The value of a column of a live row.
    pub(crate) fn value<'a>(&'a self, table: &'a Table, id: u64, column: usize) -> Cow<'a, str> {
        let Some(definition) = table.columns.get(column) else {
            return Cow::Borrowed("");
        };
        match table.stored_row(id) {
            Some(row) => Cow::Borrowed(row.get(column).map(String::as_str).unwrap_or_default()),
            None if id < table.generated => generate::value(self, table, id, &definition.name),
            None => Cow::Borrowed(""),
        }
    }

    /// Every value of a live row, generated into `buffer` when the row is not stored.
    pub(crate) fn load_row<'a>(
        &'a self,
        table: &'a Table,
        id: u64,
        buffer: &'a mut RowBuffer,
    ) -> RowView<'a> {
        if let Some(row) = table.stored_row(id) {
            return RowView::Stored(row);
        }
        buffer.text.clear();
        buffer.ends.clear();
        if id < table.generated {
            for column in &table.columns {
                generate::write_value(&mut buffer.text, self, table, id, &column.name);
                buffer.ends.push(buffer.text.len());
            }
        }
        RowView::Generated(buffer)
    }

    /// The display value of `value` in a column of this kind: a choice's label, a reference's
    /// display field, otherwise the value itself.
    pub(crate) fn display_of<'a>(&'a self, kind: FieldKind, value: &'a str) -> Cow<'a, str> {
        match kind {
            FieldKind::Choice(choices) => match choices.iter().find(|(choice, _)| *choice == value)
            {
                Some((_, label)) => Cow::Borrowed(label),
                None => Cow::Borrowed(value),
            },
            FieldKind::Reference(target) => self.reference_display(target, value),
            _ => Cow::Borrowed(value),
        }
    }

    /// The sys_id of a live row.
    pub(crate) fn sys_id(&self, table: &Table, id: u64) -> String {
        match table.column_index("sys_id") {
            Some(column) => self.value(table, id, column).into_owned(),
            None => table.sys_id_of(id),
        }
    }

    /// The value at a dot-walked path (`assigned_to.name`), `None` if the path names no field.
    pub(crate) fn path_value<'a>(
        &'a self,
        table: &'a Table,
        id: u64,
        path: &str,
    ) -> Option<Cow<'a, str>> {
        let (head, rest) = match path.split_once('.') {
            Some((head, rest)) => (head, Some(rest)),
            None => (path, None),
        };
        let column = table.column_index(head)?;
        let value = self.value(table, id, column);
        let Some(rest) = rest else {
            return Some(value);
        };
        let FieldKind::Reference(target) = table.columns[column].kind else {
            return None;
        };
        let target = self.tables.get(target)?;
        match target.id_of_sys_id(&value) {
            Some(target_id) => self.path_value(target, target_id, rest),
            None => self.field_exists(target, rest).then_some(Cow::Borrowed("")),
        }
    }

    /// Whether a (possibly dot-walked) field exists on `table`.
    pub(crate) fn field_exists(&self, table: &Table, path: &str) -> bool {
        let (head, rest) = match path.split_once('.') {
            Some((head, rest)) => (head, Some(rest)),
            None => (path, None),
        };
        let Some(column) = table.column_index(head) else {
            return false;
        };
        match (rest, table.columns[column].kind) {
            (None, _) => true,
            (Some(rest), FieldKind::Reference(target)) => self
                .tables
                .get(target)
                .is_some_and(|target| self.field_exists(target, rest)),
            (Some(_), _) => false,
        }
    }

    /// The display value of a record of `target` by sys_id (`""` if there is none).
    pub(crate) fn reference_display<'a>(&'a self, target: &str, sys_id: &str) -> Cow<'a, str> {
        let Some(table) = self.tables.get(target) else {
            return Cow::Borrowed("");
        };
        let display_field = table.schema.map_or("sys_id", |schema| schema.display_field);
        match (
            table.id_of_sys_id(sys_id),
            table.column_index(display_field),
        ) {
            (Some(id), Some(column)) => self.value(table, id, column),
            _ => Cow::Borrowed(""),
        }
    }

    /// Finds a record of `target` whose display value is `display` (O(n); for
    /// `sysparm_input_display_value`).
    pub(crate) fn find_by_display(&self, target: &str, display: &str) -> Option<String> {
        let table = self.tables.get(target)?;
        let display_field = table.schema.map_or("sys_id", |schema| schema.display_field);
        let column = table.column_index(display_field)?;
        let sys_id_column = table.column_index("sys_id")?;
        let id = table
            .live_ids_from(0)
            .find(|id| self.value(table, *id, column) == display)?;
        Some(self.value(table, id, sys_id_column).into_owned())
    }

    /// Creates a record (and the table, if it does not exist). `input` is field → value.
    pub(crate) fn insert(
        &mut self,
        table_name: &str,
        input: &[(String, String)],
        user: &str,
        now: &str,
    ) -> Result<u64, WriteProblem> {
        if !self.tables.contains_key(table_name) {
            if !is_valid_table_name(table_name) {
                return Err(WriteProblem::InvalidTableName);
            }
            let table = Table::new(self.seed, table_name, None, 0, 1);
            self.tables.insert(table_name.to_owned(), table);
        }
        let table = self
            .tables
            .get_mut(table_name)
            .ok_or(WriteProblem::InvalidTableName)?;
        table.add_columns_for(input);
        let id = table.generated + table.inserted.len() as u64;
        let mut row: Vec<String> = table
            .columns
            .iter()
            .map(|column| column.default.to_owned())
            .collect();
        for (field, value) in input {
            if let Some(column) = table.writable_column(field) {
                row[column] = value.clone();
            }
        }
        let requested_sys_id = input
            .iter()
            .find(|(field, _)| field == "sys_id")
            .map(|(_, value)| value);
        let sys_id = match requested_sys_id {
            Some(sys_id) if is_sys_id(sys_id) && table.id_of_sys_id(sys_id).is_none() => {
                table.foreign_sys_ids.insert(sys_id.clone(), id);
                table.ordered_fields.remove("sys_id");
                sys_id.clone()
            }
            _ => table.sys_id_of(id),
        };
        table.set(&mut row, "sys_id", sys_id);
        if let (Some(prefix), Some(number_column)) = (
            table.schema.and_then(|s| s.number_prefix),
            table.column_index("number"),
        ) {
            if row[number_column].is_empty() {
                row[number_column] = format!("{prefix}{:07}", table.next_number);
                table.next_number += 1;
            } else {
                table.ordered_fields.remove("number");
            }
        }
        if now < table.last_created_on.as_str() {
            table.ordered_fields.remove("sys_created_on");
        }
        table.last_created_on = now.to_owned();
        for (field, value) in [
            ("sys_created_on", now),
            ("sys_updated_on", now),
            ("sys_created_by", user),
            ("sys_updated_by", user),
            ("sys_mod_count", "0"),
        ] {
            table.set(&mut row, field, value.to_owned());
        }
        let class_name = table.name.clone();
        table.set(&mut row, "sys_class_name", class_name);
        table.inserted.push(Some(row));
        table.version += 1;
        Ok(id)
    }

    /// Updates fields of a live record (PUT and PATCH both update only the fields sent).
    pub(crate) fn update(
        &mut self,
        table_name: &str,
        id: u64,
        input: &[(String, String)],
        user: &str,
        now: &str,
    ) -> Result<(), WriteProblem> {
        let table = self
            .tables
            .get(table_name)
            .ok_or(WriteProblem::NoSuchRecord)?;
        if !table.is_live(id) {
            return Err(WriteProblem::NoSuchRecord);
        }
        let materialized = match table.stored_row(id) {
            Some(_) => None,
            None => Some(
                (0..table.columns.len())
                    .map(|column| self.value(table, id, column).into_owned())
                    .collect(),
            ),
        };
        let table = self
            .tables
            .get_mut(table_name)
            .ok_or(WriteProblem::NoSuchRecord)?;
        if let Some(row) = materialized {
            table.modified.insert(id, row);
        }
        table.add_columns_for(input);
        let columns = table.columns.len();
        let updates: Vec<(usize, String)> = input
            .iter()
            .filter_map(|(field, value)| {
                table
                    .writable_column(field)
                    .map(|column| (column, value.clone()))
            })
            .collect();
        if updates
            .iter()
            .any(|(column, _)| table.columns[*column].name == "number")
        {
            table.ordered_fields.remove("number");
        }
        let mod_count_column = table.column_index("sys_mod_count");
        let updated_on = table.column_index("sys_updated_on");
        let updated_by = table.column_index("sys_updated_by");
        let row = table.stored_row_mut(id).ok_or(WriteProblem::NoSuchRecord)?;
        row.resize(columns, String::new());
        for (column, value) in updates {
            row[column] = value;
        }
        if let Some(column) = mod_count_column {
            row[column] = (row[column].parse::<u64>().unwrap_or(0) + 1).to_string();
        }
        if let Some(column) = updated_on {
            row[column] = now.to_owned();
        }
        if let Some(column) = updated_by {
            row[column] = user.to_owned();
        }
        table.version += 1;
        Ok(())
    }

    /// Deletes a live record.
    pub(crate) fn delete(&mut self, table_name: &str, id: u64) -> Result<(), WriteProblem> {
        let table = self
            .tables
            .get_mut(table_name)
            .ok_or(WriteProblem::NoSuchRecord)?;
        if !table.is_live(id) {
            return Err(WriteProblem::NoSuchRecord);
        }
        table.deleted.insert(id);
        table.modified.remove(&id);
        if id >= table.generated {
            if let Some(slot) = table.inserted.get_mut((id - table.generated) as usize) {
                *slot = None;
            }
        }
        table
            .foreign_sys_ids
            .retain(|_, foreign_id| *foreign_id != id);
        table.version += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(incidents: u64) -> Database {
        let rows = BTreeMap::from([
            ("incident".to_owned(), incidents),
            ("sys_user".to_owned(), 50),
        ]);
        Database::new(7, &rows, Dataset::Generated)
    }

    #[test]
    fn sys_ids_round_trip_and_grow_with_the_index() {
        let database = database(1000);
        let table = &database.tables["incident"];
        let ids: Vec<String> = (0..1000).map(|id| table.sys_id_of(id)).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
        for (id, sys_id) in ids.iter().enumerate() {
            assert_eq!(table.id_of_sys_id(sys_id), Some(id as u64));
        }
        assert_eq!(
            table.id_of_sys_id(&table.sys_id_of(1000)),
            None,
            "past the end"
        );
        assert_eq!(
            database.tables["problem"].id_of_sys_id(&ids[0]),
            None,
            "another table's sys_id"
        );
    }

    #[test]
    fn a_row_loaded_at_once_has_the_values_asked_one_by_one() {
        let database = database(100);
        let mut buffer = RowBuffer::default();
        for table in database.tables.values() {
            for id in [0, 1, table.generated / 2, table.generated.saturating_sub(1)] {
                let row = database.load_row(table, id, &mut buffer);
                for column in 0..table.columns.len() {
                    assert_eq!(
                        row.get(column),
                        database.value(table, id, column),
                        "{} {id} {column}",
                        table.name
                    );
                }
            }
        }
    }

    #[test]
    fn positions_skip_deleted_rows_both_ways() {
        let mut database = database(10);
        database.delete("incident", 0).unwrap();
        database.delete("incident", 4).unwrap();
        database.delete("incident", 5).unwrap();
        let table = &database.tables["incident"];
        assert_eq!(
            table.live_ids_from(0).collect::<Vec<_>>(),
            vec![1, 2, 3, 6, 7, 8, 9]
        );
        assert_eq!(table.live_ids_from(3).collect::<Vec<_>>(), vec![6, 7, 8, 9]);
        assert_eq!(
            table.live_ids_descending_from(0).collect::<Vec<_>>(),
            vec![9, 8, 7, 6, 3, 2, 1]
        );
        assert_eq!(
            table.live_ids_descending_from(4).collect::<Vec<_>>(),
            vec![3, 2, 1]
        );
        assert_eq!(table.live_count(), 7);
    }

    #[test]
    fn an_update_materializes_a_generated_row_and_keeps_its_other_values() {
        let mut database = database(10);
        let before: Vec<String> = {
            let table = &database.tables["incident"];
            (0..table.columns.len())
                .map(|column| database.value(table, 3, column).into_owned())
                .collect()
        };
        let input = vec![("short_description".to_owned(), "changed".to_owned())];
        database
            .update("incident", 3, &input, "admin", "2026-01-01 00:00:00")
            .unwrap();
        let table = &database.tables["incident"];
        let column = table.column_index("short_description").unwrap();
        assert_eq!(database.value(table, 3, column), "changed");
        let number = table.column_index("number").unwrap();
        assert_eq!(database.value(table, 3, number), before[number]);
    }
}

//! `Record`: a dynamic record, a map of field name to JSON value, for tables without a struct.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A record as a map of field name to value, for code that does not know the table's shape.
///
/// Values are whatever the Table API sent: strings for plain fields, objects for references
/// and for `sysparm_display_value=all`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Record(Map<String, Value>);

impl Record {
    /// An empty record (for building a body to create or update).
    pub fn new() -> Self {
        Self::default()
    }

    /// The raw value of `field`.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.0.get(field)
    }

    /// The value of `field` when it is a string; for a reference or a display-value object,
    /// its `value` member.
    pub fn get_str(&self, field: &str) -> Option<&str> {
        match self.0.get(field)? {
            Value::String(text) => Some(text),
            Value::Object(object) => object.get("value").and_then(Value::as_str),
            _ => None,
        }
    }

    /// The record's `sys_id`, when the response carried it.
    pub fn sys_id(&self) -> Option<&str> {
        self.get_str("sys_id")
    }

    /// Sets `field` to `value` (a string for ordinary fields, as the Table API expects).
    pub fn set(&mut self, field: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        self.0.insert(field.into(), value.into());
        self
    }

    /// Builder form of [`Record::set`].
    pub fn with(mut self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.set(field, value);
        self
    }

    /// The fields and values.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The fields and values, owned.
    pub fn into_fields(self) -> Map<String, Value> {
        self.0
    }
}

impl From<Map<String, Value>> for Record {
    fn from(fields: Map<String, Value>) -> Self {
        Self(fields)
    }
}

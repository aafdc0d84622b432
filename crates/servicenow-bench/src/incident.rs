//! The record every comparison reads: six fields of an incident, two of them converted from ServiceNow's strings.

use serde::Deserialize;
use servicenow::table::{GlideDateTime, de};

/// The struct both sides parse rows into.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // Fields are parsed to be measured, not read.
pub(crate) struct Incident {
    sys_id: String,
    number: String,
    short_description: String,
    #[serde(deserialize_with = "de::number_from_string")]
    priority: u8,
    #[serde(deserialize_with = "de::bool_from_string")]
    active: bool,
    sys_updated_on: GlideDateTime,
}

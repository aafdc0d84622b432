//! Helpers for ServiceNow's value shapes: strings for everything, references, display values, dates.
//!
//! The Table API sends every value as a JSON string (`"active": "true"`, `"impact": "3"`), a
//! reference as `{"link", "value"}` or `""`, and with `sysparm_display_value=all` every field as
//! `{"display_value", "value", "link"}`. The deserializers in [`de`] turn those into Rust types:
//!
//! ```
//! use serde::Deserialize;
//! use servicenow_table::{GlideDateTime, Reference, de};
//!
//! #[derive(Deserialize)]
//! struct Incident {
//!     number: String,
//!     #[serde(deserialize_with = "de::bool_from_string")]
//!     active: bool,
//!     #[serde(deserialize_with = "de::number_from_string")]
//!     impact: u8,
//!     sys_updated_on: GlideDateTime,
//!     #[serde(deserialize_with = "de::empty_as_none")]
//!     assigned_to: Option<Reference>,
//! }
//!
//! let incident: Incident = serde_json::from_str(r#"{
//!     "number": "INC0010001", "active": "true", "impact": "3",
//!     "sys_updated_on": "2016-01-19 04:52:04",
//!     "assigned_to": ""
//! }"#)?;
//! assert!(incident.active && incident.impact == 3 && incident.assigned_to.is_none());
//! assert_eq!(incident.sys_updated_on.unix_timestamp(), 1_453_179_124);
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{PrimitiveDateTime, format_description::BorrowedFormatItem, macros::format_description};

/// The glide date-time format, `YYYY-MM-DD HH:MM:SS`, always UTC on the wire.
const GLIDE_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

/// A glide date-time (`2016-01-19 04:52:04`), which the Table API sends in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GlideDateTime(time::OffsetDateTime);

impl GlideDateTime {
    /// Parses `YYYY-MM-DD HH:MM:SS` as UTC.
    pub fn parse(text: &str) -> Result<Self, time::error::Parse> {
        PrimitiveDateTime::parse(text, GLIDE_FORMAT).map(|local| Self(local.assume_utc()))
    }

    /// The instant, in UTC.
    pub fn as_offset_date_time(&self) -> time::OffsetDateTime {
        self.0
    }

    /// Seconds since the Unix epoch.
    pub fn unix_timestamp(&self) -> i64 {
        self.0.unix_timestamp()
    }
}

impl From<time::OffsetDateTime> for GlideDateTime {
    fn from(instant: time::OffsetDateTime) -> Self {
        Self(instant.to_offset(time::UtcOffset::UTC))
    }
}

impl fmt::Display for GlideDateTime {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.format(GLIDE_FORMAT).map_err(|_| fmt::Error)?;
        formatter.write_str(&text)
    }
}

impl<'de> Deserialize<'de> for GlideDateTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(|_| {
            serde::de::Error::custom(format!(
                "expected a glide date-time YYYY-MM-DD HH:MM:SS, got {text:?}"
            ))
        })
    }
}

impl Serialize for GlideDateTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A reference field: the referenced record's sys_id and, unless
/// `sysparm_exclude_reference_link=true`, its API link.
///
/// Deserializes from `{"link", "value"}` (and the `display_value` of `sysparm_display_value`),
/// or from a bare sys_id string. An empty reference is `""`: use
/// `#[serde(deserialize_with = "de::empty_as_none")] Option<Reference>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reference {
    /// The referenced record's sys_id.
    pub value: String,
    /// The API URL of the referenced record, when sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The display value, when `sysparm_display_value` asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_value: Option<String>,
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Bare(String),
            Object {
                value: String,
                link: Option<String>,
                display_value: Option<String>,
            },
        }
        match Wire::deserialize(deserializer)? {
            Wire::Bare(value) => Ok(Self {
                value,
                link: None,
                display_value: None,
            }),
            Wire::Object {
                value,
                link,
                display_value,
            } => Ok(Self {
                value,
                link,
                display_value,
            }),
        }
    }
}

/// A field read with `sysparm_display_value=all`: `{"display_value", "value", "link"}`.
///
/// `T` is the type of `value`; give it a deserializer with `#[serde(deserialize_with)]` on a
/// wrapper, or use `String`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisplayValue<T> {
    /// The value as a person sees it (a choice label, a user's name).
    pub display_value: String,
    /// The stored value.
    pub value: T,
    /// The API URL of the referenced record, for reference fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// `deserialize_with` functions for ServiceNow's all-strings values.
pub mod de {
    use std::{fmt::Display, str::FromStr};

    use serde::{Deserialize, Deserializer, de::Error as _};

    /// Accepts a JSON string or a bare JSON scalar, as text.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Bool(bool),
        Number(serde_json::Number),
    }

    impl Scalar {
        fn into_text(self) -> String {
            match self {
                Self::Text(text) => text,
                Self::Bool(value) => value.to_string(),
                Self::Number(value) => value.to_string(),
            }
        }
    }

    /// `"true"`/`"false"` (also `"1"`/`"0"` and a JSON bool) as `bool`.
    pub fn bool_from_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
        let text = Scalar::deserialize(deserializer)?.into_text();
        match text.as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            other => Err(D::Error::custom(format!(
                "expected \"true\" or \"false\", got {other:?}"
            ))),
        }
    }

    /// A number sent as a string (`"3"`) as any `FromStr` type: integers, floats.
    pub fn number_from_string<'de, D, T>(deserializer: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr,
        T::Err: Display,
    {
        let text = Scalar::deserialize(deserializer)?.into_text();
        text.parse::<T>()
            .map_err(|error| D::Error::custom(format!("expected a number, got {text:?}: {error}")))
    }

    /// `""` (ServiceNow's empty value, also for references and dates) as `None`, anything else
    /// through `T`'s own `Deserialize`.
    pub fn empty_as_none<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: serde::de::DeserializeOwned,
    {
        let value = serde_json::Value::deserialize(deserializer)?;
        match value {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::String(text) if text.is_empty() => Ok(None),
            other => T::deserialize(other).map(Some).map_err(D::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_come_as_objects_bare_strings_or_empty() {
        #[derive(Deserialize)]
        struct Row {
            #[serde(deserialize_with = "de::empty_as_none")]
            caller_id: Option<Reference>,
        }
        let linked: Row = serde_json::from_str(
            r#"{"caller_id":{"link":"https://i.example/api/now/table/sys_user/abc","value":"abc"}}"#,
        )
        .expect("object form");
        assert_eq!(
            linked
                .caller_id
                .as_ref()
                .map(|reference| reference.value.as_str()),
            Some("abc")
        );
        assert!(
            linked
                .caller_id
                .and_then(|reference| reference.link)
                .is_some()
        );
        let bare: Row = serde_json::from_str(r#"{"caller_id":"abc"}"#).expect("bare form");
        assert_eq!(
            bare.caller_id.map(|reference| reference.value),
            Some("abc".into())
        );
        let empty: Row = serde_json::from_str(r#"{"caller_id":""}"#).expect("empty form");
        assert!(empty.caller_id.is_none());
    }

    #[test]
    fn display_value_all_carries_both_values() {
        let field: DisplayValue<String> =
            serde_json::from_str(r#"{"display_value":"High","value":"1"}"#)
                .expect("display value form");
        assert_eq!(
            (
                field.display_value.as_str(),
                field.value.as_str(),
                field.link
            ),
            ("High", "1", None)
        );
    }

    #[test]
    fn glide_date_times_are_utc_and_round_trip() {
        let parsed = GlideDateTime::parse("2016-01-19 04:52:04").expect("valid");
        assert_eq!(parsed.unix_timestamp(), 1_453_179_124);
        assert_eq!(parsed.to_string(), "2016-01-19 04:52:04");
        assert!(GlideDateTime::parse("2016-01-19T04:52:04Z").is_err());
        assert!(GlideDateTime::parse("2016-02-30 00:00:00").is_err());
    }

    #[test]
    fn string_scalars_become_bools_and_numbers_or_clear_errors() {
        #[derive(Deserialize)]
        struct Row {
            #[serde(deserialize_with = "de::bool_from_string")]
            active: bool,
            #[serde(deserialize_with = "de::number_from_string")]
            count: i64,
        }
        let row: Row = serde_json::from_str(r#"{"active":"false","count":"-3"}"#).expect("valid");
        assert!(!row.active);
        assert_eq!(row.count, -3);
        let error = serde_json::from_str::<Row>(r#"{"active":"yes","count":"1"}"#)
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|message| message.contains("\"yes\"")));
    }
}

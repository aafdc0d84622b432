//! `KeyedRow`: the one-pass parse gives the same row as serde_json alone, and the `sys_id` the row carries.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde::{Deserialize, de::IgnoredAny};
use serde_json::{Value, json, value::RawValue};

use super::KeyedRow;
use crate::{GlideDateTime, Record, Reference, de as helpers};

/// The `sys_id` a row carries, by the rule the stream documents: a string, or an object's
/// string `value` member.
fn reference_sys_id(row: &Value) -> Option<String> {
    match row.get("sys_id")? {
        Value::String(text) => Some(text.clone()),
        Value::Object(object) => object.get("value")?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// Parses `text` as `KeyedRow<R>` and as `R`, and checks that both give the same row (by
/// `Debug`) and the `sys_id` the reference rule reads.
fn check_same<R>(text: &str) -> Option<String>
where
    R: for<'de> Deserialize<'de> + std::fmt::Debug,
{
    let plain = serde_json::from_str::<R>(text).map(|row| format!("{row:?}"));
    let keyed = serde_json::from_str::<KeyedRow<R>>(text);
    match (plain, keyed) {
        (Ok(plain), Ok(keyed)) => {
            assert_eq!(format!("{:?}", keyed.row), plain, "rows differ for {text}");
            let value: Value = serde_json::from_str(text).expect("a valid row is valid JSON");
            assert_eq!(keyed.sys_id, reference_sys_id(&value), "sys_id of {text}");
            keyed.sys_id
        }
        (Err(plain), Err(keyed)) => {
            assert_eq!(
                keyed.to_string(),
                plain.to_string(),
                "errors differ for {text}"
            );
            None
        }
        (plain, keyed) => {
            panic!("one parse failed, the other did not, for {text}: {plain:?} / {keyed:?}")
        }
    }
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // Compared through Debug.
struct Incident {
    sys_id: String,
    number: String,
    #[serde(deserialize_with = "helpers::number_from_string")]
    priority: u8,
    #[serde(default, deserialize_with = "helpers::empty_as_none")]
    sys_updated_on: Option<GlideDateTime>,
    #[serde(default, deserialize_with = "helpers::empty_as_none")]
    caller_id: Option<Reference>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct WithoutSysId {
    number: String,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct OptionalSysId {
    #[serde(default)]
    sys_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct SysIdNewtype(String);

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct NewtypeSysId {
    sys_id: SysIdNewtype,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Flattened {
    number: String,
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
#[allow(dead_code)]
enum EitherShape {
    Incident { sys_id: String, number: String },
    Other(BTreeMap<String, Value>),
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct RawSysId {
    sys_id: Box<RawValue>,
}

const SYS_ID: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn a_typed_row_reads_its_sys_id_in_the_same_pass() {
    let row = json!({
        "number": "INC0010001",
        "priority": "2",
        "sys_updated_on": "2026-01-02 03:04:05",
        "caller_id": {"link": "https://dev1.service-now.com/api/now/table/sys_user/1", "value": "1"},
        "sys_id": SYS_ID,
    })
    .to_string();
    assert_eq!(check_same::<Incident>(&row).as_deref(), Some(SYS_ID));
}

#[test]
fn every_shape_of_caller_type_gets_the_same_row_and_the_sys_id() {
    let row = json!({"sys_id": SYS_ID, "number": "INC1", "impact": "3"}).to_string();
    assert_eq!(check_same::<WithoutSysId>(&row).as_deref(), Some(SYS_ID));
    assert_eq!(check_same::<OptionalSysId>(&row).as_deref(), Some(SYS_ID));
    assert_eq!(check_same::<NewtypeSysId>(&row).as_deref(), Some(SYS_ID));
    assert_eq!(check_same::<Flattened>(&row).as_deref(), Some(SYS_ID));
    assert_eq!(check_same::<EitherShape>(&row).as_deref(), Some(SYS_ID));
    assert_eq!(check_same::<Record>(&row).as_deref(), Some(SYS_ID));
    assert_eq!(check_same::<Value>(&row).as_deref(), Some(SYS_ID));
    assert_eq!(
        check_same::<BTreeMap<String, String>>(&row).as_deref(),
        Some(SYS_ID)
    );
    assert_eq!(check_same::<IgnoredAny>(&row).as_deref(), Some(SYS_ID));
}

#[test]
fn a_sys_id_kept_as_a_raw_json_value_is_not_seen() {
    // serde_json hands a `RawValue` its text through a private map, not as a string; the row
    // is still parsed exactly as serde_json parses it, and passed on without a sys_id.
    let row = json!({"sys_id": SYS_ID, "number": "INC1"}).to_string();
    let keyed = serde_json::from_str::<KeyedRow<RawSysId>>(&row).unwrap();
    assert_eq!(keyed.row.sys_id.get(), format!("\"{SYS_ID}\""));
    assert_eq!(keyed.sys_id, None);
}

#[test]
fn a_display_value_object_gives_its_value_member() {
    let row = json!({
        "sys_id": {"display_value": "x", "value": SYS_ID},
        "number": {"display_value": "INC1", "value": "INC1"},
    })
    .to_string();
    assert_eq!(check_same::<Record>(&row).as_deref(), Some(SYS_ID));
    assert_eq!(check_same::<IgnoredAny>(&row).as_deref(), Some(SYS_ID));
}

#[test]
fn escaped_keys_and_values_are_read_as_their_text() {
    let row = r#"{"sys\u005fid":"0123456789abcdef0123456789abc\u0064ef","number":"a\"b"}"#;
    assert_eq!(check_same::<Record>(row).as_deref(), Some(SYS_ID));
    assert_eq!(check_same::<OptionalSysId>(row).as_deref(), Some(SYS_ID));
}

#[test]
fn rows_without_a_string_sys_id_have_none() {
    for row in [
        r#"{"number":"INC1"}"#,
        r#"{"sys_id":null}"#,
        r#"{"sys_id":7}"#,
        r#"{"sys_id":{"value":{"value":"nested"}}}"#,
        r#"{"sys_id":{"display_value":"only"}}"#,
        r#"{"other":{"sys_id":"inner"}}"#,
        r#"{"other":["sys_id","x"]}"#,
    ] {
        assert_eq!(check_same::<Value>(row), None, "{row}");
        assert_eq!(check_same::<IgnoredAny>(row), None, "{row}");
    }
}

#[test]
fn a_row_the_type_refuses_fails_with_serde_jsons_own_error() {
    for row in [
        r#"{"sys_id":7,"number":"INC1"}"#,
        r#"{"number":"INC1","priority":"high"}"#,
        r#"["not","an","object"]"#,
        r#""text""#,
    ] {
        check_same::<Incident>(row);
        check_same::<OptionalSysId>(row);
        check_same::<NewtypeSysId>(row);
    }
}

/// Any JSON value: scalars, arrays and objects, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z0-9_ \"\\\\]{0,12}".prop_map(Value::from),
        Just(Value::from(SYS_ID)),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(field_name(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Field names, `sys_id` and `value` often among them.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("sys_id".to_owned()),
        Just("value".to_owned()),
        Just("display_value".to_owned()),
        "[a-z_]{1,8}",
    ]
}

proptest! {
    #[test]
    fn any_row_parses_to_the_same_value_with_the_reference_sys_id(
        fields in prop::collection::btree_map(field_name(), json_value(), 0..6),
    ) {
        let row = Value::Object(fields.into_iter().collect()).to_string();
        check_same::<Value>(&row);
        check_same::<Record>(&row);
        check_same::<IgnoredAny>(&row);
        check_same::<OptionalSysId>(&row);
        check_same::<WithoutSysId>(&row);
        check_same::<Flattened>(&row);
    }
}

//! The oracle of the `glide_values` fuzz target: glide date-times and ServiceNow's value shapes, each compared with a reference written from the documented format rather than from the code.
//!
//! - `GlideDateTime::parse` accepts exactly `YYYY-MM-DD HH:MM:SS` (a real calendar date, hours
//!   0–23, minutes and seconds 0–59) and gives the instant [`reference_unix_seconds`] computes
//!   with the days-from-civil formula; what it accepts prints back to the same text.
//! - Each `de` helper, given one JSON value, agrees with the reference reading of that value:
//!   `bool_from_string` takes `"true"`/`"1"`/`true`/`1` and `"false"`/`"0"`/`false`/`0`;
//!   `number_from_string` takes a string or number whose text parses as the type;
//!   `empty_as_none` gives `None` for `""` and `null`.
//! - A reference and a display value survive a serialize/deserialize round trip.

use serde::Deserialize;
use serde_json::Value;
use servicenow_table::{DisplayValue, GlideDateTime, Reference, de};

/// Checks the properties of the target on one input; panics when one does not hold.
pub fn check(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        check_date_time(text);
        check_date_time(text.trim());
    }
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        check_shapes(&value);
        if let Value::Object(fields) = &value {
            for field in fields.values() {
                check_shapes(field);
            }
        }
    }
    if let Ok(reference) = serde_json::from_slice::<Reference>(data) {
        let json = serde_json::to_string(&reference).expect("a reference serializes");
        let back: Reference =
            serde_json::from_str(&json).expect("a serialized reference reads back");
        assert_eq!(back, reference, "a reference changed through {json}");
    }
    if let Ok(shown) = serde_json::from_slice::<DisplayValue<GlideDateTime>>(data) {
        let json = serde_json::to_string(&shown).expect("a display value serializes");
        let back: DisplayValue<GlideDateTime> =
            serde_json::from_str(&json).expect("a serialized display value reads back");
        assert_eq!(back, shown, "a display value changed through {json}");
    }
}

fn check_date_time(text: &str) {
    let parsed = GlideDateTime::parse(text).ok();
    let reference = reference_unix_seconds(text);
    assert_eq!(
        parsed.map(|instant| instant.unix_timestamp()),
        reference,
        "GlideDateTime::parse({text:?}) disagrees with the documented format"
    );
    if let Some(instant) = parsed {
        assert_eq!(
            instant.to_string(),
            text,
            "{text:?} does not print back to itself"
        );
        let json = serde_json::to_string(&instant).expect("serializes");
        assert_eq!(json, format!("\"{text}\""));
        let back: GlideDateTime = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, instant);
    }
}

/// The reference reading of a glide date-time: `YYYY-MM-DD HH:MM:SS`, UTC, as seconds since
/// the Unix epoch; `None` for anything else.
pub fn reference_unix_seconds(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 19
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            10 => *byte == b' ',
            13 | 16 => *byte == b':',
            _ => byte.is_ascii_digit(),
        });
    if !shape_ok {
        return None;
    }
    let number =
        |range: std::ops::Range<usize>| -> i64 { text[range].parse().expect("only digits") };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let (hour, minute, second) = (number(11..13), number(14..16), number(17..19));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let shifted_year = if month <= 2 { year - 1 } else { year };
    let era = shifted_year.div_euclid(400);
    let year_of_era = shifted_year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// One field, read by each helper, against the reference reading.
fn check_shapes(value: &Value) {
    #[derive(Deserialize)]
    struct Flag {
        #[serde(deserialize_with = "de::bool_from_string")]
        v: bool,
    }
    #[derive(Deserialize)]
    struct Count {
        #[serde(deserialize_with = "de::number_from_string")]
        v: i64,
    }
    #[derive(Deserialize)]
    struct Ratio {
        #[serde(deserialize_with = "de::number_from_string")]
        v: f64,
    }
    #[derive(Deserialize)]
    struct When {
        #[serde(deserialize_with = "de::empty_as_none")]
        v: Option<GlideDateTime>,
    }
    let wrapped = serde_json::json!({ "v": value });
    let as_text = match value {
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    };

    let flag = serde_json::from_value::<Flag>(wrapped.clone())
        .ok()
        .map(|flag| flag.v);
    let expected_flag = match as_text.as_deref() {
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        _ => None,
    };
    assert_eq!(flag, expected_flag, "bool_from_string({value})");

    let count = serde_json::from_value::<Count>(wrapped.clone())
        .ok()
        .map(|count| count.v);
    let expected_count = as_text.as_deref().and_then(|text| text.parse::<i64>().ok());
    assert_eq!(count, expected_count, "number_from_string::<i64>({value})");

    let ratio = serde_json::from_value::<Ratio>(wrapped.clone())
        .ok()
        .map(|ratio| ratio.v);
    let expected_ratio = as_text.as_deref().and_then(|text| text.parse::<f64>().ok());
    assert_eq!(
        ratio.map(f64::to_bits),
        expected_ratio.map(f64::to_bits),
        "number_from_string::<f64>({value})"
    );

    let when = serde_json::from_value::<When>(wrapped)
        .ok()
        .map(|when| when.v);
    let expected_when = match value {
        Value::Null => Some(None),
        Value::String(text) if text.is_empty() => Some(None),
        Value::String(text) => GlideDateTime::parse(text).ok().map(Some),
        _ => None,
    };
    assert_eq!(
        when, expected_when,
        "empty_as_none::<GlideDateTime>({value})"
    );
}

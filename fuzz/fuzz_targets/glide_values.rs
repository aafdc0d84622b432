//! Fuzz target: glide date-times and ServiceNow's value shapes (strings for everything, references, display values).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use servicenow_table::{DisplayValue, GlideDateTime, Reference, de};

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // Read by Debug only: the point is that deserializing never panics.
struct Shapes {
    #[serde(default, deserialize_with = "de::bool_from_string")]
    flag: bool,
    #[serde(default, deserialize_with = "de::number_from_string")]
    count: i64,
    #[serde(default, deserialize_with = "de::number_from_string")]
    ratio: f64,
    #[serde(default, deserialize_with = "de::empty_as_none")]
    when: Option<GlideDateTime>,
    #[serde(default, deserialize_with = "de::empty_as_none")]
    reference: Option<Reference>,
    #[serde(default)]
    shown: Option<DisplayValue<String>>,
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(instant) = GlideDateTime::parse(text) {
            // Whatever parses prints back to a string that parses to the same instant.
            let printed = instant.to_string();
            let again = GlideDateTime::parse(&printed).expect("a printed glide date-time parses");
            assert_eq!(again, instant, "{text:?} printed as {printed:?}");
            let json = serde_json::to_string(&instant).expect("serializes");
            let back: GlideDateTime = serde_json::from_str(&json).expect("round trip");
            assert_eq!(back, instant);
        }
    }
    if let Ok(shapes) = serde_json::from_slice::<Shapes>(data) {
        let _ = format!("{shapes:?}");
    }
    let _ = serde_json::from_slice::<Reference>(data);
    let _ = serde_json::from_slice::<DisplayValue<GlideDateTime>>(data);
});

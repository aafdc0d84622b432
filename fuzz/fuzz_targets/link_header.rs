//! Fuzz target: the Table API `Link` header (origin-pinned `rel="next"` detection) through `TableApi::parse_list`.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use servicenow_oauth::InstanceUrl;
use servicenow_table::{Record, TableApi, TableError};

const INSTANCE: &str = "https://dev1.service-now.com";

fuzz_target!(|data: &[u8]| {
    // Every 0xff byte starts another `Link` header line (servers may send several).
    let values: Vec<http::HeaderValue> = data
        .split(|byte| *byte == 0xff)
        .filter_map(|part| http::HeaderValue::from_bytes(part).ok())
        .collect();
    let mut builder = http::Response::builder().status(200).header("x-total-count", "0");
    for value in &values {
        builder = builder.header("link", value.clone());
    }
    let response = builder
        .body(Bytes::from_static(b"{\"result\":[]}"))
        .expect("validated header values");
    let api = TableApi::new(InstanceUrl::new(INSTANCE).expect("a valid instance"));
    match api.parse_list::<Record>(&response, "fuzz list") {
        Ok(page) => {
            assert_eq!(page.has_next.is_some(), !values.is_empty(), "has_next must say whether Link was sent");
            // A Link entry naming another host is never accepted. (Only single, well-formed
            // entries are judged here: inside a malformed one, `<` can be part of a URL path.)
            for value in &values {
                if let Ok(text) = value.to_str() {
                    let single_entry = text.matches('<').count() == 1 && text.matches('>').count() == 1;
                    assert!(
                        !(single_entry && text.trim_start().starts_with("<https://evil.example")),
                        "a foreign Link was accepted: {text}"
                    );
                }
            }
        }
        Err(TableError::ForeignOrigin { origin, .. }) => assert_ne!(origin, INSTANCE),
        Err(error) => {
            let _ = (error.to_string(), format!("{error:?}"), error.status());
        }
    }
});

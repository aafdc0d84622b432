//! The oracle of the `table_page` fuzz target: a Table API list page (`{"result":[…]}`, `X-Total-Count`) into dynamic and typed records.

use bytes::Bytes;
use serde::Deserialize;
use servicenow_oauth::InstanceUrl;
use servicenow_table::{GlideDateTime, Record, Reference, TableApi, de};

/// A typed incident as an integrator would write it, with every value-shape helper.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // Fields are read by Debug only: the point is that deserializing never panics.
struct Incident {
    sys_id: String,
    #[serde(default)]
    number: Option<String>,
    #[serde(default, deserialize_with = "de::bool_from_string")]
    active: bool,
    #[serde(default, deserialize_with = "de::number_from_string")]
    impact: u8,
    #[serde(default, deserialize_with = "de::empty_as_none")]
    sys_updated_on: Option<GlideDateTime>,
    #[serde(default, deserialize_with = "de::empty_as_none")]
    assigned_to: Option<Reference>,
}

/// Checks the properties of the target on one input; panics when one does not hold.
pub fn check(data: &[u8]) {
    // The first byte picks the API version and the X-Total-Count; the rest is the body.
    let [selector, body @ ..] = data else {
        return;
    };
    let api = TableApi::new(InstanceUrl::new("https://dev1.service-now.com").expect("valid"));
    let api = if selector & 1 == 0 {
        api
    } else {
        api.with_version(servicenow_table::ApiVersion::V1)
    };
    let status = if selector & 2 == 0 { 200 } else { 404 };
    let response = http::Response::builder()
        .status(status)
        .header("x-total-count", selector.to_string())
        .body(Bytes::copy_from_slice(body))
        .expect("fixed headers are valid");
    let dynamic = api.parse_list::<Record>(&response, "fuzz list");
    let typed = api.parse_list::<Incident>(&response, "fuzz list");
    if let (Ok(dynamic), Ok(typed)) = (&dynamic, &typed) {
        assert_eq!(
            dynamic.records.len(),
            typed.records.len(),
            "typed and dynamic pages disagree"
        );
    }
    if typed.is_ok() {
        assert!(
            dynamic.is_ok(),
            "a page typed records accept must be a valid dynamic page"
        );
    }
    for outcome in [
        dynamic.map(|page| page.records.len()),
        typed.map(|page| page.records.len()),
    ] {
        if let Err(error) = outcome {
            let _ = (error.to_string(), format!("{error:?}"), error.status());
        }
    }
    let _ = api.parse_record::<Record>(&response, "fuzz get");
    let _ = api.parse_count(&response, "fuzz count");
}

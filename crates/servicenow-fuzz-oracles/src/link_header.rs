//! The oracle of the `link_header` fuzz target: the Table API `Link` header through `TableApi::parse_list`, where every URL on any origin other than the instance's (scheme, host and port) is refused.
//!
//! The input is one or more `Link` header values (each `0xff` byte starts another). Each input
//! is judged against several instances, so that the same URL is foreign by scheme, by host or
//! by port for one of them and on the origin of another. The reference reading follows
//! RFC 8288: a link value is `<URI-reference>` then parameters, so the URLs are the
//! non-overlapping `<…>` spans, read left to right; each is resolved against the instance
//! (RFC 3986 §5) and compared with the instance's origin here, not by the parser.

use bytes::Bytes;
use servicenow_oauth::InstanceUrl;
use servicenow_table::{Record, TableApi, TableError};

/// Instances the input is judged against: the default HTTPS port, another port, and loopback
/// HTTP on two ports.
pub const INSTANCES: &[&str] = &[
    "https://dev1.service-now.com",
    "https://dev1.service-now.com:8443",
    "http://127.0.0.1:8080",
    "http://127.0.0.1:9090",
];

/// Checks the properties of the target on one input; panics when one does not hold.
pub fn check(data: &[u8]) {
    let values: Vec<http::HeaderValue> = data
        .split(|byte| *byte == 0xff)
        .filter_map(|part| http::HeaderValue::from_bytes(part).ok())
        .collect();
    for instance in INSTANCES {
        judge(instance, &values);
    }
}

fn judge(instance: &str, values: &[http::HeaderValue]) {
    let mut builder = http::Response::builder()
        .status(200)
        .header("x-total-count", "0");
    for value in values {
        builder = builder.header("link", value.clone());
    }
    let response = builder
        .body(Bytes::from_static(b"{\"result\":[]}"))
        .expect("validated header values");
    let api = TableApi::new(InstanceUrl::new(instance).expect("a valid instance"));
    let outcome = api.parse_list::<Record>(&response, "fuzz list");

    let texts: Option<Vec<&str>> = values.iter().map(|value| value.to_str().ok()).collect();
    let Some(texts) = texts else {
        // A value that is not visible ASCII cannot be read, so its URLs cannot be judged.
        assert!(
            outcome.is_err(),
            "an unreadable Link header was accepted on {instance}"
        );
        return;
    };
    let foreign: Vec<String> = texts
        .iter()
        .flat_map(|text| link_urls(text))
        .filter(|url| !on_origin(instance, url))
        .map(str::to_owned)
        .collect();
    match outcome {
        Ok(page) => {
            assert!(
                foreign.is_empty(),
                "{instance} accepted Link URLs on another origin: {foreign:?} in {texts:?}"
            );
            assert_eq!(
                page.has_next.is_some(),
                !values.is_empty(),
                "has_next must say whether Link was sent"
            );
            if page.has_next == Some(true) {
                assert!(
                    texts.iter().any(|text| text.contains("next")),
                    "a next page without a `next` relation: {texts:?}"
                );
            }
        }
        Err(TableError::ForeignOrigin { origin, .. }) => {
            assert!(
                !foreign.is_empty(),
                "{instance} refused {origin} as foreign in {texts:?}, but every URL is on its origin"
            );
        }
        Err(error) => {
            let _ = (error.to_string(), format!("{error:?}"), error.status());
        }
    }
}

/// The URLs of a `Link` value: the non-overlapping `<…>` spans, left to right.
pub fn link_urls(text: &str) -> Vec<&str> {
    let mut urls = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            break;
        };
        urls.push(&after[..close]);
        rest = &after[close + 1..];
    }
    urls
}

/// Whether `reference`, resolved against `instance`, has the instance's scheme, host and
/// port (default ports made explicit). A reference that does not resolve is not on it.
pub fn on_origin(instance: &str, reference: &str) -> bool {
    let base = url::Url::parse(instance).expect("a valid instance");
    let Ok(resolved) = base.join(reference) else {
        return false;
    };
    resolved.scheme() == base.scheme()
        && resolved.host_str() == base.host_str()
        && resolved.port_or_known_default() == base.port_or_known_default()
}

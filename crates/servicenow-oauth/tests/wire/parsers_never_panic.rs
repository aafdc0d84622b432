//! Both parsers take whatever a server or a browser sends: arbitrary bytes and arbitrary JSON
//! never make them panic.

use http::StatusCode;
use proptest::prelude::*;
use serde_json::Value;
use servicenow_oauth::{TokenResponseOptions, parse_callback_query, parse_token_response_body};

/// Arbitrary JSON values, biased toward the members a token response has.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".*".prop_map(Value::String),
        Just(Value::String("Bearer".to_owned())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("access_token".to_owned()),
                    Just("token_type".to_owned()),
                    Just("expires_in".to_owned()),
                    Just("refresh_token".to_owned()),
                    Just("scope".to_owned()),
                    Just("error".to_owned()),
                    Just("error_description".to_owned()),
                    ".*",
                ],
                inner,
                0..8,
            )
            .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

fn status() -> impl Strategy<Value = StatusCode> {
    prop_oneof![
        Just(StatusCode::OK),
        Just(StatusCode::UNAUTHORIZED),
        (100_u16..1000).prop_map(|code| StatusCode::from_u16(code).unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_token_response_parser_never_panics_on_bytes(status in status(), body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_token_response_body(status, &body, &TokenResponseOptions::default());
    }

    #[test]
    fn the_token_response_parser_never_panics_on_json(status in status(), value in json_value()) {
        let body = serde_json::to_vec(&value).unwrap();
        let parsed = parse_token_response_body(status, &body, &TokenResponseOptions::default());
        if let Err(error) = parsed {
            // Whatever went wrong is still describable and classifiable.
            let _ = (error.to_string(), error.class());
        }
    }

    #[test]
    fn the_callback_parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_callback_query(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn the_callback_parser_never_panics_on_parameter_soup(
        pairs in prop::collection::vec(
            (prop_oneof![Just("code"), Just("state"), Just("iss"), Just("error"), Just("error_description"), Just("x")], ".*"),
            0..8,
        )
    ) {
        let query: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        let _ = parse_callback_query(&query);
    }
}

#[test]
fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
    let body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let error = parse_token_response_body(
        StatusCode::OK,
        body.as_bytes(),
        &TokenResponseOptions::default(),
    );
    assert!(error.is_err());
}

//! The token response parser: lenient where servers deviate, strict where security needs it,
//! and never a token inside an error.

use std::time::Duration;

use http::StatusCode;
use servicenow_oauth::{
    ErrorCode, FailureClass, ScopeSet, TokenEndpointError, TokenErrorKind, TokenResponse,
    TokenResponseOptions, TokenResponseProblem, parse_token_response, parse_token_response_body,
};

fn parse(status: u16, body: &str) -> Result<TokenResponse, TokenEndpointError> {
    parse_token_response_body(
        StatusCode::from_u16(status).unwrap(),
        body.as_bytes(),
        &TokenResponseOptions::default(),
    )
}

fn problem(status: u16, body: &str) -> TokenResponseProblem {
    match parse(status, body).unwrap_err().kind {
        TokenErrorKind::InvalidTokenResponse(problem) => problem,
        other => panic!("expected an invalid token response, got {other:?}"),
    }
}

#[test]
fn servicenows_documented_success_body() {
    let body = r#"{"scope":"useraccount","token_type":"Bearer","expires_in":1799,"refresh_token":"w599voG89897rGVDmdp12WDqk8yJ4fQ7idpdlr4UEvS1d25cIcRBYNWvcOQ2k5FnXZ0BfSJ9VmNfiT8e4N5u6g","access_token":"2wRlsRCT2SYjCbcOGe6a3oZbjG1ZXoEU_7lXMw4EpG1YVdyi9jNYKI_VwpMTdzOZUR7UoHwYxqrjOqZzSEHNfg"}"#;
    let response = parse(200, body).unwrap();
    assert!(response.access_token.secret().starts_with("2wRlsRCT2SYj"));
    assert!(
        response
            .refresh_token
            .unwrap()
            .secret()
            .starts_with("w599voG8")
    );
    assert_eq!(response.expires_in, Duration::from_secs(1799));
    assert!(response.expires_in_from_server);
    assert_eq!(
        response.scope,
        Some(ScopeSet::parse("useraccount").unwrap())
    );
}

#[test]
fn expires_in_may_be_a_string() {
    let response = parse(
        200,
        r#"{"access_token":"at","token_type":"Bearer","expires_in":"3600"}"#,
    )
    .unwrap();
    assert_eq!(response.expires_in, Duration::from_secs(3600));
    assert!(response.expires_in_from_server);
    let padded = parse(
        200,
        r#"{"access_token":"at","token_type":"Bearer","expires_in":" 60 "}"#,
    )
    .unwrap();
    assert_eq!(padded.expires_in, Duration::from_secs(60));
}

#[test]
fn a_missing_expires_in_takes_the_callers_default() {
    let body = r#"{"access_token":"at","token_type":"Bearer"}"#;
    let response = parse(200, body).unwrap();
    assert_eq!(
        response.expires_in,
        TokenResponseOptions::SERVICENOW_DEFAULT_EXPIRES_IN
    );
    assert!(!response.expires_in_from_server);
    let options = TokenResponseOptions {
        default_expires_in: Duration::from_secs(300),
    };
    let response = parse_token_response_body(StatusCode::OK, body.as_bytes(), &options).unwrap();
    assert_eq!(response.expires_in, Duration::from_secs(300));
    let null = parse(
        200,
        r#"{"access_token":"at","token_type":"Bearer","expires_in":null}"#,
    )
    .unwrap();
    assert!(!null.expires_in_from_server);
}

#[test]
fn an_unusable_expires_in_is_refused() {
    for value in [r#""soon""#, "-5", "1.5", r#""""#, "true", r#""-1""#, "[]"] {
        let body = format!(r#"{{"access_token":"at","token_type":"Bearer","expires_in":{value}}}"#);
        assert_eq!(
            problem(200, &body),
            TokenResponseProblem::InvalidExpiresIn,
            "{value}"
        );
    }
}

#[test]
fn unknown_members_are_ignored_and_optional_ones_may_be_absent() {
    let response = parse(
        200,
        r#"{"access_token":"at","token_type":"Bearer","format":"JSON","id_token":{"x":1}}"#,
    )
    .unwrap();
    assert!(response.refresh_token.is_none());
    assert!(response.scope.is_none());
    let empty_refresh = parse(
        200,
        r#"{"access_token":"at","token_type":"Bearer","refresh_token":""}"#,
    )
    .unwrap();
    assert!(empty_refresh.refresh_token.is_none());
}

#[test]
fn token_type_is_case_insensitive_and_must_be_bearer() {
    for token_type in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let body = format!(r#"{{"access_token":"at","token_type":"{token_type}"}}"#);
        assert!(parse(200, &body).is_ok(), "{token_type}");
    }
    assert_eq!(
        problem(200, r#"{"access_token":"at","token_type":"mac"}"#),
        TokenResponseProblem::UnsupportedTokenType {
            token_type: "mac".to_owned()
        }
    );
    assert_eq!(
        problem(200, r#"{"access_token":"at","token_type":"DPoP"}"#),
        TokenResponseProblem::UnsupportedTokenType {
            token_type: "DPoP".to_owned()
        }
    );
    assert_eq!(
        problem(200, r#"{"access_token":"at"}"#),
        TokenResponseProblem::MissingTokenType
    );
}

#[test]
fn malformed_tokens_are_refused() {
    assert_eq!(
        problem(200, r#"{"token_type":"Bearer"}"#),
        TokenResponseProblem::MissingAccessToken
    );
    assert_eq!(
        problem(200, r#"{"access_token":"","token_type":"Bearer"}"#),
        TokenResponseProblem::InvalidAccessToken
    );
    assert_eq!(
        problem(200, r#"{"access_token":"a\nb","token_type":"Bearer"}"#),
        TokenResponseProblem::InvalidAccessToken
    );
    assert_eq!(
        problem(200, r#"{"access_token":42,"token_type":"Bearer"}"#),
        TokenResponseProblem::InvalidAccessToken
    );
    assert_eq!(
        problem(
            200,
            r#"{"access_token":"at","token_type":"Bearer","refresh_token":7}"#
        ),
        TokenResponseProblem::InvalidRefreshToken
    );
    assert_eq!(
        problem(
            200,
            r#"{"access_token":"at","token_type":"Bearer","scope":"a\\b"}"#
        ),
        TokenResponseProblem::InvalidScope
    );
    assert_eq!(problem(200, "[1,2]"), TokenResponseProblem::NotAnObject);
}

#[test]
fn servicenows_401_access_denied_body_is_a_rejection() {
    let error = parse(
        401,
        r#"{"error_description":"access_denied","error":"server_error"}"#,
    )
    .unwrap_err();
    assert!(error.is_servicenow_access_denied());
    assert_eq!(
        error.class(),
        FailureClass::Rejected,
        "server_error here means 'no', not 'try again'"
    );
    let response = error.error_response().unwrap();
    assert_eq!(response.error, ErrorCode::ServerError);
    assert_eq!(response.error_description.as_deref(), Some("access_denied"));
    assert_eq!(
        error.to_string(),
        "token endpoint answered 401 Unauthorized: server_error (access_denied)"
    );
}

#[test]
fn rfc6749_error_bodies_are_data() {
    let error = parse(
        400,
        r#"{"error":"invalid_grant","error_description":"refresh token expired","error_uri":"https://docs.example/e"}"#,
    )
    .unwrap_err();
    let response = error.error_response().unwrap();
    assert_eq!(response.error, ErrorCode::InvalidGrant);
    assert_eq!(
        response.error_uri.as_deref(),
        Some("https://docs.example/e")
    );
    assert!(!error.is_servicenow_access_denied());
    assert_eq!(error.class(), FailureClass::Rejected);

    let extension = parse(400, r#"{"error":"consent_required"}"#).unwrap_err();
    assert_eq!(
        extension.error_response().unwrap().error,
        ErrorCode::Extension("consent_required".to_owned())
    );

    let in_a_200 = parse(200, r#"{"error":"invalid_client"}"#).unwrap_err();
    assert_eq!(
        in_a_200.error_response().unwrap().error,
        ErrorCode::InvalidClient
    );
}

#[test]
fn failures_are_classified_transient_or_rejected() {
    let class = |status: u16, body: &str| parse(status, body).unwrap_err().class();
    assert_eq!(
        class(500, "<html>Internal Error</html>"),
        FailureClass::Transient
    );
    assert_eq!(
        class(503, r#"{"error":"server_error"}"#),
        FailureClass::Transient
    );
    assert_eq!(class(429, ""), FailureClass::Transient);
    assert_eq!(class(408, ""), FailureClass::Transient);
    assert_eq!(
        class(400, r#"{"error":"temporarily_unavailable"}"#),
        FailureClass::Transient
    );
    assert_eq!(
        class(200, r#"{"access_token":"at","tok"#),
        FailureClass::Transient
    );
    assert_eq!(
        class(400, r#"{"error":"invalid_request"}"#),
        FailureClass::Rejected
    );
    assert_eq!(class(403, "Forbidden"), FailureClass::Rejected);
    assert_eq!(class(302, ""), FailureClass::Rejected);
    assert_eq!(
        class(200, r#"{"access_token":"at","token_type":"mac"}"#),
        FailureClass::Rejected
    );
}

#[test]
fn an_html_error_page_becomes_a_short_excerpt_with_the_status() {
    let page = format!(
        "<html>\n<head><title>Instance Hibernating</title></head>\n<body>{}</body></html>",
        "Your instance is hibernating. ".repeat(40)
    );
    let error = parse(503, &page).unwrap_err();
    assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
    let TokenErrorKind::UnrecognizedBody { excerpt } = &error.kind else {
        panic!("expected an excerpt, got {:?}", error.kind);
    };
    assert!(
        excerpt.starts_with(
            "<html> <head><title>Instance Hibernating</title></head> <body>Your instance"
        ),
        "{excerpt}"
    );
    assert_eq!(
        excerpt.chars().count(),
        161,
        "160 characters and an ellipsis: {excerpt}"
    );
    assert!(excerpt.ends_with('…'));
    let empty = parse(502, "").unwrap_err();
    assert_eq!(
        empty.kind,
        TokenErrorKind::UnrecognizedBody {
            excerpt: String::new()
        }
    );
    assert_eq!(
        empty.to_string(),
        "token endpoint answered 502 Bad Gateway: an empty body"
    );
}

#[test]
fn no_error_ever_contains_a_token() {
    let token = "2wRlsRCT2SYjCbcOGe6a3oZbjG1ZXoEU_7lXMw4EpG1YVdyi9jNYKI";
    let bodies = [
        (
            200,
            format!(r#"{{"access_token":"{token}","token_type":"mac"}}"#),
        ),
        (
            200,
            format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":"x"}}"#),
        ),
        (
            200,
            format!(
                r#"{{"access_token":"{token}","token_type":"Bearer","refresh_token":"{token}\n"}}"#
            ),
        ),
        (
            200,
            format!(r#"{{"access_token":"{token}","token_type":"Bearer","#),
        ),
        (
            200,
            format!(r#"{{"access_token":"{token}\u0000","token_type":"Bearer"}}"#),
        ),
        (500, format!("<html>token={token}</html>")),
        (400, format!(r#"{{"status":"failure","token":"{token}"}}"#)),
        (401, format!("refresh_token {token} is expired")),
    ];
    for (status, body) in bodies {
        let error = parse(status, &body).unwrap_err();
        let printed = format!("{error} {error:?}");
        assert!(!printed.contains(&token[..20]), "{printed}");
    }
}

#[test]
fn retry_after_is_read_from_the_headers() {
    let response = http::Response::builder()
        .status(429)
        .header(http::header::RETRY_AFTER, "120")
        .body(b"slow down".to_vec())
        .unwrap();
    let error = parse_token_response(&response, &TokenResponseOptions::default()).unwrap_err();
    assert_eq!(error.retry_after, Some(Duration::from_secs(120)));
    assert!(error.is_transient());

    let dated = http::Response::builder()
        .status(503)
        .header(http::header::RETRY_AFTER, "Fri, 31 Dec 1999 23:59:59 GMT")
        .body(Vec::new())
        .unwrap();
    assert_eq!(
        parse_token_response(&dated, &TokenResponseOptions::default())
            .unwrap_err()
            .retry_after,
        None
    );
}

#[test]
fn a_successful_http_response_parses_through_the_response_api() {
    let response = http::Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "application/json;charset=UTF-8")
        .body(br#"{"access_token":"at","token_type":"Bearer","expires_in":1800}"#.to_vec())
        .unwrap();
    let parsed = parse_token_response(&response, &TokenResponseOptions::default()).unwrap();
    assert_eq!(parsed.access_token.secret(), "at");
}

#[test]
fn debug_of_a_token_response_shows_no_token() {
    let response = parse(
        200,
        r#"{"access_token":"AT-SECRET","refresh_token":"RT-SECRET","token_type":"Bearer"}"#,
    )
    .unwrap();
    let printed = format!("{response:?}");
    assert!(!printed.contains("SECRET"), "{printed}");
    assert!(printed.contains("AccessToken([redacted])"), "{printed}");
}

#[test]
fn the_servicenow_shape_counts_only_with_status_401() {
    let body = r#"{"error_description":"access_denied","error":"server_error"}"#;
    let with_500 = parse(500, body).unwrap_err();
    assert!(!with_500.is_servicenow_access_denied());
    assert!(
        with_500
            .error_response()
            .unwrap()
            .is_servicenow_access_denied(),
        "the body alone has the shape"
    );
    assert_eq!(with_500.class(), FailureClass::Transient);
    let other_description = parse(
        401,
        r#"{"error_description":"other","error":"server_error"}"#,
    )
    .unwrap_err();
    assert!(!other_description.is_servicenow_access_denied());
}

#[test]
fn error_codes_read_back_as_they_were_sent() {
    let codes = [
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "access_denied",
        "unsupported_response_type",
        "server_error",
        "temporarily_unavailable",
        "interaction_required",
    ];
    for code in codes {
        let parsed = ErrorCode::parse(code);
        assert_eq!(parsed.as_str(), code);
        assert_eq!(
            matches!(parsed, ErrorCode::Extension(_)),
            code == "interaction_required",
            "{code}"
        );
    }
}

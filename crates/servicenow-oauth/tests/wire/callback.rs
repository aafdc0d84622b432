//! The callback parser: a typed success or error, and a clear refusal of anything else.

use servicenow_oauth::{
    AuthorizationResponse, CallbackProblem, Error, ErrorCode, State, parse_callback_query,
};

fn refused(query: &str) -> CallbackProblem {
    match parse_callback_query(query) {
        Err(Error::InvalidCallback(problem)) => problem,
        other => panic!("{query:?} gave {other:?}"),
    }
}

#[test]
fn a_success_carries_code_and_state() {
    let AuthorizationResponse::Success(success) =
        parse_callback_query("?code=abc%2B1&state=XyZ123").unwrap()
    else {
        panic!("expected a success");
    };
    assert_eq!(success.code.secret(), "abc+1");
    assert_eq!(success.state, State::new("XyZ123").unwrap());
    assert_eq!(success.iss, None);
}

#[test]
fn a_success_keeps_iss_when_present_and_ignores_unknown_parameters() {
    let response = parse_callback_query(
        "code=c&state=s&iss=https%3A%2F%2Fexample.service-now.com&session_state=zz&x=1&x=2",
    )
    .unwrap();
    let AuthorizationResponse::Success(success) = response else {
        panic!("expected a success")
    };
    assert_eq!(
        success.iss.as_deref(),
        Some("https://example.service-now.com")
    );
}

#[test]
fn an_error_carries_the_code_description_and_state() {
    let response = parse_callback_query(
        "error=access_denied&error_description=The+user+denied+access&state=s1",
    )
    .unwrap();
    let AuthorizationResponse::Error(error) = &response else {
        panic!("expected an error")
    };
    assert_eq!(error.error, ErrorCode::AccessDenied);
    assert_eq!(
        error.error_description.as_deref(),
        Some("The user denied access")
    );
    assert_eq!(response.state(), Some(&State::new("s1").unwrap()));

    let AuthorizationResponse::Error(without_state) =
        parse_callback_query("error=server_error").unwrap()
    else {
        panic!("expected an error");
    };
    assert_eq!(
        without_state.state, None,
        "an error without state is reported, the caller decides"
    );
}

#[test]
fn anything_else_is_refused_with_the_reason() {
    assert_eq!(
        refused("code=c&error=access_denied&state=s"),
        CallbackProblem::BothCodeAndError
    );
    assert_eq!(refused("state=s"), CallbackProblem::NeitherCodeNorError);
    assert_eq!(refused(""), CallbackProblem::NeitherCodeNorError);
    assert_eq!(refused("code=c"), CallbackProblem::MissingState);
    assert_eq!(
        refused("code=a&code=b&state=s"),
        CallbackProblem::DuplicateParameter("code")
    );
    assert_eq!(
        refused("code=a&state=s&state=t"),
        CallbackProblem::DuplicateParameter("state")
    );
    assert_eq!(
        refused("error=a&error=b"),
        CallbackProblem::DuplicateParameter("error")
    );
    assert_eq!(
        refused("code=a&state=s&iss=x&iss=y"),
        CallbackProblem::DuplicateParameter("iss")
    );
    assert_eq!(
        refused("code=&state=s"),
        CallbackProblem::EmptyParameter("code")
    );
    assert_eq!(
        refused("code=c&state="),
        CallbackProblem::EmptyParameter("state")
    );
}

#[test]
fn refusals_never_echo_the_code_or_state() {
    for query in [
        "code=SECRETCODE&code=SECRETCODE&state=SECRETSTATE",
        "code=SECRETCODE&error=x&state=SECRETSTATE",
    ] {
        let error = parse_callback_query(query).unwrap_err();
        let printed = format!("{error} {error:?}");
        assert!(!printed.contains("SECRET"), "{printed}");
    }
    let success = parse_callback_query("code=SECRETCODE&state=SECRETSTATE").unwrap();
    assert!(!format!("{success:?}").contains("SECRET"));
}

#[test]
fn the_request_target_of_a_loopback_server_can_be_parsed_directly() {
    let target: http::Uri = "/callback?code=c1&state=s1".parse().unwrap();
    let response = servicenow_oauth::parse_callback_uri(&target).unwrap();
    assert_eq!(response.state(), Some(&State::new("s1").unwrap()));
    let bare: http::Uri = "/callback".parse().unwrap();
    assert!(matches!(
        servicenow_oauth::parse_callback_uri(&bare),
        Err(Error::InvalidCallback(CallbackProblem::NeitherCodeNorError))
    ));
}

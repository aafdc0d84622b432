//! No secret in any `Debug`: the machine, its inputs, outputs, events, stored forms and errors.

use servicenow_auth::{AuthError, AuthMachine, Command, Event, Input, Output, RequestId};
use servicenow_testkit::{EPOCH, Sim, fixtures};

fn assert_no_secret(what: &str, text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "the Debug of {what} shows a secret: {text}"
        );
    }
    assert!(
        !text.contains("SECRET"),
        "the Debug of {what} shows a secret: {text}"
    );
}

#[test]
fn every_debug_output_of_a_login_refresh_and_logout_is_redacted() {
    let mut sim = Sim::new(
        fixtures::authorization_code_config(),
        fixtures::servicenow_server(),
    );
    let started = sim.begin_login();
    let state = started.state.secret().to_owned();
    assert!(
        format!("{started:?}").contains(
            "AuthorizationUrl(https://dev12345.service-now.com/oauth_auth.do?[redacted])"
        )
    );
    let callback = sim.server.authorize(started.authorization_url.as_str());
    let input = Input::Command {
        now: sim.now,
        command: Command::CompleteLogin {
            callback_query: callback.clone(),
        },
    };
    let secrets = vec![state.clone()];
    assert_no_secret("a CompleteLogin input", &format!("{input:?}"), &secrets);
    sim.input(input);

    let (id, request) = sim.outbox.pop_front().expect("the code exchange");
    let verifier = servicenow_testkit::form(request.body())
        .get("code_verifier")
        .cloned()
        .expect("a verifier");
    let secrets = vec![state, verifier];
    let output = Output::HttpRequest { id, request };
    assert_no_secret("an HttpRequest output", &format!("{output:?}"), &secrets);
    let Output::HttpRequest { request, .. } = output else {
        unreachable!("built above")
    };
    let servicenow_testkit::ServerAnswer::Response(response) = sim.server.handle(sim.now, &request)
    else {
        panic!("the fake server answers an exchange");
    };
    let input = Input::Response {
        now: sim.now,
        id,
        response,
    };
    assert_no_secret("a Response input", &format!("{input:?}"), &secrets);
    sim.input(input);
    sim.advance(std::time::Duration::from_secs(1800));
    sim.command(Command::Revoke);
    sim.drive();

    for event in &sim.events {
        assert_no_secret("an event", &format!("{event:?}"), &secrets);
    }
    assert!(
        sim.events
            .iter()
            .any(|event| matches!(event, Event::Persist(_)))
    );
    assert_no_secret("the machine", &format!("{:?}", sim.machine), &secrets);
}

#[test]
fn a_pending_login_and_a_restore_command_are_redacted() {
    let mut sim = Sim::new(
        fixtures::authorization_code_config(),
        fixtures::servicenow_server(),
    );
    let started = sim.begin_login();
    sim.login();
    let pending = sim
        .machine
        .export_pending_login(&started.state)
        .expect("still pending");
    let secrets = vec![started.state.secret().to_owned()];
    assert_no_secret("a pending login", &format!("{pending:?}"), &secrets);
    let set = sim.store.clone().expect("persisted");
    assert_no_secret(
        "a Restore command",
        &format!("{:?}", Command::Restore(set)),
        &secrets,
    );
    assert_no_secret(
        "an import",
        &format!("{:?}", Command::ImportPendingLogin(pending)),
        &secrets,
    );
}

#[test]
fn errors_name_the_operation_and_no_secret() {
    let mut machine = AuthMachine::new(fixtures::authorization_code_config(), EPOCH, [3; 32]);
    let error = machine
        .handle_input(Input::TransportFailed {
            now: EPOCH,
            id: RequestId::from_raw(5),
            failure: servicenow_auth::TransportFailure::TimedOut,
        })
        .expect_err("id 5 was never emitted");
    assert!(matches!(error, AuthError::UnknownRequest(_)));
    assert_eq!(
        error.to_string(),
        "handling a response: request RequestId(5) was never emitted by this machine"
    );
    assert_no_secret("an error", &format!("{error:?}"), &[]);
}

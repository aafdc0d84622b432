//! The exact requests of the canonical stories, snapshot-tested with a fixed RNG seed.
//!
//! Update with `INSTA_UPDATE=always cargo test -p servicenow-auth --test snapshots` (or
//! `cargo insta review`), then read the diff: these bytes are what ServiceNow receives.

use std::time::Duration;

use servicenow_auth::Command;
use servicenow_testkit::{Sim, fixtures, render_request};

fn requests_to(sim: &Sim, path: &str) -> Vec<String> {
    sim.sent
        .iter()
        .filter(|request| request.uri().path() == path)
        .map(render_request)
        .collect()
}

#[test]
fn login_authorization_url() {
    let mut sim = Sim::new(
        fixtures::authorization_code_config(),
        fixtures::servicenow_server(),
    );
    let started = sim.begin_login();
    insta::assert_snapshot!(started.authorization_url.as_str().replace('&', "\n&"));
}

#[test]
fn login_code_exchange() {
    let mut sim = Sim::new(
        fixtures::authorization_code_config(),
        fixtures::servicenow_server(),
    );
    sim.login();
    insta::assert_snapshot!(requests_to(&sim, "/oauth_token.do").join("\n---\n"));
}

#[test]
fn refresh() {
    let mut sim = Sim::new(
        fixtures::authorization_code_config(),
        fixtures::servicenow_server(),
    );
    sim.login();
    sim.advance(Duration::from_secs(1800));
    let token_requests = requests_to(&sim, "/oauth_token.do");
    insta::assert_snapshot!(token_requests.last().cloned().unwrap_or_default());
}

#[test]
fn client_credentials() {
    let mut sim = Sim::new(
        fixtures::client_credentials_config(),
        fixtures::servicenow_server(),
    );
    sim.command(Command::EnsureFresh);
    sim.drive();
    insta::assert_snapshot!(requests_to(&sim, "/oauth_token.do").join("\n---\n"));
}

#[test]
fn revocation() {
    let mut sim = Sim::new(
        fixtures::authorization_code_config(),
        fixtures::servicenow_server(),
    );
    sim.login();
    sim.command(Command::Revoke);
    sim.drive();
    insta::assert_snapshot!(requests_to(&sim, "/oauth_revoke_token.do").join("\n---\n"));
}

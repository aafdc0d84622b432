//! The sans-IO machine driven by hand: `ureq`, a blocking client, sends its requests on Tokio's blocking pool through `BlockingTransport`, and `servicenow-http`'s `machine` helpers feed the answers back.
#![allow(clippy::print_stdout, reason = "an example prints what it did")]

use std::{collections::VecDeque, time::Duration};

use servicenow_auth::{AuthConfig, AuthMachine, ClientSecret, Command, Input, OAuthClient, Output};
use servicenow_http::machine::{exchange, os_seed, system_now};
use servicenow_http::{BlockingTransport, TimeoutPhase, TransportError, bytes::Bytes, http};

const TIMEOUT: Duration = Duration::from_secs(30);
const BODY_LIMIT: usize = 1 << 20;

/// One exchange with ureq: 4xx/5xx are responses, no redirect is followed, the body is capped,
/// and ureq's errors become `TransportError`s through its constructors.
fn send(
    agent: &ureq::Agent,
    request: http::Request<Bytes>,
) -> Result<http::Response<Bytes>, TransportError> {
    let uri = request.uri().clone();
    let failed = |error: ureq::Error| match error {
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            TransportError::connect_refused(&uri, io)
        }
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => {
            TransportError::connect(&uri, error)
        }
        ureq::Error::Timeout(_) => TransportError::timeout(TimeoutPhase::Total, TIMEOUT),
        ureq::Error::BodyExceedsLimit(_) => TransportError::body_too_large(BODY_LIMIT),
        other => TransportError::interrupted(&uri, other),
    };
    let (parts, mut body) = agent
        .run(request.map(Vec::from))
        .map_err(&failed)?
        .into_parts();
    let body = body
        .with_config()
        .limit(BODY_LIMIT as u64)
        .read_to_vec()
        .map_err(&failed)?;
    Ok(http::Response::from_parts(parts, Bytes::from(body)))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let client = OAuthClient::confidential(
        env("SN_CLIENT_ID")?.parse()?,
        ClientSecret::new(env("SN_CLIENT_SECRET")?)?,
    );
    let config = AuthConfig::client_credentials(env("SN_INSTANCE")?.parse()?, client);
    let mut machine = AuthMachine::new(config, system_now(), os_seed()?);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(TIMEOUT))
        .build()
        .into();
    let transport = BlockingTransport::new(move |request| send(&agent, request));

    // Feed an input, drain the outputs until the machine waits (at most two requests per
    // drain, each answered by an input of its own), then feed the next input.
    let mut inputs = VecDeque::new();
    for command in [Command::EnsureFresh, Command::Revoke] {
        inputs.push_back(Input::Command {
            now: system_now(),
            command,
        });
        while let Some(input) = inputs.pop_front() {
            machine.handle_input(input)?;
            loop {
                match machine.poll_output() {
                    Output::HttpRequest { id, request } => {
                        println!("{} {}", request.method(), request.uri().path());
                        inputs.push_back(exchange(&transport, id, request, system_now).await);
                    }
                    Output::Event(event) => println!("event: {event:?}"), // Persist: save it here
                    Output::Timeout(_) => break,
                    _ => {}
                }
            }
        }
        if let Some(token) = machine.access_token(system_now()) {
            println!(
                "access token ready ({} characters)",
                token.token.secret().len()
            );
        }
    }
    Ok(())
}

//! All tracing output of a full login, refresh and table call, at TRACE level with every span field, holds no secret.
//!
//! One test in its own binary, because it installs the process-wide subscriber (and the `log`
//! bridge, so reqwest's `log` records are captured too). The emulator's own records are left out:
//! it is the server, and a real instance's logs are not ours.

mod common;

use std::{
    fmt::Write as _,
    io,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use bytes::Bytes;
use common::{PAST_EXPIRY, emulator, memory_store};
use servicenow::{AuthorizedTransport, ManualClock, Servicenow};
use servicenow_emulator::{
    DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URIS, Emulator,
    user_agent::{ConsentDecision, ScriptedUserAgent},
};
use servicenow_http::{HttpTransport, RequestSender as _, ReqwestTransport, TransportError};
use servicenow_oauth::RedirectUri;
use servicenow_store::TokenStore;
use tracing::{
    Subscriber,
    field::{Field, Visit},
    span,
};
use tracing_subscriber::{
    Layer, filter::filter_fn, fmt::format::FmtSpan, layer::Context, prelude::*,
    registry::LookupSpan,
};

/// Everything written, from every layer.
#[derive(Clone, Debug, Default)]
struct Captured(Arc<Mutex<String>>);

impl Captured {
    fn append(&self, text: &str) {
        self.0.lock().expect("capture lock").push_str(text);
    }

    fn text(&self) -> String {
        self.0.lock().expect("capture lock").clone()
    }
}

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.append(&String::from_utf8_lossy(bytes));
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A layer that writes every field of every span (when created and when recorded later) and
/// every event, raw: nothing a formatter might shorten or skip.
#[derive(Debug)]
struct EveryField(Captured);

struct FieldWriter<'a>(&'a mut String);

impl Visit for FieldWriter<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let _ = write!(self.0, " {}={value} ({value:?})", field.name());
        let mut source = value.source();
        while let Some(cause) = source {
            let _ = write!(self.0, " caused by {cause} ({cause:?})");
            source = cause.source();
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for EveryField {
    fn on_new_span(&self, attributes: &span::Attributes<'_>, _: &span::Id, _: Context<'_, S>) {
        let mut line = format!("span {}:", attributes.metadata().name());
        attributes.record(&mut FieldWriter(&mut line));
        self.0.append(&(line + "\n"));
    }

    fn on_record(&self, _: &span::Id, values: &span::Record<'_>, _: Context<'_, S>) {
        let mut line = "record:".to_owned();
        values.record(&mut FieldWriter(&mut line));
        self.0.append(&(line + "\n"));
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut line = format!("event {}:", event.metadata().target());
        event.record(&mut FieldWriter(&mut line));
        self.0.append(&(line + "\n"));
    }
}

/// A transport that keeps the body of every token-endpoint request, to learn the secrets the
/// client sent (the PKCE verifier among them).
#[derive(Debug)]
struct RecordingTransport {
    inner: ReqwestTransport,
    token_request_bodies: Mutex<Vec<String>>,
}

#[async_trait]
impl HttpTransport for RecordingTransport {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        if request.uri().path() == "/oauth_token.do" {
            let body = String::from_utf8_lossy(request.body()).into_owned();
            self.token_request_bodies
                .lock()
                .expect("recording lock")
                .push(body);
        }
        self.inner.send(request).await
    }
}

fn form_values(body: &str, name: &str) -> Vec<String> {
    url::form_urlencoded::parse(body.as_bytes())
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracing_output_of_login_refresh_and_table_call_holds_no_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .with_span_events(FmtSpan::FULL)
                .with_filter(filter_fn(|metadata| {
                    !metadata.target().starts_with("servicenow_emulator")
                })),
        )
        .with(
            EveryField(captured.clone()).with_filter(filter_fn(|metadata| {
                !metadata.target().starts_with("servicenow_emulator")
            })),
        )
        .with(tracing_subscriber::filter::LevelFilter::TRACE)
        .try_init()
        .expect("the only subscriber of this test binary");

    let instance = Emulator::builder().start().await.expect("emulator starts");
    let clock = ManualClock::new();
    let store: Arc<dyn TokenStore> = Arc::new(memory_store());
    let recording = Arc::new(RecordingTransport {
        inner: ReqwestTransport::new().expect("transport builds"),
        token_request_bodies: Mutex::default(),
    });
    let transport: Arc<dyn HttpTransport> = recording.clone();
    let config = emulator::config(instance.base_url());

    // The login, with the code and state seen on the way.
    let servicenow = Servicenow::builder(config.instance.clone(), config.client.clone())
        .redirect_uri(RedirectUri::new(DEFAULT_REDIRECT_URIS[0]).expect("valid redirect uri"))
        .store(Arc::clone(&store))
        .transport(Arc::clone(&transport))
        .clock(Arc::new(clock.clone()))
        .build()
        .await
        .expect("the integration builds");
    let login = servicenow.login().expect("users are configured");
    let authorization_url = login.begin("alice").await.expect("login begins");
    let redirect = ScriptedUserAgent::new()
        .authorize(&authorization_url, "admin", "admin", ConsentDecision::Allow)
        .await
        .expect("the user allows access");
    let logged_in = login
        .complete("alice", redirect.query())
        .await
        .expect("login completes");

    // Half an hour later a table call refreshes first.
    let key = login.credential_key("alice").expect("a valid key");
    let manager = emulator::manager(&config, &key, &store, &transport, &clock);
    instance.clock().advance(PAST_EXPIRY);
    clock.advance(PAST_EXPIRY);
    let authorized = AuthorizedTransport::new(
        Arc::clone(&transport),
        manager.clone(),
        config.instance.clone(),
    );
    let request = http::Request::get(instance.url("/api/now/table/incident?sysparm_limit=2"))
        .body(Bytes::new())
        .expect("valid request");
    let response = authorized.send_request(request).await.expect("a response");
    assert_eq!(response.status(), http::StatusCode::OK);
    let refreshed = manager.bearer().await.expect("the refreshed token");
    assert_ne!(
        refreshed.token().secret(),
        logged_in.access_token().secret()
    );

    let mut secrets = vec![
        ("client secret", DEFAULT_CLIENT_SECRET.to_owned()),
        (
            "code",
            redirect.parameter("code").expect("the redirect has a code"),
        ),
        (
            "state",
            redirect
                .parameter("state")
                .expect("the redirect has a state"),
        ),
        (
            "login access token",
            logged_in.access_token().secret().to_owned(),
        ),
        (
            "refreshed access token",
            refreshed.token().secret().to_owned(),
        ),
    ];
    let refresh_token = logged_in.refresh_token().expect("a refresh token");
    secrets.push(("refresh token", refresh_token.token().secret().to_owned()));
    let bodies = recording
        .token_request_bodies
        .lock()
        .expect("recording lock")
        .clone();
    assert_eq!(bodies.len(), 2, "the code exchange and one refresh");
    for body in &bodies {
        for name in ["code_verifier", "client_secret", "refresh_token", "code"] {
            for value in form_values(body, name) {
                secrets.push(("token request form value", value));
            }
        }
    }
    assert!(
        secrets
            .iter()
            .any(|(what, _)| *what == "token request form value")
            && bodies
                .iter()
                .any(|body| !form_values(body, "code_verifier").is_empty()),
        "the exchange carried a PKCE verifier"
    );

    let output = captured.text();

    for span in ["token_request", "token_refresh"] {
        assert!(
            output.contains(span),
            "the capture saw the {span} span:\n{output}"
        );
    }
    for (what, secret) in &secrets {
        assert!(secret.len() >= 8, "{what} is long enough to search for");
        assert!(
            !output.contains(secret.as_str()),
            "the tracing output contains the {what}:\n{output}"
        );
    }
}

//! The built-in transports' hardening, shown against small misbehaving servers on loopback.
//!
//! Each scenario is written once and run for both the reqwest and the hyper transport, each in
//! every network setting (trust roots, proxy): the hardening holds in every combination.
#![cfg(any(feature = "reqwest", feature = "hyper"))]

mod support;

use std::{sync::atomic::Ordering, time::Duration};

use bytes::Bytes;
use servicenow_http::{
    HttpTransport, Proxy, ProxyUrl, Roots, TimeoutPhase, TransportConfig, TransportError,
};
use support::{Behaviour, TestServer, closed_port_url, response};

fn small_limits() -> TransportConfig {
    TransportConfig {
        max_response_body: 1_000,
        connect_timeout: Duration::from_secs(5),
        total_timeout: Duration::from_millis(300),
        proxy: Proxy::None,
        ..TransportConfig::default()
    }
}

/// The small limits in each network setting: the OS trust store without a proxy, the bundled
/// roots with an explicit proxy (nothing listens there: loopback servers never go through it),
/// and the environment's proxy.
fn network_variants() -> Vec<TransportConfig> {
    vec![
        small_limits(),
        TransportConfig {
            roots: Roots::WebPki,
            proxy: Proxy::Url(ProxyUrl::new("http://127.0.0.1:9").expect("a proxy url")),
            ..small_limits()
        },
        TransportConfig {
            proxy: Proxy::System,
            ..small_limits()
        },
    ]
}

fn get(url: &str) -> http::Request<Bytes> {
    http::Request::get(url)
        .body(Bytes::new())
        .expect("valid request")
}

async fn a_plain_exchange_passes_status_headers_and_body_through(transport: &dyn HttpTransport) {
    let server = TestServer::start(Behaviour::Echo).await;
    let request = http::Request::post(server.url("/api/now/table/incident"))
        .header("content-type", "application/json")
        .body(Bytes::from_static(br#"{"short_description":"printer"}"#))
        .expect("valid request");
    let response = transport
        .send(request)
        .await
        .expect("the loopback exchange succeeds");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-length"], "31");
    assert_eq!(
        response.body().as_ref(),
        br#"{"short_description":"printer"}"#
    );
}

async fn a_redirect_is_returned_and_never_followed(transport: &dyn HttpTransport) {
    let server = TestServer::start(Behaviour::RedirectToTarget).await;
    let response = transport
        .send(get(&server.url("/start")))
        .await
        .expect("a 302 is a response");
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], "/target");
    assert_eq!(
        server.target_hits.load(Ordering::SeqCst),
        0,
        "the redirect target was requested"
    );
}

async fn an_oversized_body_is_cut_with_a_clear_error(transport: &dyn HttpTransport) {
    let declared = response(
        "200 OK",
        &[("Content-Length", "5000".into())],
        &[b'x'; 5000],
    );
    let server = TestServer::start(Behaviour::Reply(declared)).await;
    let error = transport
        .send(get(&server.url("/declared")))
        .await
        .expect_err("5000 bytes exceed the cap");
    assert!(
        matches!(error, TransportError::BodyTooLarge { limit: 1_000 }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "reading response: body exceeds the limit of 1000 bytes"
    );

    // Without a Content-Length the body is read until the cap, then cut.
    let undeclared = response("200 OK", &[("Connection", "close".into())], &[b'x'; 5000]);
    let server = TestServer::start(Behaviour::Reply(undeclared)).await;
    let error = transport
        .send(get(&server.url("/streamed")))
        .await
        .expect_err("5000 bytes exceed the cap");
    assert!(
        matches!(error, TransportError::BodyTooLarge { limit: 1_000 }),
        "{error:?}"
    );
}

async fn a_server_that_never_answers_hits_the_timeout(transport: &dyn HttpTransport) {
    let server = TestServer::start(Behaviour::Silent).await;
    let error = transport
        .send(get(&server.url("/hang")))
        .await
        .expect_err("the server never answers");
    assert!(
        matches!(error, TransportError::Timeout { phase: TimeoutPhase::Total, after } if after == Duration::from_millis(300)),
        "{error:?}"
    );
    assert!(error.is_transient());
    assert!(
        !error.never_reached_server(),
        "the request was written before the deadline"
    );
}

async fn plain_http_to_a_non_loopback_host_is_refused_before_connecting(
    transport: &dyn HttpTransport,
) {
    for url in [
        "http://instance.example.invalid/api/now/table/incident",
        "http://localhost.example.invalid/",
    ] {
        let error = transport
            .send(get(url))
            .await
            .expect_err("plain http off loopback is refused");
        assert!(
            matches!(&error, TransportError::InsecureUrl { origin } if url.starts_with(origin.as_str())),
            "{error:?}"
        );
        assert!(error.never_reached_server());
        assert!(!error.is_transient());
    }
}

async fn a_refused_connection_provably_never_reached_the_server(transport: &dyn HttpTransport) {
    let error = transport
        .send(get(&closed_port_url().await))
        .await
        .expect_err("nothing listens there");
    assert!(error.is_connection_refused(), "{error:?}");
    assert!(error.never_reached_server());
    assert!(error.is_transient());
}

async fn a_truncated_body_is_an_io_error_that_may_have_reached_the_server(
    transport: &dyn HttpTransport,
) {
    let truncated = response(
        "200 OK",
        &[("Content-Length", "100".into())],
        b"{\"result\":[",
    );
    let server = TestServer::start(Behaviour::Reply(truncated)).await;
    let error = transport
        .send(get(&server.url("/cut")))
        .await
        .expect_err("the body stops short");
    assert!(matches!(error, TransportError::Io { .. }), "{error:?}");
    assert!(error.is_transient());
    assert!(!error.never_reached_server());
}

macro_rules! hardening_tests {
    ($module:ident, $transport:expr) => {
        mod $module {
            use super::*;

            fn transports() -> Vec<impl HttpTransport> {
                network_variants()
                    .into_iter()
                    .map(|config| $transport(config).expect("the transport builds"))
                    .collect()
            }

            #[tokio::test]
            async fn a_plain_exchange_passes_status_headers_and_body_through() {
                for transport in transports() {
                    super::a_plain_exchange_passes_status_headers_and_body_through(&transport)
                        .await;
                }
            }

            #[tokio::test]
            async fn a_redirect_is_returned_and_never_followed() {
                for transport in transports() {
                    super::a_redirect_is_returned_and_never_followed(&transport).await;
                }
            }

            #[tokio::test]
            async fn an_oversized_body_is_cut_with_a_clear_error() {
                for transport in transports() {
                    super::an_oversized_body_is_cut_with_a_clear_error(&transport).await;
                }
            }

            #[tokio::test]
            async fn a_server_that_never_answers_hits_the_timeout() {
                for transport in transports() {
                    super::a_server_that_never_answers_hits_the_timeout(&transport).await;
                }
            }

            #[tokio::test]
            async fn plain_http_to_a_non_loopback_host_is_refused_before_connecting() {
                for transport in transports() {
                    super::plain_http_to_a_non_loopback_host_is_refused_before_connecting(
                        &transport,
                    )
                    .await;
                }
            }

            #[tokio::test]
            async fn a_refused_connection_provably_never_reached_the_server() {
                for transport in transports() {
                    super::a_refused_connection_provably_never_reached_the_server(&transport).await;
                }
            }

            #[tokio::test]
            async fn a_truncated_body_is_an_io_error_that_may_have_reached_the_server() {
                for transport in transports() {
                    super::a_truncated_body_is_an_io_error_that_may_have_reached_the_server(
                        &transport,
                    )
                    .await;
                }
            }
        }
    };
}

#[cfg(feature = "reqwest")]
hardening_tests!(
    reqwest_transport,
    servicenow_http::ReqwestTransport::with_config
);

#[cfg(feature = "hyper")]
hardening_tests!(
    hyper_transport,
    servicenow_http::HyperTransport::with_config
);

#[cfg(feature = "reqwest")]
#[tokio::test]
async fn a_caller_configured_reqwest_client_still_gets_the_url_policy_and_body_cap() {
    let client = reqwest::Client::new();
    let transport = servicenow_http::ReqwestTransport::from_client(client, small_limits());
    an_oversized_body_is_cut_with_a_clear_error(&transport).await;
    plain_http_to_a_non_loopback_host_is_refused_before_connecting(&transport).await;
}

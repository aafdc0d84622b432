//! Both built-in transports against real TLS on loopback: the emulator serving HTTPS with
//! certificates from a throwaway CA (and, for mutual TLS, requiring client certificates), and a
//! real `CONNECT` proxy. Each story is written once and told for reqwest and for hyper.
#![cfg(any(feature = "reqwest", feature = "hyper"))]

mod pki;
mod proxy;

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use pki::{Authority, Files, PROXIED_HOST};
use proxy::ConnectProxy;
use servicenow_emulator::{Emulator, EmulatorHandle};
use servicenow_http::{
    ClientIdentity, HttpTransport, Proxy, ProxyCredentials, ProxyPassword, ProxyUrl, Roots,
    TlsProblem, TransportConfig, TransportError,
};

type Build = fn(TransportConfig) -> Result<Arc<dyn HttpTransport>, TransportError>;

/// The transports under test, by name.
fn transports() -> Vec<(&'static str, Build)> {
    let mut all: Vec<(&'static str, Build)> = Vec::new();
    #[cfg(feature = "reqwest")]
    all.push(("reqwest", |config| {
        Ok(Arc::new(servicenow_http::ReqwestTransport::with_config(
            config,
        )?))
    }));
    #[cfg(feature = "hyper")]
    all.push(("hyper", |config| {
        Ok(Arc::new(servicenow_http::HyperTransport::with_config(
            config,
        )?))
    }));
    all
}

/// Short deadlines, no proxy from the environment: each test says what it wants on top.
fn config() -> TransportConfig {
    TransportConfig {
        connect_timeout: Duration::from_secs(5),
        total_timeout: Duration::from_secs(20),
        proxy: Proxy::None,
        ..TransportConfig::default()
    }
}

/// One CA, its file, and the emulator serving a certificate it signed.
struct Setup {
    ca: Authority,
    files: Files,
    ca_file: std::path::PathBuf,
    emulator: EmulatorHandle,
}

async fn setup(require_client_certificate: bool) -> Setup {
    let ca = Authority::new("throwaway test CA");
    let files = Files::new();
    let ca_file = files.write("ca.pem", &ca.cert_pem());
    let server = ca.server();
    let mut builder = Emulator::builder().tls(server.cert_pem, server.key_pem);
    if require_client_certificate {
        builder = builder.require_client_certificate(ca.cert_pem());
    }
    let emulator = builder.start().await.expect("the emulator serves TLS");
    assert!(emulator.base_url().starts_with("https://127.0.0.1:"));
    Setup {
        ca,
        files,
        ca_file,
        emulator,
    }
}

/// `GET /api/now/table/incident?sysparm_limit=1` as admin (HTTP Basic) at `origin`.
fn incident_request(origin: &str) -> http::Request<Bytes> {
    http::Request::get(format!("{origin}/api/now/table/incident?sysparm_limit=1"))
        .header("authorization", "Basic YWRtaW46YWRtaW4=")
        .header("accept", "application/json")
        .body(Bytes::new())
        .expect("valid request")
}

async fn status_of(transport: &dyn HttpTransport, origin: &str) -> Result<u16, TransportError> {
    Ok(transport
        .send(incident_request(origin))
        .await?
        .status()
        .as_u16())
}

#[tokio::test]
async fn a_server_signed_by_an_unknown_ca_is_refused_with_the_problem_and_the_setting_that_fixes_it()
 {
    let setup = setup(false).await;
    for (name, build) in transports() {
        // The operating system's trust store (the default) does not know the throwaway CA.
        let transport = build(config()).expect("the transport builds");
        let error = status_of(&*transport, setup.emulator.base_url())
            .await
            .expect_err("an unknown issuer is refused");
        assert!(
            matches!(
                &error,
                TransportError::Tls {
                    problem: TlsProblem::UntrustedCertificate,
                    ..
                }
            ),
            "{name}: {error:?}"
        );
        let message = error.to_string();
        for needle in ["unknown issuer", "TransportConfig::ca_file", "SN_CA_FILE"] {
            assert!(message.contains(needle), "{name}: {message}");
        }
        assert!(
            !error.is_transient() && error.never_reached_server(),
            "{name}"
        );
        // The bundled web PKI roots do not know it either.
        let webpki = build(TransportConfig {
            roots: Roots::WebPki,
            ..config()
        })
        .expect("the transport builds");
        let error = status_of(&*webpki, setup.emulator.base_url())
            .await
            .expect_err("an unknown issuer is refused");
        assert!(
            matches!(
                &error,
                TransportError::Tls {
                    problem: TlsProblem::UntrustedCertificate,
                    ..
                }
            ),
            "{name}: {error:?}"
        );
    }
}

#[tokio::test]
async fn the_same_server_is_accepted_once_its_ca_file_is_configured_with_every_root_choice() {
    let setup = setup(false).await;
    for (name, build) in transports() {
        for roots in [Roots::System, Roots::WebPki, Roots::CaFileOnly] {
            let transport = build(TransportConfig {
                roots,
                ca_file: Some(setup.ca_file.clone()),
                ..config()
            })
            .expect("the transport builds");
            let status = status_of(&*transport, setup.emulator.base_url())
                .await
                .unwrap_or_else(|error| panic!("{name} {roots:?}: {error}"));
            assert_eq!(status, 200, "{name} {roots:?}");
            // By name, too: the certificate covers localhost.
            let port = setup.emulator.local_addr().port();
            let by_name = status_of(&*transport, &format!("https://localhost:{port}")).await;
            assert_eq!(by_name.ok(), Some(200), "{name} {roots:?}");
        }
    }
}

#[tokio::test]
async fn unusable_trust_files_fail_the_build_naming_the_file_and_the_setting() {
    let files = Files::new();
    let not_pem = files.write("not-a-ca.pem", "hello");
    let missing = files.write("placeholder", "").with_file_name("missing.pem");
    for (name, build) in transports() {
        for (path, fragment) in [(&not_pem, "no PEM certificate"), (&missing, "reading")] {
            let error = build(TransportConfig {
                ca_file: Some(path.clone()),
                ..config()
            })
            .err()
            .unwrap_or_else(|| panic!("{name}: a bad CA file must not build"));
            let message = error.to_string();
            assert!(
                message.contains(fragment)
                    && message.contains(&path.display().to_string())
                    && message.contains("SN_CA_FILE"),
                "{name}: {message}"
            );
        }
        let error = build(TransportConfig {
            roots: Roots::CaFileOnly,
            ..config()
        })
        .err()
        .unwrap_or_else(|| panic!("{name}: CaFileOnly without a file must not build"));
        assert!(
            error.to_string().contains("needs a CA file"),
            "{name}: {error}"
        );
        let error = build(TransportConfig {
            client_identity: Some(ClientIdentity::from_pem_files(&not_pem, &missing)),
            ..config()
        })
        .err()
        .unwrap_or_else(|| panic!("{name}: a bad client identity must not build"));
        assert!(
            error.to_string().contains("SN_CLIENT_CERT"),
            "{name}: {error}"
        );
    }
}

#[tokio::test]
async fn a_server_requiring_a_client_certificate_accepts_the_configured_one_and_refuses_its_absence()
 {
    let setup = setup(true).await;
    let client = setup.ca.client("integration-user");
    let identity = ClientIdentity::from_pem_files(
        setup.files.write("client.pem", &client.cert_pem),
        setup.files.write("client.key", &client.key_pem),
    );
    let stranger_ca = Authority::new("someone else's CA");
    let stranger = stranger_ca.client("stranger");
    let stranger_identity = ClientIdentity::from_pem_files(
        setup.files.write("stranger.pem", &stranger.cert_pem),
        setup.files.write("stranger.key", &stranger.key_pem),
    );
    for (name, build) in transports() {
        let with_identity = build(TransportConfig {
            ca_file: Some(setup.ca_file.clone()),
            client_identity: Some(identity.clone()),
            ..config()
        })
        .expect("the transport builds");
        assert_eq!(
            status_of(&*with_identity, setup.emulator.base_url())
                .await
                .unwrap_or_else(|error| panic!("{name}: {error}")),
            200,
            "{name}"
        );

        let without = build(TransportConfig {
            ca_file: Some(setup.ca_file.clone()),
            ..config()
        })
        .expect("the transport builds");
        let error = status_of(&*without, setup.emulator.base_url())
            .await
            .expect_err("no client certificate, no service");
        assert!(
            matches!(
                &error,
                TransportError::Tls {
                    problem: TlsProblem::ClientCertificateRequired,
                    ..
                }
            ),
            "{name}: {error:?}"
        );
        let message = error.to_string();
        for needle in ["requires a client certificate", "SN_CLIENT_CERT"] {
            assert!(message.contains(needle), "{name}: {message}");
        }

        let wrong = build(TransportConfig {
            ca_file: Some(setup.ca_file.clone()),
            client_identity: Some(stranger_identity.clone()),
            ..config()
        })
        .expect("the transport builds");
        let error = status_of(&*wrong, setup.emulator.base_url())
            .await
            .expect_err("a certificate from another CA is refused");
        assert!(
            matches!(
                &error,
                TransportError::Tls {
                    problem: TlsProblem::ClientCertificateRejected,
                    ..
                }
            ),
            "{name}: {error:?}"
        );
    }
}

#[tokio::test]
async fn a_configured_proxy_carries_https_with_its_credentials_and_is_bypassed_for_no_proxy_hosts_and_loopback()
 {
    let setup = setup(false).await;
    let port = setup.emulator.local_addr().port();
    let proxied_origin = format!("https://{PROXIED_HOST}:{port}");
    for (name, build) in transports() {
        let proxy = ConnectProxy::start(setup.emulator.local_addr()).await;
        let through = |no_proxy: &str| TransportConfig {
            ca_file: Some(setup.ca_file.clone()),
            proxy: Proxy::Url(
                ProxyUrl::new(&proxy.url())
                    .expect("a proxy url")
                    .with_credentials(ProxyCredentials::new("alice", ProxyPassword::new("s3cret")))
                    .with_no_proxy(no_proxy),
            ),
            ..config()
        };

        // Through the proxy: the only way to reach sn.example.test.
        let transport = build(through("")).expect("the transport builds");
        assert_eq!(
            status_of(&*transport, &proxied_origin)
                .await
                .unwrap_or_else(|error| panic!("{name}: {error}")),
            200,
            "{name}"
        );
        let tunnels = proxy.tunnels();
        assert_eq!(tunnels.len(), 1, "{name}: {tunnels:?}");
        assert_eq!(
            tunnels[0].target,
            format!("{PROXIED_HOST}:{port}"),
            "{name}"
        );
        // base64("alice:s3cret")
        assert_eq!(
            tunnels[0].authorization.as_deref(),
            Some("Basic YWxpY2U6czNjcmV0"),
            "{name}"
        );

        // Loopback never goes through the proxy, whatever the configuration says.
        for origin in [
            format!("https://127.0.0.1:{port}"),
            format!("https://localhost:{port}"),
        ] {
            assert_eq!(
                status_of(&*transport, &origin).await.ok(),
                Some(200),
                "{name}: {origin}"
            );
        }
        assert_eq!(proxy.tunnels().len(), 1, "{name}: loopback was proxied");

        // A NO_PROXY host connects directly: sn.example.test resolves nowhere, so the request
        // fails to connect, and the proxy never hears of it.
        let bypassing = build(through("localhost, example.test")).expect("the transport builds");
        let error = status_of(&*bypassing, &proxied_origin)
            .await
            .expect_err("a direct connection to sn.example.test cannot succeed");
        assert!(
            matches!(error, TransportError::Connect { .. }),
            "{name}: {error:?}"
        );
        assert_eq!(
            proxy.tunnels().len(),
            1,
            "{name}: a NO_PROXY host was proxied"
        );

        // The hardening holds through the proxy: the body cap still cuts.
        let capped = build(TransportConfig {
            max_response_body: 64,
            ..through("")
        })
        .expect("the transport builds");
        let error = status_of(&*capped, &proxied_origin)
            .await
            .expect_err("an incident page is longer than 64 bytes");
        assert!(
            matches!(error, TransportError::BodyTooLarge { limit: 64 }),
            "{name}: {error:?}"
        );
        assert_eq!(proxy.tunnels().len(), 2, "{name}");

        // Proxy::None: the same, with no proxy at all.
        let direct = build(config()).expect("the transport builds");
        assert!(
            status_of(&*direct, &proxied_origin).await.is_err(),
            "{name}"
        );
        assert_eq!(proxy.tunnels().len(), 2, "{name}");
    }
}

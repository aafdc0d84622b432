//! The command-line options (`EmulatorArgs`, flattened as `sn emulator` will) and the
//! `servicenow-emulator` binary itself (issue point 1).

mod common;

use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
};

use clap::Parser;
use common::{REDIRECT_URI, get, header, http, json, start_with, token_request};
use reqwest::StatusCode;
use servicenow_emulator::{
    EmulatorArgs,
    user_agent::{ConsentDecision, ScriptedUserAgent},
};

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    emulator: EmulatorArgs,
}

#[tokio::test]
async fn every_option_reaches_the_running_emulator() {
    let cli = Cli::try_parse_from([
        "sn-emulator",
        "--listen",
        "127.0.0.1:0",
        "--seed",
        "3",
        "--rows",
        "incident=5",
        "--rows",
        "sys_user=2",
        "--client-id",
        "my-app",
        "--client-secret",
        "my-secret",
        "--redirect-uri",
        "http://127.0.0.1:9999/cb",
        "--user",
        "bob:hunter2",
        "--access-token-ttl",
        "60",
        "--refresh-token-ttl",
        "120",
        "--cancel-pages-over",
        "3",
    ])
    .unwrap();
    let emulator = start_with(cli.emulator.into_builder().unwrap()).await;
    let (status, body) = token_request(
        &emulator,
        &[
            ("grant_type", "password"),
            ("username", "bob"),
            ("password", "hunter2"),
            ("client_id", "my-app"),
            ("client_secret", "my-secret"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["expires_in"], 60);
    let token = json(&body)["access_token"].as_str().unwrap().to_owned();
    let (_, headers, _) = get(&emulator, "/api/now/table/incident?sysparm_limit=3", &token).await;
    assert_eq!(header(&headers, "X-Total-Count"), "5");
    let (status, _, body) = get(&emulator, "/api/now/table/incident", &token).await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "--cancel-pages-over 3"
    );
    assert_eq!(
        json(&body)["error"]["message"],
        "Transaction cancelled: maximum execution time exceeded"
    );
    let url = format!(
        "{}/oauth_auth.do?response_type=code&client_id=my-app&redirect_uri={}&state=s",
        emulator.base_url(),
        "http%3A%2F%2Flocalhost%3A1%2Fother"
    );
    let redirect = ScriptedUserAgent::new()
        .authorize(&url, "bob", "hunter2", ConsentDecision::Allow)
        .await
        .unwrap();
    assert!(
        redirect
            .location()
            .starts_with("http://127.0.0.1:9999/cb?code="),
        "the first registered URI"
    );
    let admin = http()
        .get(emulator.url("/api/now/table/incident"))
        .basic_auth("admin", Some("admin"))
        .send()
        .await;
    assert_eq!(
        admin.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "--user replaces the default users"
    );
}

#[tokio::test]
async fn the_defaults_register_both_clients_and_both_users() {
    let emulator = start_with(
        Cli::try_parse_from(["sn-emulator"])
            .unwrap()
            .emulator
            .into_builder()
            .unwrap(),
    )
    .await;
    let clients = emulator.clients();
    assert_eq!(clients.len(), 2);
    assert!(
        clients
            .iter()
            .all(|client| client.redirect_uris.first().map(String::as_str) == Some(REDIRECT_URI))
    );
    assert_eq!(
        emulator
            .users()
            .iter()
            .map(|user| user.user_name.as_str())
            .collect::<Vec<_>>(),
        vec!["admin", "itil"]
    );
    assert!(format!("{:?}", emulator.users()).contains("Secret([redacted])"));
}

#[test]
fn bad_rows_and_users_are_refused_by_the_parser() {
    assert!(Cli::try_parse_from(["x", "--rows", "incident"]).is_err());
    assert!(Cli::try_parse_from(["x", "--rows", "Incident=5"]).is_err());
    assert!(Cli::try_parse_from(["x", "--rows", "incident=99999999999"]).is_err());
    assert!(Cli::try_parse_from(["x", "--user", "no-password"]).is_err());
}

#[test]
fn the_binary_prints_its_base_url_client_and_users() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_servicenow-emulator"))
        .args(["--listen", "127.0.0.1:0", "--rows", "incident=10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    for _ in 0..12 {
        match lines.next() {
            Some(Ok(line)) => printed.push(line),
            _ => break,
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let printed = printed.join("\n");
    assert!(
        printed.starts_with("ServiceNow emulator listening on http://127.0.0.1:"),
        "{printed}"
    );
    assert!(
        printed.contains("client emulator-client (confidential, client_secret emulator-secret)"),
        "{printed}"
    );
    assert!(
        printed.contains("client emulator-public-client (public, PKCE S256 required)"),
        "{printed}"
    );
    assert!(
        printed.contains("user admin (password admin)")
            && printed.contains("user itil (password itil)")
    );
    assert!(printed.contains("incident=10"), "{printed}");
}

#[tokio::test]
async fn the_tls_flags_serve_https_with_the_given_certificate_and_optionally_demand_client_ones() {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    let directory = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = directory.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let cert = write("server.pem", &server.pem());
    let key = write("server.key", &server_key.serialize_pem());
    let ca_file = write("ca.pem", &ca.pem());

    let cli = Cli::try_parse_from(["x", "--tls-cert", &cert, "--tls-key", &key]).unwrap();
    let emulator = cli.emulator.into_builder().unwrap().start().await.unwrap();
    assert!(emulator.base_url().starts_with("https://127.0.0.1:"));
    let trusting = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let response = trusting
        .get(emulator.url("/api/now/table/incident?sysparm_limit=1"))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        http().get(emulator.url("/")).send().await.is_err(),
        "a client without the CA refuses the certificate"
    );

    // --tls-client-ca: a client without a certificate gets no answer.
    let cli = Cli::try_parse_from([
        "x",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--tls-client-ca",
        &ca_file,
    ])
    .unwrap();
    let demanding = cli.emulator.into_builder().unwrap().start().await.unwrap();
    assert!(
        trusting
            .get(demanding.url("/api/now/table/incident?sysparm_limit=1"))
            .basic_auth("admin", Some("admin"))
            .send()
            .await
            .is_err(),
        "no client certificate, no answer"
    );

    // The flags go together, and unreadable files are named.
    assert!(Cli::try_parse_from(["x", "--tls-cert", &cert]).is_err());
    assert!(Cli::try_parse_from(["x", "--tls-client-ca", &ca_file]).is_err());
    let missing = directory.path().join("missing.pem").display().to_string();
    let cli = Cli::try_parse_from(["x", "--tls-cert", &missing, "--tls-key", &key]).unwrap();
    let error = cli.emulator.into_builder().unwrap_err().to_string();
    assert!(
        error.contains("--tls-cert") && error.contains("missing.pem"),
        "{error}"
    );
    let cli = Cli::try_parse_from(["x", "--tls-cert", &key, "--tls-key", &cert]).unwrap();
    let error = cli
        .emulator
        .into_builder()
        .unwrap()
        .start()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("--tls"), "{error}");
}

#[test]
fn the_binary_refuses_a_non_loopback_listen_address_without_allow_remote() {
    let output = Command::new(env!("CARGO_BIN_EXE_servicenow-emulator"))
        .args(["--listen", "0.0.0.0:0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("refusing to listen on 0.0.0.0:0: it is not a loopback address"),
        "{said}"
    );
    assert!(said.contains("--allow-remote"), "{said}");
    assert!(output.stdout.is_empty(), "nothing was served or printed");
}

#[tokio::test]
async fn allow_remote_lets_the_emulator_listen_on_every_interface() {
    let refused = Cli::try_parse_from(["x", "--listen", "0.0.0.0:0"])
        .unwrap()
        .emulator
        .into_builder()
        .unwrap()
        .start()
        .await;
    assert!(
        matches!(&refused, Err(servicenow_emulator::Error::Config(message)) if message.contains("--allow-remote")),
        "{refused:?}"
    );
    let cli = Cli::try_parse_from(["x", "--listen", "0.0.0.0:0", "--allow-remote"]).unwrap();
    let emulator = start_with(cli.emulator.into_builder().unwrap()).await;
    // Reached through loopback only: tests send no traffic elsewhere.
    let port = url::Url::parse(emulator.base_url())
        .unwrap()
        .port()
        .unwrap();
    let response = http()
        .get(format!("http://127.0.0.1:{port}/api/now/table/incident"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_attachment_flags_cap_uploads_and_keep_them_in_memory() {
    let cli = Cli::try_parse_from([
        "x",
        "--attachments-in-memory",
        "5000",
        "--attachment-max-bytes",
        "3000",
    ])
    .unwrap();
    let emulator = start_with(cli.emulator.into_builder().unwrap()).await;
    let incident = emulator.live_sys_ids("incident").unwrap()[0].clone();
    let upload = |bytes: usize| {
        http()
            .post(emulator.url(&format!(
                "/api/now/attachment/file?table_name=incident&table_sys_id={incident}&file_name=f"
            )))
            .basic_auth("admin", Some("admin"))
            .header("Content-Type", "text/plain")
            .body(vec![b'x'; bytes])
            .send()
    };
    assert_eq!(
        upload(3001).await.unwrap().status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(upload(3000).await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(
        upload(2001).await.unwrap().status(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "2000 bytes are left of the 5000 in memory"
    );
}

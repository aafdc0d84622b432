//! `sn` without a browser or a terminal, against the emulator: `sn login --jwt …` then `sn
//! export incident`; `sn login --client-credentials` then `sn table list`; a refresh token
//! obtained by another tool imported with `sn login --refresh-token-stdin` in another process and
//! used, and a refused one. Every child runs with stdin not a terminal; exit codes are checked.

mod common;

use std::{
    io::Write as _,
    process::{Output, Stdio},
};

use common::{World, text};
use servicenow_emulator::{
    ClientRegistration, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, JwtEndpoint, JwtVerifierKey,
    TokenOutcome,
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

const RS256_KEY: &str = include_str!("keys/rs256-test-key.pem");
const RS256_PUBLIC_KEY: &str = include_str!("keys/rs256-test-key.pub.pem");
const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

async fn jwt_world(incidents: u64) -> World {
    World::start_with(incidents, |builder| {
        builder.client(
            ClientRegistration::confidential(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Vec::new())
                .with_jwt(JwtEndpoint::new(vec![
                    JwtVerifierKey::from_pem("sn-test", RS256_PUBLIC_KEY).unwrap(),
                ])),
        )
    })
    .await
}

fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sn_login_jwt_then_sn_export_incident_with_no_terminal() {
    let world = jwt_world(250).await;
    let key = world.directory.path().join("sn-test.pem");
    std::fs::write(&key, RS256_KEY).unwrap();
    let login = world
        .run(&[
            "login",
            "--jwt",
            "--key",
            key.to_str().unwrap(),
            "--subject",
            "admin",
            "--kid",
            "sn-test",
            "--instance",
            world.emulator.base_url(),
            "--client-id",
            DEFAULT_CLIENT_ID,
        ])
        .await;
    assert_ok(&login);
    let said = text(&login.stdout);
    assert!(
        said.contains("with the JWT bearer grant as admin"),
        "{said}"
    );
    assert!(said.contains("granted scope: useraccount"), "{said}");

    let output = world.directory.path().join("incidents.jsonl");
    let export = world
        .run(&["export", "incident", "--output", output.to_str().unwrap()])
        .await;
    assert_ok(&export);
    let lines = std::fs::read_to_string(&output).unwrap();
    assert_eq!(lines.lines().count(), 250);
    assert_eq!(
        world
            .emulator
            .counters()
            .token_requests(JWT_GRANT, TokenOutcome::Issued),
        1,
        "the export's process used the token the login stored (sealed)"
    );

    let status = world.run(&["status"]).await;
    assert_ok(&status);
    let shown = text(&status.stdout);
    assert!(
        shown.contains("grant:     the JWT bearer grant as admin"),
        "{shown}"
    );
    assert!(shown.contains("next:      acquisition due"), "{shown}");
    assert!(!shown.contains("BEGIN"), "no key material: {shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_jwt_key_fails_login_with_the_authentication_exit_code() {
    let world = jwt_world(1).await;
    let key = world.directory.path().join("sn-test.pem");
    std::fs::write(&key, RS256_KEY).unwrap();
    let login = world
        .run(&[
            "login",
            "--jwt",
            "--key",
            key.to_str().unwrap(),
            "--subject",
            "admin",
            "--kid",
            "not-registered",
            "--instance",
            world.emulator.base_url(),
            "--client-id",
            DEFAULT_CLIENT_ID,
        ])
        .await;
    assert_eq!(login.status.code(), Some(3), "{}", text(&login.stderr));
    let said = text(&login.stderr);
    assert!(
        said.contains("a JWT signed with a key or kid that no JWT verifier map holds"),
        "a refused grant names what to correct: {said}"
    );
    assert!(
        !said.contains("run `sn login` again"),
        "nobody can log in for an unattended grant: {said}"
    );
    let export = world.run(&["export", "incident"]).await;
    assert_eq!(
        export.status.code(),
        Some(3),
        "no profile was saved: {}",
        text(&export.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sn_login_client_credentials_from_a_secret_file_then_sn_table_list() {
    let world = World::start(5).await;
    world
        .emulator
        .update_settings(|settings| settings.client_credentials_enabled = true);
    let secret_file = world.directory.path().join("secret");
    std::fs::write(&secret_file, format!("{DEFAULT_CLIENT_SECRET}\n")).unwrap();
    let base_url = world.emulator.base_url();
    let mut without_secret = world.sn();
    without_secret.env_remove("SN_CLIENT_SECRET").args([
        "login",
        "--client-credentials",
        "--instance",
        base_url,
        "--client-id",
        DEFAULT_CLIENT_ID,
    ]);
    let refused = tokio::task::spawn_blocking(move || without_secret.output().unwrap())
        .await
        .unwrap();
    assert_eq!(
        refused.status.code(),
        Some(2),
        "no prompt without a terminal"
    );
    assert!(
        text(&refused.stderr).contains("no terminal to ask for it"),
        "{}",
        text(&refused.stderr)
    );

    let mut login = world.sn();
    login.env_remove("SN_CLIENT_SECRET").args([
        "login",
        "--client-credentials",
        "--client-secret-file",
        secret_file.to_str().unwrap(),
        "--instance",
        base_url,
        "--client-id",
        DEFAULT_CLIENT_ID,
    ]);
    let login = tokio::task::spawn_blocking(move || login.output().unwrap())
        .await
        .unwrap();
    assert_ok(&login);
    assert!(
        text(&login.stdout).contains("granted scope: useraccount"),
        "{}",
        text(&login.stdout)
    );
    // The login kept no secret at rest (that takes `--remember-secret` and a keyring): a later
    // command is given the secret again, and uses the access token the login stored.
    let mut list = world.sn();
    list.args(["table", "list", "incident", "--limit", "2"]);
    let list = tokio::task::spawn_blocking(move || list.output().unwrap())
        .await
        .unwrap();
    assert_ok(&list);
    assert_eq!(
        world
            .emulator
            .counters()
            .token_requests("client_credentials", TokenOutcome::Issued),
        1,
        "the list's process used the token the login stored (sealed)"
    );
}

/// A refresh token obtained by another tool: a password grant run once, as an administrator
/// would, over a plain socket.
async fn refresh_token_from_elsewhere(world: &World) -> String {
    let url = url::Url::parse(world.emulator.base_url()).unwrap();
    let body = format!(
        "grant_type=password&client_id={DEFAULT_CLIENT_ID}&client_secret={DEFAULT_CLIENT_SECRET}&username=admin&password=admin"
    );
    let mut stream = TcpStream::connect((url.host_str().unwrap(), url.port().unwrap()))
        .await
        .unwrap();
    let request = format!(
        "POST /oauth_token.do HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        url.authority(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let json = &response[response.find('{').unwrap()..];
    let json: serde_json::Value = serde_json::from_str(json).unwrap();
    json["refresh_token"].as_str().unwrap().to_owned()
}

/// `sn login --refresh-token-stdin` with `token` piped in.
async fn import(world: &World, token: &str) -> Output {
    let mut command = world.sn();
    command
        .args(["login", "--refresh-token-stdin", "--instance"])
        .arg(world.emulator.base_url())
        .args(["--client-id", DEFAULT_CLIENT_ID])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let token = token.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{token}").unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_from_another_tool_is_imported_in_another_process_and_used() {
    let world = World::start(3).await;
    let refresh_token = refresh_token_from_elsewhere(&world).await;
    let login = import(&world, &refresh_token).await;
    assert_ok(&login);
    assert!(
        !text(&login.stdout).contains(&refresh_token)
            && !text(&login.stderr).contains(&refresh_token),
        "the token is never printed"
    );
    let list = world
        .run(&["table", "list", "incident", "--limit", "3"])
        .await;
    assert_ok(&list);
    assert_eq!(
        world
            .emulator
            .counters()
            .token_requests("refresh_token", TokenOutcome::Issued),
        1,
        "the import refreshed once; the next process used the stored token"
    );
    let status = world.run(&["status"]).await;
    assert_ok(&status);
    assert!(
        text(&status.stdout).contains("next:      refresh due"),
        "{}",
        text(&status.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_refresh_token_fails_the_import_with_the_instances_message() {
    let world = World::start(1).await;
    let login = import(&world, "never-issued-by-this-instance").await;
    assert_eq!(login.status.code(), Some(3), "{}", text(&login.stderr));
    let said = text(&login.stderr);
    assert!(
        said.contains("the instance refused the refresh token"),
        "{said}"
    );
    assert!(
        said.contains("access_denied"),
        "the instance's own words: {said}"
    );
}

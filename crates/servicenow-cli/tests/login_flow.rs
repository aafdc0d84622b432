//! `sn login --no-browser` against the emulator, completed by a scripted user agent opening the
//! printed URL; then `sn table` uses the stored tokens, and `sn logout` revokes them.

mod common;

use common::{World, authorization_url, finish, follow_redirect, text};
use servicenow_emulator::{
    TokenOutcome,
    user_agent::{ConsentDecision, ScriptedUserAgent},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_then_table_then_logout_end_to_end() {
    let world = World::start(50).await;

    // sn login prints the authorization URL alone on its first line and waits.
    let mut login = world.start_login();
    let url = authorization_url(&mut login).await;
    assert!(
        url.starts_with(&format!("{}/oauth_auth.do?", world.emulator.base_url())),
        "{url}"
    );
    assert!(url.contains("code_challenge_method=S256"), "{url}");

    // A scripted user agent logs in and allows; the browser then lands on sn's listener.
    let redirect = ScriptedUserAgent::new()
        .authorize(&url, "admin", "admin", ConsentDecision::Allow)
        .await
        .unwrap();
    let page = follow_redirect(redirect.location()).await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("Logged in"), "{page}");
    let (status, stdout, stderr) = finish(login).await;
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("Logged in to"), "{stdout}");
    let counters = world.emulator.counters();
    assert_eq!(
        counters.token_requests("authorization_code", TokenOutcome::Issued),
        1
    );
    assert!(world.config().exists(), "the profile was saved");
    let config = std::fs::read_to_string(world.config()).unwrap();
    assert!(
        !config.contains(servicenow_emulator::DEFAULT_CLIENT_SECRET),
        "the secret is never written to the config file:\n{config}"
    );

    // sn table list uses the stored tokens, without the secret in the environment (it was kept
    // sealed in the store at login).
    let before = world.emulator.counters().table_requests("GET", "incident");
    let mut list = world.sn();
    list.env_remove("SN_CLIENT_SECRET")
        .args([
            "table",
            "list",
            "incident",
            "--limit",
            "3",
            "--fields",
            "number,priority",
        ])
        .args(["--format", "jsonl", "--order-by", "number"]);
    let listed = tokio::task::spawn_blocking(move || list.output().unwrap())
        .await
        .unwrap();
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let lines: Vec<serde_json::Value> = text(&listed.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["number"], "INC0000001");
    assert_eq!(
        world.emulator.counters().table_requests("GET", "incident"),
        before + 1
    );

    // sn status tells the expiry and scope, and the token only when asked.
    let status = world.run(&["status"]).await;
    assert!(status.status.success(), "{}", text(&status.stderr));
    let shown = text(&status.stdout);
    assert!(shown.contains("valid until"), "{shown}");
    assert!(shown.contains("scope:     useraccount"), "{shown}");
    assert!(!shown.contains("token:"), "{shown}");
    assert!(
        !text(&status.stderr).contains("warning"),
        "{}",
        text(&status.stderr)
    );
    let with_token = world.run(&["status", "--show-token"]).await;
    let warned = text(&with_token.stderr);
    assert!(
        warned.contains("warning: the access token below grants your access"),
        "--show-token warns on stderr: {warned}"
    );
    let token = text(&with_token.stdout)
        .lines()
        .find_map(|line| {
            line.strip_prefix("token:")
                .map(|token| token.trim().to_owned())
        })
        .unwrap();
    assert!(
        !shown.contains(&token),
        "plain status never shows the token"
    );

    // sn logout revokes at the instance and deletes here.
    let revocations = world.emulator.counters().revocations;
    let logout = world.run(&["logout"]).await;
    assert!(logout.status.success(), "{}", text(&logout.stderr));
    let said = text(&logout.stdout);
    assert!(
        said.contains(
            "the instance accepted the revocation of the refresh token and of the access token"
        ),
        "{said}"
    );
    assert!(
        !said.contains("revoked"),
        "a 2xx answer proves nothing: {said}"
    );
    assert!(world.emulator.counters().revocations > revocations);
    assert_eq!(
        bearer_status(&world, &token).await,
        401,
        "the revoked token is refused"
    );

    // After the logout, table commands say so, with exit code 3 and a hint.
    let after = world.run(&["table", "list", "incident"]).await;
    assert_eq!(after.status.code(), Some(3), "{}", text(&after.stderr));
    let said = text(&after.stderr);
    assert!(said.contains("nobody has logged in"), "{said}");
    assert!(said.contains("hint: run `sn login`"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_created_read_updated_and_deleted() {
    let world = World::start(10).await;
    log_in(&world).await;

    let created = world
        .run(&[
            "table",
            "create",
            "incident",
            "--set",
            "short_description=Printer jam, 3rd floor",
        ])
        .await;
    assert!(created.status.success(), "{}", text(&created.stderr));
    let record: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let sys_id = record[0]["sys_id"].as_str().unwrap().to_owned();

    let updated = world
        .run(&[
            "table",
            "update",
            "incident",
            &sys_id,
            "--set",
            "priority=1",
        ])
        .await;
    assert!(updated.status.success(), "{}", text(&updated.stderr));

    let read = world
        .run(&[
            "table",
            "get",
            "incident",
            &sys_id,
            "--fields",
            "short_description,priority",
            "--format",
            "csv",
        ])
        .await;
    assert!(read.status.success(), "{}", text(&read.stderr));
    assert_eq!(
        text(&read.stdout),
        "short_description,priority\n\"Printer jam, 3rd floor\",1\n"
    );

    let deleted = world.run(&["table", "delete", "incident", &sys_id]).await;
    assert!(deleted.status.success(), "{}", text(&deleted.stderr));
    let gone = world.run(&["table", "get", "incident", &sys_id]).await;
    assert_eq!(gone.status.code(), Some(4), "{}", text(&gone.stderr));
    assert!(text(&gone.stderr).contains("an ACL may also hide the record"));

    // A value that would inject a condition is refused before anything is sent.
    let injected = world
        .run(&[
            "table",
            "list",
            "incident",
            "--eq",
            "number=INC1^ORactive=true",
        ])
        .await;
    assert_eq!(
        injected.status.code(),
        Some(2),
        "{}",
        text(&injected.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denying_consent_fails_the_login_with_a_clear_message() {
    let world = World::start(10).await;
    let mut login = world.start_login();
    let url = authorization_url(&mut login).await;
    let redirect = ScriptedUserAgent::new()
        .authorize(&url, "admin", "admin", ConsentDecision::Deny)
        .await
        .unwrap();
    let page = follow_redirect(redirect.location()).await;
    assert!(page.starts_with("HTTP/1.1 400"), "{page}");
    let (status, _, said) = finish(login).await;
    assert_eq!(status.code(), Some(3));
    assert!(
        said.contains("the instance refused the authorization (access_denied)"),
        "{said}"
    );
    assert!(said.contains("hint: press Allow"), "{said}");
    assert_eq!(
        world
            .emulator
            .counters()
            .token_requests("authorization_code", TokenOutcome::Issued),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_callback_gets_400_and_the_real_login_still_completes() {
    let world = World::start(10).await;
    let mut login = world.start_login();
    let url = authorization_url(&mut login).await;

    // Any local process, or an <img> on any web page, can reach the listener: with a state this
    // login never issued (or none), it is answered 400 and ignored.
    for forged in [
        format!("{}?code=attacker&state=forged", world.redirect_uri),
        format!("{}?error=access_denied", world.redirect_uri),
    ] {
        let page = follow_redirect(&forged).await;
        assert!(page.starts_with("HTTP/1.1 400"), "{page}");
        assert!(page.contains("does not belong to the login"), "{page}");
    }

    let redirect = ScriptedUserAgent::new()
        .authorize(&url, "admin", "admin", ConsentDecision::Allow)
        .await
        .unwrap();
    let page = follow_redirect(redirect.location()).await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let (status, stdout, stderr) = finish(login).await;
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("Logged in to"), "{stdout}");
    assert!(stderr.contains("Ignored a request"), "{stderr}");
    assert_eq!(
        world
            .emulator
            .counters()
            .token_requests("authorization_code", TokenOutcome::Issued),
        1,
        "the forged code never reached the token endpoint"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_nobody_finishes_times_out_with_a_hint_even_after_a_forged_callback() {
    let world = World::start(10).await;
    let mut login = world.start_login_waiting(3);
    authorization_url(&mut login).await;
    let page = follow_redirect(&format!("{}?code=x&state=forged", world.redirect_uri)).await;
    assert!(page.starts_with("HTTP/1.1 400"), "{page}");
    // The forged request did not end the login: it waits for its timeout.
    let (status, _, said) = finish(login).await;
    assert_eq!(status.code(), Some(3), "{said}");
    assert!(said.contains("no login came back"), "{said}");
    assert!(said.contains("registered exactly"), "{said}");
}

/// Logs the world's default profile in, as the first test does step by step.
async fn log_in(world: &World) {
    let mut login = world.start_login();
    let url = authorization_url(&mut login).await;
    let redirect = ScriptedUserAgent::new()
        .authorize(&url, "admin", "admin", ConsentDecision::Allow)
        .await
        .unwrap();
    follow_redirect(redirect.location()).await;
    let (status, _, stderr) = finish(login).await;
    assert!(status.success(), "{stderr}");
}

/// The status the emulator answers a Table API request carrying `token`.
async fn bearer_status(world: &World, token: &str) -> u16 {
    let url = url::Url::parse(
        &world
            .emulator
            .url("/api/now/table/incident?sysparm_limit=1"),
    )
    .unwrap();
    let address = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "GET {}?{} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n",
        url.path(),
        url.query().unwrap(),
        url.authority()
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut response)
        .await
        .unwrap();
    response
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap()
}

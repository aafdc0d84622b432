//! `sn attachment put|list|get|rm` against the emulator after a real login: a file goes up,
//! is listed under its record, comes back whole (SHA-256 checked) and is deleted.

mod common;

use common::{World, authorization_url, finish, follow_redirect, text};
use servicenow_emulator::user_agent::{ConsentDecision, ScriptedUserAgent};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_is_put_listed_fetched_and_removed() {
    let world = World::start(3).await;
    log_in(&world).await;
    let created = world
        .run(&[
            "table",
            "create",
            "incident",
            "--set",
            "short_description=Logs attached",
        ])
        .await;
    assert!(created.status.success(), "{}", text(&created.stderr));
    let record: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let incident = record[0]["sys_id"].as_str().unwrap().to_owned();
    let content: Vec<u8> = (0..2_000_000u32).map(|index| (index % 253) as u8).collect();
    let original = world.directory.path().join("app.log");
    std::fs::write(&original, &content).unwrap();

    let put = world
        .run(&[
            "attachment",
            "put",
            "incident",
            &incident,
            original.to_str().unwrap(),
            "--content-type",
            "text/plain",
            "--progress",
            "never",
        ])
        .await;
    assert!(put.status.success(), "{}", text(&put.stderr));
    let attachment = text(&put.stdout).trim().to_owned();
    assert_eq!(attachment.len(), 32, "the new sys_id alone on stdout");
    assert!(
        text(&put.stderr).contains("2000000 bytes"),
        "{}",
        text(&put.stderr)
    );

    let listed = world
        .run(&[
            "attachment",
            "list",
            "incident",
            &incident,
            "--format",
            "json",
        ])
        .await;
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["sys_id"], attachment.as_str());
    assert_eq!(rows[0]["file_name"], "app.log");
    assert_eq!(rows[0]["size_bytes"], 2_000_000);

    let copy = world.directory.path().join("copy.log");
    let got = world
        .run(&[
            "attachment",
            "get",
            &attachment,
            "-o",
            copy.to_str().unwrap(),
        ])
        .await;
    assert!(got.status.success(), "{}", text(&got.stderr));
    assert!(
        text(&got.stderr).contains("matches the instance's hash"),
        "{}",
        text(&got.stderr)
    );
    assert_eq!(std::fs::read(&copy).unwrap(), content);

    let removed = world.run(&["attachment", "rm", &attachment]).await;
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    let gone = world
        .run(&["attachment", "get", &attachment, "-o", "-"])
        .await;
    assert!(!gone.status.success());
    assert!(
        text(&gone.stderr).contains("No Record found"),
        "{}",
        text(&gone.stderr)
    );
}

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

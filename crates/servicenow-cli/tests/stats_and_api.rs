//! `sn stats` (the Aggregate API as a table or JSON), `sn api` (any REST path of the instance,
//! with the profile's tokens, the origin locked) and `sn table list --display-values all
//! --exclude-reference-link`, against the emulator after a real login.

mod common;

use common::{World, authorization_url, finish, follow_redirect, text};
use servicenow_emulator::user_agent::{ConsentDecision, ScriptedUserAgent};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_api_and_display_values_after_a_login() {
    let world = World::start(300).await;
    log_in(&world).await;

    // `sn stats` as JSON: one row per priority, the counts add up to the table.
    let stats = world
        .run(&[
            "stats",
            "incident",
            "--count",
            "--group-by",
            "priority",
            "--max",
            "sys_mod_count",
            "--format",
            "json",
        ])
        .await;
    assert!(stats.status.success(), "{}", text(&stats.stderr));
    let groups: Vec<serde_json::Value> = serde_json::from_slice(&stats.stdout).unwrap();
    assert!(groups.len() > 1);
    let total: u64 = groups
        .iter()
        .map(|group| group["count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 300);
    assert!(
        groups
            .iter()
            .all(|group| group["max(sys_mod_count)"].is_number())
    );

    // As a table, with display values of the grouped choice.
    let table = world
        .run(&[
            "stats",
            "incident",
            "--count",
            "--group-by",
            "priority",
            "--display-values",
        ])
        .await;
    let shown = text(&table.stdout);
    assert!(table.status.success(), "{}", text(&table.stderr));
    assert!(
        shown.contains("priority") && shown.contains("count"),
        "{shown}"
    );
    assert!(shown.contains("1 - Critical"), "{shown}");

    // No aggregate: a usage error (exit code 2) that says what to add.
    let nothing = world.run(&["stats", "incident"]).await;
    assert_eq!(nothing.status.code(), Some(2));
    assert!(text(&nothing.stderr).contains("--count"));

    // `sn api`: the instance's REST paths with the stored tokens, pretty JSON.
    let api = world
        .run(&["api", "GET", "/api/now/stats/incident?sysparm_count=true"])
        .await;
    assert!(api.status.success(), "{}", text(&api.stderr));
    let body: serde_json::Value = serde_json::from_slice(&api.stdout).unwrap();
    assert_eq!(body["result"]["stats"]["count"], "300");
    assert!(
        text(&api.stdout).contains("\n  \"result\""),
        "pretty-printed"
    );

    // A body from a file, then a DELETE; a refusal is exit code 4 with ServiceNow's message.
    let file = world.directory.path().join("incident.json");
    std::fs::write(&file, r#"{"short_description":"from sn api"}"#).unwrap();
    let created = world
        .run(&[
            "api",
            "POST",
            "/api/now/table/incident",
            "--data",
            file.to_str().unwrap(),
        ])
        .await;
    assert!(created.status.success(), "{}", text(&created.stderr));
    let record: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let sys_id = record["result"]["sys_id"].as_str().unwrap().to_owned();
    let path = format!("/api/now/table/incident/{sys_id}");
    let deleted = world.run(&["api", "DELETE", &path]).await;
    assert!(deleted.status.success(), "{}", text(&deleted.stderr));
    let again = world.run(&["api", "GET", &path]).await;
    assert_eq!(again.status.code(), Some(4), "{}", text(&again.stderr));
    assert!(text(&again.stderr).contains("No Record found"));

    // The token goes to the profile's instance only.
    let foreign = world
        .run(&["api", "GET", "https://example.com/api/now/table/incident"])
        .await;
    assert_eq!(foreign.status.code(), Some(2));
    assert!(text(&foreign.stderr).contains("is not a path on the instance"));

    // `sn table list --display-values all --exclude-reference-link`.
    let list = world
        .run(&[
            "table",
            "list",
            "incident",
            "--limit",
            "3",
            "--fields",
            "number,caller_id",
            "--format",
            "json",
            "--display-values",
            "all",
            "--exclude-reference-link",
        ])
        .await;
    assert!(list.status.success(), "{}", text(&list.stderr));
    let records: Vec<serde_json::Value> = serde_json::from_slice(&list.stdout).unwrap();
    let caller = &records[0]["caller_id"];
    assert!(
        caller["display_value"].is_string() && caller["value"].is_string(),
        "{caller}"
    );
    assert!(caller.get("link").is_none(), "{caller}");
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

//! `sn export --display-values … --exclude-reference-link`: the exported file carries display
//! values and references without their API links, in a parallel export and in an ordered one;
//! without the flags the same export carries stored values and links. `--split-ranges-above`
//! counts the ranges with the Aggregate API before reading them; `--partition-by sys_created_on`
//! reads windows of creation time.

mod common;

use std::io::BufRead as _;

use common::{World, authorization_url, finish, follow_redirect, text};
use servicenow_emulator::user_agent::{ConsentDecision, ScriptedUserAgent};

const ROWS: u64 = 120;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_carries_display_values_and_no_reference_links_when_asked() {
    let world = World::start(ROWS).await;
    log_in(&world).await;

    // Without the flags: stored values, and references with their link.
    let plain = export(&world, "plain.jsonl", &[]).await;
    assert_eq!(plain.len() as u64, ROWS);
    let caller = plain
        .iter()
        .map(|record| &record["caller_id"])
        .find(|caller| caller.is_object())
        .expect("some incident has a caller");
    assert!(caller["link"].is_string(), "{caller}");
    assert!(
        plain
            .iter()
            .all(|record| record["priority"].as_str().is_some_and(is_digit)),
        "stored choice values"
    );

    // `all`: every field as display value and value; references without the link.
    for parallel in ["auto", "off"] {
        let both = export(
            &world,
            &format!("all-{parallel}.jsonl"),
            &[
                "--display-values",
                "all",
                "--exclude-reference-link",
                "--parallel",
                parallel,
            ],
        )
        .await;
        assert_eq!(both.len() as u64, ROWS, "--parallel {parallel}");
        for record in &both {
            let priority = &record["priority"];
            assert!(
                priority["value"].as_str().is_some_and(is_digit),
                "{priority}"
            );
            let label = priority["display_value"].as_str().unwrap_or_default();
            assert!(
                label.contains(" - "),
                "a choice label such as 1 - Critical: {label}"
            );
            let caller = &record["caller_id"];
            assert!(caller.get("display_value").is_some(), "{caller}");
            assert!(caller.get("link").is_none(), "no link: {caller}");
        }
    }

    // `true`: display values only, a reference as its display value without the link.
    let shown = export(
        &world,
        "display.jsonl",
        &["--display-values", "true", "--exclude-reference-link"],
    )
    .await;
    assert_eq!(shown.len() as u64, ROWS);
    for record in &shown {
        let label = record["priority"].as_str().unwrap_or_default();
        assert!(label.contains(" - "), "{record}");
        assert!(
            !record.to_string().contains("/api/now/table/"),
            "no reference link anywhere: {record}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_ranges_above_counts_the_ranges_and_still_exports_every_row_once() {
    let world = World::start(ROWS).await;
    log_in(&world).await;
    let plain = export(&world, "plain.jsonl", &["--parallel", "4"]).await;
    assert_eq!(plain.len() as u64, ROWS);
    assert_eq!(
        world.emulator.counters().aggregate_requests,
        0,
        "a plain export counts nothing"
    );
    // Four ranges of about 30 rows each, each over 20: each is counted and split.
    let split = export(
        &world,
        "split.jsonl",
        &["--parallel", "4", "--split-ranges-above", "20"],
    )
    .await;
    let numbers: std::collections::HashSet<&str> = split
        .iter()
        .map(|record| record["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers.len() as u64, ROWS, "every row once");
    assert_eq!(split.len() as u64, ROWS);
    let counted = world.emulator.counters().aggregate_requests;
    assert!(counted > 4, "the ranges were counted and split: {counted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_by_creation_time_exports_every_row_once_and_checkpoints_the_windows() {
    let world = World::start(ROWS).await;
    log_in(&world).await;
    let checkpoint = world.directory.path().join("by-time.checkpoint");
    let records = export(
        &world,
        "by-time.jsonl",
        &[
            "--parallel",
            "4",
            "--partition-by",
            "sys_created_on",
            "--checkpoint",
            checkpoint.to_str().unwrap(),
        ],
    )
    .await;
    let numbers: std::collections::HashSet<&str> = records
        .iter()
        .map(|record| record["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers.len() as u64, ROWS, "every row once");
    assert_eq!(records.len() as u64, ROWS);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&checkpoint).unwrap()).unwrap();
    let export = &saved["export"];
    assert_eq!(export["partition"], "sys_created_on", "{saved}");
    assert_eq!(export["version"], 2);
    let windows = export["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|range| range["created_below"].is_string())
        .count();
    assert!(windows >= 3, "four windows, the last open above: {saved}");

    // An ordered export has no ranges to cut.
    let output = world.directory.path().join("ordered.jsonl");
    let run = world
        .run(&[
            "export",
            "incident",
            "--output",
            output.to_str().unwrap(),
            "--parallel",
            "off",
            "--partition-by",
            "sys_created_on",
        ])
        .await;
    assert!(!run.status.success());
    assert!(
        text(&run.stderr).contains("--partition-by needs a parallel export"),
        "{}",
        text(&run.stderr)
    );
}

/// `sn export incident --fields … ARGS -o NAME`, parsed line by line.
async fn export(world: &World, name: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let output = world.directory.path().join(name);
    let mut command = vec![
        "export",
        "incident",
        "--fields",
        "number,priority,caller_id",
        "--output",
        output.to_str().unwrap(),
        "--progress",
        "never",
    ];
    command.extend_from_slice(args);
    let run = world.run(&command).await;
    assert!(run.status.success(), "{}", text(&run.stderr));
    let file = std::io::BufReader::new(std::fs::File::open(&output).unwrap());
    file.lines()
        .map(|line| serde_json::from_str(&line.unwrap()).unwrap())
        .collect()
}

fn is_digit(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|character| character.is_ascii_digit())
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

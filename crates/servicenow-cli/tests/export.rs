//! `sn export incident` of 100,000 emulator rows: every row once, in constant memory, with
//! progress shown (lines in a log with `--progress always`, a bar under a pseudo-terminal).

mod common;

use std::{collections::HashSet, io::BufRead as _, process::Command};

use common::{World, authorization_url, finish, follow_redirect, text};
use servicenow_emulator::user_agent::{ConsentDecision, ScriptedUserAgent};

const ROWS: u64 = 100_000;
/// Far below what holding 100,000 rows would take (each is about a kilobyte of JSON, more once
/// parsed), and about twice what sn needs in a debug build (30 MiB measured).
const MAX_PEAK_MIB: u64 = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporting_100_000_rows_streams_in_constant_memory_with_progress() {
    let world = World::start(ROWS).await;
    log_in(&world).await;
    let output = world.directory.path().join("incidents.jsonl");

    let export = world
        .run(&[
            "export",
            "incident",
            "--output",
            output.to_str().unwrap(),
            "--progress",
            "always",
        ])
        .await;
    let said = text(&export.stderr);
    assert!(export.status.success(), "{said}");

    // Every row exactly once.
    let file = std::io::BufReader::new(std::fs::File::open(&output).unwrap());
    let mut numbers = HashSet::new();
    for line in file.lines() {
        let record: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        numbers.insert(record["number"].as_str().unwrap().to_owned());
    }
    assert_eq!(numbers.len() as u64, ROWS);

    // Progress lines (after whole pages, so not at round numbers) with the total from
    // X-Total-Count, a rate and an ETA.
    assert!(said.contains("/100000 rows ("), "{said}");
    assert!(said.contains("rows/s, ETA"), "{said}");
    assert!(said.contains("progress: 100000/100000 rows"), "{said}");

    // Constant memory: the peak is bounded by the pages in flight, not by the table.
    let peak = said
        .split("peak memory ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|mib| mib.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no peak memory in {said}"));
    eprintln!("sn export: peak memory {peak} MiB for {ROWS} rows");
    assert!(
        peak < MAX_PEAK_MIB,
        "peak memory {peak} MiB for {ROWS} rows"
    );

    progress_bar_under_a_pseudo_terminal(&world).await;
}

/// Under a pseudo-terminal (`script`), the default `--progress auto` draws a bar with the row
/// count, rows/s and an ETA.
async fn progress_bar_under_a_pseudo_terminal(world: &World) {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped the pseudo-terminal part: util-linux `script` is not installed");
        return;
    }
    let output = world.directory.path().join("again.csv");
    let command = format!(
        "{} --config {} --store-dir {} export incident --format csv --fields number,priority --output {}",
        env!("CARGO_BIN_EXE_sn"),
        world.config().display(),
        world.store_dir().display(),
        output.display()
    );
    let mut script = Command::new("script");
    script
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .env(
            "SN_CLIENT_SECRET",
            servicenow_emulator::DEFAULT_CLIENT_SECRET,
        )
        .env("COLUMNS", "120");
    let ran = tokio::task::spawn_blocking(move || script.output().unwrap())
        .await
        .unwrap();
    let screen = text(&ran.stdout);
    assert!(ran.status.success(), "{screen}");
    assert!(screen.contains("rows/s"), "{screen}");
    assert!(screen.contains("ETA"), "{screen}");
    assert!(screen.contains("100,000"), "{screen}");
    let csv = std::fs::read_to_string(&output).unwrap();
    assert!(
        csv.starts_with("number,priority\n"),
        "{}",
        &csv[..80.min(csv.len())]
    );
    assert_eq!(csv.lines().count() as u64, ROWS + 1);
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

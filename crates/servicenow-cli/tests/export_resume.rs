//! `sn export --checkpoint FILE` killed with SIGKILL at random points, then `--resume`d each
//! time: the output finally holds every row of the table exactly once. The emulator runs a
//! cost model (scaled down) so that an export takes long enough to be killed in the middle.

mod common;

use std::{collections::HashSet, io::BufRead as _, process::Stdio, time::Duration};

use common::{World, authorization_url, finish, follow_redirect, text};
use servicenow_emulator::{
    CostModel,
    user_agent::{ConsentDecision, ScriptedUserAgent},
};

const ROWS: u64 = 20_000;
const KILLS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_killed_ten_times_and_resumed_holds_every_row_once() {
    // 200 ms a request and 0.05 ms a row rendered, two requests at once: about ten seconds of
    // export in pages of 200 rows whatever the machine, while no run lives longer than 0.7 s
    // before its kill, so all ten kills land mid-export.
    let mut model = CostModel::instance_like();
    model.per_request = Duration::from_millis(200);
    model.per_row_rendered = Duration::from_micros(50);
    let world = World::start_with(ROWS, |builder| builder.cost_model(model)).await;
    log_in(&world).await;
    let output = world.directory.path().join("incidents.jsonl");
    let checkpoint = world.directory.path().join("incidents.checkpoint");
    // Kill points from a fixed xorshift sequence: random, and the same in every run.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next_delay = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        Duration::from_millis(150 + state % 550)
    };

    let mut killed_mid_export = 0;
    let mut attempts = 0;
    let finished = loop {
        attempts += 1;
        assert!(attempts <= 60, "the export never finished");
        let mut command = world.sn();
        command.args([
            "export",
            "incident",
            "--page-size",
            "200",
            "--progress",
            "never",
        ]);
        command
            .arg("--output")
            .arg(&output)
            .arg("--checkpoint")
            .arg(&checkpoint);
        if checkpoint.exists() {
            command.arg("--resume");
        } else {
            // Killed before its first checkpoint: start over, replacing the partial output.
            command.arg("--overwrite");
        }
        command.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        if killed_mid_export < KILLS {
            tokio::time::sleep(next_delay()).await;
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                let status = child.wait().unwrap();
                assert!(!status.success());
                killed_mid_export += 1;
                continue;
            }
        }
        let ran = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        let said = text(&ran.stderr);
        assert!(ran.status.success(), "{said}");
        break said;
    };
    assert_eq!(
        killed_mid_export, KILLS,
        "killed while exporting: {finished}"
    );

    // The union of what every run wrote is the table, each row once.
    let table: HashSet<String> = world
        .emulator
        .live_sys_ids("incident")
        .unwrap()
        .into_iter()
        .collect();
    let file = std::io::BufReader::new(std::fs::File::open(&output).unwrap());
    let mut seen = HashSet::new();
    for line in file.lines() {
        let record: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        let sys_id = record["sys_id"].as_str().unwrap().to_owned();
        assert!(seen.insert(sys_id.clone()), "{sys_id} written twice");
    }
    assert_eq!(seen.len(), table.len(), "rows missing: {finished}");
    assert_eq!(seen, table);
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

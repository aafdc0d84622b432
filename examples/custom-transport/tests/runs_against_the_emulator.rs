//! Runs the example's binary against the emulator, started in-process: a token, then a page of incidents, each request logged as method and path only.

use servicenow_emulator::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator};

#[tokio::test(flavor = "multi_thread")]
async fn the_example_logs_method_and_path_and_reads_incidents() {
    let emulator = Emulator::builder()
        .rows("incident", 5)
        .configure(|settings| settings.client_credentials_enabled = true)
        .start()
        .await
        .expect("the emulator starts");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_custom-transport"));
    command
        .env("SN_INSTANCE", emulator.base_url())
        .env("SN_CLIENT_ID", DEFAULT_CLIENT_ID)
        .env("SN_CLIENT_SECRET", DEFAULT_CLIENT_SECRET);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the blocking task ends")
        .expect("the example runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        stdout,
        "POST /oauth_token.do -> 200\nGET /api/now/v2/table/incident -> 200\nread 3 incidents\n"
    );
    assert_eq!(emulator.counters().table_requests("GET", "incident"), 1);
    emulator.shutdown().await;
}

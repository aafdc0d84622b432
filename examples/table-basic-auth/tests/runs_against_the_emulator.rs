//! Runs the example's binary against the emulator, started in-process, as its `admin` user.

use servicenow_emulator::Emulator;

#[tokio::test(flavor = "multi_thread")]
async fn the_example_reads_incidents_with_basic_authentication() {
    let emulator = Emulator::builder()
        .rows("incident", 5)
        .start()
        .await
        .expect("the emulator starts");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_table-basic-auth"));
    command
        .env("SN_INSTANCE", emulator.base_url())
        .env("SN_USER", "admin")
        .env("SN_PASSWORD", "admin");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the blocking task ends")
        .expect("the example runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines[..3].iter().all(|number| number.starts_with("INC")),
        "{stdout}"
    );
    assert_eq!(lines[3], "read 3 incidents");
    assert_eq!(emulator.counters().table_requests("GET", "incident"), 1);
    emulator.shutdown().await;
}

//! Runs the example's binary against the emulator, started in-process: it must get a token.

use servicenow_emulator::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator, TokenOutcome};

#[tokio::test(flavor = "multi_thread")]
async fn the_example_gets_a_token_from_the_emulator() {
    let emulator = Emulator::builder()
        .configure(|settings| settings.client_credentials_enabled = true)
        .start()
        .await
        .expect("the emulator starts");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_protocol-types"));
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
    assert_eq!(stdout, "access token issued, valid for 1800 s\n");
    let counters = emulator.counters();
    assert_eq!(
        counters.token_requests("client_credentials", TokenOutcome::Issued),
        1
    );
    emulator.shutdown().await;
}

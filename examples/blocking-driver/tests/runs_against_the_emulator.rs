//! Runs the example's binary against the emulator, started in-process: a token, then a logout.

use servicenow_emulator::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator, TokenOutcome};

#[tokio::test(flavor = "multi_thread")]
async fn the_example_gets_a_token_and_revokes_it() {
    let emulator = Emulator::builder()
        .configure(|settings| settings.client_credentials_enabled = true)
        .start()
        .await
        .expect("the emulator starts");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_blocking-driver"));
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
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"POST /oauth_token.do"), "{stdout}");
    assert!(lines.contains(&"POST /oauth_revoke_token.do"), "{stdout}");
    assert!(stdout.contains("access token ready"), "{stdout}");
    assert!(stdout.contains("LoggedOut"), "{stdout}");
    assert!(
        !stdout.contains(DEFAULT_CLIENT_SECRET),
        "no secret is printed"
    );
    let counters = emulator.counters();
    assert_eq!(
        counters.token_requests("client_credentials", TokenOutcome::Issued),
        1
    );
    emulator.shutdown().await;
}

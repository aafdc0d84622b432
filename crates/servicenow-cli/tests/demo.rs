//! `sn demo` as a user runs it: the built binary, nothing installed, exit code 0 and every step told.

use std::process::Command;

#[test]
fn the_demo_runs_the_whole_flow_and_exits_zero() {
    let store = tempfile::tempdir().unwrap();
    let store_dir = store.path().join("tokens");
    let output = Command::new(env!("CARGO_BIN_EXE_sn"))
        .arg("demo")
        .arg("--store-dir")
        .arg(&store_dir)
        .env_remove("SN_PROFILE")
        .env_remove("SN_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "sn demo failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    for told in [
        "1. Started a ServiceNow emulator",
        "4. A scripted browser opened that URL, logged in as admin",
        "grant_type=authorization_code",
        "The store holds only ciphertext",
        "6. Listed open incidents",
        "INC0000003",
        "Then asked the Aggregate API instead of reading them all",
        "Attached printer.log (60 bytes) to INC",
        "their SHA-256 matching the hash the instance keeps",
        "with exactly one token request (grant_type=refresh_token",
        "9. Logged out: the instance accepted the revocation of the refresh token and of the access \
         token",
        "10. Revocation confirmed: the instance now refuses the old access token (HTTP 401)",
        "Done:",
    ] {
        assert!(
            stdout.contains(told),
            "the demo did not say {told:?}:\n{stdout}"
        );
    }
    assert!(
        store_dir.join("tokens.sqlite3").exists(),
        "--store-dir keeps the encrypted store there"
    );
    // Step 2 names the key source and why; the only warning allowed is the co-located key
    // file's, on a machine without a keyring service, and the demo then says so.
    assert!(
        stdout.contains("2. Opened the encrypted token store"),
        "{stdout}"
    );
    assert!(stdout.contains("Sealing key: "), "{stdout}");
    let fell_back = stdout.contains("this machine has no usable OS keyring");
    for line in stderr.lines().filter(|line| line.contains("WARN")) {
        assert!(
            fell_back && line.contains("the sealing key is in a file beside the token database"),
            "unexpected warning:\n{stderr}"
        );
    }
}

#[test]
fn the_demo_works_without_any_key_configured_and_says_which_key_it_used() {
    let output = Command::new(env!("CARGO_BIN_EXE_sn"))
        .arg("demo")
        .env_remove("SN_PROFILE")
        .env_remove("SN_CONFIG")
        .env_remove("SN_STORE_DIR")
        .env_remove("SN_STORE_KEY")
        .env_remove("SN_STORE_KEY_FILE")
        .env_remove("SN_KEY_SOURCE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "sn demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("Sealing key: the OS keyring")
            || stdout.contains("this machine has no usable OS keyring"),
        "the demo says which key source it used and why:\n{stdout}"
    );
}

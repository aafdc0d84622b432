//! `sn --help` documents the exit codes, and usage errors exit with code 2.

use std::process::Command;

#[test]
fn the_long_help_lists_every_exit_code() {
    let output = Command::new(env!("CARGO_BIN_EXE_sn"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for code in [
        "0  success",
        "2  usage",
        "3  authentication",
        "4  ServiceNow refused",
        "5  the instance could not be reached",
        "6  a local problem",
    ] {
        assert!(help.contains(code), "{code:?} missing from:\n{help}");
    }
}

#[test]
fn a_command_without_a_profile_explains_how_to_create_one() {
    let directory = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_sn"))
        .arg("--config")
        .arg(directory.path().join("config.toml"))
        .arg("--store-dir")
        .arg(directory.path().join("store"))
        .args(["--profile", "work", "table", "list", "incident"])
        .env_remove("SN_CLIENT_SECRET")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("there is no profile named \"work\" yet"),
        "{said}"
    );
    assert!(
        said.contains("hint: run `sn login --profile work --instance URL --client-id ID`"),
        "{said}"
    );
}

#[test]
fn the_client_secret_is_not_a_flag() {
    let output = Command::new(env!("CARGO_BIN_EXE_sn"))
        .args(["login", "--client-secret", "s3cret"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "clap's usage error");
}

#[test]
fn export_help_shows_parallel_auto_and_the_checkpoint_flags() {
    let output = Command::new(env!("CARGO_BIN_EXE_sn"))
        .args(["export", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--parallel <auto|N|off>",
        "[default: auto]",
        "--checkpoint <FILE>",
        "--resume",
        "--partition-by <FIELD>",
        "[default: sys_id]",
        "sys_created_on",
    ] {
        assert!(help.contains(flag), "{flag:?} missing from:\n{help}");
    }
}

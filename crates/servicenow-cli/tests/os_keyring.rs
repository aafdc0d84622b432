//! `sn` with its default key source, the OS keyring, against a real Secret Service:
//! gnome-keyring-daemon on a private D-Bus session bus started by this test.
//!
//! Needs `SN_TEST_SECRET_SERVICE` (the path of `gnome-keyring-daemon`; `.ci/run` installs Debian's
//! `gnome-keyring` and sets it); skipped, and listed at the end of `cargo test`, without it, and a
//! failure under `SN_REQUIRE_SERVICES=1`.

mod common;

use std::{
    io::{BufRead as _, BufReader, Write as _},
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::{World, authorization_url, finish, follow_redirect, text};
use servicenow_emulator::{
    DEFAULT_CLIENT_SECRET,
    user_agent::{ConsentDecision, ScriptedUserAgent},
};
use servicenow_test_services::{SECRET_SERVICE_VARIABLE, service_url, unreachable};

/// A private session bus with gnome-keyring-daemon's Secret Service on it, stopped on drop.
struct SecretService {
    bus: Child,
    daemon: Child,
    variables: Vec<(String, String)>,
    _directory: tempfile::TempDir,
}

impl SecretService {
    fn start(test: &str) -> Option<Self> {
        let daemon_path = service_url(SECRET_SERVICE_VARIABLE, test)?;
        match Self::try_start(&daemon_path) {
            Ok(service) => Some(service),
            Err(error) => {
                unreachable(test, "the Secret Service (gnome-keyring-daemon)", &error);
                None
            }
        }
    }

    fn try_start(daemon_path: &str) -> Result<Self, String> {
        let directory = tempfile::tempdir().map_err(|error| error.to_string())?;
        let home = directory.path().join("home");
        let runtime = directory.path().join("run");
        for path in [&home, &runtime] {
            std::fs::create_dir_all(path).map_err(|error| error.to_string())?;
        }
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .arg(format!(
                "--address=unix:tmpdir={}",
                directory.path().display()
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("dbus-daemon does not start: {error}"))?;
        let mut address = String::new();
        BufReader::new(bus.stdout.take().ok_or("no dbus-daemon stdout")?)
            .read_line(&mut address)
            .map_err(|error| error.to_string())?;
        let variables = vec![
            (
                "DBUS_SESSION_BUS_ADDRESS".to_owned(),
                address.trim().to_owned(),
            ),
            ("HOME".to_owned(), home.display().to_string()),
            (
                "XDG_DATA_HOME".to_owned(),
                home.join(".local/share").display().to_string(),
            ),
            ("XDG_RUNTIME_DIR".to_owned(), runtime.display().to_string()),
        ];
        // `--unlock` creates the login keyring with the password on stdin (a non-empty one: an
        // empty password leaves no default collection).
        let mut daemon = Command::new(daemon_path)
            .args(["--foreground", "--unlock", "--components=secrets"])
            .envs(variables.iter().cloned())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("{daemon_path} does not start: {error}"))?;
        let mut stdin = daemon.stdin.take().ok_or("no daemon stdin")?;
        stdin
            .write_all(b"test-keyring-password")
            .map_err(|error| error.to_string())?;
        drop(stdin);
        let service = Self {
            bus,
            daemon,
            variables,
            _directory: directory,
        };
        // Up to 10 s for the daemon to own its name on the bus.
        for _ in 0..100 {
            let owned = Command::new("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .envs(service.variables.iter().cloned())
                .output()
                .map_err(|error| format!("dbus-send does not run: {error}"))?;
            if text(&owned.stdout).contains("boolean true") {
                return Ok(service);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("gnome-keyring-daemon never owned org.freedesktop.secrets".to_owned())
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        for child in [&mut self.daemon, &mut self.bus] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_os_keyring_holds_the_store_key_and_the_remembered_secret() {
    let Some(service) =
        SecretService::start("the_os_keyring_holds_the_store_key_and_the_remembered_secret")
    else {
        return;
    };
    let mut world = World::start(10).await;
    world.keyring_env = Some(service.variables.clone());

    // sn login with its defaults: the store key goes into the OS keyring, and, asked to, the
    // client secret too.
    let mut login = world.sn();
    login
        .args([
            "login",
            "--no-browser",
            "--timeout",
            "60",
            "--remember-secret",
        ])
        .arg("--instance")
        .arg(world.emulator.base_url())
        .args(["--client-id", servicenow_emulator::DEFAULT_CLIENT_ID])
        .arg("--redirect-uri")
        .arg(&world.redirect_uri)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut login = common::Login::spawn(login);
    let url = authorization_url(&mut login).await;
    let redirect = ScriptedUserAgent::new()
        .authorize(&url, "admin", "admin", ConsentDecision::Allow)
        .await
        .unwrap();
    follow_redirect(redirect.location()).await;
    let (status, stdout, stderr) = finish(login).await;
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("the OS keyring entry \"servicenow-rs\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("client secret is kept in the OS keyring"),
        "{stdout}"
    );
    assert!(
        !stderr.contains("WARN"),
        "no warning with the keyring:\n{stderr}"
    );

    // Nothing secret at rest beside the data: no key file, no client secret in the store files.
    let store_dir = world.store_dir();
    assert!(
        !store_dir.join("tokens.key").exists(),
        "no key file beside the data"
    );
    assert!(!common::files_contain(&store_dir, DEFAULT_CLIENT_SECRET));
    let status = world.run(&["store", "status"]).await;
    assert!(status.status.success(), "{}", text(&status.stderr));
    assert!(
        text(&status.stdout).contains("the OS keyring entry"),
        "{}",
        text(&status.stdout)
    );

    // Later commands find the remembered secret in the keyring: no SN_CLIENT_SECRET needed.
    let list_without_secret = || {
        let mut command = world.sn();
        command
            .env_remove("SN_CLIENT_SECRET")
            .args(["table", "list", "incident", "--limit", "2"]);
        command
    };
    let mut command = list_without_secret();
    let listed = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    assert!(
        text(&listed.stdout).contains("INC0000001"),
        "{}",
        text(&listed.stdout)
    );

    // The key rotates in the keyring, and the tokens stay readable.
    let rotated = world.run(&["store", "rotate-key"]).await;
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    assert!(
        text(&rotated.stdout).contains("retired key"),
        "{}",
        text(&rotated.stdout)
    );
    let mut command = list_without_secret();
    let listed = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(listed.status.success(), "{}", text(&listed.stderr));

    // Logout removes the remembered secret from the keyring.
    let logout = world.run(&["logout"]).await;
    assert!(logout.status.success(), "{}", text(&logout.stderr));
    let lookup = Command::new("secret-tool")
        .args(["search", "--all", "service", "servicenow-rs"])
        .envs(service.variables.iter().cloned())
        .output();
    if let Ok(lookup) = lookup {
        let found = text(&lookup.stdout) + &text(&lookup.stderr);
        assert!(!found.contains("client-secret:"), "{found}");
        assert!(found.contains("store-key:"), "the store key stays: {found}");
    }
}

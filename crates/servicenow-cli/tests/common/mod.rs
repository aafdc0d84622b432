//! Helpers for the end-to-end tests of `sn`: an emulator whose client accepts a free loopback
//! redirect port, isolated config and store directories, and running the built binary.

#![allow(dead_code, unreachable_pub)] // Each test file uses a different part of this module.

use std::{
    io::{BufRead as _, BufReader},
    path::PathBuf,
    process::{Child, Command, Output, Stdio},
};

use servicenow_emulator::{
    ClientRegistration, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator, EmulatorBuilder,
    EmulatorHandle,
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

/// A running `sn login`.
pub struct Login {
    pub child: Child,
    rest: Option<std::thread::JoinHandle<String>>,
}

/// An emulator, a redirect URI on a free loopback port registered for its confidential client,
/// and a private config file and store directory for `sn`.
pub struct World {
    pub emulator: EmulatorHandle,
    pub redirect_uri: String,
    pub directory: tempfile::TempDir,
}

impl World {
    pub async fn start(incidents: u64) -> Self {
        Self::start_with(incidents, |builder| builder).await
    }

    /// [`start`](Self::start) with more emulator configuration (a cost model, say).
    pub async fn start_with(
        incidents: u64,
        configure: impl FnOnce(EmulatorBuilder) -> EmulatorBuilder,
    ) -> Self {
        let port = free_port();
        let redirect_uri = format!("http://127.0.0.1:{port}/callback");
        let builder = Emulator::builder()
            .client(ClientRegistration::confidential(
                DEFAULT_CLIENT_ID,
                DEFAULT_CLIENT_SECRET,
                vec![redirect_uri.clone()],
            ))
            .rows("incident", incidents);
        let emulator = configure(builder).start().await.unwrap();
        Self {
            emulator,
            redirect_uri,
            directory: tempfile::tempdir().unwrap(),
        }
    }

    pub fn config(&self) -> PathBuf {
        self.directory.path().join("config").join("config.toml")
    }

    pub fn store_dir(&self) -> PathBuf {
        self.directory.path().join("store")
    }

    /// `sn` with this world's config file and store, the client secret in the environment.
    pub fn sn(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sn"));
        command
            .arg("--config")
            .arg(self.config())
            .arg("--store-dir")
            .arg(self.store_dir())
            .env("SN_CLIENT_SECRET", DEFAULT_CLIENT_SECRET)
            .env_remove("SN_PROFILE")
            .env_remove("SN_CONFIG")
            .env_remove("SN_STORE_DIR")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        command
    }

    /// `sn login --no-browser …` started, with its stdout piped.
    pub fn start_login(&self) -> Login {
        self.start_login_waiting(60)
    }

    /// `sn login --no-browser --timeout SECONDS …` started, with its stdout piped.
    pub fn start_login_waiting(&self, seconds: u64) -> Login {
        let child = self
            .sn()
            .args(["login", "--no-browser", "--timeout"])
            .arg(seconds.to_string())
            .arg("--instance")
            .arg(self.emulator.base_url())
            .args(["--client-id", DEFAULT_CLIENT_ID, "--redirect-uri"])
            .arg(&self.redirect_uri)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Login { child, rest: None }
    }

    /// Runs `sn` with `args` to the end.
    pub async fn run(&self, args: &[&str]) -> Output {
        let mut command = self.sn();
        command.args(args);
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }
}

/// The first line `sn login --no-browser` prints on stdout: the authorization URL, alone. The
/// rest of stdout is kept for [`finish`].
pub async fn authorization_url(login: &mut Login) -> String {
    let stdout = login.child.stdout.take().unwrap();
    let (first_line, receiver) = tokio::sync::oneshot::channel();
    login.rest = Some(std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let _ = first_line.send(line.trim_end().to_owned());
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
        rest
    }));
    receiver.await.unwrap()
}

/// What a browser does with the final redirect: GET it (on `sn`'s loopback listener), and
/// return the page it got.
pub async fn follow_redirect(location: &str) -> String {
    let url = url::Url::parse(location).unwrap();
    let address = format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap()
    );
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        url.authority()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut page = String::new();
    stream.read_to_string(&mut page).await.unwrap();
    page
}

/// Waits for `sn login` to end; returns its exit status, the rest of its stdout, and stderr.
pub async fn finish(login: Login) -> (std::process::ExitStatus, String, String) {
    tokio::task::spawn_blocking(move || {
        let Login { child, rest } = login;
        let output = child.wait_with_output().unwrap();
        let stdout = match rest {
            Some(rest) => rest.join().unwrap(),
            None => text(&output.stdout),
        };
        (output.status, stdout, text(&output.stderr))
    })
    .await
    .unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

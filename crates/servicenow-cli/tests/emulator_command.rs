//! `sn emulator` runs the emulator as the `servicenow-emulator` binary does, with its options.

use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::TcpStream,
    process::{Command, Stdio},
};

/// Kills the child when the test ends, whatever happens.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sn_emulator_listens_where_told_and_serves_the_table_api() {
    let child = Command::new(env!("CARGO_BIN_EXE_sn"))
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--rows",
            "incident=7",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let mut stdout = BufReader::new(running.0.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let base_url = first
        .trim()
        .strip_prefix("ServiceNow emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    let mut summary = String::new();
    stdout.read_line(&mut summary).unwrap();
    assert!(
        summary.contains("client emulator-client (confidential)"),
        "{summary}"
    );

    // Without a token the Table API answers 401 with ServiceNow's envelope.
    let address = base_url.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET /api/now/table/incident HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    assert!(response.contains("\"status\":\"failure\""), "{response}");
}

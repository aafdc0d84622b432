//! `key-rotator`: a test helper process that rotates a store's sealing key over and over until it
//! is killed (`tests/key_rotation_kill.rs`).
//!
//! Usage: `key-rotator <store directory> <key file>`: opens the SQLite store in the directory with
//! the key set in the key file (`KeySource::file`), prints `ready`, then runs
//! `Store::rotate_key` in a loop, printing `rotated <new key id>` after each.

#![allow(clippy::print_stdout)] // A helper process: stdout is how it reports to the test.

use std::{error::Error, io::Write as _};

use servicenow::{store::KeySource, stores::Store};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [directory, key_file] = arguments.as_slice() else {
        return Err("usage: key-rotator <store directory> <key file>".into());
    };
    let store = Store::sqlite(directory, KeySource::file(key_file)).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "ready")?;
    stdout.flush()?;
    loop {
        let rotation = store.rotate_key().await?;
        writeln!(stdout, "rotated {}", rotation.new_key_id)?;
        stdout.flush()?;
    }
}

//! A peer client cannot tell the emulator from an instance: ServiceNow's own Python client,
//! PySNC (pinned to [`PYSNC`]), runs `tests/peer/pysnc_script.py` against it — paging every
//! row of a table, a query, create/read/update/delete, an attachment up and down, updates and
//! deletes in a batch, and the Aggregate API with plain `requests` (PySNC has none).
//!
//! PySNC is installed into a virtual environment under the target directory
//! (`<target>/peer-venv`, reused while its pin matches; the benchmarks keep their own). PySNC
//! refuses `http://` instances, so the emulator serves HTTPS with a throwaway CA the script
//! trusts. Without Python (or `venv`), or without PyPI, the test is skipped and the end of
//! `cargo test` says so; under `SN_REQUIRE_SERVICES=1` that is a failure.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use servicenow_emulator::{Dataset, Emulator, EmulatorHandle};
use servicenow_test_services as services;

/// The PySNC release the script is written against (and the one `servicenow-api-more.md` read).
const PYSNC: &str = "pysnc==1.2.1";
const TEST: &str = "pysnc_pages_queries_writes_attaches_and_batches_against_the_emulator";
/// The script's own budget: it makes a few hundred requests.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pysnc_pages_queries_writes_attaches_and_batches_against_the_emulator() {
    let Some(python) = python() else {
        return;
    };
    let venv_python = match tokio::task::spawn_blocking(move || peer_venv(&python))
        .await
        .expect("the venv task finishes")
    {
        Ok(path) => path,
        Err(error) => {
            services::unreachable(TEST, &format!("PyPI ({PYSNC} into a venv)"), &error);
            return;
        }
    };
    services::ran(TEST, &format!("with {PYSNC}"));

    let certificates = tempfile::tempdir().unwrap();
    let (cert, key, ca_file) = throwaway_tls(certificates.path());
    let emulator = Emulator::builder()
        .dataset(Dataset::Pdi)
        .tls(cert, key)
        .start()
        .await
        .expect("the emulator starts");
    let config = serde_json::json!({
        "instance": emulator.base_url(),
        "ca_file": ca_file,
        "user": "admin",
        "password": "admin",
        "expected": expected_counts(&emulator),
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peer/pysnc_script.py");
    let child = tokio::process::Command::new(&venv_python)
        .arg(&script)
        .arg(config.to_string())
        // requests prefers these variables to the session's `verify` (PySNC's `verify=`).
        .env("REQUESTS_CA_BUNDLE", &ca_file)
        .env_remove("CURL_CA_BUNDLE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the venv's python starts");
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, child.wait_with_output())
        .await
        .expect("the PySNC script finishes within its budget")
        .expect("the PySNC script's output is read");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the PySNC script failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("pysnc: every story passed"),
        "the script stopped early:\n{stdout}\n{stderr}"
    );
    emulator.shutdown().await;
}

/// The interpreter with `venv`: `SN_TEST_PYTHON` or `python3`; `None` after recording the skip.
fn python() -> Option<PathBuf> {
    let python = std::env::var_os(services::PYTHON_VARIABLE)
        .filter(|value| !value.is_empty())
        .map_or_else(|| PathBuf::from("python3"), PathBuf::from);
    let usable = std::process::Command::new(&python)
        .args(["-c", "import venv, ensurepip"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if usable {
        Some(python)
    } else {
        services::missing(TEST, &format!("{} with the venv module", python.display()));
        None
    }
}

/// `<target>/peer-venv/bin/python` with [`PYSNC`] installed: reused when its pin file says
/// so, built afresh otherwise.
fn peer_venv(python: &Path) -> Result<PathBuf, String> {
    let executable = std::env::current_exe().map_err(|error| error.to_string())?;
    // <target>/<profile>/deps/<test binary>
    let target = executable
        .ancestors()
        .nth(3)
        .ok_or("the test binary is not under a target directory")?;
    let venv = target.join("peer-venv");
    let pin = venv.join("pin.txt");
    let venv_python = venv.join("bin").join("python");
    if std::fs::read_to_string(&pin).is_ok_and(|text| text.trim() == PYSNC) && venv_python.exists()
    {
        return Ok(venv_python);
    }
    let _ = std::fs::remove_dir_all(&venv);
    run(std::process::Command::new(python)
        .args(["-m", "venv"])
        .arg(&venv))?;
    run(std::process::Command::new(&venv_python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        PYSNC,
    ]))?;
    std::fs::write(&pin, PYSNC).map_err(|error| error.to_string())?;
    Ok(venv_python)
}

fn run(command: &mut std::process::Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|error| format!("{command:?} did not start: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it: (cert PEM, key PEM, CA file path).
fn throwaway_tls(directory: &Path) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    // Distinct names: OpenSSL takes a leaf whose issuer is its own subject for self-signed.
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "servicenow-emulator test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let mut server_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    server_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "127.0.0.1");
    let server = server_params.signed_by(&server_key, &ca, &ca_key).unwrap();
    let ca_file = directory.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    (
        server.pem(),
        server_key.serialize_pem(),
        ca_file.display().to_string(),
    )
}

/// What the script should find, counted here from the emulator's rows.
fn expected_counts(emulator: &EmulatorHandle) -> serde_json::Value {
    let incidents = emulator.live_sys_ids("incident").unwrap();
    let rows: Vec<_> = incidents
        .iter()
        .filter_map(|sys_id| emulator.row_values("incident", sys_id))
        .collect();
    let active = rows.iter().filter(|row| row["active"] == "true");
    let active_priority_1 = active.clone().filter(|row| row["priority"] == "1").count();
    serde_json::json!({
        "sys_user_group": emulator.live_sys_ids("sys_user_group").unwrap().len(),
        "incident": incidents.len(),
        "active": active.count(),
        "active_priority_1": active_priority_1,
    })
}

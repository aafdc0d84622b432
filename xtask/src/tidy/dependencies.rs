//! The rules that read `cargo metadata`: each crate's dependencies stay inside its line of the allow-list (and the list holds nothing unused), the emulator depends on no client crate, and the sans-IO crates enable no OS-randomness feature.

use std::{collections::BTreeSet, path::Path, process::Command};

use anyhow::Context as _;
use serde_json::Value;

/// The normal (non-dev, non-build) dependencies each crate may have: the layering of
/// `docs/architecture.md`, kept in this one place so a layer cannot grow a forbidden edge.
///
/// Adding an external crate to a line is an ordinary change; adding an internal crate to a line
/// changes the architecture and needs `docs/architecture.md` updated in the same commit.
// A data table: one crate per entry reads better than one dependency per line.
#[rustfmt::skip]
pub(super) const ALLOWED_DEPENDENCIES: &[(&str, &[&str])] = &[
    (
        "servicenow-oauth",
        &[
            "base64", "bytes", "form_urlencoded", "http", "rand_core", "serde", "serde_json",
            "sha2", "subtle", "thiserror", "url", "zeroize", "rsa", "p256",
        ],
    ),
    (
        "servicenow-auth",
        &[
            "servicenow-oauth", "bytes", "http", "rand_core", "rand_chacha", "serde", "thiserror",
            "subtle",
        ],
    ),
    (
        "servicenow-http",
        &[
            "servicenow-oauth", "servicenow-auth", "async-trait", "base64", "bytes", "getrandom",
            "futures-util", "http", "http-body-util", "hyper", "hyper-util", "hyper-rustls", "reqwest", "rustls",
            "rustls-platform-verifier", "thiserror", "tokio", "tower-service", "webpki-roots",
            "zeroize",
        ],
    ),
    (
        "servicenow-store",
        &[
            "async-trait", "chacha20poly1305", "getrandom", "serde", "serde_json", "thiserror",
            "tokio", "zeroize", "base64", "rusqlite", "tokio-postgres", "deadpool-postgres",
            "redis", "fs4", "tracing", "hex", "sha2", "tempfile", "tokio-postgres-rustls",
            "rustls", "rustls-native-certs", "keyring",
        ],
    ),
    (
        "servicenow-table",
        &[
            "servicenow-oauth", "servicenow-http", "bytes", "futures", "http", "httpdate", "serde",
            "serde_json", "thiserror", "tokio", "tracing", "url", "percent-encoding", "time",
            "rand", "rand_chacha", "base64", "sha2",
        ],
    ),
    (
        "servicenow",
        &[
            "servicenow-oauth", "servicenow-auth", "servicenow-http", "servicenow-store",
            "servicenow-table", "arc-swap", "async-trait", "bytes", "futures", "http", "tokio",
            "tracing", "thiserror", "serde", "serde_json", "directories", "sha2", "rustix",
            "zeroize",
        ],
    ),
    (
        "servicenow-emulator",
        &[
            "tokio", "hyper", "hyper-util", "http", "http-body-util", "bytes", "serde_json", "rand",
            "rand_chacha", "sha2", "base64", "url", "form_urlencoded", "thiserror", "tracing",
            "tracing-subscriber", "clap", "anyhow", "parking_lot", "subtle", "rustls",
            "tokio-rustls", "rsa", "p256", "multer", "tempfile",
        ],
    ),
    (
        "servicenow-testkit",
        &[
            "servicenow-oauth", "servicenow-auth", "bytes", "http", "serde_json", "base64",
            "form_urlencoded",
        ],
    ),
    (
        "servicenow-cli",
        &[
            "servicenow", "servicenow-emulator", "anyhow", "clap", "tokio", "serde", "serde_json",
            "csv", "indicatif", "directories", "rpassword", "webbrowser", "toml", "tracing",
            "tracing-subscriber", "futures", "http", "bytes", "url", "tempfile", "time",
            "thiserror", "libc", "zeroize",
        ],
    ),
    (
        "xtask",
        &[
            "anyhow", "proc-macro2", "serde_json",
        ],
    ),
    (
        "servicenow-reliability",
        &[
            "servicenow", "servicenow-auth", "servicenow-emulator", "servicenow-http",
            "servicenow-oauth", "servicenow-store", "servicenow-table", "anyhow", "async-trait",
            "bytes", "futures", "http", "rand", "rand_chacha", "serde_json", "tokio", "getrandom",
            "hex", "servicenow-test-services", "sha2",
        ],
    ),
    (
        "servicenow-fuzz-oracles",
        &[
            "servicenow-oauth", "servicenow-auth", "servicenow-table", "servicenow-store",
            "servicenow-emulator", "bytes", "futures", "http", "serde", "serde_json", "url",
        ],
    ),
    (
        "servicenow-test-services",
        &[],
    ),
    (
        "servicenow-bench",
        &[
            "servicenow", "servicenow-emulator", "servicenow-http", "servicenow-oauth",
            "servicenow-table", "anyhow", "bytes", "futures", "http", "reqwest", "serde",
            "serde_json", "tokio", "async-trait", "stats_alloc", "peakmem-alloc", "plotters",
        ],
    ),
    (
        "protocol-types",
        &["servicenow-oauth", "ureq"],
    ),
    (
        "blocking-driver",
        &["servicenow-auth", "servicenow-http", "ureq", "tokio"],
    ),
    (
        "custom-transport",
        &["servicenow", "tokio"],
    ),
    (
        "table-basic-auth",
        &["servicenow-table", "servicenow-http", "base64", "tokio"],
    ),
    (
        "web-login",
        &[
            "servicenow", "servicenow-emulator", "axum", "tokio", "anyhow", "tracing",
            "tracing-subscriber", "getrandom", "base64", "cookie", "http", "clap", "html-escape",
            "serde",
        ],
    ),
];

/// Workspace crates the emulator must not depend on (in any kind of dependency), so that a
/// misunderstanding in the client cannot hide in a shared parser.
const EMULATOR_FORBIDDEN: &[&str] = &[
    "servicenow-oauth",
    "servicenow-auth",
    "servicenow-http",
    "servicenow-store",
    "servicenow-table",
    "servicenow",
    "servicenow-cli",
    "servicenow-testkit",
];

/// The sans-IO crates, which may not enable a feature that reaches the OS RNG.
pub(super) const SANS_IO_CRATES: &[&str] = &["servicenow-oauth", "servicenow-auth"];

/// Features that bring the operating system's RNG (or a generator seeded from it) into a crate:
/// rand's `os_rng`, `thread_rng` and `std_rng`, rand_core's and rand_chacha's `os_rng`, and the
/// `getrandom` features of older versions.
const OS_RNG_FEATURES: &[&str] = &["os_rng", "thread_rng", "std_rng", "getrandom"];

/// `cargo metadata` of the workspace (no dependencies resolved, offline).
pub(super) fn metadata(root: &Path) -> anyhow::Result<Value> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    anyhow::ensure!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// Every rule of this module over `metadata`, against the allow-list `allowed`.
pub(super) fn check(metadata: &Value, allowed: &[(&str, &[&str])], problems: &mut Vec<String>) {
    let packages = metadata["packages"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    check_allow_list(packages, allowed, problems);
    check_emulator_independent(packages, problems);
    check_sans_io_features(packages, problems);
}

fn dependencies(package: &Value) -> &[Value] {
    package["dependencies"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
}

fn name(value: &Value) -> &str {
    value["name"].as_str().unwrap_or_default()
}

/// A normal dependency: not a dev- or build-dependency (optional ones count).
fn is_normal(dependency: &Value) -> bool {
    dependency["kind"].is_null()
}

fn check_allow_list(packages: &[Value], allowed: &[(&str, &[&str])], problems: &mut Vec<String>) {
    for (krate, _) in allowed {
        if !packages.iter().any(|package| name(package) == *krate) {
            problems.push(format!(
                "rule `dependency-allow-list`: xtask/src/tidy/dependencies.rs has a line for {krate}, \
                 which is no crate of the workspace.\n  why: the list is the architecture, and nothing looser."
            ));
        }
    }
    for package in packages {
        let krate = name(package);
        let Some((_, list)) = allowed.iter().find(|(line, _)| *line == krate) else {
            problems.push(format!(
                "rule `dependency-allow-list`: crate {krate} has no line in xtask/src/tidy/dependencies.rs \
                 ALLOWED_DEPENDENCIES.\n  why: every crate's place in the layering is written down in one place."
            ));
            continue;
        };
        let used: BTreeSet<&str> = dependencies(package)
            .iter()
            .filter(|dependency| is_normal(dependency))
            .map(name)
            .collect();
        for dependency in &used {
            if !list.contains(dependency) {
                problems.push(format!(
                    "rule `dependency-allow-list`: {krate} depends on {dependency}, which its line in \
                     xtask/src/tidy/dependencies.rs does not allow.\n  why: layers point downward only \
                     (docs/architecture.md); extend the list only with the architecture doc in the same commit."
                ));
            }
        }
        for entry in *list {
            if !used.contains(entry) {
                problems.push(format!(
                    "rule `dependency-allow-list`: the line of {krate} in xtask/src/tidy/dependencies.rs \
                     allows {entry}, which {krate} does not depend on.\n  why: the list is the \
                     architecture, and nothing looser: remove the entry (or the dependency it stood for)."
                ));
            }
        }
    }
}

fn check_emulator_independent(packages: &[Value], problems: &mut Vec<String>) {
    let Some(emulator) = packages
        .iter()
        .find(|package| name(package) == "servicenow-emulator")
    else {
        return;
    };
    // Every kind of dependency: a dev-dependency on a client crate would let a test of the
    // emulator share the client's parser just the same.
    for dependency in dependencies(emulator) {
        let dependency_name = name(dependency);
        if EMULATOR_FORBIDDEN.contains(&dependency_name) {
            problems.push(format!(
                "rule `emulator-independent`: servicenow-emulator depends on {dependency_name}.\n  \
                 why: the emulator shares no code with the client crates, so a misunderstanding \
                 in the client cannot hide in a shared parser (docs/architecture.md)."
            ));
        }
    }
}

fn check_sans_io_features(packages: &[Value], problems: &mut Vec<String>) {
    for package in packages {
        let krate = name(package);
        if !SANS_IO_CRATES.contains(&krate) {
            continue;
        }
        let mut reasons = Vec::new();
        for dependency in dependencies(package)
            .iter()
            .filter(|dependency| is_normal(dependency))
        {
            let dependency_name = name(dependency);
            if dependency_name == "getrandom" {
                reasons.push("depends on getrandom".to_owned());
            }
            if dependency_name == "rand"
                && dependency["uses_default_features"].as_bool() != Some(false)
            {
                reasons.push("uses rand's default features (os_rng, thread_rng)".to_owned());
            }
            let features = dependency["features"]
                .as_array()
                .map_or(&[][..], Vec::as_slice);
            for feature in features.iter().filter_map(Value::as_str) {
                if OS_RNG_FEATURES.contains(&feature) {
                    reasons.push(format!("enables {dependency_name}'s `{feature}` feature"));
                }
            }
        }
        // Features of its own that switch one on (`x = ["rand/os_rng"]`).
        if let Some(own) = package["features"].as_object() {
            for (feature, enables) in own {
                for enabled in enables.as_array().map_or(&[][..], Vec::as_slice) {
                    let enabled = enabled.as_str().unwrap_or_default();
                    let reaches_os = enabled == "dep:getrandom"
                        || enabled
                            .rsplit_once('/')
                            .is_some_and(|(_, inner)| OS_RNG_FEATURES.contains(&inner));
                    if reaches_os {
                        reasons.push(format!("its feature `{feature}` enables `{enabled}`"));
                    }
                }
            }
        }
        for reason in reasons {
            problems.push(format!(
                "rule `sans-io`: {krate} {reason}.\n  why: the sans-IO layers take randomness from a \
                 caller-supplied RNG or bytes, never from the OS (docs/architecture.md, Architecture \
                 Invariant of {krate})."
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn dependency(name: &str, kind: Option<&str>) -> Value {
        json!({ "name": name, "kind": kind, "features": [], "uses_default_features": true })
    }

    fn package(name: &str, dependencies: Vec<Value>) -> Value {
        json!({ "name": name, "dependencies": dependencies, "features": {} })
    }

    fn problems(packages: Vec<Value>, allowed: &[(&str, &[&str])]) -> Vec<String> {
        let mut problems = Vec::new();
        check(&json!({ "packages": packages }), allowed, &mut problems);
        problems
    }

    const TABLE: &[(&str, &[&str])] = &[
        ("servicenow-table", &["servicenow-http", "serde"]),
        ("servicenow-http", &["http"]),
    ];

    fn layered_workspace() -> Vec<Value> {
        vec![
            package(
                "servicenow-table",
                vec![
                    dependency("servicenow-http", None),
                    dependency("serde", None),
                    // Dev- and build-dependencies are outside the layering.
                    dependency("servicenow-auth", Some("dev")),
                    dependency("cc", Some("build")),
                ],
            ),
            package("servicenow-http", vec![dependency("http", None)]),
        ]
    }

    #[test]
    fn a_workspace_inside_its_allow_list_passes() {
        assert_eq!(problems(layered_workspace(), TABLE), Vec::<String>::new());
    }

    #[test]
    fn the_allow_list_fires_on_a_dependency_outside_the_line() {
        let mut workspace = layered_workspace();
        workspace[0]["dependencies"]
            .as_array_mut()
            .unwrap()
            .push(dependency("servicenow-auth", None));
        let found = problems(workspace, TABLE);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("servicenow-table depends on servicenow-auth"),
            "{found:?}"
        );
    }

    #[test]
    fn the_allow_list_fires_on_an_entry_no_crate_uses() {
        let looser: &[(&str, &[&str])] = &[
            ("servicenow-table", &["servicenow-http", "serde", "rand"]),
            ("servicenow-http", &["http"]),
        ];
        let found = problems(layered_workspace(), looser);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("allows rand, which servicenow-table does not depend on"),
            "{found:?}"
        );
    }

    #[test]
    fn the_allow_list_fires_on_a_crate_without_a_line_and_a_line_without_a_crate() {
        let mut workspace = layered_workspace();
        workspace.push(package("servicenow-new", vec![]));
        let with_ghost: &[(&str, &[&str])] = &[
            ("servicenow-table", &["servicenow-http", "serde"]),
            ("servicenow-http", &["http"]),
            ("servicenow-gone", &[]),
        ];
        let found = problems(workspace, with_ghost);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found
                .iter()
                .any(|problem| problem.contains("line for servicenow-gone"))
        );
        assert!(
            found
                .iter()
                .any(|problem| problem.contains("crate servicenow-new has no line"))
        );
    }

    #[test]
    fn the_emulator_rule_fires_on_any_kind_of_dependency_on_a_client_crate() {
        let allowed: &[(&str, &[&str])] = &[("servicenow-emulator", &["hyper"])];
        let independent = package("servicenow-emulator", vec![dependency("hyper", None)]);
        assert_eq!(problems(vec![independent], allowed), Vec::<String>::new());
        let sharing = package(
            "servicenow-emulator",
            vec![
                dependency("hyper", None),
                dependency("servicenow-oauth", Some("dev")),
            ],
        );
        let found = problems(vec![sharing], allowed);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains(
                "rule `emulator-independent`: servicenow-emulator depends on servicenow-oauth"
            ),
            "{found:?}"
        );
    }

    #[test]
    fn the_sans_io_feature_rule_fires_on_every_way_to_the_os_rng() {
        let allowed: &[(&str, &[&str])] = &[(
            "servicenow-auth",
            &["rand", "rand_core", "rand_chacha", "getrandom"],
        )];
        let pure = package(
            "servicenow-auth",
            vec![
                json!({ "name": "rand_core", "kind": null, "features": [], "uses_default_features": true }),
                json!({ "name": "rand_chacha", "kind": null, "features": [], "uses_default_features": false }),
                json!({ "name": "rand", "kind": null, "features": ["alloc"], "uses_default_features": false }),
            ],
        );
        let sans_io_problems = |found: Vec<String>| -> Vec<String> {
            found
                .into_iter()
                .filter(|problem| problem.starts_with("rule `sans-io`"))
                .collect()
        };
        assert_eq!(
            sans_io_problems(problems(vec![pure], allowed)),
            Vec::<String>::new()
        );
        let mut impure = package(
            "servicenow-auth",
            vec![
                json!({ "name": "rand_core", "kind": null, "features": ["os_rng"], "uses_default_features": true }),
                json!({ "name": "rand_chacha", "kind": null, "features": [], "uses_default_features": false }),
                json!({ "name": "rand", "kind": null, "features": [], "uses_default_features": true }),
                dependency("getrandom", None),
            ],
        );
        impure["features"] = json!({ "seed-from-os": ["rand_chacha/os_rng"] });
        let found = sans_io_problems(problems(vec![impure], allowed));
        assert_eq!(found.len(), 4, "{found:?}");
        for expected in [
            "enables rand_core's `os_rng` feature",
            "uses rand's default features",
            "depends on getrandom",
            "its feature `seed-from-os` enables `rand_chacha/os_rng`",
        ] {
            assert!(
                found.iter().any(|problem| problem.contains(expected)),
                "{expected}: {found:?}"
            );
        }
    }
}

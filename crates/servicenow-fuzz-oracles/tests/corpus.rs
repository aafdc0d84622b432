//! Every committed fuzz seed and regression input (`fuzz/corpus/<target>/`), and every crash, leak, timeout or out-of-memory input a local fuzzing run left in `fuzz/artifacts/<target>/`, replayed through its target's oracle by `cargo test`.

use std::{
    fs,
    panic::{AssertUnwindSafe, catch_unwind},
    path::{Path, PathBuf},
};

use servicenow_fuzz_oracles::{Oracle, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files directly inside `dir` (sorted), or none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `oracle` on every input, returning `path: panic message` for each that fails.
fn replay(oracle: Oracle, inputs: &[PathBuf]) -> Vec<String> {
    let mut failures = Vec::new();
    for path in inputs {
        let data =
            fs::read(path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| oracle(&data))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{}: {message}", path.display()));
        }
    }
    failures
}

#[test]
fn every_seed_and_regression_input_holds_its_targets_properties() {
    let mut replayed = 0;
    let mut failures = Vec::new();
    for (target, oracle) in TARGETS {
        let seeds = files(&fuzz_dir().join("corpus").join(target));
        assert!(!seeds.is_empty(), "fuzz/corpus/{target}/ has no seed");
        replayed += seeds.len();
        failures.extend(replay(*oracle, &seeds));
    }
    eprintln!("replayed {replayed} committed inputs");
    assert!(
        failures.is_empty(),
        "inputs that break their target's properties:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_crash_input_of_a_local_fuzzing_run_is_replayed() {
    let mut failures = Vec::new();
    for (target, oracle) in TARGETS {
        // libFuzzer names what it saves `crash-…`, `leak-…`, `timeout-…`, `oom-…`, `slow-unit-…`.
        let artifacts: Vec<PathBuf> = files(&fuzz_dir().join("artifacts").join(target))
            .into_iter()
            .filter(|path| {
                let name = path
                    .file_name()
                    .and_then(|name| name.to_str())
                    .unwrap_or_default();
                ["crash-", "leak-", "timeout-", "oom-", "slow-unit-"]
                    .iter()
                    .any(|prefix| name.starts_with(prefix))
            })
            .collect();
        failures.extend(replay(*oracle, &artifacts));
    }
    assert!(
        failures.is_empty(),
        "inputs a fuzzing run saved still break their target (fix the code, then commit the input \
         to fuzz/corpus/<target>/ as regression_<what>):\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_corpus_directory_and_every_fuzz_target_has_an_oracle() {
    let names = |dir: &str, keep: fn(&Path) -> Option<String>| -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(fuzz_dir().join(dir))
            .expect("fuzz/ is part of the repository")
            .filter_map(|entry| keep(&entry.expect("a directory entry").path()))
            .collect();
        names.sort();
        names
    };
    let oracles: Vec<String> = TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect();
    let corpora = names("corpus", |path| {
        path.is_dir()
            .then(|| path.file_name()?.to_str().map(str::to_owned))
            .flatten()
    });
    let targets = names("fuzz_targets", |path| {
        path.file_stem()
            .and_then(|stem| stem.to_str())
            .map(str::to_owned)
    });
    assert_eq!(corpora, oracles, "fuzz/corpus/ and the oracles differ");
    assert_eq!(
        targets, oracles,
        "fuzz/fuzz_targets/ and the oracles differ"
    );
}

#[test]
fn the_link_oracle_judges_origin_by_scheme_host_and_port() {
    use servicenow_fuzz_oracles::link_header::{link_urls, on_origin};
    let instance = "https://dev1.service-now.com";
    assert!(on_origin(
        instance,
        "https://dev1.service-now.com:443/api/now/table/incident"
    ));
    assert!(on_origin(
        instance,
        "/api/now/table/incident?sysparm_offset=10"
    ));
    assert!(!on_origin(instance, "https://dev1.service-now.com:444/api"));
    assert!(!on_origin(instance, "http://dev1.service-now.com/api"));
    assert!(!on_origin(instance, "https://dev2.service-now.com/api"));
    assert!(!on_origin(instance, "//evil.example/api"));
    assert_eq!(
        link_urls("<a<b>;rel=\"next\",<c>;rel=\"last\""),
        ["a<b", "c"],
        "a `<` inside a URL is part of it"
    );
}

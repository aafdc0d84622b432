//! `cargo xtask mutants`: deliberate bugs put into the authentication machine one at a time,
//! each of which the property tests of `servicenow-auth` must catch.
//!
//! Each mutation is (file, exact text, replacement). The text must occur exactly once in the
//! file, or the run fails before changing anything: a mutation whose anchor drifted away is a
//! broken check, not a surviving mutant. A mutation is applied in place, the property tests run
//! (`cargo test -p servicenow-auth --test properties`, `PROPTEST_CASES` 64 unless set), and the
//! file is restored by a guard whatever happens; a copy of the original is kept under
//! `target/mutants/` first, so that a run killed half-way is repaired by the next one. The
//! property tests' saved failures (`tests/proptest-regressions/`) are restored the same way, so
//! a mutant's failures are not replayed against the real machine.
//!
//! The run first checks that the properties pass on the machine as it is, then prints a kill
//! table and fails if a mutation survives or does not compile.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// One deliberate bug.
struct Mutation {
    /// What the bug does, in words.
    name: &'static str,
    /// The file, relative to `crates/servicenow-auth/src/`.
    file: &'static str,
    /// The exact text to replace (must occur exactly once).
    find: &'static str,
    replace: &'static str,
}

const MUTATIONS: &[Mutation] = &[
    Mutation {
        name: "a second token request while one is in flight",
        file: "lifecycle.rs",
        find: "        if self.token_request.is_some() {\n            return Ok(());\n        }\n        if let Some(exchange)",
        replace: "        if let Some(exchange)",
    },
    Mutation {
        name: "half the skew before expiry",
        file: "lifecycle.rs",
        find: "let skew = self.config.timing.refresh_skew.min(lifetime / 2);",
        replace: "let skew = self.config.timing.refresh_skew.min(lifetime / 2) / 2;",
    },
    Mutation {
        name: "a new token handed out before its Persist is polled",
        file: "machine.rs",
        find: "        if self.unpolled_persists > 0 {\n            return None;\n        }\n",
        replace: "",
    },
    Mutation {
        name: "a refresh without refresh_token drops the old one",
        file: "lifecycle.rs",
        find: "(None, old) if purpose == Purpose::Refresh => old,",
        replace: "(None, old) if purpose == Purpose::Exchange => old,",
    },
    Mutation {
        name: "the same refresh token string starts a new lifetime",
        file: "lifecycle.rs",
        find: "            (Some(new), Some(old)) if new.secret() == old.token().secret() => Some(old),\n",
        replace: "",
    },
    Mutation {
        name: "a 401 for an older token refuses the current one",
        file: "lifecycle.rs",
        find: "            if installed.id == token_id {",
        replace: "            if installed.id >= token_id {",
    },
    Mutation {
        name: "a 401 for the current token is ignored",
        file: "lifecycle.rs",
        find: "                installed.refused = true;",
        replace: "                installed.refused = false;",
    },
    Mutation {
        name: "full jitter instead of equal jitter (retries below half a step)",
        file: "backoff.rs",
        find: "        half + uniform_up_to(step - half, rng)",
        replace: "        uniform_up_to(step, rng) + (half - half)",
    },
    Mutation {
        name: "Retry-After believed beyond the backoff cap",
        file: "schedule.rs",
        find: "            delay = delay.max(retry_after.min(backoff.max));",
        replace: "            delay = delay.max(retry_after);",
    },
    Mutation {
        name: "token requests while re-authorization is required",
        file: "schedule.rs",
        find: "        self.reauthorization.is_none() && self.retry_at.is_none_or(|retry_at| retry_at <= now)",
        replace: "        self.retry_at.is_none_or(|retry_at| retry_at <= now)",
    },
    Mutation {
        name: "a retry up to a second before its backoff ends",
        file: "schedule.rs",
        find: "        self.reauthorization.is_none() && self.retry_at.is_none_or(|retry_at| retry_at <= now)",
        replace: "        self.reauthorization.is_none()\n            && self\n                .retry_at\n                .is_none_or(|retry_at| retry_at <= now.saturating_add(Duration::from_secs(1)))",
    },
    Mutation {
        name: "logout does not revoke the refresh token",
        file: "logout.rs",
        find: "let refresh_token = set.refresh_token().map(|record| record.token().clone());",
        replace: "let refresh_token = set.refresh_token().map(|record| record.token().clone()).filter(|_| false);",
    },
    Mutation {
        name: "a success leaves a wished-for acquisition (the bug the model found)",
        file: "schedule.rs",
        find: "        self.retry_at = None;\n        self.acquisition_wanted = false;\n    }\n\n    /// A login completed",
        replace: "        self.retry_at = None;\n    }\n\n    /// A login completed",
    },
    Mutation {
        name: "the proactive refresh after the skew point instead of before",
        file: "lifecycle.rs",
        find: "let refresh_at = usable_until.saturating_sub(jitter);",
        replace: "let refresh_at = usable_until.saturating_add(jitter);",
    },
    Mutation {
        name: "the answer to a superseded request is used",
        file: "lifecycle.rs",
        find: "        if request.superseded {\n            return;\n        }\n",
        replace: "",
    },
    Mutation {
        name: "a request is timed out a millisecond late",
        file: "lifecycle.rs",
        find: ".is_some_and(|request| self.now >= request.deadline)",
        replace: ".is_some_and(|request| self.now > request.deadline)",
    },
    Mutation {
        name: "EnsureFresh with a usable token does not send a due refresh (needs a Timeout nudge)",
        file: "machine.rs",
        find: "        self.advance_logouts()?;\n        self.schedule_token_request()\n",
        replace: "        self.advance_logouts()?;\n        if matches!(self.outputs.back(), Some(Output::Event(Event::TokenReady { .. }))) {\n            return Ok(());\n        }\n        self.schedule_token_request()\n",
    },
];

/// Cases per property for the mutants run, unless `PROPTEST_CASES` says otherwise.
const DEFAULT_CASES: &str = "64";

/// One mutation's fate.
struct Outcome {
    name: &'static str,
    /// The failing tests, or empty: the mutation survived.
    killed_by: Vec<String>,
    compiled: bool,
    took: Duration,
}

pub(crate) fn run(root: &Path, arguments: &[String]) -> anyhow::Result<()> {
    if let Some(unknown) = arguments.first() {
        bail!("mutants: unknown argument `{unknown}` (the task takes none)");
    }
    let source_dir = root.join("crates/servicenow-auth/src");
    let regressions = root.join("crates/servicenow-auth/tests/proptest-regressions/main.txt");
    let backup_dir = root.join("target/mutants");
    std::fs::create_dir_all(&backup_dir)
        .with_context(|| format!("creating {}", backup_dir.display()))?;
    repair_interrupted_run(&backup_dir)?;
    check_anchors(&source_dir)?;
    let cases = std::env::var("PROPTEST_CASES").unwrap_or_else(|_| DEFAULT_CASES.to_owned());
    eprintln!(
        "mutants: {} mutations, PROPTEST_CASES={cases} per property",
        MUTATIONS.len()
    );
    let started = Instant::now();
    let _restore_regressions = Restore::capture(&regressions, &backup_dir)?;
    let baseline = run_properties(root, "no mutation", &cases)?;
    if !baseline.compiled || !baseline.killed_by.is_empty() {
        bail!(
            "mutants: the property tests fail without any mutation ({:?}); fix that first",
            baseline.killed_by
        );
    }
    eprintln!(
        "mutants: without a mutation every property passes ({} s)",
        baseline.took.as_secs()
    );
    let mut outcomes = Vec::new();
    for (number, mutation) in MUTATIONS.iter().enumerate() {
        eprintln!(
            "mutants: [{}/{}] {}",
            number + 1,
            MUTATIONS.len(),
            mutation.name
        );
        let file = source_dir.join(mutation.file);
        let _restore_source = Restore::capture(&file, &backup_dir)?;
        let _restore_regressions = Restore::capture(&regressions, &backup_dir)?;
        let original = std::fs::read_to_string(&file)?;
        std::fs::write(&file, original.replacen(mutation.find, mutation.replace, 1))
            .with_context(|| format!("writing the mutant of {}", file.display()))?;
        outcomes.push(run_properties(root, mutation.name, &cases)?);
    }
    let table = kill_table(&outcomes, &cases, started.elapsed());
    #[allow(clippy::print_stdout, reason = "the kill table is this task's output")]
    {
        println!("{table}");
    }
    let survivors = outcomes
        .iter()
        .filter(|outcome| outcome.killed_by.is_empty())
        .count();
    if survivors > 0 {
        bail!("mutants: {survivors} mutation(s) survived or did not compile");
    }
    Ok(())
}

/// Fails unless every mutation's text occurs exactly once in its file.
fn check_anchors(source_dir: &Path) -> anyhow::Result<()> {
    for mutation in MUTATIONS {
        let file = source_dir.join(mutation.file);
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        let found = text.matches(mutation.find).count();
        if found != 1 {
            bail!(
                "mutants: the text of \"{}\" occurs {found} times in {} (it must occur once); update the mutation",
                mutation.name,
                file.display()
            );
        }
    }
    Ok(())
}

/// Runs the property tests against the mutated machine.
fn run_properties(root: &Path, name: &'static str, cases: &str) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["test", "-p", "servicenow-auth", "--test", "properties"])
        .env("PROPTEST_CASES", cases)
        .env("PROPTEST_MAX_SHRINK_ITERS", "64")
        .current_dir(root)
        .output()
        .context("running cargo test")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let compiled = !stderr.contains("error[E") && !stderr.contains("could not compile");
    let killed_by: Vec<String> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("test ")?.strip_suffix(" ... FAILED"))
        .map(str::to_owned)
        .collect();
    if output.status.success() != killed_by.is_empty() && compiled {
        bail!(
            "mutants: cargo test for \"{name}\" ended with {} but reported failures {killed_by:?}",
            output.status
        );
    }
    Ok(Outcome {
        name,
        killed_by: if compiled { killed_by } else { Vec::new() },
        compiled,
        took: started.elapsed(),
    })
}

fn kill_table(outcomes: &[Outcome], cases: &str, took: Duration) -> String {
    let mut table = String::new();
    let _ = writeln!(
        table,
        "| # | mutation | killed by | time |\n|---|---|---|---|"
    );
    for (number, outcome) in outcomes.iter().enumerate() {
        let verdict = if !outcome.compiled {
            "**did not compile**".to_owned()
        } else if outcome.killed_by.is_empty() {
            "**survived**".to_owned()
        } else {
            outcome
                .killed_by
                .iter()
                .map(|test| format!("`{test}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            table,
            "| {} | {} | {verdict} | {} s |",
            number + 1,
            outcome.name,
            outcome.took.as_secs()
        );
    }
    let killed = outcomes
        .iter()
        .filter(|outcome| !outcome.killed_by.is_empty())
        .count();
    let _ = write!(
        table,
        "\n{killed} of {} mutations killed, PROPTEST_CASES={cases}, {} s in all.",
        outcomes.len(),
        took.as_secs()
    );
    table
}

/// Puts a file back as it was (or removes it if it did not exist) when dropped, from a copy
/// kept under `target/mutants/` while the mutation is in place.
struct Restore {
    path: PathBuf,
    backup: PathBuf,
    original: Option<Vec<u8>>,
}

impl Restore {
    fn capture(path: &Path, backup_dir: &Path) -> anyhow::Result<Self> {
        let original = match std::fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => {
                return Err(error).with_context(|| format!("reading {}", path.display()));
            }
        };
        let backup = backup_dir.join(backup_name(path));
        if let Some(bytes) = &original {
            std::fs::write(&backup, bytes)
                .with_context(|| format!("backing up {}", path.display()))?;
            std::fs::write(
                backup.with_extension("path"),
                path.to_string_lossy().as_bytes(),
            )?;
        }
        Ok(Self {
            path: path.to_owned(),
            backup,
            original,
        })
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        let restored = match &self.original {
            Some(bytes) => std::fs::write(&self.path, bytes),
            None => match std::fs::remove_file(&self.path) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
                _ => Ok(()),
            },
        };
        match restored {
            Ok(()) => {
                let _ = std::fs::remove_file(&self.backup);
                let _ = std::fs::remove_file(self.backup.with_extension("path"));
            }
            Err(error) => eprintln!(
                "mutants: RESTORING {} FAILED ({error}); its original is {}",
                self.path.display(),
                self.backup.display()
            ),
        }
    }
}

fn backup_name(path: &Path) -> String {
    path.to_string_lossy()
        .chars()
        .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' })
        .collect::<String>()
        + ".orig"
}

/// Puts back every file a run killed half-way left mutated.
fn repair_interrupted_run(backup_dir: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(backup_dir)? {
        let backup = entry?.path();
        if backup
            .extension()
            .is_some_and(|extension| extension == "orig")
        {
            let target = std::fs::read_to_string(backup.with_extension("path"))
                .with_context(|| format!("reading where {} belongs", backup.display()))?;
            std::fs::copy(&backup, &target)
                .with_context(|| format!("restoring {target} from an interrupted run"))?;
            eprintln!("mutants: restored {target} left mutated by an interrupted run");
            std::fs::remove_file(&backup)?;
            std::fs::remove_file(backup.with_extension("path"))?;
        }
    }
    Ok(())
}

//! The feature check of the lean facade: this example's normal dependencies, resolved for it alone, hold neither SQLite nor reqwest (`cargo tree`, no build).

use std::process::Command;

#[test]
fn neither_sqlite_nor_reqwest_is_compiled() {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "--locked", "-p", "custom-transport"])
        .args(["-e", "normal", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    let tree = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let names: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split(' ').next())
        .collect();
    assert!(
        names.contains(&"servicenow") && names.contains(&"hyper"),
        "{tree}"
    );
    for unwanted in ["rusqlite", "libsqlite3-sys", "reqwest"] {
        assert!(
            !names.contains(&unwanted),
            "{unwanted} is compiled:\n{tree}"
        );
    }
}

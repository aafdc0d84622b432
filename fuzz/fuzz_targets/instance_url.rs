//! Fuzz target: instance URLs (`InstanceUrl::new`): whatever it accepts is an origin that parses back to itself.
//!
//! The properties live in `servicenow_fuzz_oracles::instance_url`, which `cargo test` also runs on
//! every seed and regression input of `fuzz/corpus/instance_url/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| servicenow_fuzz_oracles::instance_url::check(data));

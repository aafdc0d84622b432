//! Fuzz target: ServiceNow's error envelope `{"error":{"message","detail"},"status":"failure"}` with any status (`error_from_response`).
//!
//! The properties live in `servicenow_fuzz_oracles::table_error`, which `cargo test` also runs on
//! every seed and regression input of `fuzz/corpus/table_error/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| servicenow_fuzz_oracles::table_error::check(data));

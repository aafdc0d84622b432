//! Fuzz target: the redirect's query string and request target (`parse_callback_query`, `parse_callback_uri`).
//!
//! The properties live in `servicenow_fuzz_oracles::callback_query`, which `cargo test` also runs on
//! every seed and regression input of `fuzz/corpus/callback_query/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| servicenow_fuzz_oracles::callback_query::check(data));

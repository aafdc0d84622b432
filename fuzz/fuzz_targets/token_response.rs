//! Fuzz target: a 200 answer of the token endpoint (`parse_token_response`), whatever its body.
//!
//! The properties live in `servicenow_fuzz_oracles::token_response`, which `cargo test` also runs on
//! every seed and regression input of `fuzz/corpus/token_response/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| servicenow_fuzz_oracles::token_response::check(data));

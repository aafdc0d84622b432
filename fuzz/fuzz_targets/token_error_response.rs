//! Fuzz target: a failed token request (RFC 6749 §5.2 and ServiceNow's own shapes), with any status, `Retry-After` and body.
//!
//! The properties live in `servicenow_fuzz_oracles::token_error_response`, which `cargo test` also runs on
//! every seed and regression input of `fuzz/corpus/token_error_response/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| servicenow_fuzz_oracles::token_error_response::check(data));

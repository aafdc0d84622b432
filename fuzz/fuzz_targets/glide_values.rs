//! Fuzz target: glide date-times and ServiceNow's value shapes, each compared with a reference reading of the documented format.
//!
//! The properties live in `servicenow_fuzz_oracles::glide_values`, which `cargo test` also runs on
//! every seed and regression input of `fuzz/corpus/glide_values/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| servicenow_fuzz_oracles::glide_values::check(data));

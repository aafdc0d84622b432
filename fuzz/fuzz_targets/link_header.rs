//! Fuzz target: the Table API `Link` header through `TableApi::parse_list`: every URL on another origin (scheme, host or port) is refused.
//!
//! The properties live in `servicenow_fuzz_oracles::link_header`, which `cargo test` also runs on
//! every seed and regression input of `fuzz/corpus/link_header/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| servicenow_fuzz_oracles::link_header::check(data));

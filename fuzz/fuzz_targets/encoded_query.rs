//! Fuzz target: the emulator's encoded-query parser (`EncodedQuery::parse`), which round-trips through the documented syntax, and its value order.
//!
//! The properties live in `servicenow_fuzz_oracles::encoded_query`, which `cargo test` also runs on
//! every seed and regression input of `fuzz/corpus/encoded_query/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| servicenow_fuzz_oracles::encoded_query::check(data));

//! Fuzz target: a Table API list page (`{"result":[…]}`, `X-Total-Count`) into dynamic and typed records.
//!
//! The properties live in `servicenow_fuzz_oracles::table_page`, which `cargo test` also runs on
//! every seed and regression input of `fuzz/corpus/table_page/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| servicenow_fuzz_oracles::table_page::check(data));

//! Fuzz target: a stored token envelope, decrypted (`SealedStore::load`) and decoded as the facade does (`TokenSet`, `PendingLogin` from JSON).
//!
//! The properties live in `servicenow_fuzz_oracles::stored_envelope`, which `cargo test` also runs on
//! every seed and regression input of `fuzz/corpus/stored_envelope/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| servicenow_fuzz_oracles::stored_envelope::check(data));

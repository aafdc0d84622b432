//! The properties the fuzz targets check, one module per target, shared by the libFuzzer targets in `fuzz/` and by the workspace test that replays every committed seed, regression input and local crash artifact (`tests/corpus.rs`).
//!
//! Each `check` panics when a property does not hold, which is how libFuzzer learns of a
//! failure; the replay test catches the panic and names the input. `fuzz/` lives outside the
//! workspace (libFuzzer's flags must not reach it), so this crate is where both sides meet.

pub mod callback_query;
pub mod encoded_query;
pub mod glide_values;
pub mod instance_url;
pub mod link_header;
pub mod stored_envelope;
pub mod table_error;
pub mod table_page;
pub mod token_error_response;
pub mod token_response;

/// An oracle: checks one input, panicking when a property does not hold.
pub type Oracle = fn(&[u8]);

/// Every fuzz target by name (the name of its file in `fuzz/fuzz_targets/` and of its seed
/// directory in `fuzz/corpus/`), with its oracle.
pub const TARGETS: &[(&str, Oracle)] = &[
    ("callback_query", callback_query::check),
    ("encoded_query", encoded_query::check),
    ("glide_values", glide_values::check),
    ("instance_url", instance_url::check),
    ("link_header", link_header::check),
    ("stored_envelope", stored_envelope::check),
    ("table_error", table_error::check),
    ("table_page", table_page::check),
    ("token_error_response", token_error_response::check),
    ("token_response", token_response::check),
];

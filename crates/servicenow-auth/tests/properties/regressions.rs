//! Failing cases the properties found, kept as named stories so that they run on every
//! `cargo test` whatever the case count and whatever the saved seeds.

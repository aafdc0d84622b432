//! Fuzz target: the emulator's encoded-query parser and evaluator (`EncodedQuery::parse`, `matches`, `retain_fields`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use servicenow_emulator::query::{EncodedQuery, compare_values};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(mut query) = EncodedQuery::parse(text) {
        // Evaluate against rows whose values come from the query text itself.
        let values: Vec<&str> = text.split(['^', '=']).collect();
        for (index, _) in values.iter().enumerate().take(4) {
            let _ = query.matches(|field| {
                values
                    .get((field.len() + index) % values.len().max(1))
                    .copied()
                    .unwrap_or("")
            });
        }
        let _ = query.matches(|_| "");
        let _ = query.is_unconditional();
        query.retain_fields(|field| field.len() % 2 == 0);
        let _ = query.matches(str::to_owned);
    }
    // The value ordering used by ORDERBY is antisymmetric.
    if let Some((left, right)) = text.split_once('\u{0}') {
        assert_eq!(compare_values(left, right), compare_values(right, left).reverse());
    }
});

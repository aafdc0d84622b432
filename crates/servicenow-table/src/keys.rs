//! sys_ids as 128-bit keys: a sys_id is 32 hexadecimal digits, and 32 lowercase digits order as
//! text the way their numbers do, so key arithmetic (splitting an export's ranges, sizing a
//! stream's windows) yields bounds that the instance compares like sys_ids.

/// A sys_id as a number (`None` for text that is not 32 hexadecimal digits).
pub(crate) fn key_of(sys_id: &str) -> Option<u128> {
    (sys_id.len() == 32)
        .then(|| u128::from_str_radix(sys_id, 16).ok())
        .flatten()
}

/// The 32-digit lowercase text of a key: a bound that compares like a sys_id.
pub(crate) fn text_of(key: u128) -> String {
    format!("{key:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_like_sys_ids_and_round_trip() {
        let (small, large) = (
            "0123456789abcdef0123456789abcdef",
            "f0000000000000000000000000000000",
        );
        assert!(key_of(small) < key_of(large));
        assert_eq!(text_of(key_of(small).unwrap()), small);
        assert_eq!(key_of("xyz"), None);
        assert_eq!(key_of("0123456789abcdef0123456789abcdeg"), None);
    }
}

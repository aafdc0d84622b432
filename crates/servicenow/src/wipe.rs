//! Wiping buffers that carried a secret, where their types allow it: a `Bytes` is wiped only when
//! nothing else holds it (a clone still alive in a request, a transport or an HTTP stack shares the
//! memory and cannot be written).

use bytes::Bytes;
use zeroize::Zeroize as _;

/// Overwrites `bytes` with zeros if this is the last handle on its memory (afterwards it reads as
/// zeros of the same length); returns whether it did.
pub(crate) fn wipe_bytes(bytes: &mut Bytes) -> bool {
    match std::mem::take(bytes).try_into_mut() {
        Ok(mut owned) => {
            owned.as_mut().zeroize();
            *bytes = owned.freeze();
            true
        }
        Err(shared) => {
            *bytes = shared;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_wiped_only_when_nothing_else_holds_them() {
        let mut kept = Bytes::from(b"refresh_token=secret".to_vec());
        let in_flight = kept.clone();
        assert!(
            !wipe_bytes(&mut kept),
            "a clone in flight shares the memory"
        );
        assert_eq!(&in_flight[..], b"refresh_token=secret");
        drop(in_flight);
        assert!(wipe_bytes(&mut kept));
        assert_eq!(kept.len(), 20);
        assert!(kept.iter().all(|byte| *byte == 0), "{kept:?}");
    }
}

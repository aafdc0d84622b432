//! The `state` parameter (RFC 6749 §4.1.1, §10.12): a one-time CSRF binding, generated from the
//! caller's RNG and compared in constant time.

use rand_core::CryptoRng;
use zeroize::Zeroize as _;

use crate::secret::{new_secret_type, non_empty};

new_secret_type! {
    /// The `state` value of one authorization request, echoed back in the callback.
    ///
    /// Treated as a secret (it binds the callback to the user agent, RFC 6749 §10.12), compared
    /// in constant time through `==`. [`State::generate`] makes values of 32 alphanumeric
    /// characters (about 190 bits, above RFC 6749 §10.10's 160-bit recommendation); ServiceNow's
    /// docs say `state` should contain no special characters. [`State::new`] accepts any
    /// non-empty value, because a callback's `state` is whatever came back and must merely be
    /// compared.
    #[derive(Clone)]
    State, what = "state", validate = non_empty,
}

impl State {
    /// How many characters [`State::generate`] produces.
    pub const GENERATED_LENGTH: usize = 32;

    /// Generates a fresh state of [`State::GENERATED_LENGTH`] characters from
    /// `[A-Za-z0-9]`, drawn uniformly (by rejection sampling) from the caller's CSPRNG.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        const ALPHABET: &[u8; 62] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        // 248 = 4 * 62: bytes at or above it are rejected so that every character is equally likely.
        const LIMIT: u8 = 248;
        let mut value = zeroize::Zeroizing::new(String::with_capacity(Self::GENERATED_LENGTH));
        let mut buffer = zeroize::Zeroizing::new([0_u8; 64]);
        while value.len() < Self::GENERATED_LENGTH {
            rng.fill_bytes(buffer.as_mut_slice());
            for &byte in buffer.iter().filter(|&&byte| byte < LIMIT) {
                if value.len() == Self::GENERATED_LENGTH {
                    break;
                }
                value.push(char::from(ALPHABET[usize::from(byte % 62)]));
            }
        }
        Self(value)
    }

    /// The state for 32 given random bytes: their lowercase hex encoding (64 characters of
    /// `[0-9a-f]`, 256 bits). The bytes must come from a CSPRNG; this is the twin of
    /// [`PkceVerifier::from_bytes`](crate::PkceVerifier::from_bytes), for callers whose RNG is
    /// not a `rand_core` 0.9 one (32 bytes from `getrandom` will do).
    ///
    /// ```
    /// use servicenow_oauth::State;
    ///
    /// let state = State::from_bytes([0xab; 32]);
    /// assert_eq!(state.secret(), "ab".repeat(32));
    /// ```
    #[must_use]
    pub fn from_bytes(mut bytes: [u8; 32]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut value = zeroize::Zeroizing::new(String::with_capacity(64));
        for &byte in &bytes {
            value.push(char::from(HEX[usize::from(byte >> 4)]));
            value.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        bytes.zeroize();
        Self(value)
    }
}

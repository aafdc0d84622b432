//! PKCE S256 and `state`: generated from the caller's RNG, with the shapes RFC 7636 and
//! ServiceNow ask for.

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng as _;
use servicenow_oauth::{PkceChallenge, PkceVerifier, State};
use sha2::Digest as _;

use crate::support::seeded_rng;

#[test]
fn rfc7636_appendix_b_challenge_through_the_public_api() {
    let verifier = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
    assert_eq!(
        verifier.challenge(),
        PkceChallenge::new("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").unwrap()
    );
    assert_eq!(PkceChallenge::METHOD, "S256");
}

#[test]
fn a_generated_verifier_is_43_unreserved_characters_and_fresh_each_time() {
    let mut rng = seeded_rng();
    let first = PkceVerifier::generate(&mut rng);
    let second = PkceVerifier::generate(&mut rng);
    assert_eq!(first.secret().len(), 43);
    assert!(
        first
            .secret()
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    );
    assert_ne!(first.secret(), second.secret());
    assert_ne!(first.challenge(), second.challenge());
}

#[test]
fn the_same_seed_gives_the_same_verifier_and_state() {
    let verifier = |seed| {
        PkceVerifier::generate(&mut ChaCha20Rng::seed_from_u64(seed))
            .secret()
            .to_owned()
    };
    let state = |seed| {
        State::generate(&mut ChaCha20Rng::seed_from_u64(seed))
            .secret()
            .to_owned()
    };
    assert_eq!(verifier(1), verifier(1));
    assert_ne!(verifier(1), verifier(2));
    assert_eq!(state(1), state(1));
    assert_ne!(state(1), state(2));
}

#[test]
fn a_generated_state_is_32_alphanumeric_characters() {
    let mut rng = seeded_rng();
    let states: Vec<State> = (0..50).map(|_| State::generate(&mut rng)).collect();
    for state in &states {
        assert_eq!(state.secret().len(), State::GENERATED_LENGTH);
        assert!(
            state
                .secret()
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric()),
            "{}",
            state.secret()
        );
    }
    // 32 characters from 62 carry 32 * log2(62) ≈ 190 bits, above RFC 6749 §10.10's 160.
    assert!(32.0 * 62_f64.log2() > 160.0);
    for (index, state) in states.iter().enumerate() {
        assert!(
            states[index + 1..].iter().all(|other| other != state),
            "states repeat"
        );
    }
}

#[test]
fn generated_states_use_the_whole_alphabet() {
    let mut rng = seeded_rng();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..100 {
        seen.extend(State::generate(&mut rng).secret().chars());
    }
    assert_eq!(
        seen.len(),
        62,
        "every letter and digit appears over 3200 draws"
    );
}

proptest! {
    #[test]
    fn any_32_bytes_give_a_valid_verifier_whose_challenge_is_its_sha256(bytes in any::<[u8; 32]>()) {
        let verifier = PkceVerifier::from_bytes(bytes);
        prop_assert!(PkceVerifier::new(verifier.secret()).is_ok());
        let expected = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            sha2::Sha256::digest(verifier.secret().as_bytes()),
        );
        let challenge = verifier.challenge();
        prop_assert_eq!(challenge.as_str(), expected.as_str());
    }
}

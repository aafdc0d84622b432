//! Tests of the sealing layer: round trips, tampering, wrong keys, formats and keyrings.

use super::*;

fn alice() -> CredentialKey {
    CredentialKey::new("https://dev1.service-now.com", "client-1", "alice").expect("valid key")
}

fn bob() -> CredentialKey {
    CredentialKey::new("https://dev1.service-now.com", "client-1", "bob").expect("valid key")
}

fn keyring(id: u32, fill: u8) -> Keyring {
    Keyring::new(SealingKey::from_bytes(id, [fill; 32]))
}

fn secret(text: &str) -> SecretBytes {
    SecretBytes::new(text.as_bytes().to_vec())
}

#[test]
fn a_sealed_value_opens_to_the_same_bytes_and_hides_them() {
    let keys = keyring(1, 7);
    let key = alice();
    let envelope = keys
        .seal(&SealContext::Credential(&key), &secret("refresh-token-xyz"))
        .expect("seal");
    assert!(
        !envelope
            .windows(17)
            .any(|window| window == b"refresh-token-xyz")
    );
    let opened = keys
        .open(&SealContext::Credential(&key), &envelope)
        .expect("open");
    assert_eq!(opened.expose_secret(), b"refresh-token-xyz");
}

#[test]
fn two_seals_of_one_value_differ_because_each_write_draws_a_nonce() {
    let keys = keyring(1, 7);
    let key = alice();
    let first = keys
        .seal(&SealContext::Credential(&key), &secret("same"))
        .expect("seal");
    let second = keys
        .seal(&SealContext::Credential(&key), &secret("same"))
        .expect("seal");
    assert_ne!(first, second);
}

#[test]
fn a_value_moved_to_another_credential_or_to_a_pending_slot_does_not_open() {
    let keys = keyring(1, 7);
    let (alice, bob) = (alice(), bob());
    let envelope = keys
        .seal(&SealContext::Credential(&alice), &secret("tokens"))
        .expect("seal");
    assert!(matches!(
        keys.open(&SealContext::Credential(&bob), &envelope),
        Err(StoreError::Decrypt)
    ));
    let pending = PendingId::new("p1").expect("valid id");
    assert!(matches!(
        keys.open(&SealContext::Pending(&alice, &pending), &envelope),
        Err(StoreError::Decrypt)
    ));
}

#[test]
fn a_wrong_key_with_the_same_id_is_a_decrypt_error_and_another_id_is_unknown() {
    let key = alice();
    let envelope = keyring(1, 7)
        .seal(&SealContext::Credential(&key), &secret("tokens"))
        .expect("seal");
    assert!(matches!(
        keyring(1, 8).open(&SealContext::Credential(&key), &envelope),
        Err(StoreError::Decrypt)
    ));
    assert!(matches!(
        keyring(2, 7).open(&SealContext::Credential(&key), &envelope),
        Err(StoreError::UnknownKeyId { key_id: 1 })
    ));
}

#[test]
fn malformed_envelopes_are_typed_errors() {
    let keys = keyring(1, 7);
    let key = alice();
    let context = SealContext::Credential(&key);
    let envelope = keys.seal(&context, &secret("tokens")).expect("seal");
    assert!(matches!(
        keys.open(&context, &[]),
        Err(StoreError::Truncated { len: 0 })
    ));
    assert!(matches!(
        keys.open(&context, &envelope[..20]),
        Err(StoreError::Truncated { len: 20 })
    ));
    let mut unknown_format = envelope.clone();
    unknown_format[0] = 9;
    assert!(matches!(
        keys.open(&context, &unknown_format),
        Err(StoreError::UnknownFormat { version: 9 })
    ));
    for index in 5..envelope.len() {
        let mut flipped = envelope.clone();
        flipped[index] ^= 0x01;
        assert!(
            matches!(keys.open(&context, &flipped), Err(StoreError::Decrypt)),
            "byte {index}"
        );
    }
    // A shortened ciphertext that is still long enough to parse fails authentication.
    assert!(matches!(
        keys.open(&context, &envelope[..envelope.len() - 1]),
        Err(StoreError::Decrypt)
    ));
}

#[test]
fn rotation_opens_old_values_and_seals_new_ones_with_the_current_key() {
    let key = alice();
    let context = SealContext::Credential(&key);
    let old = SealingKey::from_bytes(1, [1; 32]);
    let new = SealingKey::from_bytes(2, [2; 32]);
    let sealed_by_old = Keyring::new(old.clone())
        .seal(&context, &secret("old"))
        .expect("seal");
    let rotated = Keyring::new(new.clone())
        .with_previous(old)
        .expect("distinct ids");
    assert_eq!(
        rotated
            .open(&context, &sealed_by_old)
            .expect("old key still opens")
            .expose_secret(),
        b"old"
    );
    let sealed_after = rotated.seal(&context, &secret("new")).expect("seal");
    assert_eq!(sealed_after[1..5], 2u32.to_be_bytes());
    assert!(Keyring::new(new).open(&context, &sealed_after).is_ok());
}

#[test]
fn a_keyring_refuses_two_keys_with_one_id() {
    let result = keyring(1, 1).with_previous(SealingKey::from_bytes(1, [2; 32]));
    assert!(matches!(result, Err(StoreError::InvalidKey { .. })));
}

/// A format-1 envelope as builds before key rotation wrote it (associated data bound to the
/// credential key itself), made by hand.
fn format_1_envelope(key: &SealingKey, credential: &CredentialKey, plaintext: &[u8]) -> Vec<u8> {
    let nonce = [3u8; NONCE_LEN];
    let mut envelope = vec![FORMAT_V1];
    envelope.extend_from_slice(&key.id().to_be_bytes());
    let mut aad = envelope.clone();
    aad.extend_from_slice(b"servicenow-store/v1/credential\0");
    aad.extend_from_slice(&credential.canonical_bytes());
    let ciphertext = key
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .expect("encrypt");
    envelope.extend_from_slice(&nonce);
    envelope.extend_from_slice(&ciphertext);
    envelope
}

#[test]
fn format_1_envelopes_still_open_and_new_ones_are_format_2_bound_to_the_storage_id() {
    let key = SealingKey::from_bytes(5, [5; 32]);
    let keys = Keyring::new(key.clone());
    let alice = alice();
    let old = format_1_envelope(&key, &alice, b"written by an older build");
    let opened = keys
        .open(&SealContext::Credential(&alice), &old)
        .expect("format 1 still opens");
    assert_eq!(opened.expose_secret(), b"written by an older build");
    // A rotation knows only the storage id: format 1 cannot be opened that way.
    let id = alice.storage_id();
    assert!(matches!(
        keys.open(&SealContext::Stored(&id), &old),
        Err(StoreError::UnknownFormat { version: 1 })
    ));

    let new = keys
        .seal(&SealContext::Credential(&alice), &secret("tokens"))
        .expect("seal");
    assert_eq!(new[0], FORMAT_V2);
    let by_id = keys
        .open(&SealContext::Stored(&id), &new)
        .expect("format 2 opens by storage id");
    assert_eq!(by_id.expose_secret(), b"tokens");
    let bob_id = bob().storage_id();
    assert!(matches!(
        keys.open(&SealContext::Stored(&bob_id), &new),
        Err(StoreError::Decrypt)
    ));
}

#[test]
fn generated_keys_get_distinct_random_ids_and_a_rotation_keeps_the_old_keys() {
    let first = Keyring::generate().expect("random");
    let second = Keyring::generate().expect("random");
    assert_ne!(first.current_key_id(), 0);
    assert_ne!(first.current_key_id(), second.current_key_id());
    let rotated = first.rotated().expect("random");
    assert_ne!(rotated.current_key_id(), first.current_key_id());
    assert_eq!(
        rotated.key_ids(),
        vec![rotated.current_key_id(), first.current_key_id()]
    );
    assert_eq!(
        rotated.current_only().key_ids(),
        vec![rotated.current_key_id()]
    );
    let fresh = SealingKey::generate_fresh(&[1, 2, 3]).expect("random");
    assert!(![0, 1, 2, 3].contains(&fresh.id()));
}

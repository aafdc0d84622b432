//! Tests of the sealing layer: round trips, tampering, wrong keys, rotation and key files.

use std::{fs, os::unix::fs::PermissionsExt};

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

#[test]
fn a_key_file_is_created_private_once_and_read_back() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("store.key");
    let created = SealingKey::load_or_create(&path, 3).expect("create");
    let mode = fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let loaded = SealingKey::load_or_create(&path, 99).expect("load");
    assert_eq!(loaded.id(), 3);
    assert_eq!(loaded.bytes.as_ref(), created.bytes.as_ref());
    assert!(!format!("{loaded:?}").contains(&format!("{:?}", &loaded.bytes[..4])));
}

#[test]
fn a_key_file_readable_by_others_is_refused_with_the_fix() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("store.key");
    SealingKey::load_or_create(&path, 1).expect("create");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let error = SealingKey::load(&path).expect_err("too open");
    assert!(matches!(error, StoreError::Permissions { mode: 0o644, .. }));
    assert!(error.to_string().contains("chmod 600"), "{error}");
}

#[test]
fn a_garbled_key_file_is_a_parse_error_that_does_not_echo_its_content() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("store.key");
    fs::write(&path, "{\"format\":1,\"key_id\":1,\"key\":\"c2hvcnQ=\"}").expect("write");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
    let error = SealingKey::load(&path).expect_err("short key");
    assert!(matches!(
        error,
        StoreError::KeyFile {
            operation: "parse",
            ..
        }
    ));
    fs::write(
        &path,
        "{\"format\":1,\"key_id\":\"secret-material\",\"key\":1}",
    )
    .expect("write");
    let error = SealingKey::load(&path).expect_err("wrong types");
    assert!(!error.to_string().contains("secret-material"), "{error}");
}

#[test]
fn processes_creating_one_key_file_at_once_all_get_the_same_key() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("store.key");
    let creators: Vec<_> = (0..8u32)
        .map(|id| {
            let path = path.clone();
            std::thread::spawn(move || {
                SealingKey::load_or_create(&path, id).expect("create or load")
            })
        })
        .collect();
    let keys: Vec<SealingKey> = creators
        .into_iter()
        .map(|creator| creator.join().expect("no panic"))
        .collect();
    let first = &keys[0];
    for key in &keys {
        assert_eq!(
            (key.id(), key.bytes.as_ref()),
            (first.id(), first.bytes.as_ref())
        );
    }
}

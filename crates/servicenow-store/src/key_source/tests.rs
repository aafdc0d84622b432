//! Tests of key sources: the key-set text, key files (private, atomic, never echoed), the
//! environment, and opening a store without ever making a key over existing ciphertext.

use std::{fs, os::unix::fs::PermissionsExt as _, sync::Arc};

use super::*;
use crate::{CredentialKey, MemoryBackend, SealedStore, SecretBytes, TokenStore as _};

fn credential(subject: &str) -> CredentialKey {
    CredentialKey::new("https://dev1.service-now.com", "client-1", subject).expect("valid key")
}

#[test]
fn a_key_set_reads_back_with_every_key_and_its_current_one() {
    let keyring = Keyring::generate()
        .expect("random")
        .rotated()
        .expect("random");
    let text = encode_key_set(&keyring);
    let read = parse_key_set(&text, "test").expect("parse");
    assert_eq!(read.key_ids(), keyring.key_ids());
    assert_eq!(read.current_key_id(), keyring.current_key_id());
}

#[test]
fn a_format_1_key_file_text_is_still_read() {
    let text = format!(
        "{{\"format\":1,\"key_id\":7,\"key\":\"{}\"}}",
        base64::engine::general_purpose::STANDARD.encode([1u8; 32])
    );
    assert_eq!(
        parse_key_set(&text, "test").expect("parse").key_ids(),
        vec![7]
    );
}

#[test]
fn a_garbled_key_set_is_a_typed_error_that_never_echoes_it() {
    for text in [
        "{\"format\":1,\"key_id\":1,\"key\":\"c2hvcnQ=\"}",
        "{\"format\":1,\"key_id\":\"secret-material\",\"key\":1}",
        "secret-material",
        "{\"format\":2,\"current\":3,\"keys\":[]}",
        "{\"format\":9}",
    ] {
        let error = parse_key_set(text, "the test source").expect_err(text);
        assert!(
            matches!(
                error,
                StoreError::KeySource {
                    operation: "parse",
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(!error.to_string().contains("secret-material"), "{error}");
        assert!(error.to_string().contains("the test source"), "{error}");
    }
}

#[tokio::test]
async fn a_key_file_is_written_private_and_one_readable_by_others_is_refused() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("store.key");
    let source = KeySource::colocated_file(&path);
    assert!(source.read().await.expect("absent is fine").is_none());
    let keyring = Keyring::generate().expect("random");
    source.write(&keyring).await.expect("write");
    let mode = fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let read = source.read().await.expect("read").expect("present");
    assert_eq!(read.key_ids(), keyring.key_ids());

    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let error = source.read().await.expect_err("too open");
    assert!(matches!(error, StoreError::Permissions { mode: 0o644, .. }));
    assert!(error.to_string().contains("chmod 600"), "{error}");
}

#[tokio::test]
async fn processes_creating_one_key_file_at_once_all_get_the_same_key() {
    let directory = tempfile::tempdir().expect("tempdir");
    let source = KeySource::colocated_file(directory.path().join("store.key"));
    let mut creators = Vec::new();
    for _ in 0..8 {
        let source = source.clone();
        creators.push(tokio::spawn(async move {
            source
                .create_first(&Keyring::generate().expect("random"))
                .await
                .expect("create or adopt")
        }));
    }
    let mut ids = Vec::new();
    for creator in creators {
        ids.push(creator.await.expect("no panic").current_key_id());
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
}

#[tokio::test]
async fn an_empty_store_gets_a_fresh_key_only_from_a_source_that_creates_keys() {
    let directory = tempfile::tempdir().expect("tempdir");
    let colocated = KeySource::colocated_file(directory.path().join("a.key"));
    let store = SealedStore::open(&colocated, Arc::new(MemoryBackend::new()))
        .await
        .expect("an empty store gets a key");
    assert!(directory.path().join("a.key").exists());
    assert_ne!(store.keyring().current_key_id(), 0);

    let given = KeySource::file(directory.path().join("given.key"));
    let error = SealedStore::open(&given, Arc::new(MemoryBackend::new()))
        .await
        .expect_err("a deployment's key is never invented");
    assert!(matches!(error, StoreError::KeySource { .. }), "{error:?}");
    assert!(!directory.path().join("given.key").exists());
    assert!(error.to_string().contains("given.key"), "{error}");
}

#[tokio::test]
async fn a_lost_key_over_existing_values_is_an_error_naming_the_key_id_and_the_source() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("store.key");
    let source = KeySource::colocated_file(&path);
    let backend: Arc<dyn crate::Backend> = Arc::new(MemoryBackend::new());
    let store = SealedStore::open(&source, Arc::clone(&backend))
        .await
        .expect("open");
    let key_id = store.keyring().current_key_id();
    store
        .save(
            &credential("alice"),
            SecretBytes::new(b"tokens".to_vec()),
            None,
        )
        .await
        .expect("save");

    fs::remove_file(&path).expect("the key file is lost");
    let error = SealedStore::open(&source, Arc::clone(&backend))
        .await
        .expect_err("no new key over existing ciphertext");
    match &error {
        StoreError::MissingKey { key_ids, looked_in } => {
            assert_eq!(key_ids, &vec![key_id]);
            assert!(looked_in.contains("store.key"), "{looked_in}");
        }
        other => panic!("expected MissingKey, got {other:?}"),
    }
    assert!(error.to_string().contains(&key_id.to_string()), "{error}");
    assert!(!path.exists(), "no key file was created over the data");

    // Another key in the source: reading the value names the missing id and the source.
    source
        .write(&Keyring::generate().expect("random"))
        .await
        .expect("write");
    let other = SealedStore::open(&source, backend).await.expect("open");
    let error = other
        .load(&credential("alice"))
        .await
        .expect_err("wrong key");
    assert!(
        matches!(&error, StoreError::MissingKey { key_ids, .. } if key_ids == &vec![key_id]),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_environment_variable_is_absent_when_unset_and_never_written() {
    // A variable name of this test alone; the CLI's tests set SN_STORE_KEY on `sn` itself
    // (this crate forbids unsafe code, so no test here sets a variable in its own process).
    let variable = "SN_STORE_KEY_TEST_UNSET_VARIABLE";
    let source = KeySource::environment(variable);
    assert!(source.read().await.expect("unset is absent").is_none());
    let error = source
        .write(&Keyring::generate().expect("random"))
        .await
        .expect_err("read-only");
    assert!(error.to_string().contains(variable), "{error}");
}

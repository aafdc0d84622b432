//! The file backend: the conformance suite, permissions, and corrupted or truncated files.

use std::{os::unix::fs::PermissionsExt, sync::Arc};

use servicenow_store::{
    CredentialKey, FileBackend, Keyring, SealedStore, SealingKey, SecretBytes, StoreError,
    TokenStore, conformance,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_backend_passes_the_conformance_suite() {
    let directory = tempfile::tempdir().expect("tempdir");
    let backend = FileBackend::open(directory.path().join("tokens"))
        .await
        .expect("open");
    conformance::run_all(Arc::new(backend)).await;
}

#[tokio::test]
async fn the_directory_and_files_are_private() {
    let directory = tempfile::tempdir().expect("tempdir");
    let root = directory.path().join("tokens");
    let store = SealedStore::new(
        Keyring::new(SealingKey::from_bytes(1, [1; 32])),
        FileBackend::open(&root).await.expect("open"),
    );
    let key = CredentialKey::new("https://dev1.service-now.com", "client", "alice").expect("key");
    store
        .save(&key, SecretBytes::new(b"tokens".to_vec()), None)
        .await
        .expect("save");
    let lease = store
        .try_acquire_lease(&key, std::time::Duration::from_secs(60))
        .await
        .expect("lease");
    assert!(lease.is_some());
    assert_eq!(
        std::fs::metadata(&root)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    let mut files = 0;
    for entry in std::fs::read_dir(&root).expect("list") {
        let path = entry.expect("entry").path();
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
        files += 1;
    }
    assert_eq!(
        files, 3,
        "a credential file, its lock file and its lease file"
    );
}

#[tokio::test]
async fn a_directory_others_can_enter_is_refused() {
    let directory = tempfile::tempdir().expect("tempdir");
    let root = directory.path().join("tokens");
    std::fs::create_dir(&root).expect("mkdir");
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let error = FileBackend::open(&root).await.expect_err("too open");
    assert!(
        matches!(error, StoreError::Permissions { mode: 0o755, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn corrupted_and_truncated_files_are_typed_errors_and_stay_on_disk() {
    let directory = tempfile::tempdir().expect("tempdir");
    let root = directory.path().join("tokens");
    let store = SealedStore::new(
        Keyring::new(SealingKey::from_bytes(1, [1; 32])),
        FileBackend::open(&root).await.expect("open"),
    );
    let key = CredentialKey::new("https://dev1.service-now.com", "client", "alice").expect("key");
    store
        .save(&key, SecretBytes::new(b"tokens".to_vec()), None)
        .await
        .expect("save");
    let path = root.join(format!("{}.cred", key.storage_id()));
    let original = std::fs::read(&path).expect("read");
    let mut unknown_format = original.clone();
    unknown_format[8] = 0x42;
    let mut flipped = original.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let cases: [(&str, Vec<u8>); 5] = [
        ("empty file", Vec::new()),
        ("shorter than a version", vec![0, 0, 1]),
        (
            "truncated ciphertext",
            original[..original.len() / 2].to_vec(),
        ),
        ("unknown envelope format", unknown_format),
        ("flipped bit", flipped),
    ];
    for (name, bytes) in cases {
        std::fs::write(&path, &bytes).expect("vandalise");
        let error = store.load(&key).await.expect_err(name);
        assert!(
            matches!(
                error,
                StoreError::Corrupt { .. }
                    | StoreError::Truncated { .. }
                    | StoreError::UnknownFormat { version: 0x42 }
                    | StoreError::Decrypt
            ),
            "{name}: {error:?}"
        );
        assert_eq!(
            std::fs::read(&path).expect("still on disk"),
            bytes,
            "{name}: the file is untouched"
        );
    }
    std::fs::write(&path, &original).expect("restore");
    assert_eq!(
        store
            .load(&key)
            .await
            .expect("load")
            .expect("stored")
            .value
            .expose_secret(),
        b"tokens"
    );
}

#[tokio::test]
async fn opening_removes_temporary_files_abandoned_by_killed_writers_but_not_young_ones() {
    let directory = tempfile::tempdir().expect("tempdir");
    let root = directory.path().join("tokens");
    FileBackend::open(&root).await.expect("create");
    let abandoned = root.join(".tmp-abandoned");
    let young = root.join(".tmp-young");
    std::fs::write(&abandoned, b"ciphertext").expect("write");
    std::fs::write(&young, b"ciphertext").expect("write");
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&abandoned)
        .and_then(|file| file.set_modified(an_hour_ago))
        .expect("age the file");
    FileBackend::open(&root).await.expect("reopen");
    assert!(!abandoned.exists(), "an hour-old temporary file is removed");
    assert!(
        young.exists(),
        "a temporary file another process may be writing stays"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_backend_rotates_keys() {
    let directory = tempfile::tempdir().expect("tempdir");
    let backend = FileBackend::open(directory.path().join("tokens"))
        .await
        .expect("open");
    conformance::rotation::run_on_empty(Arc::new(backend)).await;
}

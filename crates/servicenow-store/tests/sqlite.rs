//! The SQLite backend: the conformance suite, raw rows, corrupted rows and file permissions.

use std::{os::unix::fs::PermissionsExt, sync::Arc};

use servicenow_store::{
    Backend, CredentialKey, Keyring, SealedStore, SealingKey, SecretBytes, SqliteBackend,
    StoreError, TokenStore, conformance,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_backend_passes_the_conformance_suite() {
    let directory = tempfile::tempdir().expect("tempdir");
    let backend = SqliteBackend::open(directory.path().join("tokens.db"))
        .await
        .expect("open");
    conformance::run_all(Arc::new(backend)).await;
}

#[tokio::test]
async fn the_database_file_is_private_and_reopens_with_its_data() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("tokens.db");
    let keyring = Keyring::new(SealingKey::from_bytes(1, [9; 32]));
    let key = CredentialKey::new("https://dev1.service-now.com", "client", "alice").expect("key");
    let store = SealedStore::new(
        keyring.clone(),
        SqliteBackend::open(&path).await.expect("open"),
    );
    let version = store
        .save(&key, SecretBytes::new(b"tokens".to_vec()), None)
        .await
        .expect("save");
    let mode = std::fs::metadata(&path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    drop(store);
    let reopened = SealedStore::new(keyring, SqliteBackend::open(&path).await.expect("reopen"));
    let loaded = reopened.load(&key).await.expect("load").expect("stored");
    assert_eq!(
        (loaded.version, loaded.value.expose_secret()),
        (version, &b"tokens"[..])
    );
}

#[tokio::test]
async fn a_database_readable_by_others_is_refused() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("tokens.db");
    SqliteBackend::open(&path).await.expect("create");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let error = SqliteBackend::open(&path).await.expect_err("too open");
    assert!(
        matches!(error, StoreError::Permissions { mode: 0o644, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_corrupted_row_is_a_typed_error_and_stays_in_the_table() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("tokens.db");
    let backend = SqliteBackend::open(&path).await.expect("open");
    let store = SealedStore::new(
        Keyring::new(SealingKey::from_bytes(1, [9; 32])),
        backend.clone(),
    );
    let key = CredentialKey::new("https://dev1.service-now.com", "client", "alice").expect("key");
    store
        .save(&key, SecretBytes::new(b"tokens".to_vec()), None)
        .await
        .expect("save");
    let id = key.storage_id();
    let cases = [
        (
            "version is text",
            "UPDATE sn_store_credentials SET version = 'seven' WHERE id = ?1",
        ),
        (
            "version is zero",
            "UPDATE sn_store_credentials SET version = 0 WHERE id = ?1",
        ),
        (
            "envelope is text",
            "UPDATE sn_store_credentials SET version = 5, envelope = 'abc' WHERE id = ?1",
        ),
        (
            "envelope is two bytes",
            "UPDATE sn_store_credentials SET envelope = x'01ff' WHERE id = ?1",
        ),
    ];
    let vandal = rusqlite_connection(&path);
    for (name, statement) in cases {
        vandal.execute(statement, [id.as_str()]).expect("vandalise");
        let error = store.load(&key).await.expect_err(name);
        assert!(
            matches!(
                error,
                StoreError::Corrupt { .. } | StoreError::Truncated { .. }
            ),
            "{name}: {error:?}"
        );
        let count: i64 = vandal
            .query_row(
                "SELECT count(*) FROM sn_store_credentials WHERE id = ?1",
                [id.as_str()],
                |row| row.get(0),
            )
            .expect("count");
        assert_eq!(count, 1, "{name}: the row is still there");
    }
    assert!(
        backend.load(&id).await.is_ok(),
        "a valid-shaped row loads at the backend level"
    );
}

fn rusqlite_connection(path: &std::path::Path) -> rusqlite::Connection {
    let connection = rusqlite::Connection::open(path).expect("open vandal connection");
    connection
        .busy_timeout(std::time::Duration::from_secs(30))
        .expect("busy timeout");
    connection
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backend_rotates_keys() {
    let directory = tempfile::tempdir().expect("tempdir");
    let backend = SqliteBackend::open(directory.path().join("tokens.db"))
        .await
        .expect("open");
    conformance::rotation::run_on_empty(Arc::new(backend)).await;
}

//! Key sources and rotation on one backend: listing, re-sealing credentials and pending logins,
//! retiring the old key, and never a new key over existing values.
//!
//! These cases need a backend of their own that starts empty ([`run_on_empty`]): a rotation
//! re-seals every record the backend holds.

use std::{sync::Arc, time::Duration};

use crate::{
    Backend, CredentialKey, KeySource, PendingId, RecordKind, SealedStore, SecretBytes, StoreError,
    TokenStore as _,
};

const CREDENTIALS: usize = 12;
const PENDING: usize = 3;

fn credential(index: usize) -> CredentialKey {
    CredentialKey::new(
        "https://rotation.invalid",
        "client",
        format!("user-{index}"),
    )
    .expect("valid key")
}

fn value(index: usize) -> SecretBytes {
    SecretBytes::new(format!("token set {index}").into_bytes())
}

/// Runs every rotation case against `backend`, which must hold nothing yet.
pub async fn run_on_empty(backend: Arc<dyn Backend>) {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let source = KeySource::colocated_file(directory.path().join("store.key"));

    eprintln!("conformance: rotation::an_empty_store_gets_a_key_and_lists_nothing");
    let store = SealedStore::open(&source, Arc::clone(&backend))
        .await
        .expect("an empty store gets a key");
    assert!(
        backend
            .list(RecordKind::Credential)
            .await
            .expect("list")
            .is_empty()
    );
    let first_key = store.keyring().current_key_id();

    eprintln!("conformance: rotation::listing_finds_every_record_and_no_expired_pending_login");
    for index in 0..CREDENTIALS {
        store
            .save(&credential(index), value(index), None)
            .await
            .expect("save");
    }
    let owner = credential(0);
    for index in 0..PENDING {
        let id = PendingId::new(format!("pending-{index}")).expect("valid id");
        store
            .put_pending(&owner, &id, value(100 + index), Duration::from_secs(600))
            .await
            .expect("put pending");
    }
    let expired = PendingId::new("expired").expect("valid id");
    store
        .put_pending(&owner, &expired, value(999), Duration::from_millis(1))
        .await
        .expect("put pending");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut listed = backend.list(RecordKind::Credential).await.expect("list");
    listed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let mut expected: Vec<_> = (0..CREDENTIALS)
        .map(|i| credential(i).storage_id())
        .collect();
    expected.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(listed, expected);
    let pending = backend.list(RecordKind::Pending).await.expect("list");
    assert_eq!(
        pending.len(),
        PENDING,
        "the expired pending login is not listed"
    );
    assert!(!pending.contains(&owner.pending_storage_id(&expired)));
    let in_use = store.key_ids_in_use().await.expect("count");
    assert_eq!(
        in_use.into_iter().collect::<Vec<_>>(),
        vec![(first_key, CREDENTIALS + PENDING)]
    );

    eprintln!("conformance: rotation::a_rotation_reseals_everything_and_retires_the_old_key");
    let rotation = store.rotate_key(&source).await.expect("rotate");
    assert_ne!(rotation.new_key_id, first_key);
    assert_eq!(rotation.resealed, CREDENTIALS + PENDING);
    assert_eq!(rotation.retired_key_ids, vec![first_key]);
    let in_use = store.key_ids_in_use().await.expect("count");
    assert_eq!(
        in_use.into_iter().collect::<Vec<_>>(),
        vec![(rotation.new_key_id, CREDENTIALS + PENDING)]
    );
    let reopened = SealedStore::open(&source, Arc::clone(&backend))
        .await
        .expect("reopen with the source's keys");
    assert_eq!(reopened.keyring().key_ids(), vec![rotation.new_key_id]);
    for index in 0..CREDENTIALS {
        let stored = reopened
            .load(&credential(index))
            .await
            .expect("load")
            .expect("present");
        assert_eq!(stored.value.expose_secret(), value(index).expose_secret());
    }
    for index in 0..PENDING {
        let id = PendingId::new(format!("pending-{index}")).expect("valid id");
        let taken = reopened
            .take_pending(&owner, &id)
            .await
            .expect("take")
            .expect("present");
        assert_eq!(taken.expose_secret(), value(100 + index).expose_secret());
    }

    eprintln!("conformance: rotation::a_lost_key_is_an_error_and_never_replaced");
    source.remove().await.expect("lose the key");
    let error = SealedStore::open(&source, Arc::clone(&backend))
        .await
        .expect_err("no new key over existing values");
    assert!(
        matches!(&error, StoreError::MissingKey { key_ids, .. } if key_ids == &vec![rotation.new_key_id]),
        "{error:?}"
    );
    assert!(
        source.read().await.expect("read").is_none(),
        "no key was created"
    );

    for index in 0..CREDENTIALS {
        store
            .delete(&credential(index), None)
            .await
            .expect("clean up");
    }
}

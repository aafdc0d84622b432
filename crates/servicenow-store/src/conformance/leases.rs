//! Conformance cases for refresh leases and pending logins.

use std::time::Duration;

use tokio::task::JoinSet;

use super::Harness;
use crate::{PendingId, SecretBytes, StoreError, TokenStore};

/// A lease long enough never to expire during a case.
const LONG: Duration = Duration::from_secs(120);
/// A lease or pending login short enough to expire during a case.
const SHORT: Duration = Duration::from_millis(300);
/// Bounded polling: at most this many pauses of `POLL`.
const POLLS: u32 = 600;
const POLL: Duration = Duration::from_millis(50);

/// One holder at a time; a released lease can be taken again; leases of two keys are separate.
pub async fn lease_is_exclusive(harness: &Harness) {
    let store = harness.store();
    let key = harness.key("lease-exclusive");
    let first = store
        .try_acquire_lease(&key, LONG)
        .await
        .expect("acquire")
        .expect("free lease is taken");
    assert!(
        store
            .try_acquire_lease(&key, LONG)
            .await
            .expect("acquire")
            .is_none(),
        "a held lease is exclusive"
    );
    let other_key = harness.key("lease-exclusive-other");
    let other = store
        .try_acquire_lease(&other_key, LONG)
        .await
        .expect("acquire")
        .expect("another key is free");
    store
        .release_lease(first)
        .await
        .expect("the holder releases");
    let second = store
        .try_acquire_lease(&key, LONG)
        .await
        .expect("acquire")
        .expect("released lease is free");
    store.release_lease(second).await.expect("release");
    store.release_lease(other).await.expect("release");
}

/// A lease whose holder vanished expires by itself; the old holder can no longer release it.
pub async fn lease_expires_and_the_old_holder_cannot_release(harness: &Harness) {
    let store = harness.store();
    let key = harness.key("lease-expiry");
    let first = store
        .try_acquire_lease(&key, SHORT)
        .await
        .expect("acquire")
        .expect("free lease is taken");
    let mut second = None;
    for _ in 0..POLLS {
        tokio::time::sleep(POLL).await;
        second = store.try_acquire_lease(&key, LONG).await.expect("acquire");
        if second.is_some() {
            break;
        }
    }
    let second = second.expect("an expired lease can be taken by another holder");
    assert!(matches!(
        store.release_lease(first).await,
        Err(StoreError::LeaseNotHeld)
    ));
    assert!(
        store
            .try_acquire_lease(&key, LONG)
            .await
            .expect("acquire")
            .is_none(),
        "refused release kept it held"
    );
    store
        .release_lease(second)
        .await
        .expect("the new holder releases");
}

/// `acquire_lease` gives up with `LeaseBusy` after its wait, and waits out an expiring holder.
pub async fn acquire_lease_waits_then_gives_up(harness: &Harness) {
    let store = harness.store();
    let key = harness.key("lease-wait");
    let held = store
        .try_acquire_lease(&key, LONG)
        .await
        .expect("acquire")
        .expect("free lease is taken");
    match store
        .acquire_lease(&key, LONG, Duration::from_millis(100))
        .await
    {
        Err(StoreError::LeaseBusy { waited }) => assert!(waited >= Duration::from_millis(100)),
        other => panic!("a held lease must be reported busy, got {other:?}"),
    }
    store.release_lease(held).await.expect("release");
    let expiring = store
        .try_acquire_lease(&key, SHORT)
        .await
        .expect("acquire")
        .expect("free lease is taken");
    let waited_for = store
        .acquire_lease(&key, LONG, POLL * POLLS)
        .await
        .expect("expiry frees the lease");
    assert!(matches!(
        store.release_lease(expiring).await,
        Err(StoreError::LeaseNotHeld)
    ));
    store.release_lease(waited_for).await.expect("release");
}

/// A pending login is returned once, to one of many concurrent takers, and only for its
/// credential.
pub async fn pending_login_is_taken_once(harness: &Harness) {
    let store = harness.store();
    let key = harness.key("pending");
    let id = PendingId::new("4f1c0ffee").expect("valid id");
    let value = SecretBytes::new(b"pkce-verifier and redirect".to_vec());
    store
        .put_pending(&key, &id, value.clone(), LONG)
        .await
        .expect("put");
    let other_key = harness.key("pending-other");
    assert!(
        store
            .take_pending(&other_key, &id)
            .await
            .expect("take")
            .is_none(),
        "ids are per credential"
    );
    assert_eq!(
        store.take_pending(&key, &id).await.expect("take"),
        Some(value.clone())
    );
    assert!(
        store.take_pending(&key, &id).await.expect("take").is_none(),
        "a pending login is used once"
    );

    store
        .put_pending(&key, &id, value.clone(), LONG)
        .await
        .expect("put");
    let mut takers = JoinSet::new();
    for _ in 0..16 {
        let (store, key, id) = (store.clone(), key.clone(), id.clone());
        takers.spawn(async move { store.take_pending(&key, &id).await });
    }
    let mut winners = 0;
    while let Some(joined) = takers.join_next().await {
        if let Some(taken) = joined.expect("taker finished").expect("take") {
            assert_eq!(taken, value);
            winners += 1;
        }
    }
    assert_eq!(
        winners, 1,
        "exactly one of 16 concurrent takers gets the pending login"
    );
}

/// A pending login is gone after its time to live.
pub async fn pending_login_expires(harness: &Harness) {
    let store = harness.store();
    let key = harness.key("pending-expiry");
    let id = PendingId::new("expiring").expect("valid id");
    store
        .put_pending(&key, &id, SecretBytes::new(b"verifier".to_vec()), SHORT)
        .await
        .expect("put");
    tokio::time::sleep(SHORT * 2).await;
    assert!(
        store.take_pending(&key, &id).await.expect("take").is_none(),
        "an expired pending login is gone"
    );
    let later = PendingId::new("not-expiring").expect("valid id");
    store
        .put_pending(&key, &later, SecretBytes::new(b"fresh".to_vec()), LONG)
        .await
        .expect("put");
    assert!(
        store
            .take_pending(&key, &later)
            .await
            .expect("take")
            .is_some()
    );
}

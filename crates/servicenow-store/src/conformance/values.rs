//! Conformance cases for stored values: round trip, compare-and-swap, delete, concurrency,
//! encryption at rest, wrong keys, rotation and tampering.

use std::collections::HashSet;

use tokio::task::JoinSet;

use super::Harness;
use crate::{Keyring, RawRecord, SealingKey, SecretBytes, StoreError, TokenStore, Version};

/// Whether an error is the one a tampering case expects.
type ErrorCheck = fn(&StoreError) -> bool;

fn secret(text: &str) -> SecretBytes {
    SecretBytes::new(text.as_bytes().to_vec())
}

/// A value saved is loaded back with its version; each save moves the version on.
pub async fn round_trip(harness: &Harness) {
    let store = harness.store();
    let key = harness.key("round-trip");
    assert!(
        store.load(&key).await.expect("load").is_none(),
        "a new key starts empty"
    );
    let first = store
        .save(&key, secret("first"), None)
        .await
        .expect("create");
    let loaded = store.load(&key).await.expect("load").expect("stored");
    assert_eq!(
        (loaded.version, loaded.value.expose_secret()),
        (first, &b"first"[..])
    );
    let large = vec![0xA5; 64 * 1024];
    let second = store
        .save(&key, SecretBytes::new(large.clone()), Some(first))
        .await
        .expect("update");
    assert_ne!(second, first);
    let loaded = store.load(&key).await.expect("load").expect("stored");
    assert_eq!(
        (loaded.version, loaded.value.expose_secret()),
        (second, large.as_slice())
    );
    let empty_key = harness.key("round-trip-empty");
    let version = store
        .save(&empty_key, secret(""), None)
        .await
        .expect("an empty value is a value");
    assert_eq!(
        store
            .load(&empty_key)
            .await
            .expect("load")
            .map(|stored| stored.version),
        Some(version)
    );
}

/// A stale writer gets the current value back and overwrites nothing.
pub async fn compare_and_swap_conflicts(harness: &Harness) {
    let store = harness.store();
    let key = harness.key("cas");
    let first = store.save(&key, secret("v1"), None).await.expect("create");
    let second = store
        .save(&key, secret("v2"), Some(first))
        .await
        .expect("update");
    match store.save(&key, secret("stale"), Some(first)).await {
        Err(StoreError::Conflict {
            current: Some(current),
        }) => {
            assert_eq!(
                (current.version, current.value.expose_secret()),
                (second, &b"v2"[..])
            );
        }
        other => panic!("a stale writer must get a conflict with the current value, got {other:?}"),
    }
    match store.save(&key, secret("create-again"), None).await {
        Err(StoreError::Conflict {
            current: Some(current),
        }) => assert_eq!(current.version, second),
        other => panic!("creating an existing value must conflict, got {other:?}"),
    }
    let absent = harness.key("cas-absent");
    let some_version = Version::new(42).expect("valid version");
    match store.save(&absent, secret("x"), Some(some_version)).await {
        Err(StoreError::Conflict { current: None }) => (),
        other => {
            panic!("updating a missing value must conflict with no current value, got {other:?}")
        }
    }
    let stored = store.load(&key).await.expect("load").expect("stored");
    assert_eq!(
        stored.value.expose_secret(),
        b"v2",
        "no conflicting write landed"
    );
}

/// Unconditional delete always removes; a versioned delete refuses a stale version.
pub async fn delete(harness: &Harness) {
    let store = harness.store();
    let key = harness.key("delete");
    assert!(
        !store.delete(&key, None).await.expect("delete absent"),
        "nothing to delete"
    );
    let first = store.save(&key, secret("v1"), None).await.expect("create");
    let second = store
        .save(&key, secret("v2"), Some(first))
        .await
        .expect("update");
    match store.delete(&key, Some(first)).await {
        Err(StoreError::Conflict {
            current: Some(current),
        }) => assert_eq!(current.version, second),
        other => panic!("a stale delete must conflict, got {other:?}"),
    }
    assert!(
        store
            .delete(&key, Some(second))
            .await
            .expect("versioned delete")
    );
    assert!(store.load(&key).await.expect("load").is_none());
    let again = store
        .save(&key, secret("v3"), None)
        .await
        .expect("create again");
    assert!(
        store
            .delete(&key, None)
            .await
            .expect("unconditional delete")
    );
    assert!(store.load(&key).await.expect("load").is_none());
    match store.save(&key, secret("stale"), Some(again)).await {
        Err(StoreError::Conflict { current: None }) => (),
        other => panic!("a writer from before the delete must conflict, got {other:?}"),
    }
}

/// 64 tasks increment one counter with compare-and-swap retries: no update is lost.
pub async fn concurrent_writers_lose_no_update(harness: &Harness) {
    const WRITERS: u64 = 64;
    let key = harness.key("counter");
    let store = harness.store();
    store
        .save(&key, secret("0"), None)
        .await
        .expect("create counter");
    let mut writers = JoinSet::new();
    for _ in 0..WRITERS {
        let (store, key) = (store.clone(), key.clone());
        writers.spawn(async move { increment(&store, &key).await });
    }
    let mut versions = HashSet::new();
    while let Some(joined) = writers.join_next().await {
        let version = joined.expect("writer task finished").expect("increment");
        assert!(
            versions.insert(version),
            "two writers were told they wrote version {version}"
        );
    }
    let stored = store.load(&key).await.expect("load").expect("stored");
    assert_eq!(
        stored.value.expose_secret(),
        WRITERS.to_string().as_bytes(),
        "every increment landed"
    );
}

/// Loads, adds one and saves with compare-and-swap, retrying on conflicts (bounded).
pub async fn increment(
    store: &dyn TokenStore,
    key: &crate::CredentialKey,
) -> Result<Version, StoreError> {
    let mut current = store.load(key).await?;
    for _attempt in 0..100_000 {
        let (count, expected) = match &current {
            Some(stored) => (
                parse_count(stored.value.expose_secret())?,
                Some(stored.version),
            ),
            None => (0, None),
        };
        match store
            .save(key, secret(&(count + 1).to_string()), expected)
            .await
        {
            Ok(version) => return Ok(version),
            Err(StoreError::Conflict { current: now }) => current = now,
            Err(error) => return Err(error),
        }
    }
    Err(StoreError::Conflict { current })
}

fn parse_count(bytes: &[u8]) -> Result<u64, StoreError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| {
            StoreError::corrupt("conformance", "increment", "the counter is not a number")
        })
}

/// The raw storage holds neither the token text nor the credential's names.
pub async fn raw_storage_holds_no_plaintext(harness: &Harness) {
    let store = harness.store();
    let token = harness.marker("access-token");
    let subject = harness.marker("subject");
    let key = harness.key(&subject);
    let value = format!("{{\"access_token\":\"{token}\",\"refresh_token\":\"{token}-refresh\"}}");
    store.save(&key, secret(&value), None).await.expect("save");
    let pending = crate::PendingId::new("at-rest-check").expect("valid id");
    store
        .put_pending(
            &key,
            &pending,
            secret(&format!("verifier {token}")),
            std::time::Duration::from_secs(60),
        )
        .await
        .expect("put pending");
    let lease = store
        .try_acquire_lease(&key, std::time::Duration::from_secs(60))
        .await
        .expect("lease");
    let raw = harness.raw_bytes().await;
    let total: usize = raw.iter().map(Vec::len).sum();
    assert!(
        total >= value.len(),
        "the raw view must see the stored records ({total} bytes seen)"
    );
    for needle in [token.as_bytes(), subject.as_bytes()] {
        let found = raw
            .iter()
            .any(|bytes| bytes.windows(needle.len()).any(|window| window == needle));
        assert!(
            !found,
            "plaintext {:?} found at rest",
            String::from_utf8_lossy(needle)
        );
    }
    if let Some(lease) = lease {
        store.release_lease(lease).await.expect("release");
    }
    store
        .take_pending(&key, &pending)
        .await
        .expect("take pending");
}

/// Another key is a typed error, never garbage, and the stored value stays.
pub async fn wrong_key_is_an_error_and_deletes_nothing(harness: &Harness) {
    let key = harness.key("wrong-key");
    harness
        .store()
        .save(&key, secret("tokens"), None)
        .await
        .expect("save");
    let same_id = Keyring::new(SealingKey::generate(1).expect("random"));
    assert!(matches!(
        harness.store_with(same_id).load(&key).await,
        Err(StoreError::Decrypt)
    ));
    let other_id = Keyring::new(SealingKey::generate(77).expect("random"));
    assert!(matches!(
        harness.store_with(other_id).load(&key).await,
        Err(StoreError::UnknownKeyId { key_id: 1 })
    ));
    let stored = harness
        .store()
        .load(&key)
        .await
        .expect("load")
        .expect("still stored");
    assert_eq!(stored.value.expose_secret(), b"tokens");
}

/// Old keys still open what they sealed; new writes use the current key.
pub async fn key_rotation(harness: &Harness) {
    let key = harness.key("rotation");
    let old = SealingKey::generate(100).expect("random");
    let new = SealingKey::generate(101).expect("random");
    let before = harness.store_with(Keyring::new(old.clone()));
    let first = before
        .save(&key, secret("sealed-by-old"), None)
        .await
        .expect("save");
    let rotated = harness.store_with(
        Keyring::new(new.clone())
            .with_previous(old)
            .expect("distinct ids"),
    );
    let loaded = rotated
        .load(&key)
        .await
        .expect("old key opens")
        .expect("stored");
    assert_eq!(loaded.value.expose_secret(), b"sealed-by-old");
    rotated
        .save(&key, secret("sealed-by-new"), Some(first))
        .await
        .expect("save");
    let raw = harness
        .backend()
        .load(&key.storage_id())
        .await
        .expect("raw load")
        .expect("stored");
    assert_eq!(
        raw.envelope[1..5],
        101u32.to_be_bytes(),
        "new writes carry the current key id"
    );
    assert!(matches!(
        before.load(&key).await,
        Err(StoreError::UnknownKeyId { key_id: 101 })
    ));
    let resealed_key = harness.key("rotation-reseal");
    before
        .save(&resealed_key, secret("resealed"), None)
        .await
        .expect("save");
    assert!(
        rotated.reseal(&resealed_key).await.expect("reseal"),
        "an old-key value is re-sealed"
    );
    assert!(
        !rotated.reseal(&resealed_key).await.expect("reseal"),
        "a current-key value is left alone"
    );
    assert!(
        !rotated
            .reseal(&harness.key("rotation-absent"))
            .await
            .expect("reseal")
    );
    let only_new = harness.store_with(Keyring::new(new));
    let resealed = only_new
        .load(&resealed_key)
        .await
        .expect("the new key opens it")
        .expect("stored");
    assert_eq!(resealed.value.expose_secret(), b"resealed");
    let loaded = only_new
        .load(&key)
        .await
        .expect("new key opens")
        .expect("stored");
    assert_eq!(loaded.value.expose_secret(), b"sealed-by-new");
}

/// Truncated, unknown-format, flipped and moved envelopes are typed errors; nothing is deleted.
pub async fn tampered_records_are_typed_errors_and_stay_stored(harness: &Harness) {
    let store = harness.store();
    let key = harness.key("tampered");
    let victim = harness.key("tampered-victim");
    store
        .save(&key, secret("tokens"), None)
        .await
        .expect("save");
    store
        .save(&victim, secret("victim tokens"), None)
        .await
        .expect("save");
    let id = key.storage_id();
    let original = harness
        .backend()
        .load(&id)
        .await
        .expect("raw load")
        .expect("stored");
    let mut truncated = original.envelope.clone();
    truncated.truncate(10);
    let mut unknown_format = original.envelope.clone();
    unknown_format[0] = 0xEE;
    let mut flipped = original.envelope.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x80;
    let moved = harness
        .backend()
        .load(&victim.storage_id())
        .await
        .expect("raw load")
        .expect("stored");
    let cases: [(&str, Vec<u8>, ErrorCheck); 4] = [
        ("truncated", truncated, |error| {
            matches!(error, StoreError::Truncated { len: 10 })
        }),
        ("unknown format", unknown_format, |error| {
            matches!(error, StoreError::UnknownFormat { version: 0xEE })
        }),
        ("flipped byte", flipped, |error| {
            matches!(error, StoreError::Decrypt)
        }),
        ("moved from another credential", moved.envelope, |error| {
            matches!(error, StoreError::Decrypt)
        }),
    ];
    let mut current = original.version;
    for (name, envelope, expected_error) in cases {
        let record = RawRecord {
            version: current.next(),
            envelope,
        };
        let outcome = harness
            .backend()
            .save(&id, record, Some(current))
            .await
            .expect("raw save");
        assert!(
            matches!(outcome, crate::SaveOutcome::Saved),
            "{name}: tampering write landed"
        );
        current = current.next();
        match store.load(&key).await {
            Err(error) => assert!(expected_error(&error), "{name}: unexpected error {error:?}"),
            Ok(loaded) => panic!("{name}: a tampered record must not open, got {loaded:?}"),
        }
        let still = harness.backend().load(&id).await.expect("raw load");
        assert!(still.is_some(), "{name}: the record must not be deleted");
    }
    let restored = RawRecord {
        version: current.next(),
        envelope: original.envelope,
    };
    harness
        .backend()
        .save(&id, restored, Some(current))
        .await
        .expect("raw save");
    let loaded = store.load(&key).await.expect("load").expect("stored");
    assert_eq!(loaded.value.expose_secret(), b"tokens");
}

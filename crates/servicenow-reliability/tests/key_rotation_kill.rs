//! A key rotation SIGKILLed at random points, again and again, never loses a record: after every
//! kill each credential and pending login still opens with the keys in the key source, and a
//! final rotation retires every old key.
//!
//! The rotation runs in the `key-rotator` helper process of this crate (`Store::rotate_key` in a
//! loop over an SQLite store whose key set is in a key file); the test kills it after a random
//! delay, checks the store, and starts it again.

use std::{
    collections::BTreeSet,
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use rand::{Rng as _, SeedableRng as _};
use servicenow::{
    store::{CredentialKey, KeySource, Keyring, PendingId, SecretBytes},
    stores::Store,
};

const CREDENTIALS: usize = 200;
const PENDING: usize = 10;
const KILLS: usize = 12;

fn credential(index: usize) -> CredentialKey {
    CredentialKey::new(
        "https://rotation.invalid",
        "client",
        format!("user-{index}"),
    )
    .expect("a valid key")
}

fn pending(index: usize) -> PendingId {
    PendingId::new(format!("pending-{index}")).expect("a valid id")
}

fn value(index: usize) -> Vec<u8> {
    format!("{{\"refresh_token\":\"rt-{index}-{}\"}}", "x".repeat(200)).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_killed_at_random_points_leaves_every_record_readable() {
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let directory = scratch.path().join("store");
    let key_file = scratch.path().join("store.key");
    let source = KeySource::file(&key_file);
    source
        .write(&Keyring::generate().expect("os randomness"))
        .await
        .expect("the first key set");
    let store = Store::sqlite(&directory, source.clone())
        .await
        .expect("the store opens");
    let tokens = store.token_store();
    for index in 0..CREDENTIALS {
        tokens
            .save(&credential(index), SecretBytes::new(value(index)), None)
            .await
            .expect("save");
    }
    let owner = credential(0);
    for index in 0..PENDING {
        tokens
            .put_pending(
                &owner,
                &pending(index),
                SecretBytes::new(value(1000 + index)),
                Duration::from_secs(3600),
            )
            .await
            .expect("put pending");
    }
    drop((tokens, store));

    let seed: u64 = rand::random();
    eprintln!("key rotation kills: seed {seed}");
    let mut random = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut mid_rotation = 0;
    for kill in 0..KILLS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_key-rotator"))
            .arg(&directory)
            .arg(&key_file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("key-rotator starts");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let ready = lines.next().expect("a first line").expect("readable");
        assert_eq!(ready, "ready", "kill {kill}: the rotator opened the store");
        let delay = Duration::from_millis(random.random_range(20..1500));
        tokio::time::sleep(delay).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        let rotations = lines.map_while(Result::ok).count();

        // Every record opens with the keys now in the source, with its value unchanged.
        let store = Store::sqlite(&directory, source.clone())
            .await
            .unwrap_or_else(|error| panic!("kill {kill}: the store reopens: {error}"));
        let tokens = store.token_store();
        for index in 0..CREDENTIALS {
            let stored = tokens
                .load(&credential(index))
                .await
                .unwrap_or_else(|error| panic!("kill {kill}: credential {index}: {error}"))
                .unwrap_or_else(|| panic!("kill {kill}: credential {index} is gone"));
            assert_eq!(stored.value.expose_secret(), value(index).as_slice());
        }
        let in_use = store.key_ids_in_use().await.expect("count key ids");
        assert_eq!(
            in_use.values().sum::<usize>(),
            CREDENTIALS + PENDING,
            "kill {kill}: every record is still there"
        );
        let keys: BTreeSet<u32> = source
            .read()
            .await
            .expect("read the key set")
            .expect("a key set")
            .key_ids()
            .into_iter()
            .collect();
        assert!(
            in_use.keys().all(|id| keys.contains(id)),
            "kill {kill}: records sealed with {in_use:?}, key source has {keys:?}"
        );
        if in_use.len() > 1 {
            mid_rotation += 1;
        }
        eprintln!(
            "kill {kill} after {} ms: {rotations} rotation(s) finished, records by key id {in_use:?}, {} key(s) in the source",
            delay.as_millis(),
            keys.len()
        );
    }
    eprintln!("key rotation kills: {mid_rotation} of {KILLS} landed in the middle of a re-seal");
    assert!(
        mid_rotation > 0,
        "no kill landed mid re-seal (seed {seed}); the test did not test what it says"
    );

    // A last rotation, run to its end, leaves one key and every record under it; pending logins
    // still open.
    let store = Store::sqlite(&directory, source.clone())
        .await
        .expect("the store reopens");
    let rotation = store.rotate_key().await.expect("a full rotation");
    let in_use = store.key_ids_in_use().await.expect("count key ids");
    assert_eq!(
        in_use.into_iter().collect::<Vec<_>>(),
        vec![(rotation.new_key_id, CREDENTIALS + PENDING)]
    );
    let keys = source.read().await.expect("read").expect("a key set");
    assert_eq!(keys.key_ids(), vec![rotation.new_key_id]);
    let tokens = store.token_store();
    for index in 0..PENDING {
        let taken = tokens
            .take_pending(&owner, &pending(index))
            .await
            .expect("take")
            .expect("the pending login is there");
        assert_eq!(taken.expose_secret(), value(1000 + index).as_slice());
    }
}

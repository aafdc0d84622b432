//! The oracle of the `stored_envelope` fuzz target: a stored token envelope, decrypted (`SealedStore::load`) and decoded as the facade does (`TokenSet`, `PendingLogin` from JSON).

use std::sync::Arc;

use futures::executor::block_on;
use servicenow_auth::{PendingLogin, TokenSet};
use servicenow_store::{
    Backend, CredentialKey, Keyring, MemoryBackend, RawRecord, SealedStore, SealingKey,
    SecretBytes, TokenStore, Version,
};

/// A token set as the facade stores it, sealed for the mutation mode.
const VALID_TOKEN_SET: &str = include_str!("../../../fuzz/corpus/stored_envelope/token_set.json");

fn key() -> CredentialKey {
    CredentialKey::new("https://dev1.service-now.com", "client", "alice").expect("a valid key")
}

fn store() -> (Arc<MemoryBackend>, SealedStore) {
    let backend = Arc::new(MemoryBackend::new());
    let keyring = Keyring::new(SealingKey::from_bytes(1, [7; 32]));
    let shared: Arc<dyn Backend> = backend.clone();
    (backend, SealedStore::from_shared(keyring, shared))
}

/// Reads what the store unsealed the way the facade's codec does (serde_json into the types).
fn decode(plaintext: &[u8]) {
    if let Ok(token_set) = serde_json::from_slice::<TokenSet>(plaintext) {
        let _ = format!("{token_set:?}");
    }
    let _ = serde_json::from_slice::<PendingLogin>(plaintext);
}

/// Checks the properties of the target on one input; panics when one does not hold.
pub fn check(data: &[u8]) {
    let [mode, rest @ ..] = data else {
        return;
    };
    let key = key();
    let (backend, store) = store();
    match mode % 3 {
        // Raw bytes as the envelope a backend returns: every malformed envelope is a typed error.
        0 => {
            let record = RawRecord {
                version: Version::new(1).expect("1 is a version"),
                envelope: rest.to_vec(),
            };
            block_on(backend.save(&key.storage_id(), record, None)).expect("memory save");
            match block_on(store.load(&key)) {
                Ok(Some(stored)) => decode(stored.value.expose_secret()),
                Ok(None) => panic!("a saved record vanished"),
                Err(error) => {
                    let _ = (error.to_string(), format!("{error:?}"));
                }
            }
        }
        // Any plaintext sealed and opened again: the round trip is exact, then decoded.
        1 => {
            block_on(store.save(&key, SecretBytes::new(rest.to_vec()), None)).expect("seal");
            let stored = block_on(store.load(&key)).expect("open").expect("present");
            assert_eq!(
                stored.value.expose_secret(),
                rest,
                "sealing is not a round trip"
            );
            decode(rest);
        }
        // A sealed token set with bytes flipped where the fuzzer says: never opens to other data.
        _ => {
            block_on(store.save(
                &key,
                SecretBytes::new(VALID_TOKEN_SET.as_bytes().to_vec()),
                None,
            ))
            .expect("seal");
            let mut record = block_on(backend.load(&key.storage_id()))
                .expect("memory load")
                .expect("present");
            let original = record.envelope.clone();
            for pair in rest.chunks_exact(2) {
                let position = usize::from(pair[0]) % record.envelope.len();
                record.envelope[position] ^= pair[1];
            }
            let changed = record.envelope != original;
            block_on(backend.delete(&key.storage_id(), None)).expect("memory delete");
            block_on(backend.save(&key.storage_id(), record, None)).expect("memory save");
            match block_on(store.load(&key)) {
                Ok(Some(stored)) => {
                    assert!(!changed, "a tampered envelope opened");
                    assert_eq!(stored.value.expose_secret(), VALID_TOKEN_SET.as_bytes());
                    decode(stored.value.expose_secret());
                }
                Ok(None) => panic!("a saved record vanished"),
                Err(error) => {
                    assert!(changed, "an untouched envelope failed to open: {error}");
                }
            }
        }
    }
}

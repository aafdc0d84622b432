//! Token sets and pending logins to and from the bytes a `TokenStore` seals, and the pending id of a `state`.

use servicenow_auth::{PendingLogin, TokenSet};
use servicenow_oauth::State;
use servicenow_store::{CredentialKey, PendingId, SecretBytes, StoreError, TokenStore, Version};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Serializes a token set for the store (the store seals it before any backend sees it).
pub(crate) fn encode_token_set(token_set: &TokenSet) -> Result<SecretBytes> {
    serde_json::to_vec(token_set)
        .map(SecretBytes::new)
        .map_err(|error| stored_value_error("token set", &error))
}

/// Saves a token set just obtained from the server: compare-and-swap on `expected`, and on a
/// conflict once more on the version found, because this set is the newest (the server answered
/// with it, so whatever another writer stored meanwhile is older).
pub(crate) async fn save_newest(
    store: &dyn TokenStore,
    key: &CredentialKey,
    token_set: &TokenSet,
    expected: Option<Version>,
) -> Result<Version> {
    match store
        .save(key, encode_token_set(token_set)?, expected)
        .await
    {
        Err(StoreError::Conflict { current }) => {
            let found = current.map(|current| current.version);
            Ok(store.save(key, encode_token_set(token_set)?, found).await?)
        }
        other => Ok(other?),
    }
}

/// Reads a token set the store unsealed.
pub(crate) fn decode_token_set(bytes: &SecretBytes) -> Result<TokenSet> {
    serde_json::from_slice(bytes.expose_secret())
        .map_err(|error| stored_value_error("token set", &error))
}

/// Serializes a pending login for the store.
pub(crate) fn encode_pending_login(pending: &PendingLogin) -> Result<SecretBytes> {
    serde_json::to_vec(pending)
        .map(SecretBytes::new)
        .map_err(|error| stored_value_error("pending login", &error))
}

/// Reads a pending login the store unsealed.
pub(crate) fn decode_pending_login(bytes: &SecretBytes) -> Result<PendingLogin> {
    serde_json::from_slice(bytes.expose_secret())
        .map_err(|error| stored_value_error("pending login", &error))
}

/// The store key of a pending login: the SHA-256 of its `state`, so that the raw state (a CSRF
/// secret) is never a database key.
pub(crate) fn pending_id(state: &State) -> Result<PendingId> {
    let digest = Sha256::digest(state.secret().as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    Ok(PendingId::new(hex)?)
}

/// The error for a value that does not decode. serde_json's message names a position and the
/// expected shape, never the value itself; it is still cut short to be safe.
fn stored_value_error(what: &'static str, error: &serde_json::Error) -> Error {
    Error::StoredValue {
        what,
        reason: format!(
            "{:?} at line {} column {}",
            error.classify(),
            error.line(),
            error.column()
        ),
    }
}

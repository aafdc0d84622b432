//! `Client::import_refresh_token` (start a user's credential from a refresh token obtained elsewhere: another tool, a password grant run once by an administrator, a migration) and `Client::stored_token_set`.

use std::time::{SystemTime, UNIX_EPOCH};

use servicenow_auth::{Credential, Timestamp, TokenSet};
use servicenow_oauth::RefreshToken;

use crate::{
    client::Client,
    codec,
    error::{ConfigError, Result},
};

impl Client {
    /// Starts this user's credential from a refresh token obtained elsewhere: stores it (sealed,
    /// like every token set, replacing whatever was stored for this user) and lets the normal
    /// refresh obtain the first access token, right away, so a token the instance refuses is
    /// reported here.
    ///
    /// `expires_at_hint` is when the refresh token expires, if you know it (ServiceNow's default
    /// lifetime is 100 days from its issue); without it, the instance's refusal is what ends it.
    ///
    /// # Errors
    ///
    /// - [`Error::ReauthorizationRequired`](crate::Error::ReauthorizationRequired) with
    ///   [`ReauthorizationReason::RefreshRejected`](servicenow_auth::ReauthorizationReason::RefreshRejected)
    ///   holding the instance's error and description, when the instance refuses the token;
    /// - [`ConfigError::NotAUserCredential`] on a handle that is not a user's
    ///   ([`Servicenow::user`](crate::Servicenow::user));
    /// - store and transport errors as for any token request.
    pub async fn import_refresh_token(
        &self,
        refresh_token: RefreshToken,
        expires_at_hint: Option<SystemTime>,
    ) -> Result<()> {
        let manager = self.token_manager();
        if !matches!(
            manager.config().credential,
            Credential::AuthorizationCode { .. }
        ) {
            return Err(ConfigError::NotAUserCredential.into());
        }
        let endpoint = self.endpoint();
        let now = endpoint.clock.now();
        let hint = expires_at_hint.map(|at| {
            Timestamp::from_unix_millis(at.duration_since(UNIX_EPOCH).map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            }))
        });
        let set = TokenSet::from_refresh_token(refresh_token, now, hint);
        let key = manager.key();
        let version = endpoint.stored_version(key).await?;
        codec::save_newest(endpoint.store.as_ref(), key, &set, version).await?;
        manager.reload().await;
        tracing::info!("refresh token imported");
        manager.bearer().await?;
        Ok(())
    }

    /// The token set stored for this handle's credential, if any, without contacting the
    /// instance (for status displays: send only what [`TokenManager::bearer`](crate::TokenManager::bearer) gives).
    ///
    /// # Errors
    ///
    /// Store errors, and [`Error::StoredValue`](crate::Error::StoredValue) for an unreadable value.
    pub async fn stored_token_set(&self) -> Result<Option<TokenSet>> {
        let endpoint = self.endpoint();
        match endpoint.store.load(self.token_manager().key()).await? {
            Some(stored) => Ok(Some(codec::decode_token_set(&stored.value)?)),
            None => Ok(None),
        }
    }
}

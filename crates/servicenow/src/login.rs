//! `Login`: the web-app helper for the authorization code flow (begin, complete, logout), with pending logins in the store.

use std::sync::Arc;

use servicenow_auth::{
    AuthConfig, AuthMachine, Command, Event, Input, Output, RevocationOutcome, TokenSet,
};
use servicenow_http::HttpTransport;
use servicenow_oauth::{AuthorizationResponse, InstanceUrl, State, parse_callback_query};
use servicenow_store::{CredentialKey, TokenStore};

use crate::{
    clock::Clock,
    codec,
    error::{Error, LoginError, Result},
    exchange,
};

/// Signs users in with the authorization code flow + PKCE S256 and keeps their tokens in a
/// [`TokenStore`], never in the browser.
///
/// - [`begin`](Self::begin) returns the URL to redirect the user to and keeps the pending login
///   (its `state`, PKCE verifier and redirect URI, sealed) in the store, so that any replica
///   sharing the store can complete it;
/// - [`complete`](Self::complete) takes the callback's query string, accepts it only for a
///   `state` begun for that subject, unexpired and unused (the store's atomic take makes it
///   single-use across replicas), exchanges the code and stores the token set;
/// - [`logout`](Self::logout) revokes the tokens and deletes them.
#[derive(Clone)]
pub struct Login {
    config: AuthConfig,
    store: Arc<dyn TokenStore>,
    transport: Arc<dyn HttpTransport>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("config", &self.config)
            .field("store", &self.store)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Login {
    /// A login helper for the authorization-code credential in `config`.
    pub fn new(
        config: AuthConfig,
        store: Arc<dyn TokenStore>,
        transport: Arc<dyn HttpTransport>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            config,
            store,
            transport,
            clock,
        }
    }

    /// The store key of `subject`'s tokens (instance origin, client id, subject).
    pub fn credential_key(&self, subject: &str) -> Result<CredentialKey> {
        credential_key(&self.config.instance, &self.config, subject)
    }

    /// Begins a login for `subject` (the application's own user id): returns the authorization
    /// URL to redirect the user's browser to.
    pub async fn begin(&self, subject: &str) -> Result<String> {
        let key = self.credential_key(subject)?;
        let mut machine = self.machine()?;
        self.command(&mut machine, Command::BeginLogin)?;
        let started = loop {
            match machine.poll_output() {
                Output::Event(Event::LoginStarted(started)) => break started,
                Output::Timeout(_) => {
                    return Err(Error::Config(
                        "the credential is not an authorization-code credential".to_owned(),
                    ));
                }
                _ => (),
            }
        };
        let pending = machine
            .export_pending_login(&started.state)
            .ok_or_else(|| {
                Error::Config("the machine did not keep the login it began".to_owned())
            })?;
        let bytes = codec::encode_pending_login(&pending)?;
        let id = codec::pending_id(&started.state)?;
        self.store
            .put_pending(&key, &id, bytes, self.config.timing.login_lifetime)
            .await?;
        tracing::info!(subject, "login begun");
        Ok(started.authorization_url.as_str().to_owned())
    }

    /// Completes `subject`'s login from the callback's query string (`code=…&state=…`, or
    /// `error=…`), exchanges the code, stores the token set and returns it.
    pub async fn complete(&self, subject: &str, callback_query: &str) -> Result<TokenSet> {
        let key = self.credential_key(subject)?;
        let state = callback_state(callback_query)?;
        let id = codec::pending_id(&state)?;
        let Some(bytes) = self.store.take_pending(&key, &id).await? else {
            tracing::warn!(
                subject,
                "login callback refused: unknown, used or expired state"
            );
            return Err(LoginError::UnknownState.into());
        };
        let pending = codec::decode_pending_login(&bytes)?;
        let mut machine = self.machine()?;
        self.command(&mut machine, Command::ImportPendingLogin(pending))?;
        self.command(
            &mut machine,
            Command::CompleteLogin {
                callback_query: callback_query.to_owned(),
            },
        )?;
        let mut token_set = None;
        loop {
            match machine.poll_output() {
                Output::HttpRequest { id, request } => {
                    let input = self.exchange(id, request).await;
                    machine.handle_input(input)?;
                }
                Output::Event(Event::Persist(set)) => {
                    self.save(&key, &set).await?;
                    token_set = Some(set);
                }
                Output::Event(Event::LoginCompleted { .. }) => {
                    tracing::info!(subject, "login completed");
                    return token_set.ok_or_else(|| LoginError::Incomplete.into());
                }
                Output::Event(Event::LoginFailed(failure)) => {
                    tracing::warn!(subject, failure = ?failure, "login failed");
                    return Err(LoginError::Failed(failure).into());
                }
                Output::Event(_) => (),
                Output::Timeout(_) => return Err(LoginError::Incomplete.into()),
                _ => (),
            }
        }
    }

    /// Logs `subject` out: revokes the refresh token, then the access token, and deletes the
    /// token set whatever the server says. Returns what the server confirmed.
    pub async fn logout(&self, subject: &str) -> Result<Option<RevocationOutcome>> {
        let key = self.credential_key(subject)?;
        let Some(stored) = self.store.load(&key).await? else {
            return Ok(None);
        };
        let token_set = codec::decode_token_set(&stored.value);
        let Ok(token_set) = token_set else {
            // Unreadable: nothing can be revoked, but the user asked to be logged out.
            self.store.delete(&key, None).await?;
            return Ok(None);
        };
        let mut machine = self.machine()?;
        self.command(&mut machine, Command::Restore(token_set))?;
        self.command(&mut machine, Command::Revoke)?;
        let mut outcome = None;
        loop {
            match machine.poll_output() {
                Output::HttpRequest { id, request } => {
                    let input = self.exchange(id, request).await;
                    machine.handle_input(input)?;
                }
                Output::Event(Event::TokenSetDropped) => {
                    self.store.delete(&key, None).await?;
                }
                Output::Event(Event::LoggedOut(result)) => outcome = Some(result),
                Output::Event(_) => (),
                Output::Timeout(_) => break,
                _ => (),
            }
        }
        // Deleted whatever happened above.
        self.store.delete(&key, None).await?;
        tracing::info!(subject, outcome = ?outcome, "logged out");
        Ok(outcome)
    }

    /// The token set stored for `subject`, if any (for status displays; send tokens only through
    /// a [`TokenManager`](crate::TokenManager), which refreshes them).
    pub async fn stored_token_set(&self, subject: &str) -> Result<Option<TokenSet>> {
        let key = self.credential_key(subject)?;
        match self.store.load(&key).await? {
            Some(stored) => Ok(Some(codec::decode_token_set(&stored.value)?)),
            None => Ok(None),
        }
    }

    fn machine(&self) -> Result<AuthMachine> {
        Ok(AuthMachine::new(
            self.config.clone(),
            self.clock.now(),
            exchange::os_seed()?,
        ))
    }

    fn command(&self, machine: &mut AuthMachine, command: Command) -> Result<()> {
        machine.handle_input(Input::Command {
            now: self.clock.now(),
            command,
        })?;
        Ok(())
    }

    async fn exchange(
        &self,
        id: servicenow_auth::RequestId,
        request: http::Request<Vec<u8>>,
    ) -> Input {
        exchange::exchange(
            self.transport.as_ref(),
            self.clock.as_ref(),
            id,
            request,
            self.config.timing.request_timeout,
        )
        .await
    }

    /// Saves a freshly obtained token set over whatever the store holds for the key.
    async fn save(&self, key: &CredentialKey, token_set: &TokenSet) -> Result<()> {
        let current = self.store.load(key).await?.map(|stored| stored.version);
        codec::save_newest(self.store.as_ref(), key, token_set, current).await?;
        Ok(())
    }
}

/// The store key for `subject` under this instance and client.
pub(crate) fn credential_key(
    instance: &InstanceUrl,
    config: &AuthConfig,
    subject: &str,
) -> Result<CredentialKey> {
    Ok(CredentialKey::new(
        instance.origin(),
        config.client.client_id.as_str(),
        subject,
    )?)
}

/// The `state` a callback carries, to find its pending login.
fn callback_state(callback_query: &str) -> Result<State> {
    let response = parse_callback_query(callback_query)
        .map_err(|error| Error::from(LoginError::MalformedCallback(error)))?;
    let state = match response {
        AuthorizationResponse::Success(success) => Some(success.state),
        AuthorizationResponse::Error(error) => error.state,
    };
    state.ok_or_else(|| LoginError::UnknownState.into())
}

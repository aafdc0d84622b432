//! `Login`: the web flow of a `Servicenow` (begin, complete, logout), with pending logins sealed in the store so any replica can complete them.

use std::sync::Arc;

use servicenow_auth::{AuthConfig, AuthMachine, Command, Event, RevocationOutcome, TokenSet};
use servicenow_oauth::{AuthorizationResponse, State, parse_callback_query};
use servicenow_store::{CredentialKey, Version};

use crate::{
    app::{App, CredentialKind},
    codec,
    drive::{Stop, TokenEndpoint, os_seed},
    error::{ConfigError, Error, LoginError, Result},
};

/// Signs users in with the authorization code flow + PKCE S256 and keeps their tokens in the
/// app's store, never in the browser. From [`Servicenow::login`](crate::Servicenow::login).
///
/// - [`begin`](Self::begin) returns the URL to redirect the user to and keeps the pending login
///   (its `state`, PKCE verifier and redirect URI, sealed) in the store, so that any replica
///   sharing the store can complete it;
/// - [`complete`](Self::complete) takes the callback's query string, accepts it only for a
///   `state` begun **for that subject**, unexpired and unused (the store's atomic take makes it
///   single-use across replicas), exchanges the code and stores the token set. The subject is
///   asked for again on purpose: it binds the callback to the user who began the login, so a
///   callback begun by someone else (login CSRF) is refused;
/// - [`logout`](Self::logout) revokes the tokens and deletes them.
///
/// After `complete` and `logout`, every live [`Client`](crate::Client) of that subject reloads
/// its tokens from the store.
#[derive(Clone)]
pub struct Login {
    app: Arc<App>,
    config: Arc<AuthConfig>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("instance", &self.app.instance)
            .finish_non_exhaustive()
    }
}

impl Login {
    pub(crate) fn new(app: Arc<App>) -> Result<Self> {
        let config = app
            .user_config
            .clone()
            .ok_or(Error::Config(ConfigError::NoRedirectUri))?;
        Ok(Self { app, config })
    }

    /// The store key of `subject`'s tokens (instance origin, client id, subject).
    pub fn credential_key(&self, subject: &str) -> Result<CredentialKey> {
        self.app.key(&CredentialKind::User(subject))
    }

    /// Begins a login for `subject` (the application's own user id): returns the authorization
    /// URL to redirect the user's browser to.
    pub async fn begin(&self, subject: &str) -> Result<String> {
        let key = self.credential_key(subject)?;
        let endpoint = self.endpoint();
        let mut machine = self.machine()?;
        endpoint.command(&mut machine, Command::BeginLogin)?;
        let started = match self.run(&mut machine, &key, &mut None).await? {
            Stop::Event(Event::LoginStarted(started)) => started,
            other => return Err(unexpected("beginning a login", &other)),
        };
        let pending = machine
            .export_pending_login(&started.state)
            .ok_or_else(|| unexpected_text("beginning a login", "the login begun was not kept"))?;
        let bytes = codec::encode_pending_login(&pending)?;
        let id = codec::pending_id(&started.state)?;
        endpoint
            .store
            .put_pending(&key, &id, bytes, self.config.timing.login_lifetime)
            .await?;
        tracing::info!(subject, "login begun");
        Ok(started.authorization_url.as_str().to_owned())
    }

    /// Completes `subject`'s login from the callback's query string (`code=…&state=…`, or
    /// `error=…`), exchanges the code, stores the token set and returns it.
    pub async fn complete(&self, subject: &str, callback_query: &str) -> Result<TokenSet> {
        let key = self.credential_key(subject)?;
        let endpoint = self.endpoint();
        let state = callback_state(callback_query)?;
        let id = codec::pending_id(&state)?;
        let Some(bytes) = endpoint.store.take_pending(&key, &id).await? else {
            tracing::warn!(
                subject,
                "login callback refused: unknown, used or expired state"
            );
            return Err(LoginError::UnknownState.into());
        };
        let pending = codec::decode_pending_login(&bytes)?;
        let mut machine = self.machine()?;
        endpoint.command(&mut machine, Command::ImportPendingLogin(pending))?;
        endpoint.command(
            &mut machine,
            Command::CompleteLogin {
                callback_query: callback_query.to_owned(),
            },
        )?;
        let mut version = endpoint.stored_version(&key).await?;
        loop {
            match self.run(&mut machine, &key, &mut version).await? {
                Stop::Persisted => {}
                Stop::PersistFailed(_, error) => return Err(error),
                Stop::Event(Event::LoginCompleted { .. }) => {
                    tracing::info!(subject, "login completed");
                    self.reload_live(&key).await;
                    return machine
                        .token_set()
                        .cloned()
                        .ok_or_else(|| LoginError::Incomplete.into());
                }
                Stop::Event(Event::LoginFailed(failure)) => {
                    tracing::warn!(subject, failure = %failure, "login failed");
                    return Err(LoginError::Failed(failure).into());
                }
                Stop::Event(_) => {}
                Stop::Waiting(_) => return Err(LoginError::Incomplete.into()),
            }
        }
    }

    /// Logs `subject` out: revokes the refresh token, then the access token, and deletes the
    /// token set whatever the server says. Returns which revocations the instance accepted (a
    /// 2xx answer, not proof that a token is dead: see [`Revocation::Accepted`](servicenow_auth::Revocation::Accepted)).
    pub async fn logout(&self, subject: &str) -> Result<Option<RevocationOutcome>> {
        let key = self.credential_key(subject)?;
        let endpoint = self.endpoint();
        let Some(stored) = endpoint.store.load(&key).await? else {
            return Ok(None);
        };
        let Ok(token_set) = codec::decode_token_set(&stored.value) else {
            // Unreadable: nothing can be revoked, but the user asked to be logged out.
            endpoint.store.delete(&key, None).await?;
            self.reload_live(&key).await;
            return Ok(None);
        };
        let mut machine = self.machine()?;
        endpoint.command(&mut machine, Command::Restore(token_set))?;
        endpoint.command(&mut machine, Command::Revoke)?;
        let mut version = Some(stored.version);
        let mut outcome = None;
        loop {
            match self.run(&mut machine, &key, &mut version).await? {
                Stop::Event(Event::LoggedOut(result)) => outcome = Some(result),
                Stop::Waiting(_) => break,
                _ => {}
            }
        }
        // Deleted whatever happened above.
        endpoint.store.delete(&key, None).await?;
        self.reload_live(&key).await;
        tracing::info!(subject, outcome = ?outcome, "logged out");
        Ok(outcome)
    }

    /// The token set stored for `subject`, if any (for status displays; send tokens only through
    /// a [`Client`](crate::Client), which refreshes them).
    pub async fn stored_token_set(&self, subject: &str) -> Result<Option<TokenSet>> {
        let key = self.credential_key(subject)?;
        match self.endpoint().store.load(&key).await? {
            Some(stored) => Ok(Some(codec::decode_token_set(&stored.value)?)),
            None => Ok(None),
        }
    }

    fn endpoint(&self) -> &TokenEndpoint {
        &self.app.managers.endpoint
    }

    fn machine(&self) -> Result<AuthMachine> {
        Ok(AuthMachine::new(
            Arc::clone(&self.config),
            self.endpoint().clock.now(),
            os_seed()?,
        ))
    }

    async fn run(
        &self,
        machine: &mut AuthMachine,
        key: &CredentialKey,
        version: &mut Option<Version>,
    ) -> Result<Stop> {
        self.endpoint()
            .run_until_waiting(machine, key, version, &|| {})
            .await
    }

    /// Makes the live handles of `key` (if any) read the store again.
    async fn reload_live(&self, key: &CredentialKey) {
        if let Some(manager) = self.app.live_manager(key) {
            manager.reload().await;
        }
    }
}

/// The `state` a callback carries, to find its pending login.
fn callback_state(callback_query: &str) -> Result<State> {
    let response = parse_callback_query(callback_query)
        .map_err(|error| Error::from(LoginError::MalformedCallback(Arc::new(error))))?;
    let state = match response {
        AuthorizationResponse::Success(success) => Some(success.state),
        AuthorizationResponse::Error(error) => error.state,
    };
    state.ok_or_else(|| LoginError::UnknownState.into())
}

/// The machine stopped where a login step did not expect it: a bug, reported as such.
fn unexpected(operation: &'static str, stop: &Stop) -> Error {
    let what = match stop {
        Stop::Event(_) => "an unexpected event",
        Stop::Persisted | Stop::PersistFailed(..) => "an unexpected persist",
        Stop::Waiting(_) => "waiting without an answer",
    };
    unexpected_text(operation, what)
}

fn unexpected_text(operation: &'static str, what: &'static str) -> Error {
    Error::Unexpected { operation, what }
}

//! The authorization code + PKCE login: begin, import, and the callback's checks.

use crate::config::Credential;
use crate::error::AuthError;
use crate::event::{AuthorizationUrl, Event, LoginFailure, LoginStarted};
use crate::login::{PendingLogin, StateMatch};
use crate::machine::{AuthMachine, Exchange, Purpose};
use crate::protocol::{self, Callback};

impl AuthMachine {
    pub(crate) fn begin_login(&mut self) -> Result<(), AuthError> {
        let Credential::AuthorizationCode { redirect_uri } = &self.config.credential else {
            return Err(AuthError::LoginNotConfigured);
        };
        let redirect_uri = redirect_uri.clone();
        let state = protocol::new_state(&mut self.rng);
        let verifier = protocol::new_verifier(&mut self.rng);
        let authorization_url =
            protocol::authorization_url(&self.config, &redirect_uri, &state, &verifier);
        let deadline = self.now.saturating_add(self.config.timing.login_lifetime);
        self.pending_logins.forget_expired(self.now);
        self.pending_logins.insert(
            PendingLogin::new(state.clone(), verifier, redirect_uri, deadline),
            self.config.timing.max_pending_logins,
        );
        self.emit(Event::LoginStarted(LoginStarted {
            authorization_url: AuthorizationUrl::new(authorization_url),
            state,
            deadline,
        }));
        Ok(())
    }

    pub(crate) fn import_pending_login(&mut self, login: PendingLogin) -> Result<(), AuthError> {
        if !matches!(self.config.credential, Credential::AuthorizationCode { .. }) {
            return Err(AuthError::LoginNotConfigured);
        }
        self.pending_logins.forget_expired(self.now);
        self.pending_logins
            .insert(login, self.config.timing.max_pending_logins);
        Ok(())
    }

    /// Checks a callback: a `state` this machine holds, before its deadline, once; `iss` when
    /// present and configured; then queues the code exchange.
    pub(crate) fn complete_login(&mut self, callback_query: &str) {
        let (code, state, issuer) = match protocol::parse_callback(callback_query) {
            Callback::Code {
                code,
                state,
                issuer,
            } => (code, state, issuer),
            Callback::Error {
                error,
                description,
                state,
            } => {
                if let Some(state) = state {
                    // An error answers a login: that login is over, whatever it said.
                    let _ = self.pending_logins.take(&state, self.now);
                }
                self.emit(Event::LoginFailed(LoginFailure::AuthorizationDenied {
                    error,
                    description,
                }));
                return;
            }
            Callback::Malformed { problem } => {
                self.emit(Event::LoginFailed(LoginFailure::MalformedCallback {
                    problem,
                }));
                return;
            }
        };
        let login = match self.pending_logins.take(&state, self.now) {
            StateMatch::Live(login) => login,
            StateMatch::Expired => {
                self.emit(Event::LoginFailed(LoginFailure::Expired));
                return;
            }
            StateMatch::Unknown => {
                self.emit(Event::LoginFailed(LoginFailure::UnknownState));
                return;
            }
        };
        if let (Some(expected), Some(received)) = (&self.config.expected_issuer, issuer) {
            if *expected != received {
                self.emit(Event::LoginFailed(LoginFailure::IssuerMismatch {
                    received,
                }));
                return;
            }
        }
        // A login replaces whatever a refresh or acquisition in flight would bring.
        if let Some(request) = &mut self.token_request {
            if request.purpose != Purpose::Exchange {
                request.superseded = true;
            }
        }
        self.queued_exchanges.push_back(Exchange { code, login });
    }
}

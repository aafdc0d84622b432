//! The token lifecycle: when to send which token request, and what each answer does.

use bytes::Bytes;

use crate::backoff::uniform_up_to;
use crate::error::AuthError;
use crate::event::{Event, LoginFailure, ReauthorizationReason, TokenFailure};
use crate::machine::{Answer, AuthMachine, Installed, Purpose, TokenRequest};
use crate::protocol::{self, AcquisitionProblem, Issued, TokenOutcome};
use crate::token_set::{RefreshTokenRecord, TokenId, TokenSet};

impl AuthMachine {
    pub(crate) fn acquire(&mut self) -> Result<(), AuthError> {
        if !self.config.credential.is_non_interactive() {
            return Err(AuthError::AcquireNeedsNonInteractiveGrant);
        }
        self.schedule.on_acquire_command();
        Ok(())
    }

    pub(crate) fn ensure_fresh(&mut self) {
        if let Some(current) = self.access_token(self.now) {
            let event = Event::TokenReady {
                token_id: current.id,
                usable_until: current.usable_until,
            };
            self.emit(event);
            return;
        }
        if let Some(reason) = self.schedule.reauthorization() {
            let reason = reason.clone();
            self.emit(Event::ReauthorizationRequired { reason });
            return;
        }
        if self.tokens.is_none() {
            if self.config.credential.is_non_interactive() {
                self.schedule.want_acquisition();
            } else {
                self.require_reauthorization(ReauthorizationReason::NoTokenSet);
            }
        }
        // Otherwise a refresh is due, in flight or waiting for its retry: its outcome answers.
    }

    pub(crate) fn refuse_token(&mut self, token_id: TokenId) {
        if let Some(installed) = &mut self.tokens {
            if installed.id == token_id {
                installed.refused = true;
            }
        }
    }

    pub(crate) fn restore(&mut self, token_set: TokenSet) {
        if let Some(request) = &mut self.token_request {
            if request.purpose != Purpose::Exchange {
                request.superseded = true;
            }
        }
        self.schedule.on_fresh_start();
        let token_id = self.install(token_set, false);
        self.announce_if_usable(token_id);
    }

    /// Sends the next token request if one is needed and the rules allow it: none in flight, no
    /// re-authorization required, no retry pending.
    pub(crate) fn schedule_token_request(&mut self) -> Result<(), AuthError> {
        if self.token_request.is_some() {
            return Ok(());
        }
        if let Some(exchange) = self.queued_exchanges.pop_front() {
            let request =
                protocol::exchange_request(&self.config, &exchange.code, &exchange.login)?;
            self.send_token_request(Purpose::Exchange, request);
            return Ok(());
        }
        if !self.schedule.allows_request_at(self.now) {
            return Ok(());
        }
        let non_interactive = self.config.credential.is_non_interactive();
        if self.schedule.acquisition_wanted() && non_interactive {
            return self.send_acquisition();
        }
        let Some(installed) = &self.tokens else {
            return Ok(());
        };
        if !installed.refused && self.now < installed.refresh_at {
            return Ok(());
        }
        match installed.set.refresh_token() {
            Some(record) if !record.is_expired_at(self.now) => {
                let request = protocol::refresh_request(&self.config, record.token())?;
                self.send_token_request(Purpose::Refresh, request);
            }
            _ if non_interactive => self.send_acquisition()?,
            Some(_) => self.require_reauthorization(ReauthorizationReason::RefreshTokenExpired),
            None => self.require_reauthorization(ReauthorizationReason::NoRefreshToken),
        }
        Ok(())
    }

    fn send_acquisition(&mut self) -> Result<(), AuthError> {
        self.schedule.on_acquisition_sent();
        match protocol::acquisition_request(&self.config, self.now, &mut self.rng) {
            Ok(request) => self.send_token_request(Purpose::Acquire, request),
            Err(AcquisitionProblem::Signing(problem)) => self.token_outcome(
                Purpose::Acquire,
                TokenOutcome::Transient(TokenFailure::AssertionSigning(problem)),
            ),
            Err(AcquisitionProblem::Build(error)) => return Err(error),
        }
        Ok(())
    }

    fn send_token_request(&mut self, purpose: Purpose, request: http::Request<Bytes>) {
        let deadline = self.request_deadline();
        let id = self.emit_request(request);
        self.token_request = Some(TokenRequest {
            id,
            purpose,
            deadline,
            superseded: false,
        });
    }

    /// Counts a token request that outlived its deadline as a transient failure.
    pub(crate) fn expire_requests(&mut self) {
        if self
            .token_request
            .as_ref()
            .is_some_and(|request| self.now >= request.deadline)
        {
            if let Some(request) = self.token_request.take() {
                if !request.superseded {
                    self.token_outcome(
                        request.purpose,
                        TokenOutcome::Transient(TokenFailure::NoAnswer),
                    );
                }
            }
        }
        self.expire_revocation();
    }

    pub(crate) fn token_answer(&mut self, answer: Answer) {
        let Some(request) = self.token_request.take() else {
            return;
        };
        if request.superseded {
            return;
        }
        let outcome = match answer {
            Answer::Response(response) => protocol::parse_token_response(&self.config, &response),
            Answer::Failed(failure) => TokenOutcome::Transient(TokenFailure::Transport(failure)),
        };
        self.token_outcome(request.purpose, outcome);
    }

    fn token_outcome(&mut self, purpose: Purpose, outcome: TokenOutcome) {
        let outcome = match outcome {
            TokenOutcome::Issued(issued) if issued.expires_in.is_zero() => {
                TokenOutcome::Transient(TokenFailure::ExpiredOnArrival)
            }
            other => other,
        };
        match (purpose, outcome) {
            (Purpose::Exchange, TokenOutcome::Issued(issued)) => {
                self.schedule.on_fresh_start();
                let token_id = self.install_issued(issued, purpose);
                self.emit(Event::LoginCompleted { token_id });
                self.announce_if_usable(token_id);
            }
            (Purpose::Exchange, TokenOutcome::Rejected(error)) => {
                self.emit(Event::LoginFailed(LoginFailure::ExchangeRejected(error)));
            }
            (Purpose::Exchange, TokenOutcome::Transient(failure)) => {
                self.emit(Event::LoginFailed(LoginFailure::ExchangeFailed(failure)));
            }
            (Purpose::Refresh | Purpose::Acquire, TokenOutcome::Issued(issued)) => {
                self.schedule.on_success();
                let token_id = self.install_issued(issued, purpose);
                self.announce_if_usable(token_id);
            }
            (Purpose::Refresh, TokenOutcome::Rejected(error)) => {
                self.require_reauthorization(ReauthorizationReason::RefreshRejected(error));
            }
            (Purpose::Acquire, TokenOutcome::Rejected(error)) => {
                self.require_reauthorization(ReauthorizationReason::GrantRejected(error));
            }
            (Purpose::Refresh | Purpose::Acquire, TokenOutcome::Transient(failure)) => {
                // A server that says when to come back (429/503 `Retry-After`) is believed,
                // up to the backoff cap.
                let retry_after = match &failure {
                    TokenFailure::Server(error) => error.retry_after,
                    _ => None,
                };
                let retry_at = self.schedule.on_transient_failure(
                    self.now,
                    &self.config.timing.backoff,
                    retry_after,
                    &mut self.rng,
                    purpose == Purpose::Acquire,
                );
                self.emit(Event::TokenRequestFailed { failure, retry_at });
            }
        }
    }

    pub(crate) fn require_reauthorization(&mut self, reason: ReauthorizationReason) {
        self.schedule.require_reauthorization(reason.clone());
        self.emit(Event::ReauthorizationRequired { reason });
    }

    /// Builds the new token set from a token response: a refresh without a refresh token keeps
    /// the old one (RFC 6749 §6); the same refresh token string keeps its first-issue time and
    /// expiry; a new string starts a new lifetime.
    fn install_issued(&mut self, issued: Issued, purpose: Purpose) -> TokenId {
        let now = self.now;
        let previous = self.tokens.take().map(|installed| installed.set);
        let previous_record = previous
            .as_ref()
            .and_then(|set| set.refresh_token().cloned());
        let refresh_token = match (issued.refresh_token, previous_record) {
            (Some(new), Some(old)) if new.secret() == old.token().secret() => Some(old),
            (Some(new), _) => {
                let expires_at = self
                    .config
                    .timing
                    .refresh_token_lifetime
                    .map(|lifetime| now.saturating_add(lifetime));
                Some(RefreshTokenRecord::new(new, now, expires_at))
            }
            (None, old) if purpose == Purpose::Refresh => old,
            (None, _) => None,
        };
        let scope = issued
            .scope
            .or_else(|| previous.and_then(|set| set.scope().cloned()));
        let set = TokenSet::new(
            issued.access_token,
            now,
            now.saturating_add(issued.expires_in),
            refresh_token,
            scope,
        );
        self.install(set, true)
    }

    /// Makes `set` the current token set, with a new id; with `persist`, the `Persist` event is
    /// queued first and the access token is withheld until it is polled.
    fn install(&mut self, set: TokenSet, persist: bool) -> TokenId {
        let id = TokenId(self.next_token_id);
        self.next_token_id += 1;
        let lifetime = set
            .access_token_expires_at()
            .saturating_duration_since(set.obtained_at());
        let skew = self.config.timing.refresh_skew.min(lifetime / 2);
        let usable_until = set.access_token_expires_at().saturating_sub(skew);
        let jitter = uniform_up_to(
            self.config.timing.refresh_jitter.min(lifetime / 4),
            &mut self.rng,
        );
        let refresh_at = usable_until.saturating_sub(jitter);
        if persist {
            self.unpolled_persists += 1;
            self.emit(Event::Persist(set.clone()));
        }
        self.tokens = Some(Installed {
            set,
            id,
            usable_until,
            refresh_at,
            refused: false,
        });
        id
    }

    fn announce_if_usable(&mut self, token_id: TokenId) {
        if let Some(installed) = &self.tokens {
            if installed.id == token_id && self.now < installed.usable_until {
                let usable_until = installed.usable_until;
                self.emit(Event::TokenReady {
                    token_id,
                    usable_until,
                });
            }
        }
    }
}

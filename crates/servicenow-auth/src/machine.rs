//! The machine: its state, the drive contract (`handle_input` / `poll_output`) and its queries.

use std::{collections::VecDeque, sync::Arc};

use bytes::Bytes;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use servicenow_oauth::{AccessToken, AuthorizationCode, State};

use crate::config::AuthConfig;
use crate::error::AuthError;
use crate::event::{Event, ReauthorizationReason};
use crate::io::{Command, Input, Output, RequestId, TransportFailure};
use crate::login::{PendingLogin, PendingLogins};
use crate::logout::Logout;
use crate::schedule::Schedule;
use crate::time::Timestamp;
use crate::token_set::{TokenId, TokenSet};

/// The authentication state of one credential (instance + client + user or service identity),
/// driven by inputs and drained of outputs; it does no IO and reads no clock.
///
/// Drive it with the loop in the [crate docs](crate): one [`Input`] to [`handle_input`](Self::handle_input),
/// then [`poll_output`](Self::poll_output) until it returns [`Output::Timeout`].
#[derive(Debug)]
pub struct AuthMachine {
    /// Shared: many machines of one application share one configuration.
    pub(crate) config: Arc<AuthConfig>,
    pub(crate) rng: ChaCha20Rng,
    pub(crate) now: Timestamp,
    pub(crate) next_request_id: u64,
    pub(crate) next_token_id: u64,
    pub(crate) outputs: VecDeque<Output>,
    /// `Persist` events queued but not yet polled: no new access token is handed out meanwhile.
    pub(crate) unpolled_persists: usize,
    pub(crate) pending_logins: PendingLogins,
    pub(crate) tokens: Option<Installed>,
    /// The one token-endpoint request allowed in flight.
    pub(crate) token_request: Option<TokenRequest>,
    /// Code exchanges waiting for the token request in flight to finish.
    pub(crate) queued_exchanges: VecDeque<Exchange>,
    /// When the next refresh or acquisition may be sent (retry, re-authorization, wished-for
    /// acquisition): changed only through its methods.
    pub(crate) schedule: Schedule,
    pub(crate) logouts: VecDeque<Logout>,
}

/// The access token to send now, from [`AuthMachine::access_token`].
#[derive(Clone, Copy, Debug)]
pub struct CurrentToken<'a> {
    /// The token, for an `Authorization: Bearer` header.
    pub token: &'a AccessToken,
    /// Its id, for [`Command::Unauthorized`] if the resource server refuses it.
    pub id: TokenId,
    /// The instant from which the machine stops handing it out.
    pub usable_until: Timestamp,
    /// The instant from which the machine refreshes it on its own (its proactive refresh point,
    /// at or before `usable_until`); see [`Status::refresh_at`].
    pub refresh_at: Timestamp,
}

/// A snapshot of what the machine is doing, from [`AuthMachine::status`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Status {
    /// A token set is held (usable or not).
    pub has_token_set: bool,
    /// A token-endpoint request (exchange, refresh, acquisition) awaits its answer.
    pub token_request_in_flight: bool,
    /// The access token is at or past its proactive refresh point, or was refused by the resource server.
    pub refresh_due: bool,
    /// When the next retry after a transient failure happens, if one is scheduled.
    pub retry_at: Option<Timestamp>,
    /// When the held token's proactive refresh is due: `expires_at - skew` (the end of its
    /// usability, [`CurrentToken::usable_until`]) minus a seeded-random jitter of at most
    /// [`Timing::refresh_jitter`](crate::Timing::refresh_jitter) (capped at a quarter of the
    /// token's lifetime). It is fixed when the token set is installed and does not move; `None`
    /// without a token set. From this instant on, any input (an [`Input::Timeout`] at the
    /// machine's deadline or a [`Command::EnsureFresh`]) sends the refresh, unless a retry,
    /// a request in flight or a re-authorization requirement holds it back.
    pub refresh_at: Option<Timestamp>,
    /// Why no token request will be sent until a login, restore or `Acquire`, if so.
    pub reauthorization_required: Option<ReauthorizationReason>,
    /// Logins begun (or imported) and not yet completed, failed or exported.
    pub pending_logins: usize,
}

/// The token set in use, with what the machine derived from it when it was installed.
#[derive(Debug)]
pub(crate) struct Installed {
    pub(crate) set: TokenSet,
    pub(crate) id: TokenId,
    pub(crate) usable_until: Timestamp,
    pub(crate) refresh_at: Timestamp,
    /// The resource server answered 401 for this access token.
    pub(crate) refused: bool,
}

/// The token-endpoint request in flight.
#[derive(Debug)]
pub(crate) struct TokenRequest {
    pub(crate) id: RequestId,
    pub(crate) purpose: Purpose,
    pub(crate) deadline: Timestamp,
    /// A restore, logout or login made its answer moot: it is dropped when it comes.
    pub(crate) superseded: bool,
}

/// Why a token request was sent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Purpose {
    Exchange,
    Refresh,
    Acquire,
}

/// A validated callback waiting for its code exchange.
#[derive(Debug)]
pub(crate) struct Exchange {
    pub(crate) code: AuthorizationCode,
    pub(crate) login: PendingLogin,
}

/// What came back for a request.
pub(crate) enum Answer {
    Response(http::Response<Bytes>),
    Failed(TransportFailure),
}

impl AuthMachine {
    /// A machine with no token set, at time `now`, with its CSPRNG (for `state`, PKCE verifiers
    /// and jitter) seeded from `rng_seed`.
    ///
    /// Drivers seed from the operating system's RNG; tests pass a fixed seed and get
    /// byte-identical requests.
    pub fn new(config: impl Into<Arc<AuthConfig>>, now: Timestamp, rng_seed: [u8; 32]) -> Self {
        Self {
            config: config.into(),
            rng: ChaCha20Rng::from_seed(rng_seed),
            now,
            next_request_id: 1,
            next_token_id: 1,
            outputs: VecDeque::new(),
            unpolled_persists: 0,
            pending_logins: PendingLogins::default(),
            tokens: None,
            token_request: None,
            queued_exchanges: VecDeque::new(),
            schedule: Schedule::default(),
            logouts: VecDeque::new(),
        }
    }

    /// Feeds one input; then drain [`poll_output`](Self::poll_output) until it returns
    /// [`Output::Timeout`] before the next input.
    ///
    /// Returns `Err` only for API misuse (an id this machine never emitted, a login on a
    /// credential without one); every server, browser or user behaviour is an [`Event`].
    /// A `now` earlier than one seen before is treated as that earlier-seen time: time never
    /// runs backwards inside the machine.
    pub fn handle_input(&mut self, input: Input) -> Result<(), AuthError> {
        self.now = self.now.max(input.now());
        match input {
            Input::Command { command, .. } => self.handle_command(command)?,
            Input::Response { id, response, .. } => {
                self.handle_answer(id, Answer::Response(response))?
            }
            Input::TransportFailed { id, failure, .. } => {
                self.handle_answer(id, Answer::Failed(failure))?
            }
            Input::Timeout { .. } => (),
        }
        self.expire_requests();
        self.advance_logouts()?;
        self.schedule_token_request()
    }

    /// The next thing to do: requests to send and events to surface, then, last of each drain,
    /// the deadline at which to feed [`Input::Timeout`].
    ///
    /// Call after every [`handle_input`](Self::handle_input), until it returns [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output {
        match self.outputs.pop_front() {
            Some(output) => {
                if matches!(output, Output::Event(Event::Persist(_))) {
                    self.unpolled_persists = self.unpolled_persists.saturating_sub(1);
                }
                output
            }
            None => {
                // Drained: give the queue's buffer back, so that an idle machine (one per
                // credential, thousands in a server) holds no empty capacity.
                if self.outputs.capacity() > 0 {
                    self.outputs = VecDeque::new();
                }
                Output::Timeout(self.next_deadline())
            }
        }
    }

    /// The access token to send at `now`, if one is usable: held, not refused by the resource
    /// server, its `Persist` event already polled, and `now < expires_at - skew`.
    pub fn access_token(&self, now: Timestamp) -> Option<CurrentToken<'_>> {
        let now = now.max(self.now);
        if self.unpolled_persists > 0 {
            return None;
        }
        let installed = self.tokens.as_ref()?;
        if installed.refused || now >= installed.usable_until {
            return None;
        }
        Some(CurrentToken {
            token: installed.set.access_token(),
            id: installed.id,
            usable_until: installed.usable_until,
            refresh_at: installed.refresh_at,
        })
    }

    /// The token set held, usable or not (for status displays; send only [`access_token`](Self::access_token)).
    pub fn token_set(&self) -> Option<&TokenSet> {
        self.tokens.as_ref().map(|installed| &installed.set)
    }

    /// What the machine is doing at `now`: is a refresh due or in flight, is a retry scheduled,
    /// is re-authorization required.
    pub fn status(&self, now: Timestamp) -> Status {
        let now = now.max(self.now);
        Status {
            has_token_set: self.tokens.is_some(),
            token_request_in_flight: self.token_request.is_some(),
            refresh_due: self
                .tokens
                .as_ref()
                .is_some_and(|installed| installed.refused || now >= installed.refresh_at),
            retry_at: self.schedule.retry_at(),
            refresh_at: self.tokens.as_ref().map(|installed| installed.refresh_at),
            reauthorization_required: self.schedule.reauthorization().cloned(),
            pending_logins: self.pending_logins.len(),
        }
    }

    /// Removes the pending login with this `state` from the machine and returns it, to be kept in
    /// a shared store and imported by whichever replica receives the callback.
    pub fn export_pending_login(&mut self, state: &State) -> Option<PendingLogin> {
        self.pending_logins.export(state)
    }

    /// The configuration the machine was built with.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    fn handle_command(&mut self, command: Command) -> Result<(), AuthError> {
        match command {
            Command::BeginLogin => self.begin_login()?,
            Command::ImportPendingLogin(login) => self.import_pending_login(login)?,
            Command::CompleteLogin { callback_query } => self.complete_login(&callback_query),
            Command::Acquire => self.acquire()?,
            Command::EnsureFresh => self.ensure_fresh(),
            Command::Unauthorized { token_id } => self.refuse_token(token_id),
            Command::Restore(token_set) => self.restore(token_set),
            Command::Revoke => self.start_logout(),
        }
        Ok(())
    }

    fn handle_answer(&mut self, id: RequestId, answer: Answer) -> Result<(), AuthError> {
        if id.0 == 0 || id.0 >= self.next_request_id {
            return Err(AuthError::UnknownRequest(id));
        }
        if self
            .token_request
            .as_ref()
            .is_some_and(|request| request.id == id)
        {
            self.token_answer(answer);
        } else if self
            .logouts
            .front()
            .is_some_and(|logout| logout.request_id() == Some(id))
        {
            self.revocation_answer(&answer);
        }
        // Otherwise the answer is to a request the machine gave up on, or a duplicate: dropped.
        Ok(())
    }

    /// Emits a request and returns its id.
    pub(crate) fn emit_request(&mut self, request: http::Request<Bytes>) -> RequestId {
        let id = RequestId(self.next_request_id);
        self.next_request_id += 1;
        self.outputs.push_back(Output::HttpRequest { id, request });
        id
    }

    pub(crate) fn emit(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }

    /// The request deadline for a request sent now.
    pub(crate) fn request_deadline(&self) -> Timestamp {
        self.now.saturating_add(self.config.timing.request_timeout)
    }

    fn next_deadline(&self) -> Timestamp {
        let mut deadlines = Vec::with_capacity(4);
        if let Some(request) = &self.token_request {
            deadlines.push(request.deadline);
        }
        if let Some(deadline) = self.logouts.front().and_then(Logout::deadline) {
            deadlines.push(deadline);
        }
        if self.token_request.is_none() {
            let refresh_at = self.tokens.as_ref().map(|installed| installed.refresh_at);
            deadlines.extend(self.schedule.next_deadline(refresh_at));
        }
        deadlines.into_iter().min().unwrap_or(Timestamp::NEVER)
    }
}

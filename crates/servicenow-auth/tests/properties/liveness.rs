//! Liveness under fair schedules: the driver wakes the machine at every deadline it asks for,
//! the server answers every request it is sent (within 20 s, unless a scripted fault says
//! otherwise) and time moves on. Under such schedules the machine must not merely avoid harm:
//! - a due refresh is requested by its refresh point (nothing but a retry, a request in flight
//!   or a re-authorization requirement may hold it back, and the machine never sleeps past it);
//! - every caller waiting for a token (`EnsureFresh`) hears `TokenReady` or a typed failure
//!   within [`answer_bound`];
//! - after `ReauthorizationRequired`, a new login (or `Acquire`) restores a usable token within
//!   two request timeouts.

use bytes::Bytes;
use std::time::Duration;

use proptest::prelude::*;
use servicenow_auth::{AuthMachine, Command, Event, Input, Output, RequestId, Timestamp};
use servicenow_testkit::{
    EPOCH, FakeTokenServer, Fault, RefreshTokenPolicy, ServerAnswer, fixtures,
};

/// The liveness rules, each checked by its own property.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Liveness {
    DueRefreshRequested,
    CallerAnswered,
    LoginRestoresService,
    /// The driver itself failed (a loop cap hit, a misuse): reported under every property.
    Harness,
}

/// What happens around the machine, in order.
#[derive(Clone, Debug)]
pub(crate) enum FairEvent {
    /// Time passes (the driver keeps waking the machine and the server keeps answering).
    Wait { millis: u64 },
    /// A caller asks for a token and waits for the answer.
    Caller,
    /// A resource server refuses the token handed out now.
    Unauthorized,
    /// The next token request meets this fault.
    Fault(Fault),
    /// The user logs out.
    Revoke,
}

#[derive(Clone, Debug)]
pub(crate) struct FairScenario {
    pub(crate) client_credentials: bool,
    pub(crate) access_token_lifetime_secs: u64,
    pub(crate) refresh_token_lifetime_secs: Option<u64>,
    pub(crate) policy: RefreshTokenPolicy,
    pub(crate) seed: u8,
    /// How long the server takes to answer, per request in turn (cycled), in milliseconds.
    pub(crate) answer_delays: Vec<u64>,
    pub(crate) events: Vec<FairEvent>,
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::ServerError(503)),
        Just(Fault::RateLimited {
            retry_after_secs: 45
        }),
        Just(Fault::Silence),
        Just(Fault::Transport(servicenow_auth::TransportFailure::Connect)),
        Just(Fault::InvalidGrant),
    ]
}

fn fair_event() -> impl Strategy<Value = FairEvent> {
    prop_oneof![
        4 => prop_oneof![0..5_000_u64, 0..400_000_u64, 0..3_000_000_u64]
            .prop_map(|millis| FairEvent::Wait { millis }),
        4 => Just(FairEvent::Caller),
        2 => Just(FairEvent::Unauthorized),
        2 => fault().prop_map(FairEvent::Fault),
        1 => Just(FairEvent::Revoke),
    ]
}

pub(crate) fn fair_scenario() -> impl Strategy<Value = FairScenario> {
    (
        prop::bool::weighted(0.3),
        prop_oneof![Just(30_u64), Just(90), Just(300), Just(1800)],
        prop_oneof![Just(None), Just(Some(900_u64)), Just(Some(8_640_000))],
        prop_oneof![
            Just(RefreshTokenPolicy::ReturnSame),
            Just(RefreshTokenPolicy::Omit),
            Just(RefreshTokenPolicy::Rotate)
        ],
        any::<u8>(),
        prop::collection::vec(0..20_000_u64, 1..8),
        prop::collection::vec(fair_event(), 1..60),
    )
        .prop_map(
            |(
                client_credentials,
                access_token_lifetime_secs,
                refresh_token_lifetime_secs,
                policy,
                seed,
                answer_delays,
                events,
            )| FairScenario {
                client_credentials,
                access_token_lifetime_secs,
                refresh_token_lifetime_secs,
                policy,
                seed,
                answer_delays,
                events,
            },
        )
}

/// The longest a caller may wait: a retry at the backoff cap, then up to three requests (one
/// superseded, one timing out, one answered) of a request timeout each.
fn answer_bound(machine: &AuthMachine) -> Duration {
    let timing = machine.config().timing;
    timing.backoff.max + timing.request_timeout * 3
}

/// How long a login may take to restore service after re-authorization was required.
fn restore_bound(machine: &AuthMachine) -> Duration {
    machine.config().timing.request_timeout * 2
}

/// The most driver iterations one scenario may take before it fails as a loop.
const ITERATION_CAP: usize = 100_000;

pub(crate) struct FairWorld {
    machine: AuthMachine,
    server: FakeTokenServer,
    now: Timestamp,
    deadline: Timestamp,
    answer_delays: Vec<u64>,
    answers_sent: usize,
    /// Requests the server will answer: when, and what.
    pending: Vec<(Timestamp, RequestId, http::Request<Bytes>)>,
    /// Arrival times of callers not yet answered.
    waiting: Vec<Timestamp>,
    /// Since when re-authorization is being repaired by a login, if it is.
    restoring_since: Option<Timestamp>,
    iterations: usize,
    /// The first start (a login or an acquisition) is done: later repairs follow a
    /// re-authorization requirement.
    started: bool,
    pub(crate) violations: Vec<(Liveness, String)>,
    /// How often each liveness situation came up: callers answered after waiting, refreshes
    /// requested at their refresh point, services restored after re-authorization.
    pub(crate) callers_answered_after_waiting: usize,
    pub(crate) refreshes_at_their_point: usize,
    pub(crate) services_restored_after_reauthorization: usize,
}

impl FairWorld {
    pub(crate) fn new(scenario: &FairScenario) -> Self {
        let mut config = if scenario.client_credentials {
            fixtures::client_credentials_config()
        } else {
            fixtures::authorization_code_config()
        };
        let refresh_token_lifetime = scenario
            .refresh_token_lifetime_secs
            .map(Duration::from_secs);
        config.timing.refresh_token_lifetime = refresh_token_lifetime;
        let mut server = fixtures::servicenow_server();
        server.access_token_lifetime = Duration::from_secs(scenario.access_token_lifetime_secs);
        server.refresh_token_lifetime =
            refresh_token_lifetime.unwrap_or(Duration::from_secs(400 * 86_400));
        server.refresh_token_policy = scenario.policy;
        Self {
            machine: AuthMachine::new(config, EPOCH, [scenario.seed; 32]),
            server,
            now: EPOCH,
            deadline: Timestamp::NEVER,
            answer_delays: scenario.answer_delays.clone(),
            answers_sent: 0,
            pending: Vec::new(),
            waiting: Vec::new(),
            restoring_since: None,
            iterations: 0,
            started: false,
            violations: Vec::new(),
            callers_answered_after_waiting: 0,
            refreshes_at_their_point: 0,
            services_restored_after_reauthorization: 0,
        }
    }

    pub(crate) fn run(&mut self, scenario: &FairScenario) {
        self.restore_service();
        for event in &scenario.events {
            match event {
                FairEvent::Wait { millis } => {
                    let target = self.now.saturating_add(Duration::from_millis(*millis));
                    self.run_until(target);
                }
                FairEvent::Caller => {
                    self.waiting.push(self.now);
                    self.command(Command::EnsureFresh);
                }
                FairEvent::Unauthorized => {
                    if let Some(id) = self.machine.access_token(self.now).map(|token| token.id) {
                        self.command(Command::Unauthorized { token_id: id });
                    }
                }
                FairEvent::Fault(fault) => {
                    if self.restoring_since.is_none() {
                        self.server.fail_next(*fault);
                    }
                }
                // A logout abandons a login under way: the user would not, while it repairs.
                FairEvent::Revoke if self.restoring_since.is_none() => {
                    self.command(Command::Revoke);
                }
                FairEvent::Revoke => (),
            }
            if !self.violations.is_empty() {
                return;
            }
        }
        // Let every waiting caller and every repair finish.
        let settle = answer_bound(&self.machine) + restore_bound(&self.machine);
        self.run_until(self.now.saturating_add(settle));
        if let Some(arrived) = self.waiting.first() {
            self.violations.push((
                Liveness::CallerAnswered,
                format!(
                    "a caller waiting since {arrived:?} had no answer at {:?}",
                    self.now
                ),
            ));
        }
    }

    fn command(&mut self, command: Command) {
        self.feed(Input::Command {
            now: self.now,
            command,
        });
    }

    /// Moves time to `target`, waking the machine at each of its deadlines and delivering each
    /// answer when it is due.
    fn run_until(&mut self, target: Timestamp) {
        loop {
            self.iterations += 1;
            if self.iterations > ITERATION_CAP {
                self.violations.push((
                    Liveness::Harness,
                    format!("more than {ITERATION_CAP} wake-ups: a loop"),
                ));
                return;
            }
            let next_answer = self.pending.iter().map(|(at, _, _)| *at).min();
            let next = next_answer.map_or(self.deadline, |at| at.min(self.deadline));
            self.check_waits_until(next.min(target));
            if next > target || !self.violations.is_empty() {
                self.now = self.now.max(target);
                return;
            }
            self.now = self.now.max(next);
            if next_answer == Some(next) {
                let index = self
                    .pending
                    .iter()
                    .position(|(at, _, _)| *at == next)
                    .unwrap_or(0);
                let (_, id, request) = self.pending.remove(index);
                match self.server.handle(self.now, &request) {
                    ServerAnswer::Response(response) => self.feed(Input::Response {
                        now: self.now,
                        id,
                        response,
                    }),
                    ServerAnswer::Transport(failure) => self.feed(Input::TransportFailed {
                        now: self.now,
                        id,
                        failure,
                    }),
                    ServerAnswer::Silence => (),
                }
            } else {
                self.feed(Input::Timeout { now: self.now });
            }
        }
    }

    fn feed(&mut self, input: Input) {
        if let Err(error) = self.machine.handle_input(input) {
            self.violations.push((
                Liveness::Harness,
                format!("the driver misused the machine: {error}"),
            ));
            return;
        }
        let mut reauthorization = false;
        let mut answered = false;
        let mut login_started = None;
        loop {
            match self.machine.poll_output() {
                Output::HttpRequest { id, request } => {
                    let delay = self.answer_delays[self.answers_sent % self.answer_delays.len()];
                    self.answers_sent += 1;
                    let at = self.now.saturating_add(Duration::from_millis(delay));
                    self.pending.push((at, id, request));
                }
                Output::Event(event) => match event {
                    Event::ReauthorizationRequired { .. } => {
                        reauthorization = true;
                        answered = true;
                    }
                    Event::TokenReady { .. }
                    | Event::TokenRequestFailed { .. }
                    | Event::TokenSetDropped
                    | Event::LoggedOut(_) => answered = true,
                    Event::LoginStarted(started) => login_started = Some(started),
                    Event::LoginFailed(failure) if self.restoring_since.is_some() => {
                        self.violations.push((
                            Liveness::LoginRestoresService,
                            format!("the login repairing a re-authorization failed: {failure:?}"),
                        ));
                    }
                    _ => (),
                },
                Output::Timeout(deadline) => {
                    self.deadline = deadline;
                    break;
                }
                _ => (),
            }
        }
        if answered {
            let now = self.now;
            self.callers_answered_after_waiting += self
                .waiting
                .iter()
                .filter(|arrived| **arrived < now)
                .count();
            self.waiting.clear();
        }
        if let Some(started) = login_started {
            let callback = self.server.authorize(started.authorization_url.as_str());
            self.command(Command::CompleteLogin {
                callback_query: callback,
            });
        }
        self.check_refresh_requested();
        if self.restoring_since.is_some() && self.machine.access_token(self.now).is_some() {
            self.restoring_since = None;
            if self.started {
                self.services_restored_after_reauthorization += 1;
            }
            self.started = true;
        }
        if reauthorization {
            self.restore_service();
        }
    }

    /// The application's answer to `ReauthorizationRequired` (and the first start): a login
    /// the user completes, or `Acquire`, with the server answering by its rules.
    fn restore_service(&mut self) {
        self.server.faults.clear();
        if self.restoring_since.is_none() {
            self.restoring_since = Some(self.now);
        }
        if self.machine.config().credential.is_non_interactive() {
            self.command(Command::Acquire);
        } else {
            self.command(Command::BeginLogin);
        }
    }

    /// A refresh that is due and held back by nothing is in flight, and the machine never asks
    /// to sleep past the refresh point.
    fn check_refresh_requested(&mut self) {
        let status = self.machine.status(self.now);
        let Some(refresh_at) = status.refresh_at else {
            return;
        };
        let held_back = status.token_request_in_flight
            || status.reauthorization_required.is_some()
            || status.retry_at.is_some_and(|retry_at| self.now < retry_at);
        if held_back {
            if status.token_request_in_flight && refresh_at <= self.now {
                self.refreshes_at_their_point += 1;
            }
            return;
        }
        if refresh_at <= self.now {
            self.violations.push((
                Liveness::DueRefreshRequested,
                format!(
                    "at {:?} the refresh due at {refresh_at:?} was not requested",
                    self.now
                ),
            ));
        } else if self.deadline > refresh_at {
            self.violations.push((
                Liveness::DueRefreshRequested,
                format!(
                    "the machine asked to sleep until {:?}, past the refresh point {refresh_at:?}",
                    self.deadline
                ),
            ));
        }
    }

    /// No caller and no repair will have waited longer than its bound when time reaches `at`
    /// with nothing happening before.
    fn check_waits_until(&mut self, at: Timestamp) {
        let bound = answer_bound(&self.machine);
        if let Some(arrived) = self
            .waiting
            .iter()
            .find(|arrived| arrived.saturating_add(bound) < at)
        {
            self.violations.push((
                Liveness::CallerAnswered,
                format!("a caller waiting since {arrived:?} had no answer after {bound:?}"),
            ));
        }
        if let Some(since) = self.restoring_since {
            if since.saturating_add(restore_bound(&self.machine)) < at {
                self.violations.push((Liveness::LoginRestoresService, format!(
                    "re-authorization required since {since:?}: a login did not restore service by {at:?}"
                )));
            }
        }
    }
}

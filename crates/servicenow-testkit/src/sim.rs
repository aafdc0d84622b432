//! `Sim`: the machine, a fake token server and virtual time, driven the way a real driver would.

use bytes::Bytes;
use std::collections::VecDeque;
use std::time::Duration;

use servicenow_auth::{
    AuthConfig, AuthMachine, Command, Event, Input, LoginStarted, Output, RequestId, Timestamp,
    TokenSet,
};

use crate::server::{FakeTokenServer, ServerAnswer};

/// The virtual clock's start: 2023-11-14T22:13:20Z, a fixed instant so runs repeat.
pub const EPOCH: Timestamp = Timestamp::from_unix_seconds(1_700_000_000);

/// The RNG seed of every `Sim` unless a test picks another: fixed, so requests are byte-identical.
pub const SEED: [u8; 32] = [7; 32];

/// A deterministic simulation: one machine, one fake token server, virtual time, and the
/// driver's duties (sending requests, feeding answers, keeping a token store).
///
/// Time moves only through [`Sim::advance`]; requests move only through [`Sim::step`] and
/// [`Sim::drive`]; so a test is a story of commands, waits and answers.
#[derive(Debug)]
pub struct Sim {
    /// The machine under test.
    pub machine: AuthMachine,
    /// The token server it talks to.
    pub server: FakeTokenServer,
    /// The current virtual time.
    pub now: Timestamp,
    /// Requests emitted and not yet delivered to the server.
    pub outbox: VecDeque<(RequestId, http::Request<Bytes>)>,
    /// Every request the machine emitted, in order.
    pub sent: Vec<http::Request<Bytes>>,
    /// Every event the machine emitted, in order.
    pub events: Vec<Event>,
    /// The token store as the driver keeps it: the last persisted set, cleared on logout.
    pub store: Option<TokenSet>,
    /// The last deadline the machine asked to be woken at.
    pub timeout: Timestamp,
}

impl Sim {
    /// A simulation at [`EPOCH`] with the machine seeded by [`SEED`].
    pub fn new(config: AuthConfig, server: FakeTokenServer) -> Self {
        Self::with_seed(config, server, SEED)
    }

    /// A simulation at [`EPOCH`] with the machine seeded by `seed`.
    pub fn with_seed(config: AuthConfig, server: FakeTokenServer, seed: [u8; 32]) -> Self {
        Self {
            machine: AuthMachine::new(config, EPOCH, seed),
            server,
            now: EPOCH,
            outbox: VecDeque::new(),
            sent: Vec::new(),
            events: Vec::new(),
            store: None,
            timeout: Timestamp::NEVER,
        }
    }

    /// Gives the machine a command now and drains its outputs (requests are queued, not sent).
    pub fn command(&mut self, command: Command) {
        self.input(Input::Command {
            now: self.now,
            command,
        });
    }

    /// Feeds any input and drains the outputs. Panics on API misuse, which is a test bug.
    pub fn input(&mut self, input: Input) {
        if let Err(error) = self.machine.handle_input(input) {
            panic!("the simulation misused the machine: {error}");
        }
        self.drain();
    }

    /// Delivers every queued request to the server and feeds back its answers; returns how many
    /// requests were delivered.
    pub fn step(&mut self) -> usize {
        let batch: Vec<_> = self.outbox.drain(..).collect();
        let delivered = batch.len();
        for (id, request) in batch {
            match self.server.handle(self.now, &request) {
                ServerAnswer::Response(response) => self.input(Input::Response {
                    now: self.now,
                    id,
                    response,
                }),
                ServerAnswer::Transport(failure) => self.input(Input::TransportFailed {
                    now: self.now,
                    id,
                    failure,
                }),
                ServerAnswer::Silence => (),
            }
        }
        delivered
    }

    /// Steps until no request is queued (at most 100 rounds).
    pub fn drive(&mut self) {
        for _ in 0..100 {
            if self.step() == 0 {
                return;
            }
        }
        panic!("the machine kept sending requests at one instant: a request loop");
    }

    /// Moves virtual time forward by `duration`, waking the machine at each deadline it asked
    /// for on the way and driving its requests, as a driver's timer would.
    pub fn advance(&mut self, duration: Duration) {
        let target = self.now.saturating_add(duration);
        self.drive();
        for _ in 0..10_000 {
            if self.timeout > target {
                break;
            }
            self.now = self.now.max(self.timeout);
            self.input(Input::Timeout { now: self.now });
            self.drive();
        }
        self.now = target;
        self.input(Input::Timeout { now: self.now });
        self.drive();
    }

    /// Begins a login and returns what the machine said to do.
    pub fn begin_login(&mut self) -> LoginStarted {
        self.command(Command::BeginLogin);
        match self.events.last() {
            Some(Event::LoginStarted(started)) => started.clone(),
            other => panic!("BeginLogin did not start a login: {other:?}"),
        }
    }

    /// A whole login: begin, the user allows, the callback, the code exchange.
    pub fn login(&mut self) {
        let started = self.begin_login();
        let callback = self.server.authorize(started.authorization_url.as_str());
        self.command(Command::CompleteLogin {
            callback_query: callback,
        });
        self.drive();
    }

    /// The access token the machine would hand out now, as a string.
    pub fn access_token(&self) -> Option<String> {
        self.machine
            .access_token(self.now)
            .map(|current| current.token.secret().to_owned())
    }

    /// Makes a resource request the way the facade's authorizing transport would: with the
    /// current token, reporting a 401 to the machine. Returns the status the resource server gave
    /// (`None`: no token to send).
    pub fn call_resource(&mut self) -> Option<u16> {
        let (token, id) = {
            let current = self.machine.access_token(self.now)?;
            (current.token.secret().to_owned(), current.id)
        };
        if self.server.accepts_access_token(&token, self.now) {
            return Some(200);
        }
        self.command(Command::Unauthorized { token_id: id });
        Some(401)
    }

    /// The events emitted since the last call (or the start).
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Drains the machine like a driver: requests to the outbox, events recorded (persisting and
    /// deleting tokens in the store), the last timeout kept.
    fn drain(&mut self) {
        for _ in 0..10_000 {
            match self.machine.poll_output() {
                Output::HttpRequest { id, request } => {
                    self.sent.push(copy_request(&request));
                    self.outbox.push_back((id, request));
                }
                Output::Event(event) => {
                    match &event {
                        Event::Persist(set) => self.store = Some(set.clone()),
                        Event::TokenSetDropped => self.store = None,
                        _ => (),
                    }
                    self.events.push(event);
                }
                Output::Timeout(deadline) => {
                    self.timeout = deadline;
                    return;
                }
                other => panic!("an output this simulation does not know: {other:?}"),
            }
        }
        panic!("the machine never finished a drain");
    }
}

/// A copy of a request (`http::Request` is not `Clone`).
pub fn copy_request(request: &http::Request<Bytes>) -> http::Request<Bytes> {
    let mut copy = http::Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.headers_mut() = request.headers().clone();
    copy
}

/// A request as text for snapshots: method and URI, headers sorted, then the body, with `&`
/// starting new lines so form fields read one per line.
pub fn render_request(request: &http::Request<Bytes>) -> String {
    let mut text = format!("{} {}\n", request.method(), request.uri());
    let mut headers: Vec<String> = request
        .headers()
        .iter()
        .map(|(name, value)| format!("{name}: {}", String::from_utf8_lossy(value.as_bytes())))
        .collect();
    headers.sort();
    for header in headers {
        text.push_str(&header);
        text.push('\n');
    }
    text.push('\n');
    text.push_str(&String::from_utf8_lossy(request.body()).replace('&', "\n&"));
    text
}

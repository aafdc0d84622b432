//! The harness: runs a scenario against the machine and a fake server, and checks every
//! invariant with an independent observer (the reference model) after every input and poll.

use bytes::Bytes;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use servicenow_auth::{
    AuthMachine, Command, Event, Input, LoginFailure, Output, RequestId, Timestamp, TokenId,
    TokenSet, TransportFailure,
};
use servicenow_testkit::{
    EPOCH, FakeTokenServer, Fault, ServerAnswer, copy_request, fixtures, form,
};

use crate::checks::{copy_response, refresh_token_in, refresh_token_of, status_only};
use crate::model::{Expected, Model, Rules, Step, TokenAnswer};
use crate::observe::{Combinations, TokenIds};

use crate::actions::{Action, AnswerKind, CallbackKind, CommandKind, Scenario};

/// The rules, each checked by its own property.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Invariant {
    SingleTokenRequestInFlight,
    NeverExpiredTokenHandedOut,
    BadStateRejected,
    RefreshTokenNeverLost,
    RefreshTokenExpiryFromFirstIssue,
    PersistBeforeHandOut,
    NoTokenRequestAfterReauthorization,
    UnauthorizedRefreshesOnce,
    NoSecretInDebug,
    /// Every JWT bearer acquisition carries a new assertion (unseen `jti`) made at its `now`.
    FreshAssertionPerAcquisition,
    /// The machine's outputs equal the reference model's, step by step.
    MatchesModel,
    /// The harness itself misused the machine (a bug in the test, reported under every property).
    HarnessMisuse,
}

pub(crate) struct Outstanding {
    pub(crate) id: RequestId,
    pub(crate) request: http::Request<Bytes>,
    pub(crate) sent_at: Timestamp,
    pub(crate) is_token_request: bool,
    pub(crate) answered: bool,
    pub(crate) lost: bool,
}

pub(crate) struct IssuedLogin {
    pub(crate) callback: String,
    pub(crate) authorization_url: String,
    pub(crate) deadline: Timestamp,
    pub(crate) delivered: bool,
}

/// What the input being fed may legitimately do to the refresh token.
pub(crate) enum RefreshTokenLicence {
    Unchanged,
    Restored(Option<String>),
    Dropped,
    FromResponse(Option<String>),
}

pub(crate) struct World {
    pub(crate) machine: AuthMachine,
    pub(crate) foreign: AuthMachine,
    pub(crate) server: FakeTokenServer,
    pub(crate) refresh_token_lifetime: Option<Duration>,
    pub(crate) client_credentials: bool,
    /// The `jti` of every JWT bearer assertion sent.
    pub(crate) jwt_ids: BTreeSet<String>,
    pub(crate) now: Timestamp,
    pub(crate) deadline: Timestamp,
    pub(crate) outstanding: Vec<Outstanding>,
    pub(crate) delivered: Vec<(RequestId, http::Response<Bytes>)>,
    pub(crate) logins: Vec<IssuedLogin>,
    pub(crate) delivered_callbacks: Vec<String>,
    pub(crate) persisted: Vec<TokenSet>,
    pub(crate) store: Option<TokenSet>,
    pub(crate) persisted_access_tokens: BTreeSet<String>,
    pub(crate) handed_out_ids: Vec<TokenId>,
    pub(crate) rejected_codes: BTreeSet<String>,
    pub(crate) exchanged_codes: BTreeSet<String>,
    pub(crate) secrets: BTreeSet<String>,
    pub(crate) blocked: bool,
    pub(crate) token_requests_this_drain: usize,
    pub(crate) login_failures_seen: usize,
    pub(crate) step: usize,
    pub(crate) violations: Vec<(Invariant, String)>,
    pub(crate) coverage: Coverage,
    pub(crate) model: Model,
    pub(crate) ids: TokenIds,
    pub(crate) combinations: Combinations,
    /// What the model predicted for the last input.
    pub(crate) last_expected: Vec<Expected>,
    /// The machine and the model disagreed once: later steps are not compared.
    pub(crate) diverged: bool,
    /// The callbacks delivered so far, with what the model was told of each.
    pub(crate) delivered_steps: Vec<Step>,
}

/// How often the situations the properties are about happened, so a generator that stops
/// reaching them is noticed (see `every_combination_is_reached_at_the_default_case_count`).
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct Coverage {
    pub(crate) refreshes: usize,
    pub(crate) acquisitions: usize,
    pub(crate) logins_completed: usize,
    pub(crate) callbacks_refused: usize,
    pub(crate) reauthorizations: usize,
    pub(crate) transient_failures: usize,
    pub(crate) unauthorized_refreshes: usize,
    pub(crate) logouts: usize,
    pub(crate) jwt_acquisitions: usize,
}

impl Coverage {
    pub(crate) const NAMES: [&'static str; 9] = [
        "refresh requests",
        "acquisition requests",
        "logins completed",
        "callbacks refused",
        "re-authorizations required",
        "transient failures",
        "401s that refreshed",
        "logouts",
        "JWT bearer acquisitions",
    ];

    pub(crate) fn counts(&self) -> [usize; 9] {
        [
            self.refreshes,
            self.acquisitions,
            self.logins_completed,
            self.callbacks_refused,
            self.reauthorizations,
            self.transient_failures,
            self.unauthorized_refreshes,
            self.logouts,
            self.jwt_acquisitions,
        ]
    }

    pub(crate) fn add(&mut self, other: &Self) {
        self.refreshes += other.refreshes;
        self.acquisitions += other.acquisitions;
        self.logins_completed += other.logins_completed;
        self.callbacks_refused += other.callbacks_refused;
        self.reauthorizations += other.reauthorizations;
        self.transient_failures += other.transient_failures;
        self.unauthorized_refreshes += other.unauthorized_refreshes;
        self.logouts += other.logouts;
        self.jwt_acquisitions += other.jwt_acquisitions;
    }
}

/// The most timer wake-ups one `Advance` may take before the case fails as a timer loop.
const WAKE_CAP: usize = 1_000;
/// The most outputs one input may produce before the case fails as an output loop.
const DRAIN_CAP: usize = 10_000;

impl World {
    pub(crate) fn new(scenario: &Scenario) -> Self {
        let mut config = if scenario.client_credentials && scenario.jwt {
            fixtures::jwt_bearer_config()
        } else if scenario.client_credentials {
            fixtures::client_credentials_config()
        } else {
            fixtures::authorization_code_config()
        };
        let refresh_token_lifetime = scenario
            .refresh_token_lifetime_secs
            .map(Duration::from_secs);
        config.timing.refresh_token_lifetime = refresh_token_lifetime;
        let model = Model::new(Rules::of(&config), EPOCH);
        let foreign = AuthMachine::new(fixtures::authorization_code_config(), EPOCH, [255; 32]);
        let mut server = fixtures::servicenow_server();
        server.access_token_lifetime = Duration::from_secs(scenario.access_token_lifetime_secs);
        server.refresh_token_lifetime =
            refresh_token_lifetime.unwrap_or(Duration::from_secs(400 * 86_400));
        server.refresh_token_policy = scenario.policy;
        Self {
            machine: AuthMachine::new(config, EPOCH, [scenario.seed; 32]),
            foreign,
            server,
            refresh_token_lifetime,
            client_credentials: scenario.client_credentials,
            jwt_ids: BTreeSet::new(),
            now: EPOCH,
            deadline: Timestamp::NEVER,
            outstanding: Vec::new(),
            delivered: Vec::new(),
            logins: Vec::new(),
            delivered_callbacks: Vec::new(),
            persisted: Vec::new(),
            store: None,
            persisted_access_tokens: BTreeSet::new(),
            handed_out_ids: Vec::new(),
            rejected_codes: BTreeSet::new(),
            exchanged_codes: BTreeSet::new(),
            secrets: BTreeSet::new(),
            blocked: false,
            token_requests_this_drain: 0,
            login_failures_seen: 0,
            step: 0,
            violations: Vec::new(),
            coverage: Coverage::default(),
            model,
            ids: TokenIds::default(),
            combinations: Combinations::default(),
            last_expected: Vec::new(),
            diverged: false,
            delivered_steps: Vec::new(),
        }
    }

    /// Runs the scenario: first a successful start (a login or an acquisition), then its actions.
    pub(crate) fn run(&mut self, scenario: &Scenario) {
        if scenario.client_credentials {
            self.apply(&Action::Command(CommandKind::EnsureFresh));
        } else {
            self.apply(&Action::Command(CommandKind::BeginLogin));
            self.apply(&Action::Callback {
                kind: CallbackKind::Genuine,
                pick: 0,
            });
        }
        self.apply(&Action::Deliver {
            pick: 0,
            answer: AnswerKind::Rules,
        });
        for action in &scenario.actions {
            self.step += 1;
            self.apply(action);
        }
    }

    /// A readable account of the violations of `invariant` (and of harness misuse).
    pub(crate) fn report(&self, invariant: Invariant) -> Option<String> {
        let mut text = String::new();
        for (broken, message) in &self.violations {
            if *broken == invariant || *broken == Invariant::HarnessMisuse {
                let _ = writeln!(text, "{broken:?}: {message}");
            }
        }
        if text.is_empty() { None } else { Some(text) }
    }

    pub(crate) fn violation(&mut self, invariant: Invariant, message: String) {
        let step = self.step;
        self.violations
            .push((invariant, format!("step {step}: {message}")));
    }

    fn apply(&mut self, action: &Action) {
        match action {
            Action::Advance { millis } => self.advance(Duration::from_millis(*millis)),
            Action::AdvanceToDeadline => {
                if self.deadline.saturating_duration_since(self.now)
                    < Duration::from_secs(200 * 86_400)
                {
                    self.now = self.now.max(self.deadline);
                    self.feed(
                        Input::Timeout { now: self.now },
                        RefreshTokenLicence::Unchanged,
                        Step::Tick,
                    );
                }
            }
            Action::Sleep { millis } => {
                self.now = self.now.saturating_add(Duration::from_millis(*millis));
            }
            Action::Deliver { pick, answer } => self.deliver(*pick, *answer),
            Action::DuplicateAnswer { pick } => {
                if self.delivered.is_empty() {
                    return;
                }
                let (id, response) = &self.delivered[pick % self.delivered.len()];
                let (id, response) = (*id, copy_response(response));
                let licence = RefreshTokenLicence::FromResponse(refresh_token_in(&response));
                let step = Self::answer_step(id, &response);
                self.feed(
                    Input::Response {
                        now: self.now,
                        id,
                        response,
                    },
                    licence,
                    step,
                );
            }
            Action::Command(command) => self.command(*command),
            Action::Callback { kind, pick } => self.callback(*kind, *pick),
            Action::ServerPolicy(policy) => self.server.refresh_token_policy = *policy,
        }
    }

    fn advance(&mut self, duration: Duration) {
        let target = self.now.saturating_add(duration);
        let mut wakes = 0;
        while self.deadline <= target {
            wakes += 1;
            if wakes > WAKE_CAP {
                self.violation(
                    Invariant::HarnessMisuse,
                    format!("the machine asked to be woken more than {WAKE_CAP} times in {duration:?}: a timer loop"),
                );
                return;
            }
            self.now = self.now.max(self.deadline);
            self.feed(
                Input::Timeout { now: self.now },
                RefreshTokenLicence::Unchanged,
                Step::Tick,
            );
        }
        self.now = target;
        self.feed(
            Input::Timeout { now: self.now },
            RefreshTokenLicence::Unchanged,
            Step::Tick,
        );
    }

    fn deliver(&mut self, pick: usize, answer: AnswerKind) {
        let open: Vec<usize> = (0..self.outstanding.len())
            .filter(|&index| !self.outstanding[index].answered && !self.outstanding[index].lost)
            .collect();
        if open.is_empty() {
            return;
        }
        let index = open[pick % open.len()];
        let entry = &mut self.outstanding[index];
        let id = entry.id;
        if matches!(answer, AnswerKind::Lost) {
            entry.lost = true;
            return;
        }
        entry.answered = true;
        let request = copy_request(&entry.request);
        let is_token_request = entry.is_token_request;
        let fault = match answer {
            AnswerKind::Rules | AnswerKind::Lost => None,
            AnswerKind::ServerError => Some(Fault::ServerError(503)),
            AnswerKind::Garbage => Some(Fault::Garbage),
            AnswerKind::AccessDenied => Some(Fault::AccessDenied),
            AnswerKind::InvalidGrant => Some(Fault::InvalidGrant),
            AnswerKind::TransportFailure => Some(Fault::Transport(TransportFailure::Interrupted)),
            AnswerKind::RateLimited { secs } => Some(Fault::RateLimited {
                retry_after_secs: secs,
            }),
        };
        let answer = match (fault, is_token_request) {
            (Some(Fault::Transport(failure)), _) => ServerAnswer::Transport(failure),
            (Some(fault), true) => {
                self.server.faults.push_front(fault);
                self.server.handle(self.now, &request)
            }
            (Some(_), false) => ServerAnswer::Response(status_only(503)),
            (None, _) => self.server.handle(self.now, &request),
        };
        match answer {
            ServerAnswer::Response(response) => {
                self.delivered.push((id, copy_response(&response)));
                let licence = RefreshTokenLicence::FromResponse(refresh_token_in(&response));
                let step = Self::answer_step(id, &response);
                self.feed(
                    Input::Response {
                        now: self.now,
                        id,
                        response,
                    },
                    licence,
                    step,
                );
            }
            ServerAnswer::Transport(failure) => {
                let step = Step::Answer {
                    request: id.as_u64(),
                    token: TokenAnswer::Transient { retry_after: None },
                    success: false,
                };
                self.feed(
                    Input::TransportFailed {
                        now: self.now,
                        id,
                        failure,
                    },
                    RefreshTokenLicence::Unchanged,
                    step,
                );
            }
            ServerAnswer::Silence => (),
        }
    }

    pub(crate) fn give(&mut self, command: Command, licence: RefreshTokenLicence, step: Step) {
        self.feed(
            Input::Command {
                now: self.now,
                command,
            },
            licence,
            step,
        );
    }

    /// Feeds one input, drains the outputs, and checks every invariant on the way.
    fn feed(&mut self, input: Input, licence: RefreshTokenLicence, step: Step) {
        self.check_debug("input", &format!("{input:?}"));
        let before = refresh_token_of(&self.machine);
        let answered = match &input {
            Input::Response { id, .. } | Input::TransportFailed { id, .. } => Some(*id),
            _ => None,
        };
        if let Err(error) = self.machine.handle_input(input) {
            self.check_debug("error", &format!("{error:?}"));
            self.violation(
                Invariant::HarnessMisuse,
                format!("handle_input refused: {error}"),
            );
            return;
        }
        if let Some(id) = answered {
            for entry in &mut self.outstanding {
                if entry.id == id {
                    entry.answered = true;
                }
            }
        }
        self.token_requests_this_drain = 0;
        self.check_hand_out();
        let mut observed = Vec::new();
        let mut drained = false;
        for _ in 0..DRAIN_CAP {
            let output = self.machine.poll_output();
            self.check_debug("output", &format!("{output:?}"));
            observed.extend(self.observe(&output));
            match output {
                Output::HttpRequest { id, request } => self.record_request(id, request),
                Output::Event(event) => self.record_event(event),
                Output::Timeout(deadline) => {
                    self.deadline = deadline;
                    drained = true;
                    break;
                }
                _ => (),
            }
            self.check_hand_out();
        }
        if !drained {
            self.violation(
                Invariant::HarnessMisuse,
                format!("one input gave more than {DRAIN_CAP} outputs: an output loop"),
            );
        }
        self.check_debug("machine", &format!("{:?}", self.machine));
        self.check_in_flight();
        self.check_refresh_token(&before, licence);
        self.compare_with_model(&step, observed);
    }

    fn record_request(&mut self, id: RequestId, request: http::Request<Bytes>) {
        let is_token_request = request.uri().path() == "/oauth_token.do";
        if is_token_request {
            self.token_requests_this_drain += 1;
            match form(request.body()).get("grant_type").map(String::as_str) {
                Some("refresh_token") => self.coverage.refreshes += 1,
                Some("client_credentials") => self.coverage.acquisitions += 1,
                _ => (),
            }
            let body = form(request.body());
            let grant_type = body.get("grant_type").cloned().unwrap_or_default();
            if self.blocked && grant_type != "authorization_code" {
                self.violation(
                    Invariant::NoTokenRequestAfterReauthorization,
                    format!("a {grant_type} request after ReauthorizationRequired"),
                );
            }
            if let Some(assertion) = body.get("assertion") {
                self.check_assertion(assertion);
            }
            if let Some(verifier) = body.get("code_verifier") {
                self.secrets.insert(verifier.clone());
            }
            if let Some(code) = body.get("code") {
                if self.rejected_codes.contains(code) {
                    self.violation(
                        Invariant::BadStateRejected,
                        "the code of a refused callback was exchanged".into(),
                    );
                }
                if !self.exchanged_codes.insert(code.clone()) {
                    self.violation(
                        Invariant::BadStateRejected,
                        "a code was exchanged twice".into(),
                    );
                }
            }
        }
        self.outstanding.push(Outstanding {
            id,
            request,
            sent_at: self.now,
            is_token_request,
            answered: false,
            lost: false,
        });
    }

    /// A JWT bearer request's assertion: a `jti` never sent before, `iat` the machine's `now`.
    fn check_assertion(&mut self, assertion: &str) {
        self.coverage.jwt_acquisitions += 1;
        self.secrets.insert(assertion.to_owned());
        let Some(claims) = servicenow_testkit::assertion_claims(assertion) else {
            self.violation(
                Invariant::FreshAssertionPerAcquisition,
                "an assertion that is not a JWT".into(),
            );
            return;
        };
        let jti = claims
            .get("jti")
            .and_then(|jti| jti.as_str())
            .unwrap_or_default();
        if !self.jwt_ids.insert(jti.to_owned()) {
            self.violation(
                Invariant::FreshAssertionPerAcquisition,
                format!("the jti {jti} was sent twice"),
            );
        }
        let now_seconds = self.now.as_unix_millis() / 1000;
        if claims.get("iat").and_then(|iat| iat.as_u64()) != Some(now_seconds) {
            self.violation(
                Invariant::FreshAssertionPerAcquisition,
                format!("an assertion whose iat is not the machine's now ({now_seconds})"),
            );
        }
    }

    fn record_event(&mut self, event: Event) {
        match event {
            Event::Persist(set) => {
                self.persisted_access_tokens
                    .insert(set.access_token().secret().to_owned());
                self.store = Some(set.clone());
                self.persisted.push(set);
            }
            Event::TokenSetDropped => self.store = None,
            Event::ReauthorizationRequired { .. } => {
                self.coverage.reauthorizations += 1;
                self.blocked = true;
            }
            Event::LoginCompleted { .. } => {
                self.coverage.logins_completed += 1;
                self.blocked = false;
            }
            Event::TokenRequestFailed { .. } => self.coverage.transient_failures += 1,
            Event::LoggedOut(_) => self.coverage.logouts += 1,
            Event::LoginStarted(started) => {
                self.secrets.insert(started.state.secret().to_owned());
                let url = started.authorization_url.as_str().to_owned();
                let callback = self.server.authorize(&url);
                let deadline = self.now.saturating_add(Duration::from_secs(600));
                self.logins.push(IssuedLogin {
                    callback,
                    authorization_url: url,
                    deadline,
                    delivered: false,
                });
            }
            Event::LoginFailed(failure) => {
                self.login_failures_seen += 1;
                if matches!(
                    failure,
                    LoginFailure::ExchangeRejected(_) | LoginFailure::ExchangeFailed(_)
                ) {
                    // The exchange itself failed: that login was accepted, the server said no.
                    self.login_failures_seen -= 1;
                }
            }
            _ => (),
        }
    }
}

//! The random schedules: what can happen to a machine, as proptest strategies.

use proptest::prelude::*;
use servicenow_testkit::RefreshTokenPolicy;

/// One scenario: which credential, how the server behaves, and what happens, in order.
#[derive(Clone, Debug)]
pub(crate) struct Scenario {
    pub(crate) client_credentials: bool,
    /// With `client_credentials`: the non-interactive grant is the JWT bearer grant instead.
    pub(crate) jwt: bool,
    pub(crate) access_token_lifetime_secs: u64,
    pub(crate) refresh_token_lifetime_secs: Option<u64>,
    pub(crate) policy: RefreshTokenPolicy,
    pub(crate) seed: u8,
    pub(crate) actions: Vec<Action>,
}

/// One thing that happens to the machine or around it.
#[derive(Clone, Debug)]
pub(crate) enum Action {
    /// Time passes; the driver wakes the machine at each deadline on the way.
    Advance { millis: u64 },
    /// Jump straight to the machine's next deadline.
    AdvanceToDeadline,
    /// Time passes while the driver sleeps through the machine's deadlines (a late timer, a
    /// suspended process): the next input arrives with a later `now` and nothing before it.
    Sleep { millis: u64 },
    /// The network delivers the answer to one outstanding request (chosen by index).
    Deliver { pick: usize, answer: AnswerKind },
    /// An answer already delivered arrives again.
    DuplicateAnswer { pick: usize },
    /// The application gives a command.
    Command(CommandKind),
    /// A browser comes back to the redirect URI.
    Callback { kind: CallbackKind, pick: usize },
    /// The server changes how it answers refreshes.
    ServerPolicy(RefreshTokenPolicy),
}

/// How the server answers a delivered request.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AnswerKind {
    /// By its rules (issue, refresh, rotate or not, reject unknown tokens).
    Rules,
    ServerError,
    Garbage,
    AccessDenied,
    InvalidGrant,
    TransportFailure,
    /// HTTP 429 with `Retry-After` in seconds.
    RateLimited {
        secs: u64,
    },
    /// No answer ever: the request is forgotten by the network.
    Lost,
}

/// A command the application gives.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CommandKind {
    EnsureFresh,
    BeginLogin,
    Acquire,
    UnauthorizedCurrent,
    UnauthorizedOlder,
    RestoreLatest,
    RestoreOlder,
    Revoke,
}

/// What the callback carries.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CallbackKind {
    /// The callback of a login this machine began (it may have expired or been used meanwhile).
    Genuine,
    /// A callback already delivered once, delivered again.
    Replayed,
    /// A server-issued code with a state nobody issued.
    Forged,
    /// A real callback of a login another machine began.
    Foreign,
    /// The user pressed Deny.
    Denied,
}

fn answer_kind() -> impl Strategy<Value = AnswerKind> {
    prop_oneof![
        8 => Just(AnswerKind::Rules),
        2 => Just(AnswerKind::ServerError),
        1 => Just(AnswerKind::Garbage),
        1 => Just(AnswerKind::AccessDenied),
        1 => Just(AnswerKind::InvalidGrant),
        1 => Just(AnswerKind::TransportFailure),
        1 => prop_oneof![Just(1_u64), Just(45), Just(900)].prop_map(|secs| AnswerKind::RateLimited { secs }),
        1 => Just(AnswerKind::Lost),
    ]
}

fn command_kind() -> impl Strategy<Value = CommandKind> {
    prop_oneof![
        3 => Just(CommandKind::EnsureFresh),
        3 => Just(CommandKind::BeginLogin),
        1 => Just(CommandKind::Acquire),
        3 => Just(CommandKind::UnauthorizedCurrent),
        1 => Just(CommandKind::UnauthorizedOlder),
        1 => Just(CommandKind::RestoreLatest),
        1 => Just(CommandKind::RestoreOlder),
        1 => Just(CommandKind::Revoke),
    ]
}

fn callback_kind() -> impl Strategy<Value = CallbackKind> {
    prop_oneof![
        6 => Just(CallbackKind::Genuine),
        2 => Just(CallbackKind::Replayed),
        2 => Just(CallbackKind::Forged),
        2 => Just(CallbackKind::Foreign),
        1 => Just(CallbackKind::Denied),
    ]
}

fn policy() -> impl Strategy<Value = RefreshTokenPolicy> {
    prop_oneof![
        3 => Just(RefreshTokenPolicy::ReturnSame),
        1 => Just(RefreshTokenPolicy::Omit),
        1 => Just(RefreshTokenPolicy::Rotate),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => prop_oneof![0..2_000_u64, 0..120_000_u64, 0..4_000_000_u64].prop_map(|millis| Action::Advance { millis }),
        3 => Just(Action::AdvanceToDeadline),
        1 => prop_oneof![0..120_000_u64, 0..4_000_000_u64].prop_map(|millis| Action::Sleep { millis }),
        8 => (any::<usize>(), answer_kind()).prop_map(|(pick, answer)| Action::Deliver { pick, answer }),
        1 => any::<usize>().prop_map(|pick| Action::DuplicateAnswer { pick }),
        6 => command_kind().prop_map(Action::Command),
        4 => (callback_kind(), any::<usize>()).prop_map(|(kind, pick)| Action::Callback { kind, pick }),
        1 => policy().prop_map(Action::ServerPolicy),
    ]
}

/// Scenarios of up to 80 actions on either credential kind.
pub(crate) fn scenario() -> impl Strategy<Value = Scenario> {
    (
        (prop::bool::weighted(0.25), any::<bool>()),
        prop_oneof![Just(30_u64), Just(90), Just(300), Just(1800)],
        prop_oneof![Just(None), Just(Some(900_u64)), Just(Some(8_640_000))],
        policy(),
        any::<u8>(),
        prop::collection::vec(action(), 1..80),
    )
        .prop_map(
            |(
                (client_credentials, jwt),
                access_token_lifetime_secs,
                refresh_token_lifetime_secs,
                policy,
                seed,
                actions,
            )| {
                Scenario {
                    client_credentials,
                    jwt,
                    access_token_lifetime_secs,
                    refresh_token_lifetime_secs,
                    policy,
                    seed,
                    actions,
                }
            },
        )
}

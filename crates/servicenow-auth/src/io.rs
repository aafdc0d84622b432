//! What goes into the machine (`Input`, `Command`) and what comes out (`Output`), with redacted `Debug`.

use std::fmt;

use bytes::Bytes;

use crate::event::Event;
use crate::login::PendingLogin;
use crate::time::Timestamp;
use crate::token_set::{TokenId, TokenSet};

/// Names one HTTP request the machine emitted; the driver hands it back with the answer.
///
/// Ids grow by one per request and are never reused by a machine, so an answer to a request the
/// machine has given up on (timed out, superseded by a restore or a logout) is recognised and
/// dropped, and an id the machine never emitted is reported as [`AuthError::UnknownRequest`](crate::AuthError::UnknownRequest).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct RequestId(pub(crate) u64);

impl RequestId {
    /// The id with this number, for drivers that keep ids as numbers (an id the machine did not
    /// emit is refused by [`AuthMachine::handle_input`](crate::AuthMachine::handle_input)).
    pub const fn from_raw(number: u64) -> Self {
        Self(number)
    }

    /// The id as a number, for logs and maps.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

/// One thing that happened, fed to [`AuthMachine::handle_input`](crate::AuthMachine::handle_input).
///
/// Every input carries the driver's wall-clock `now`; the machine never reads a clock.
#[non_exhaustive]
pub enum Input {
    /// The application asks for something.
    Command {
        /// When the command was given.
        now: Timestamp,
        /// What is asked.
        command: Command,
    },
    /// The HTTP answer to a request from [`Output::HttpRequest`], whatever its status.
    Response {
        /// When the answer arrived.
        now: Timestamp,
        /// The id of the request this answers.
        id: RequestId,
        /// The answer, body read in full (drivers cap its size).
        response: http::Response<Bytes>,
    },
    /// The transport produced no answer for a request from [`Output::HttpRequest`].
    TransportFailed {
        /// When the failure was seen.
        now: Timestamp,
        /// The id of the request that failed.
        id: RequestId,
        /// What went wrong.
        failure: TransportFailure,
    },
    /// The deadline of the last [`Output::Timeout`] has passed (early or late calls are harmless).
    ///
    /// A driver needs it only for that: it is never needed before a command, since every input
    /// (a [`Command::EnsureFresh`] included) first acts on whatever has fallen due by its `now`.
    Timeout {
        /// The current time.
        now: Timestamp,
    },
}

impl Input {
    /// The `now` the input carries.
    pub fn now(&self) -> Timestamp {
        match self {
            Self::Command { now, .. }
            | Self::Response { now, .. }
            | Self::TransportFailed { now, .. }
            | Self::Timeout { now } => *now,
        }
    }
}

/// What the application can ask of the machine.
#[non_exhaustive]
pub enum Command {
    /// Start an authorization code + PKCE login: the machine emits
    /// [`Event::LoginStarted`] with the URL to send the user to.
    BeginLogin,
    /// Hand over a pending login exported by another machine (another replica) for the same
    /// credential, so that this machine can complete its callback.
    ImportPendingLogin(PendingLogin),
    /// The redirect came back: its raw query string (`code=…&state=…`, or `error=…`), with or
    /// without the leading `?`.
    CompleteLogin {
        /// The query string of the redirect URI the browser was sent to.
        callback_query: String,
    },
    /// Obtain a token with the configured non-interactive grant (client credentials or password),
    /// also after the server rejected it before.
    Acquire,
    /// Make sure a usable access token exists or is being obtained; answered by
    /// [`Event::TokenReady`], [`Event::ReauthorizationRequired`] or a failure event.
    ///
    /// It acts on what is due at its `now` by itself, with no [`Input::Timeout`] first: a
    /// proactive refresh whose [`Status::refresh_at`](crate::Status::refresh_at) has come, or a
    /// retry whose backoff has elapsed, is sent in the same drain (while the current token, if
    /// still usable, is announced with [`Event::TokenReady`] at once). The rules still hold: one
    /// token request in flight, none while a retry waits or re-authorization is required.
    EnsureFresh,
    /// The resource server answered 401 to a request made with the access token `token_id`.
    Unauthorized {
        /// The id from [`CurrentToken::id`](crate::CurrentToken::id) of the token that was refused.
        token_id: TokenId,
    },
    /// Continue from a token set loaded from storage (this process or another one saved it).
    Restore(TokenSet),
    /// Log out: drop the token set and revoke its refresh token, then its access token.
    Revoke,
}

/// Why the transport produced no response.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum TransportFailure {
    /// No connection could be made (DNS, refused, TLS handshake).
    Connect,
    /// The request or its answer took too long.
    TimedOut,
    /// The answer was larger than the transport accepts.
    BodyTooLarge,
    /// The connection broke while sending or receiving.
    Interrupted,
}

/// What the machine wants done next, from [`AuthMachine::poll_output`](crate::AuthMachine::poll_output).
#[must_use]
#[non_exhaustive]
pub enum Output {
    /// Send this request and feed its answer back as [`Input::Response`] (or
    /// [`Input::TransportFailed`]) with the same `id`.
    HttpRequest {
        /// Names the request; hand it back with the answer.
        id: RequestId,
        /// The request, complete with body (a form carrying secrets: never log it).
        request: http::Request<Bytes>,
    },
    /// Something the application should know or do (persist a token set, show a login failure).
    Event(Event),
    /// Nothing more to do until this instant ([`Timestamp::NEVER`] if nothing is scheduled);
    /// always the last output of a drain.
    Timeout(Timestamp),
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Command { now, command } => f
                .debug_struct("Command")
                .field("now", now)
                .field("command", command)
                .finish(),
            Self::Response { now, id, response } => f
                .debug_struct("Response")
                .field("now", now)
                .field("id", id)
                .field("status", &response.status())
                .field("body", &Redacted::bytes(response.body()))
                .finish(),
            Self::TransportFailed { now, id, failure } => f
                .debug_struct("TransportFailed")
                .field("now", now)
                .field("id", id)
                .field("failure", failure)
                .finish(),
            Self::Timeout { now } => f.debug_struct("Timeout").field("now", now).finish(),
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BeginLogin => f.write_str("BeginLogin"),
            Self::ImportPendingLogin(login) => {
                f.debug_tuple("ImportPendingLogin").field(login).finish()
            }
            Self::CompleteLogin { callback_query } => f
                .debug_struct("CompleteLogin")
                .field(
                    "callback_query",
                    &Redacted::bytes(callback_query.as_bytes()),
                )
                .finish(),
            Self::Acquire => f.write_str("Acquire"),
            Self::EnsureFresh => f.write_str("EnsureFresh"),
            Self::Unauthorized { token_id } => f
                .debug_struct("Unauthorized")
                .field("token_id", token_id)
                .finish(),
            Self::Restore(token_set) => f.debug_tuple("Restore").field(token_set).finish(),
            Self::Revoke => f.write_str("Revoke"),
        }
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HttpRequest { id, request } => f
                .debug_struct("HttpRequest")
                .field("id", id)
                .field("method", request.method())
                .field("endpoint", &Endpoint(request.uri()))
                .field("body", &Redacted::bytes(request.body()))
                .finish(),
            Self::Event(event) => f.debug_tuple("Event").field(event).finish(),
            Self::Timeout(deadline) => f.debug_tuple("Timeout").field(deadline).finish(),
        }
    }
}

/// Prints a URI without its query, which may carry a token (ServiceNow's documented revocation).
struct Endpoint<'a>(&'a http::Uri);

impl fmt::Debug for Endpoint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let uri = self.0;
        let scheme = uri.scheme_str().unwrap_or("");
        let authority = uri.authority().map_or("", |authority| authority.as_str());
        write!(f, "{scheme}://{authority}{}", uri.path())
    }
}

/// Stands in for content that may hold secrets: prints only its size.
struct Redacted {
    length: usize,
}

impl Redacted {
    fn bytes(bytes: &[u8]) -> Self {
        Self {
            length: bytes.len(),
        }
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[redacted {} bytes]", self.length)
    }
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "no connection could be made",
            Self::TimedOut => "the request or its answer took too long",
            Self::BodyTooLarge => "the answer was larger than the transport accepts",
            Self::Interrupted => "the connection broke mid-exchange",
        })
    }
}

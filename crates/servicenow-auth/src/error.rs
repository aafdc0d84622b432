//! The one error type of this crate: misuse of the machine's API, never something a server did.

use crate::io::RequestId;

/// A mistake in how the machine is driven.
///
/// Everything a server, a browser or a user does is reported as an [`Event`](crate::Event);
/// `AuthError` only says the driver broke the contract of [`AuthMachine`](crate::AuthMachine).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A response or transport failure named a request id this machine never emitted.
    #[error("handling a response: request {0:?} was never emitted by this machine")]
    UnknownRequest(RequestId),
    /// A login was begun on a machine whose credential is not the authorization code grant,
    /// or whose configuration has no redirect URI.
    #[error("beginning a login: this credential has no authorization code flow configured")]
    LoginNotConfigured,
    /// `Acquire` was sent to a machine whose credential needs a user to log in.
    #[error("acquiring a token: this credential needs a login, not a non-interactive grant")]
    AcquireNeedsNonInteractiveGrant,
    /// The protocol crate could not build a request from the configuration (not expected: every
    /// value in it was validated).
    #[error("building a request")]
    BuildRequest(#[source] servicenow_oauth::Error),
}

//! The emulator's one error type: starting, stopping and the scripted user agent.

use std::net::SocketAddr;

/// Everything that can go wrong when starting the emulator or driving its pages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("binding the emulator to {address} failed")]
    Bind {
        /// The address that was asked for.
        address: SocketAddr,
        /// Why the operating system refused.
        #[source]
        source: std::io::Error,
    },
    /// The configuration given to the builder is inconsistent.
    #[error("configuring the emulator failed: {0}")]
    Config(String),
    /// The scripted user agent could not send a request or read a response.
    #[error("scripted user agent request to {url} failed")]
    UserAgentTransport {
        /// The URL that was requested.
        url: String,
        /// The transport failure.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The scripted user agent was given a URL it cannot use.
    #[error("scripted user agent could not use the URL {url}: {reason}")]
    UserAgentUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The login form came back again after the credentials were posted.
    #[error("scripted user agent login was rejected for user {user_name}")]
    LoginRejected {
        /// The user name that was tried.
        user_name: String,
    },
    /// The instance answered with an error page instead of a form or a redirect.
    #[error("scripted user agent got an error page (HTTP {status}): {message}")]
    ErrorPage {
        /// The HTTP status of the page.
        status: u16,
        /// The page's error message, as text.
        message: String,
    },
    /// The pages did not lead to a redirect away from the instance within the step budget, or
    /// a page did not have the form it should have.
    #[error("scripted user agent could not follow the authorization pages: {0}")]
    UnexpectedPage(String),
}

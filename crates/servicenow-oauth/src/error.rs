//! The crate's one error type: why a value could not be constructed, parsed or encoded.

use std::fmt;

/// Why a protocol value could not be constructed, parsed, or turned into a request.
///
/// Messages name the value and the problem, never the value itself: some of the values this
/// crate validates are secrets, and an instance URL may carry a password in its userinfo.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A protocol string broke the rule of its type (for example an empty client id, or a
    /// scope token with a space in it).
    #[error("invalid {what}: {problem}")]
    InvalidValue {
        /// Which value, in words: `"client id"`, `"scope"`, `"PKCE code verifier"`.
        what: &'static str,
        /// What is wrong with it, in words.
        problem: &'static str,
    },
    /// The ServiceNow instance URL was not `https://host[:port]` (or `http://` on loopback).
    #[error("invalid instance url: {0}")]
    InvalidInstanceUrl(InstanceUrlProblem),
    /// The query string of an authorization callback was neither a success nor an error
    /// response (RFC 6749 §4.1.2, §4.1.2.1).
    #[error("invalid authorization callback: {0}")]
    InvalidCallback(CallbackProblem),
    /// The `http` crate refused a request this crate built; the values were validated, so this
    /// is not expected to happen, but it is reported rather than panicking.
    #[error("building the {what} request failed")]
    BuildRequest {
        /// Which request: `"token"`, `"revocation"`.
        what: &'static str,
        /// The `http` crate's error; it carries no header or URI contents.
        #[source]
        source: http::Error,
    },
    /// A JWT assertion could not be signed.
    #[error("signing the JWT assertion failed: {problem}")]
    Signing {
        /// What went wrong, in words.
        problem: &'static str,
    },
    /// A private key for JWT assertions could not be read; the message never echoes the key.
    #[error("reading the JWT signing key failed: {problem}")]
    SigningKey {
        /// What is wrong with the key, in words.
        problem: &'static str,
    },
}

/// What is wrong with an instance URL (see [`crate::InstanceUrl::new`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstanceUrlProblem {
    /// The text is not a URL at all.
    NotAUrl,
    /// The text has leading or trailing whitespace.
    SurroundingWhitespace,
    /// The scheme is neither `https` nor `http`.
    UnsupportedScheme,
    /// `http://` was used for a host that is not loopback (127.0.0.0/8, `::1`, `localhost`).
    InsecureScheme,
    /// The URL has no host.
    MissingHost,
    /// The URL has a `user:password@` part.
    Userinfo,
    /// The URL has a path other than `/`.
    Path,
    /// The URL has a `?query`, even an empty one.
    Query,
    /// The URL has a `#fragment`, even an empty one.
    Fragment,
}

impl fmt::Display for InstanceUrlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotAUrl => "not a URL",
            Self::SurroundingWhitespace => "leading or trailing whitespace",
            Self::UnsupportedScheme => "the scheme must be https (or http on loopback)",
            Self::InsecureScheme => {
                "http is allowed only on loopback (127.0.0.0/8, ::1, localhost); use https"
            }
            Self::MissingHost => "no host",
            Self::Userinfo => "a user name or password (user:password@) is not allowed",
            Self::Path => "a path other than / is not allowed; give the instance origin only",
            Self::Query => "a query (?...) is not allowed",
            Self::Fragment => "a fragment (#...) is not allowed",
        })
    }
}

/// What is wrong with an authorization callback's query string (see
/// [`crate::parse_callback_query`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackProblem {
    /// Both `code` and `error` are present, so the response is neither a success nor an error.
    BothCodeAndError,
    /// Neither `code` nor `error` is present.
    NeitherCodeNorError,
    /// A parameter this crate reads appears more than once (RFC 6749 §3.1: "Request and
    /// response parameters MUST NOT be included more than once").
    DuplicateParameter(&'static str),
    /// A parameter is present with an empty value.
    EmptyParameter(&'static str),
    /// A success response has no `state`.
    MissingState,
}

impl fmt::Display for CallbackProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BothCodeAndError => f.write_str("both `code` and `error` are present"),
            Self::NeitherCodeNorError => f.write_str("neither `code` nor `error` is present"),
            Self::DuplicateParameter(name) => {
                write!(f, "the parameter `{name}` appears more than once")
            }
            Self::EmptyParameter(name) => write!(f, "the parameter `{name}` is empty"),
            Self::MissingState => f.write_str("a success response without `state`"),
        }
    }
}

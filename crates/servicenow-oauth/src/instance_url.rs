//! The ServiceNow instance URL: an origin (`https://host[:port]`), validated once, with the
//! OAuth endpoint URLs derived from it.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::error::InstanceUrlProblem;

/// The base URL of a ServiceNow instance, such as `https://example.service-now.com`.
///
/// Accepted: `https://host[:port]` with an optional trailing `/`; and, for tests and the local
/// emulator only, `http://` on a loopback host (127.0.0.0/8, `[::1]`, `localhost`). Refused,
/// each with an [`InstanceUrlProblem`] naming the problem: userinfo (`user:pass@`), a query
/// (even an empty `?`), a fragment (even an empty `#`), any path other than `/`, surrounding
/// whitespace, other schemes, `http` on any other host (RFC 6749 §10.9, RFC 9700 §2.6).
///
/// The value kept is the normalized origin (scheme and host lowercased, default port dropped).
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InstanceUrl {
    origin: String,
    authorization_endpoint: url::Url,
    token_endpoint: http::Uri,
    revocation_endpoint: http::Uri,
}

impl InstanceUrl {
    /// Validates an instance URL (see the type's docs for the rules).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInstanceUrl`] with the problem found.
    pub fn new(value: &str) -> Result<Self, Error> {
        let problem = Error::InvalidInstanceUrl;
        if value.trim() != value {
            return Err(problem(InstanceUrlProblem::SurroundingWhitespace));
        }
        let Ok(parsed) = url::Url::parse(value) else {
            return Err(problem(InstanceUrlProblem::NotAUrl));
        };
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(problem(InstanceUrlProblem::UnsupportedScheme));
        }
        // The parser forgives what we refuse (`https:/host`, `https:\\host`, empty `?` and `#`,
        // dot segments, a bare `@`), so the raw text is checked as well.
        let Some((_, after_scheme)) = value.split_once("://") else {
            return Err(problem(InstanceUrlProblem::NotAUrl));
        };
        let authority_end = after_scheme
            .find(['/', '?', '#', '\\'])
            .unwrap_or(after_scheme.len());
        let (authority, rest) = after_scheme.split_at(authority_end);
        if authority.contains('@') || !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(problem(InstanceUrlProblem::Userinfo));
        }
        if authority.is_empty() || parsed.host().is_none() {
            return Err(problem(InstanceUrlProblem::MissingHost));
        }
        if rest.contains('#') {
            return Err(problem(InstanceUrlProblem::Fragment));
        }
        if rest.contains('?') {
            return Err(problem(InstanceUrlProblem::Query));
        }
        if !rest.is_empty() && rest != "/" {
            return Err(problem(InstanceUrlProblem::Path));
        }
        if parsed.scheme() == "http" && !is_loopback(&parsed) {
            return Err(problem(InstanceUrlProblem::InsecureScheme));
        }
        let origin = parsed.origin().ascii_serialization();
        let endpoint = |path: &str| format!("{origin}{path}");
        let (Ok(authorization_endpoint), Ok(token_endpoint), Ok(revocation_endpoint)) = (
            url::Url::parse(&endpoint("/oauth_auth.do")),
            http::Uri::try_from(endpoint("/oauth_token.do")),
            http::Uri::try_from(endpoint("/oauth_revoke_token.do")),
        ) else {
            return Err(problem(InstanceUrlProblem::NotAUrl));
        };
        Ok(Self {
            origin,
            authorization_endpoint,
            token_endpoint,
            revocation_endpoint,
        })
    }

    /// The origin, `scheme://host[:port]` without a trailing slash: the only place a bearer
    /// token may be sent.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// `{origin}/oauth_auth.do`, the authorization endpoint (RFC 6749 §3.1).
    #[must_use]
    pub fn authorization_endpoint(&self) -> &url::Url {
        &self.authorization_endpoint
    }

    /// `{origin}/oauth_token.do`, the token endpoint (RFC 6749 §3.2).
    #[must_use]
    pub fn token_endpoint(&self) -> &http::Uri {
        &self.token_endpoint
    }

    /// `{origin}/oauth_revoke_token.do`, ServiceNow's documented revocation endpoint
    /// (RFC 7009 §2).
    #[must_use]
    pub fn revocation_endpoint(&self) -> &http::Uri {
        &self.revocation_endpoint
    }

    /// Whether this instance is reached over plain `http` (loopback only).
    #[must_use]
    pub fn is_loopback_http(&self) -> bool {
        self.origin.starts_with("http://")
    }
}

impl PartialEq for InstanceUrl {
    fn eq(&self, other: &Self) -> bool {
        self.origin == other.origin
    }
}

impl Eq for InstanceUrl {}

impl std::hash::Hash for InstanceUrl {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.origin.hash(state);
    }
}

impl fmt::Debug for InstanceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("InstanceUrl").field(&self.origin).finish()
    }
}

impl fmt::Display for InstanceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)
    }
}

impl std::str::FromStr for InstanceUrl {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self, Error> {
        Self::new(value)
    }
}

impl TryFrom<String> for InstanceUrl {
    type Error = Error;

    fn try_from(value: String) -> Result<Self, Error> {
        Self::new(&value)
    }
}

impl From<InstanceUrl> for String {
    fn from(value: InstanceUrl) -> Self {
        value.origin
    }
}

/// Whether a parsed URL's host is loopback: 127.0.0.0/8, `::1`, or the name `localhost`.
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => Ipv4Addr::is_loopback(&address),
        Some(url::Host::Ipv6(address)) => Ipv6Addr::is_loopback(&address),
        None => false,
    }
}

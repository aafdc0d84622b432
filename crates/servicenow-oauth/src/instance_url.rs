//! The ServiceNow instance URL: an origin (`https://host[:port]`), validated once, with the
//! OAuth endpoint URLs derived from it.

use std::{fmt, sync::Arc};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::error::InstanceUrlProblem;
use crate::origin::{OriginParts, is_loopback_host};

/// The base URL of a ServiceNow instance, such as `https://example.service-now.com`.
///
/// Accepted: `https://host[:port]` with an optional trailing `/`; and, for tests and the local
/// emulator only, `http://` on a loopback host (127.0.0.0/8, `[::1]`, `localhost`). Refused,
/// each with an [`InstanceUrlProblem`] naming the problem: userinfo (`user:pass@`), a query
/// (even an empty `?`), a fragment (even an empty `#`), any path other than `/`, surrounding
/// whitespace, other schemes, `http` on any other host (RFC 6749 §10.9, RFC 9700 §2.6).
///
/// The value kept is the normalized origin (scheme and host lowercased, default port dropped).
/// It is the one instance type of the workspace: the OAuth endpoints, the Table API paths and
/// the origin check ([`InstanceUrl::same_origin`]) that decides where a bearer token may go
/// all hang off it. Cloning it is one reference-count increment, so every handle of an
/// application can hold its own.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InstanceUrl(Arc<Parsed>);

/// What [`InstanceUrl::new`] computes once: the origin, the endpoints and the origin's parts.
struct Parsed {
    origin: String,
    authorization_endpoint: url::Url,
    token_endpoint: http::Uri,
    revocation_endpoint: http::Uri,
    /// The origin taken apart, so that [`InstanceUrl::same_origin`] allocates nothing.
    parts: OriginParts,
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
        if parsed.scheme() == "http" && !parsed.host_str().is_some_and(is_loopback_host) {
            return Err(problem(InstanceUrlProblem::InsecureScheme));
        }
        let Some(parts) = OriginParts::of_url(&parsed) else {
            return Err(problem(InstanceUrlProblem::MissingHost));
        };
        let origin = parsed.origin().ascii_serialization();
        let endpoint = |path: &str| format!("{origin}{path}");
        let (Ok(authorization_endpoint), Ok(token_endpoint), Ok(revocation_endpoint)) = (
            url::Url::parse(&endpoint("/oauth_auth.do")),
            http::Uri::try_from(endpoint("/oauth_token.do")),
            http::Uri::try_from(endpoint("/oauth_revoke_token.do")),
        ) else {
            return Err(problem(InstanceUrlProblem::NotAUrl));
        };
        Ok(Self(Arc::new(Parsed {
            origin,
            authorization_endpoint,
            token_endpoint,
            revocation_endpoint,
            parts,
        })))
    }

    /// The origin, `scheme://host[:port]` without a trailing slash: the only place a bearer
    /// token may be sent.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.0.origin
    }

    /// `{origin}/oauth_auth.do`, the authorization endpoint (RFC 6749 §3.1).
    #[must_use]
    pub fn authorization_endpoint(&self) -> &url::Url {
        &self.0.authorization_endpoint
    }

    /// `{origin}/oauth_token.do`, the token endpoint (RFC 6749 §3.2).
    #[must_use]
    pub fn token_endpoint(&self) -> &http::Uri {
        &self.0.token_endpoint
    }

    /// `{origin}/oauth_revoke_token.do`, ServiceNow's documented revocation endpoint
    /// (RFC 7009 §2).
    #[must_use]
    pub fn revocation_endpoint(&self) -> &http::Uri {
        &self.0.revocation_endpoint
    }

    /// Whether the instance's host is this machine ([`is_loopback_host`]): a local emulator or
    /// test server, reached over `http` or `https`.
    #[must_use]
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(self.0.parts.host())
    }

    /// Whether `uri` is on this instance's origin: the same scheme (in any case), the same host
    /// (ASCII case-insensitive), the same port (the scheme's default filled in where none is
    /// written), and no userinfo (`user@`) at all. A relative URI never is.
    ///
    /// This is the one origin check of the workspace, made before a bearer token is attached
    /// and before a `Link` from a response is trusted. It allocates nothing. Hosts are compared
    /// as written: `https://127.1/` is not the origin of `https://127.0.0.1`, which errs on
    /// the side of refusing.
    ///
    /// ```
    /// use servicenow_oauth::InstanceUrl;
    ///
    /// let instance = InstanceUrl::new("https://dev1.service-now.com")?;
    /// let uri = |text: &str| text.parse::<http::Uri>().expect("a valid uri");
    /// assert!(instance.same_origin(&uri("https://DEV1.service-now.com:443/api/now/table/incident")));
    /// assert!(!instance.same_origin(&uri("https://dev1.service-now.com.evil.example/api")));
    /// assert!(!instance.same_origin(&uri("https://user@dev1.service-now.com/api")));
    /// assert!(!instance.same_origin(&uri("/api/now/table/incident")));
    /// # Ok::<(), servicenow_oauth::Error>(())
    /// ```
    #[must_use]
    pub fn same_origin(&self, uri: &http::Uri) -> bool {
        self.0.parts.matches(uri)
    }
}

impl PartialEq for InstanceUrl {
    fn eq(&self, other: &Self) -> bool {
        self.0.origin == other.0.origin
    }
}

impl Eq for InstanceUrl {}

impl std::hash::Hash for InstanceUrl {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.origin.hash(state);
    }
}

impl fmt::Debug for InstanceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("InstanceUrl").field(&self.0.origin).finish()
    }
}

impl fmt::Display for InstanceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.origin)
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
        value.0.origin.clone()
    }
}

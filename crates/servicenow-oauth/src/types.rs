//! Newtypes for the protocol strings of RFC 6749, each validated at construction.
//!
//! Secrets ([`ClientSecret`], [`AuthorizationCode`], [`AccessToken`], [`RefreshToken`]) are
//! defined with the crate's secret macro: redacted `Debug`, no `Display`, `.secret()` access,
//! zeroized on drop. [`crate::State`] and [`crate::PkceVerifier`] live in their own modules.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::secret::{new_secret_type, non_empty, visible_ascii};

/// `FromStr` and `TryFrom<&str>` for a name type, both validating exactly as `new` does.
macro_rules! parse_from_str {
    ($($name:ty => $parse:path),+ $(,)?) => {$(
        impl std::str::FromStr for $name {
            type Err = Error;

            fn from_str(value: &str) -> Result<Self, Error> {
                $parse(value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;

            fn try_from(value: &str) -> Result<Self, Error> {
                $parse(value)
            }
        }
    )+};
}

parse_from_str!(
    ClientId => ClientId::new,
    RedirectUri => RedirectUri::new,
    Scope => Scope::new,
    ScopeSet => ScopeSet::parse,
    crate::InstanceUrl => crate::InstanceUrl::new,
);
#[cfg(feature = "password-grant")]
parse_from_str!(ResourceOwnerUsername => ResourceOwnerUsername::new);

/// The client identifier issued at registration (RFC 6749 §2.2); on ServiceNow, the
/// application registry's read-only "Client ID".
///
/// Not a secret. Any non-empty Unicode string is accepted: RFC 6749 Appendix A.1 allows only
/// printable ASCII, but the value is always form-urlencoded on the wire, so being lenient here
/// cannot corrupt a request.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    /// Wraps a client id.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when `value` is empty.
    pub fn new(value: impl Into<String>) -> Result<Self, Error> {
        let value = value.into();
        non_empty("client id", &value)?;
        Ok(Self(value))
    }

    /// The client id as sent on the wire.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ClientId").field(&self.0).finish()
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ClientId {
    type Error = Error;

    fn try_from(value: String) -> Result<Self, Error> {
        Self::new(value)
    }
}

impl From<ClientId> for String {
    fn from(value: ClientId) -> Self {
        value.0
    }
}

new_secret_type! {
    /// The client password issued at registration (RFC 6749 §2.3.1); on ServiceNow, the
    /// application registry's "Client Secret". Any non-empty Unicode string.
    #[derive(Clone)]
    ClientSecret, what = "client secret", validate = non_empty,
}

new_secret_type! {
    /// The authorization code from the redirect (RFC 6749 §4.1.2), exchanged once at the token
    /// endpoint. Any non-empty Unicode string (it is form-urlencoded on the wire).
    #[derive(Clone)]
    AuthorizationCode, what = "authorization code", validate = non_empty,
}

new_secret_type! {
    /// An access token (RFC 6749 §1.4, §5.1), sent as `Authorization: Bearer` (RFC 6750 §2.1).
    ///
    /// Non-empty printable ASCII (RFC 6749 Appendix A.12), which guarantees it is a valid HTTP
    /// header value.
    #[derive(Clone)]
    AccessToken, what = "access token", validate = visible_ascii,
}

new_secret_type! {
    /// A refresh token (RFC 6749 §1.5, §6). ServiceNow returns the same string on every refresh
    /// until it expires (no rotation); other servers may rotate it.
    ///
    /// Non-empty printable ASCII (RFC 6749 Appendix A.17).
    #[derive(Clone)]
    RefreshToken, what = "refresh token", validate = visible_ascii,
}

#[cfg(feature = "password-grant")]
new_secret_type! {
    /// The resource owner's password for the password grant (RFC 6749 §4.3). RFC 9700 §2.4
    /// forbids that grant; it exists behind the `password-grant` feature only because
    /// ServiceNow's own examples use it.
    #[cfg_attr(docsrs, doc(cfg(feature = "password-grant")))]
    #[derive(Clone)]
    ResourceOwnerPassword, what = "resource owner password", validate = non_empty,
}

/// The resource owner's user name for the password grant (RFC 6749 §4.3.2). Not a secret.
#[cfg(feature = "password-grant")]
#[cfg_attr(docsrs, doc(cfg(feature = "password-grant")))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResourceOwnerUsername(String);

#[cfg(feature = "password-grant")]
impl ResourceOwnerUsername {
    /// Wraps a user name.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when `value` is empty.
    pub fn new(value: impl Into<String>) -> Result<Self, Error> {
        let value = value.into();
        non_empty("resource owner username", &value)?;
        Ok(Self(value))
    }

    /// The user name as sent on the wire.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The client's redirection endpoint (RFC 6749 §3.1.2), kept byte for byte as given: the
/// authorization server compares it by exact string (RFC 9700 §2.1), and the token request must
/// repeat it identically (RFC 6749 §4.1.3).
///
/// Accepted: an absolute URL without a fragment (RFC 6749 §3.1.2), whose scheme is `https`, a
/// private-use scheme of a native app (RFC 8252 §7.1), or `http` on a loopback host only
/// (127.0.0.0/8, `::1`, `localhost`; RFC 8252 §7.3, RFC 9700 §2.6).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri(String);

impl RedirectUri {
    /// Validates and wraps a redirect URI.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] naming the problem: not an absolute URL, surrounding whitespace,
    /// a fragment, or `http` on a host that is not loopback.
    pub fn new(value: impl Into<String>) -> Result<Self, Error> {
        const WHAT: &str = "redirect uri";
        let value = value.into();
        if value.trim() != value {
            return Err(Error::InvalidValue {
                what: WHAT,
                problem: "leading or trailing whitespace",
            });
        }
        let Ok(parsed) = url::Url::parse(&value) else {
            return Err(Error::InvalidValue {
                what: WHAT,
                problem: "not an absolute URL",
            });
        };
        if value.contains('#') {
            return Err(Error::InvalidValue {
                what: WHAT,
                problem: "a fragment is not allowed (RFC 6749 §3.1.2)",
            });
        }
        if parsed.scheme() == "http" && !parsed.host_str().is_some_and(crate::is_loopback_host) {
            return Err(Error::InvalidValue {
                what: WHAT,
                problem: "http is allowed only on loopback (RFC 9700 §2.6); use https",
            });
        }
        Ok(Self(value))
    }

    /// The redirect URI exactly as given.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RedirectUri").field(&self.0).finish()
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = Error;

    fn try_from(value: String) -> Result<Self, Error> {
        Self::new(value)
    }
}

impl From<RedirectUri> for String {
    fn from(value: RedirectUri) -> Self {
        value.0
    }
}

/// One scope token (RFC 6749 §3.3): `1*( %x21 / %x23-5B / %x5D-7E )`, that is printable ASCII
/// without space, `"` or `\`. ServiceNow's default scope is `useraccount`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope(String);

impl Scope {
    /// Validates and wraps one scope token.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when `value` is empty or has a character outside RFC 6749 §3.3.
    pub fn new(value: impl Into<String>) -> Result<Self, Error> {
        let value = value.into();
        non_empty("scope", &value)?;
        let allowed = |byte: u8| {
            byte == 0x21 || (0x23..=0x5b).contains(&byte) || (0x5d..=0x7e).contains(&byte)
        };
        if !value.bytes().all(allowed) {
            return Err(Error::InvalidValue {
                what: "scope",
                problem: "must be printable ASCII without space, '\"' or '\\' (RFC 6749 §3.3)",
            });
        }
        Ok(Self(value))
    }

    /// The scope token.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Scope").field(&self.0).finish()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Scope {
    type Error = Error;

    fn try_from(value: String) -> Result<Self, Error> {
        Self::new(value)
    }
}

impl From<Scope> for String {
    fn from(value: Scope) -> Self {
        value.0
    }
}

/// A set of scope tokens, sent space-separated (RFC 6749 §3.3). Keeps the order of first
/// appearance and drops duplicates, so the requests built from it are stable. May be empty,
/// in which case requests omit `scope`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScopeSet(Vec<Scope>);

impl ScopeSet {
    /// The empty set.
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses a space-separated scope string (RFC 6749 §3.3). Runs of spaces are tolerated;
    /// an empty or all-space string is the empty set.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when a token breaks the rule of [`Scope`].
    pub fn parse(value: &str) -> Result<Self, Error> {
        let mut set = Self::default();
        for token in value.split(' ').filter(|token| !token.is_empty()) {
            set.insert(Scope::new(token)?);
        }
        Ok(set)
    }

    /// Adds a scope unless it is already present.
    pub fn insert(&mut self, scope: Scope) {
        if !self.0.contains(&scope) {
            self.0.push(scope);
        }
    }

    /// Whether the set holds `scope`.
    #[must_use]
    pub fn contains(&self, scope: &Scope) -> bool {
        self.0.contains(scope)
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes, in order of first appearance.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    /// The space-separated wire form (`"a b c"`), empty for the empty set.
    #[must_use]
    pub fn to_space_separated(&self) -> String {
        let mut joined = String::new();
        for (index, scope) in self.0.iter().enumerate() {
            if index > 0 {
                joined.push(' ');
            }
            joined.push_str(scope.as_str());
        }
        joined
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut set = Self::default();
        for scope in iter {
            set.insert(scope);
        }
        set
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_space_separated())
    }
}

impl TryFrom<String> for ScopeSet {
    type Error = Error;

    fn try_from(value: String) -> Result<Self, Error> {
        Self::parse(&value)
    }
}

impl From<ScopeSet> for String {
    fn from(value: ScopeSet) -> Self {
        value.to_space_separated()
    }
}

#[cfg(test)]
mod parse_tests {
    use super::*;
    use crate::InstanceUrl;

    #[test]
    fn name_types_parse_from_str_exactly_as_new_does() {
        assert_eq!(
            "abc".parse::<ClientId>().unwrap(),
            ClientId::new("abc").unwrap()
        );
        assert!("".parse::<ClientId>().is_err() && ClientId::try_from("").is_err());
        let redirect = RedirectUri::try_from("http://127.0.0.1:8400/callback").unwrap();
        assert_eq!(redirect.as_str(), "http://127.0.0.1:8400/callback");
        assert!(
            "http://example.com/callback"
                .parse::<RedirectUri>()
                .is_err()
        );
        assert_eq!(
            Scope::try_from("useraccount").unwrap().as_str(),
            "useraccount"
        );
        let scopes: ScopeSet = "useraccount admin".parse().unwrap();
        assert_eq!(scopes, ScopeSet::parse("useraccount admin").unwrap());
        let instance = InstanceUrl::try_from("https://dev1.service-now.com").unwrap();
        let parsed: InstanceUrl = "https://dev1.service-now.com".parse().unwrap();
        assert!(instance == parsed);
        assert!(InstanceUrl::try_from("http://dev1.service-now.com").is_err());
    }
}

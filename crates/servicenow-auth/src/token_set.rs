//! The token set a credential holds, as the machine keeps it and as storage saves it.

use serde::{Deserialize, Serialize};
use servicenow_oauth::{AccessToken, RefreshToken, ScopeSet};

use crate::time::Timestamp;

/// Names one access token the machine handed out, so that a 401 can say which token it was for.
///
/// Each token set the machine installs (login, refresh, acquisition, restore) gets a new id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct TokenId(pub(crate) u64);

/// The tokens of one credential: the access token with its expiry, the refresh token with its
/// first-issue time and expiry, and the granted scope.
///
/// It serializes (for storage only) with its secrets in clear text under a `format_version`,
/// so stores encrypt it at rest; its `Debug` shows no secret.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "StoredTokenSet", into = "StoredTokenSet")]
pub struct TokenSet {
    access_token: AccessToken,
    obtained_at: Timestamp,
    access_token_expires_at: Timestamp,
    refresh_token: Option<RefreshTokenRecord>,
    scope: Option<ScopeSet>,
}

/// A refresh token with the lifetime facts the server does not repeat.
#[derive(Clone, Debug)]
pub struct RefreshTokenRecord {
    token: RefreshToken,
    first_issued_at: Timestamp,
    expires_at: Option<Timestamp>,
}

impl TokenSet {
    /// The storage format this version writes; reading any other version fails.
    pub const FORMAT_VERSION: u32 = 1;

    /// A token set from its parts, for restoring from a store of one's own format or for tests.
    pub fn new(
        access_token: AccessToken,
        obtained_at: Timestamp,
        access_token_expires_at: Timestamp,
        refresh_token: Option<RefreshTokenRecord>,
        scope: Option<ScopeSet>,
    ) -> Self {
        Self {
            access_token,
            obtained_at,
            access_token_expires_at,
            refresh_token,
            scope,
        }
    }

    /// A token set holding only a refresh token obtained elsewhere (another tool, a password
    /// grant run once by an administrator, a migration), imported at `now`.
    ///
    /// Its access token is a placeholder that expired at `now`, so a machine restoring the set
    /// never hands it out and refreshes at once: the first real access token comes from the
    /// normal refresh, and a refused refresh token is the usual
    /// [`ReauthorizationRequired`](crate::Event::ReauthorizationRequired). `expires_at_hint` is the
    /// refresh token's expiry if it is known; without it the record has no expiry (when it was
    /// first issued is unknown), and the instance's refusal is what ends it.
    pub fn from_refresh_token(
        refresh_token: RefreshToken,
        now: Timestamp,
        expires_at_hint: Option<Timestamp>,
    ) -> Self {
        let placeholder = AccessToken::new("imported-refresh-token-no-access-token-yet")
            .expect("the placeholder is printable ASCII");
        Self {
            access_token: placeholder,
            obtained_at: now,
            access_token_expires_at: now,
            refresh_token: Some(RefreshTokenRecord::new(refresh_token, now, expires_at_hint)),
            scope: None,
        }
    }

    /// The access token, whatever its expiry: use [`AuthMachine::access_token`](crate::AuthMachine::access_token)
    /// to get one that is safe to send.
    pub fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    /// When the access token was received.
    pub fn obtained_at(&self) -> Timestamp {
        self.obtained_at
    }

    /// When the server said the access token expires.
    pub fn access_token_expires_at(&self) -> Timestamp {
        self.access_token_expires_at
    }

    /// The refresh token and its lifetime, if the grant issued one.
    pub fn refresh_token(&self) -> Option<&RefreshTokenRecord> {
        self.refresh_token.as_ref()
    }

    /// The scope the server granted, if it said.
    pub fn scope(&self) -> Option<&ScopeSet> {
        self.scope.as_ref()
    }
}

impl RefreshTokenRecord {
    /// A refresh token first issued at `first_issued_at`, expiring at `expires_at` (`None`: never).
    pub fn new(
        token: RefreshToken,
        first_issued_at: Timestamp,
        expires_at: Option<Timestamp>,
    ) -> Self {
        Self {
            token,
            first_issued_at,
            expires_at,
        }
    }

    /// The refresh token.
    pub fn token(&self) -> &RefreshToken {
        &self.token
    }

    /// When this refresh token string was first received.
    pub fn first_issued_at(&self) -> Timestamp {
        self.first_issued_at
    }

    /// When it expires, counted from its first issue; `None` if it does not.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.expires_at
    }

    /// Whether it can no longer be used at `now`.
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|expires_at| now >= expires_at)
    }
}

/// The on-disk shape of a [`TokenSet`]: flat, versioned, secrets through the oauth crate's
/// storage-only serde.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredTokenSet {
    format_version: u32,
    #[serde(with = "servicenow_oauth::expose_secret")]
    access_token: AccessToken,
    obtained_at: Timestamp,
    access_token_expires_at: Timestamp,
    refresh_token: Option<StoredRefreshToken>,
    scope: Option<ScopeSet>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredRefreshToken {
    #[serde(with = "servicenow_oauth::expose_secret")]
    token: RefreshToken,
    first_issued_at: Timestamp,
    expires_at: Option<Timestamp>,
}

impl From<TokenSet> for StoredTokenSet {
    fn from(set: TokenSet) -> Self {
        Self {
            format_version: TokenSet::FORMAT_VERSION,
            access_token: set.access_token,
            obtained_at: set.obtained_at,
            access_token_expires_at: set.access_token_expires_at,
            refresh_token: set.refresh_token.map(|record| StoredRefreshToken {
                token: record.token,
                first_issued_at: record.first_issued_at,
                expires_at: record.expires_at,
            }),
            scope: set.scope,
        }
    }
}

impl TryFrom<StoredTokenSet> for TokenSet {
    type Error = String;

    fn try_from(stored: StoredTokenSet) -> Result<Self, Self::Error> {
        if stored.format_version != Self::FORMAT_VERSION {
            return Err(format!(
                "reading a token set: format version {} is not the supported {}",
                stored.format_version,
                Self::FORMAT_VERSION
            ));
        }
        Ok(Self {
            access_token: stored.access_token,
            obtained_at: stored.obtained_at,
            access_token_expires_at: stored.access_token_expires_at,
            refresh_token: stored.refresh_token.map(|record| RefreshTokenRecord {
                token: record.token,
                first_issued_at: record.first_issued_at,
                expires_at: record.expires_at,
            }),
            scope: stored.scope,
        })
    }
}

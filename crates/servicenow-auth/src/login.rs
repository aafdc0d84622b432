//! Pending logins: what a begun authorization code login must remember until its callback.

use serde::{Deserialize, Serialize};
use servicenow_oauth::{PkceVerifier, RedirectUri, SecretValue, State};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::time::Timestamp;

/// A login between its start and its callback: the `state` sent, the PKCE verifier whose
/// challenge was sent, the redirect URI used, and the deadline.
///
/// It serializes (for a shared store only; secrets in clear, so encrypt at rest) so that a web
/// app with several replicas can complete the callback on any replica: export it from the machine
/// that began it with [`AuthMachine::export_pending_login`](crate::AuthMachine::export_pending_login), import
/// it with [`Command::ImportPendingLogin`](crate::Command::ImportPendingLogin). It is not `Clone`:
/// like its verifier, it is meant to be used once.
#[derive(Debug, Deserialize)]
#[serde(try_from = "StoredPendingLogin")]
pub struct PendingLogin {
    state: State,
    verifier: PkceVerifier,
    redirect_uri: RedirectUri,
    deadline: Timestamp,
}

impl PendingLogin {
    /// The storage format this version writes; reading any other version fails.
    pub const FORMAT_VERSION: u32 = 1;

    pub(crate) fn new(
        state: State,
        verifier: PkceVerifier,
        redirect_uri: RedirectUri,
        deadline: Timestamp,
    ) -> Self {
        Self {
            state,
            verifier,
            redirect_uri,
            deadline,
        }
    }

    /// The `state` this login sent (the key to store it under).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The redirect URI this login sent.
    pub fn redirect_uri(&self) -> &RedirectUri {
        &self.redirect_uri
    }

    /// The instant from which its callback is refused.
    pub fn deadline(&self) -> Timestamp {
        self.deadline
    }

    pub(crate) fn verifier(&self) -> &PkceVerifier {
        &self.verifier
    }
}

/// The pending logins of one machine, looked up in constant time by `state`.
#[derive(Debug, Default)]
pub(crate) struct PendingLogins {
    logins: Vec<PendingLogin>,
}

/// What a callback's `state` matched.
pub(crate) enum StateMatch {
    /// A live login: removed from the set, so its state is accepted once.
    Live(PendingLogin),
    /// A login whose deadline has passed (also removed).
    Expired,
    /// No login has this state.
    Unknown,
}

impl PendingLogins {
    /// Adds a login, forgetting the oldest ones beyond `capacity`.
    pub(crate) fn insert(&mut self, login: PendingLogin, capacity: usize) {
        self.logins.push(login);
        let excess = self.logins.len().saturating_sub(capacity.max(1));
        self.logins.drain(..excess);
    }

    /// Forgets logins whose deadline is at or before `now`.
    pub(crate) fn forget_expired(&mut self, now: Timestamp) {
        self.logins.retain(|login| now < login.deadline);
    }

    /// Finds and removes the login with this `state`, comparing every stored state in constant
    /// time (the loop never stops early), then judges its deadline.
    pub(crate) fn take(&mut self, state: &State, now: Timestamp) -> StateMatch {
        let wanted = state.secret().as_bytes();
        let mut found = subtle::Choice::from(0);
        let mut index = 0_u64;
        for (position, login) in self.logins.iter().enumerate() {
            let is_match = login.state.secret().as_bytes().ct_eq(wanted);
            let position = u64::try_from(position).unwrap_or(u64::MAX);
            index.conditional_assign(&position, is_match & !found);
            found |= is_match;
        }
        if !bool::from(found) {
            return StateMatch::Unknown;
        }
        let Ok(index) = usize::try_from(index) else {
            return StateMatch::Unknown;
        };
        let login = self.logins.remove(index);
        if now < login.deadline {
            StateMatch::Live(login)
        } else {
            StateMatch::Expired
        }
    }

    /// Removes and returns the login with this `state`, if any, live or not.
    pub(crate) fn export(&mut self, state: &State) -> Option<PendingLogin> {
        match self.take(state, Timestamp::UNIX_EPOCH) {
            StateMatch::Live(login) => Some(login),
            StateMatch::Expired | StateMatch::Unknown => None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.logins.len()
    }
}

impl Serialize for PendingLogin {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StoredPendingLoginRef {
            format_version: Self::FORMAT_VERSION,
            state: &self.state,
            verifier: &self.verifier,
            redirect_uri: &self.redirect_uri,
            deadline: self.deadline,
        }
        .serialize(serializer)
    }
}

/// The stored shape of a [`PendingLogin`], as written (borrowing, since the login is not `Clone`).
#[derive(Serialize)]
struct StoredPendingLoginRef<'a> {
    format_version: u32,
    #[serde(serialize_with = "expose_borrowed_secret")]
    state: &'a State,
    #[serde(serialize_with = "expose_borrowed_secret")]
    verifier: &'a PkceVerifier,
    redirect_uri: &'a RedirectUri,
    deadline: Timestamp,
}

/// The stored shape of a [`PendingLogin`], as read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredPendingLogin {
    format_version: u32,
    #[serde(with = "servicenow_oauth::expose_secret")]
    state: State,
    #[serde(with = "servicenow_oauth::expose_secret")]
    verifier: PkceVerifier,
    redirect_uri: RedirectUri,
    deadline: Timestamp,
}

/// The oauth crate's storage-only secret serialization, for a borrowed secret.
fn expose_borrowed_secret<S: serde::Serializer, T: SecretValue>(
    value: &&T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    servicenow_oauth::expose_secret::serialize(*value, serializer)
}

impl TryFrom<StoredPendingLogin> for PendingLogin {
    type Error = String;

    fn try_from(stored: StoredPendingLogin) -> Result<Self, Self::Error> {
        if stored.format_version != Self::FORMAT_VERSION {
            return Err(format!(
                "reading a pending login: format version {} is not the supported {}",
                stored.format_version,
                Self::FORMAT_VERSION
            ));
        }
        Ok(Self {
            state: stored.state,
            verifier: stored.verifier,
            redirect_uri: stored.redirect_uri,
            deadline: stored.deadline,
        })
    }
}

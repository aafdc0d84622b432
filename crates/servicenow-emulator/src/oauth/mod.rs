//! The instance as an OAuth 2.0 authorization server: registry, sessions, codes and tokens.
//!
//! Follows `servicenow-api.md` §1. Handlers live in the submodules; this module holds the state
//! they share behind one mutex (never held across an `.await`).

pub(crate) mod authorize;
pub(crate) mod jwt;
mod pages;
pub(crate) mod revoke;
pub(crate) mod token;

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, SystemTime},
};

use crate::{ClientRegistration, Secret, UserAccount, wire::random_token};

/// How long a login session lives without use.
const SESSION_LIFETIME: Duration = Duration::from_secs(3600);

/// Everything the authorization server remembers. Its `Debug` shows counts, never a token,
/// code, session id or CSRF token.
#[derive(Default)]
pub(crate) struct OAuthState {
    pub(crate) clients: BTreeMap<String, ClientRegistration>,
    pub(crate) users: BTreeMap<String, Secret>,
    /// `email` → `user_name`, for JWTs whose `sub` is an email.
    emails: BTreeMap<String, String>,
    /// The `jti` of every accepted JWT, until its `exp` (plus skew) has passed.
    jwt_ids: HashMap<String, SystemTime>,
    sessions: HashMap<String, Session>,
    codes: HashMap<String, CodeGrant>,
    access_tokens: HashMap<String, TokenRecord>,
    refresh_tokens: HashMap<String, TokenRecord>,
    next_grant_id: u64,
}

impl std::fmt::Debug for OAuthState {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OAuthState")
            .field("clients", &self.clients.keys().collect::<Vec<_>>())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("sessions", &self.sessions.len())
            .field("codes", &self.codes.len())
            .field("access_tokens", &self.access_tokens.len())
            .field("refresh_tokens", &self.refresh_tokens.len())
            .finish()
    }
}

/// A browser session on the login and consent pages.
#[derive(Clone)]
pub(crate) struct Session {
    /// The logged-in user, or `None` before login.
    pub(crate) user: Option<String>,
    /// The CSRF token (`sysparm_ck`) the session's forms must carry.
    pub(crate) csrf_token: String,
    expires_at: SystemTime,
}

/// An issued authorization code and what it is bound to.
struct CodeGrant {
    client_id: String,
    user: String,
    requested_redirect_uri: Option<String>,
    effective_redirect_uri: String,
    code_challenge: Option<String>,
    expires_at: SystemTime,
    used: bool,
    grant_id: u64,
}

/// An access or refresh token.
#[derive(Clone)]
struct TokenRecord {
    client_id: String,
    user: String,
    expires_at: SystemTime,
    revoked: bool,
    grant_id: u64,
}

/// Tokens handed out by one successful token request.
pub(crate) struct IssuedTokens {
    pub(crate) access_token: String,
    pub(crate) refresh_token: Option<String>,
    pub(crate) expires_in: u64,
}

/// Why a code could not be redeemed (all map to the same generic error by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CodeProblem {
    Unknown,
    Expired,
    Replayed,
    WrongClient,
    RedirectUriMismatch,
    PkceMismatch,
}

impl OAuthState {
    pub(crate) fn new(clients: &[ClientRegistration], users: &[UserAccount]) -> Self {
        Self {
            clients: clients
                .iter()
                .map(|client| (client.client_id.clone(), client.clone()))
                .collect(),
            users: users
                .iter()
                .map(|user| (user.user_name.clone(), user.password.clone()))
                .collect(),
            emails: users
                .iter()
                .map(|user| (user.email.clone(), user.user_name.clone()))
                .collect(),
            ..Self::default()
        }
    }

    pub(crate) fn check_password(&self, user_name: &str, password: &str) -> bool {
        self.users
            .get(user_name)
            .is_some_and(|secret| secret.matches(password))
    }

    /// The user a JWT's `sub` names, by the endpoint's user field.
    pub(crate) fn jwt_user(&self, field: jwt::JwtUserField, subject: &str) -> Option<String> {
        match field {
            jwt::JwtUserField::UserName => {
                self.users.contains_key(subject).then(|| subject.to_owned())
            }
            jwt::JwtUserField::Email => self.emails.get(subject).cloned(),
        }
    }

    /// Remembers a JWT id until `until`; `false` if it was already used (a replay).
    pub(crate) fn remember_jwt_id(
        &mut self,
        jti: &str,
        until: SystemTime,
        now: SystemTime,
    ) -> bool {
        self.jwt_ids.retain(|_, expires_at| *expires_at > now);
        if self.jwt_ids.contains_key(jti) {
            return false;
        }
        self.jwt_ids.insert(jti.to_owned(), until);
        true
    }

    /// A new anonymous session; returns its id.
    pub(crate) fn create_session(&mut self, now: SystemTime) -> (String, Session) {
        self.sessions.retain(|_, session| session.expires_at > now);
        let session = Session {
            user: None,
            csrf_token: random_token(24),
            expires_at: now + SESSION_LIFETIME,
        };
        let session_id = random_token(24);
        self.sessions.insert(session_id.clone(), session.clone());
        (session_id, session)
    }

    pub(crate) fn session(&mut self, session_id: &str, now: SystemTime) -> Option<Session> {
        let session = self.sessions.get_mut(session_id)?;
        if session.expires_at <= now {
            self.sessions.remove(session_id);
            return None;
        }
        session.expires_at = now + SESSION_LIFETIME;
        Some(session.clone())
    }

    /// Logs the session in under a fresh id and CSRF token (no session fixation).
    pub(crate) fn log_in(&mut self, old_session_id: &str, user: &str, now: SystemTime) -> String {
        self.sessions.remove(old_session_id);
        let session_id = random_token(24);
        let session = Session {
            user: Some(user.to_owned()),
            csrf_token: random_token(24),
            expires_at: now + SESSION_LIFETIME,
        };
        self.sessions.insert(session_id.clone(), session);
        session_id
    }

    fn new_grant_id(&mut self) -> u64 {
        self.next_grant_id += 1;
        self.next_grant_id
    }

    pub(crate) fn issue_code(
        &mut self,
        request: &authorize::AuthorizationRequest,
        user: &str,
        now: SystemTime,
        lifetime: Duration,
    ) -> String {
        let code = random_token(32);
        let grant_id = self.new_grant_id();
        self.codes.insert(
            code.clone(),
            CodeGrant {
                client_id: request.client_id.clone(),
                user: user.to_owned(),
                requested_redirect_uri: request.requested_redirect_uri.clone(),
                effective_redirect_uri: request.effective_redirect_uri.clone(),
                code_challenge: request.code_challenge.clone(),
                expires_at: now + lifetime,
                used: false,
                grant_id,
            },
        );
        code
    }

    /// Redeems a code: single use, bound to client, redirect URI and PKCE challenge. A replayed
    /// code also revokes the tokens it produced (RFC 6749 §4.1.2).
    pub(crate) fn redeem_code(
        &mut self,
        code: &str,
        client_id: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        now: SystemTime,
    ) -> Result<(String, u64), CodeProblem> {
        let grant = self.codes.get_mut(code).ok_or(CodeProblem::Unknown)?;
        if grant.used {
            let grant_id = grant.grant_id;
            self.revoke_grant(grant_id);
            return Err(CodeProblem::Replayed);
        }
        if grant.client_id != client_id {
            return Err(CodeProblem::WrongClient);
        }
        if grant.expires_at <= now {
            return Err(CodeProblem::Expired);
        }
        let redirect_matches = match (&grant.requested_redirect_uri, redirect_uri) {
            (Some(requested), Some(presented)) => requested == presented,
            (Some(_), None) => false,
            (None, Some(presented)) => grant.effective_redirect_uri == presented,
            (None, None) => true,
        };
        if !redirect_matches {
            return Err(CodeProblem::RedirectUriMismatch);
        }
        let pkce_holds = match (&grant.code_challenge, code_verifier) {
            (Some(challenge), Some(verifier)) => pkce_s256(verifier).as_deref() == Some(challenge),
            (None, None) => true,
            _ => false,
        };
        if !pkce_holds {
            return Err(CodeProblem::PkceMismatch);
        }
        grant.used = true;
        Ok((grant.user.clone(), grant.grant_id))
    }

    /// Issues an access token (and a refresh token when asked) for a new or existing grant.
    pub(crate) fn issue_tokens(
        &mut self,
        client: &ClientRegistration,
        user: &str,
        grant_id: Option<u64>,
        with_refresh_token: bool,
        now: SystemTime,
    ) -> IssuedTokens {
        let grant_id = grant_id.unwrap_or_else(|| self.new_grant_id());
        let access_token = random_token(64);
        let record = TokenRecord {
            client_id: client.client_id.clone(),
            user: user.to_owned(),
            expires_at: now + client.access_token_ttl,
            revoked: false,
            grant_id,
        };
        self.access_tokens
            .insert(access_token.clone(), record.clone());
        let refresh_token = with_refresh_token.then(|| {
            let refresh_token = random_token(64);
            let refresh_record = TokenRecord {
                expires_at: now + client.refresh_token_ttl,
                ..record
            };
            self.refresh_tokens
                .insert(refresh_token.clone(), refresh_record);
            refresh_token
        });
        IssuedTokens {
            access_token,
            refresh_token,
            expires_in: client.access_token_ttl.as_secs(),
        }
    }

    /// The refresh grant: a new access token; the same refresh token with its original expiry,
    /// or (when rotating) a new one and the old one revoked. `None` when the token is unusable.
    pub(crate) fn refresh(
        &mut self,
        client: &ClientRegistration,
        refresh_token: &str,
        rotate: bool,
        now: SystemTime,
    ) -> Option<IssuedTokens> {
        let record = self.refresh_tokens.get_mut(refresh_token)?;
        if record.revoked || record.expires_at <= now || record.client_id != client.client_id {
            return None;
        }
        let (user, grant_id) = (record.user.clone(), record.grant_id);
        if rotate {
            record.revoked = true;
            return Some(self.issue_tokens(client, &user, Some(grant_id), true, now));
        }
        let mut issued = self.issue_tokens(client, &user, Some(grant_id), false, now);
        issued.refresh_token = Some(refresh_token.to_owned());
        Some(issued)
    }

    /// The user an access token acts for, if it is known, unrevoked and unexpired.
    pub(crate) fn bearer_user(&self, access_token: &str, now: SystemTime) -> Option<String> {
        let record = self.access_tokens.get(access_token)?;
        (!record.revoked && record.expires_at > now).then(|| record.user.clone())
    }

    /// Revokes an access or refresh token; a refresh token takes its grant's access tokens
    /// with it (RFC 7009 §2.1). Returns whether the token was known.
    pub(crate) fn revoke(&mut self, token: &str) -> bool {
        if let Some(record) = self.access_tokens.get_mut(token) {
            record.revoked = true;
            return true;
        }
        let Some(record) = self.refresh_tokens.get(token) else {
            return false;
        };
        let grant_id = record.grant_id;
        self.revoke_grant(grant_id);
        true
    }

    fn revoke_grant(&mut self, grant_id: u64) {
        for record in self
            .access_tokens
            .values_mut()
            .chain(self.refresh_tokens.values_mut())
        {
            if record.grant_id == grant_id {
                record.revoked = true;
            }
        }
    }

    /// Revokes every token (as an administrator would in Manage Tokens).
    pub(crate) fn revoke_everything(&mut self) {
        for record in self
            .access_tokens
            .values_mut()
            .chain(self.refresh_tokens.values_mut())
        {
            record.revoked = true;
        }
    }
}

/// The S256 PKCE challenge of a verifier, or `None` if the verifier is malformed (RFC 7636 §4.1).
pub(crate) fn pkce_s256(verifier: &str) -> Option<String> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-._~".contains(&byte));
    well_formed.then(|| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").as_deref(),
            Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        );
        assert_eq!(pkce_s256("too-short"), None);
    }
}

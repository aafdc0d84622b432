//! The observer's checks: each compares what the machine does with what the rules allow.

use bytes::Bytes;
use std::time::Duration;

use servicenow_auth::{AuthMachine, Timestamp};

use crate::world::{Invariant, World};

/// The machine's refresh token: its string, first-issue time and expiry.
pub(crate) type RefreshTokenView = Option<(String, Timestamp, Option<Timestamp>)>;

pub(crate) fn refresh_token_of(machine: &AuthMachine) -> RefreshTokenView {
    let record = machine.token_set()?.refresh_token()?;
    Some((
        record.token().secret().to_owned(),
        record.first_issued_at(),
        record.expires_at(),
    ))
}

/// The `refresh_token` member of a token response body, if any.
pub(crate) fn refresh_token_in(response: &http::Response<Bytes>) -> Option<String> {
    let body: serde_json::Value = serde_json::from_slice(response.body()).ok()?;
    body.get("refresh_token")?.as_str().map(str::to_owned)
}

pub(crate) fn copy_response(response: &http::Response<Bytes>) -> http::Response<Bytes> {
    let mut copy = http::Response::new(response.body().clone());
    *copy.status_mut() = response.status();
    *copy.headers_mut() = response.headers().clone();
    copy
}

pub(crate) fn status_only(status: u16) -> http::Response<Bytes> {
    let mut response = http::Response::new(Bytes::new());
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response
}

impl World {
    /// Whatever the machine hands out now must be persisted (or restored) already, and
    /// usable: `now < expires_at - skew` by the server's own record of the token.
    pub(crate) fn check_hand_out(&mut self) {
        let Some(current) = self.machine.access_token(self.now) else {
            return;
        };
        let token = current.token.secret().to_owned();
        let id = current.id;
        if !self.handed_out_ids.contains(&id) {
            self.handed_out_ids.push(id);
        }
        if !self.persisted_access_tokens.contains(&token) {
            self.violation(
                Invariant::PersistBeforeHandOut,
                format!("{} handed out before its Persist was polled", short(&token)),
            );
        }
        match self.server.access_token_issue(&token) {
            Some((issued_at, expires_at)) => {
                let lifetime = expires_at.saturating_duration_since(issued_at);
                let skew = SKEW.min(lifetime / 2);
                if self.now >= expires_at.saturating_sub(skew) {
                    let late = self
                        .now
                        .saturating_duration_since(expires_at.saturating_sub(skew));
                    self.violation(
                        Invariant::NeverExpiredTokenHandedOut,
                        format!(
                            "{} handed out {late:?} past expiry minus skew",
                            short(&token)
                        ),
                    );
                }
            }
            None => self.violation(
                Invariant::NeverExpiredTokenHandedOut,
                "a token the server never issued was handed out".into(),
            ),
        }
    }

    /// At most one token-endpoint request, and at most one revocation, is unanswered and within
    /// the request deadline.
    pub(crate) fn check_in_flight(&mut self) {
        let now = self.now;
        let open = |token_request: bool| {
            self.outstanding
                .iter()
                .filter(|entry| {
                    entry.is_token_request == token_request
                        && !entry.answered
                        && now < entry.sent_at.saturating_add(REQUEST_TIMEOUT)
                })
                .count()
        };
        let (token_requests, revocations) = (open(true), open(false));
        if token_requests > 1 {
            self.violation(
                Invariant::SingleTokenRequestInFlight,
                format!("{token_requests} token requests in flight"),
            );
        }
        // The drain contract of the crate docs: at most one request of each kind, so a drain
        // never holds more than two.
        if revocations > 1 {
            self.violation(
                Invariant::SingleTokenRequestInFlight,
                format!("{revocations} revocation requests in flight"),
            );
        }
    }

    /// The refresh token changes only as the input allows; its first-issue time and expiry are
    /// the server's first issue of that string (plus the configured lifetime).
    pub(crate) fn check_refresh_token(
        &mut self,
        before: &RefreshTokenView,
        licence: RefreshTokenLicence,
    ) {
        let after = refresh_token_of(&self.machine);
        let before_string = before.as_ref().map(|(token, _, _)| token.clone());
        let after_string = after.as_ref().map(|(token, _, _)| token.clone());
        let allowed = match licence {
            RefreshTokenLicence::Unchanged => after_string == before_string,
            RefreshTokenLicence::Restored(restored) => after_string == restored,
            RefreshTokenLicence::Dropped => after_string.is_none(),
            RefreshTokenLicence::FromResponse(from_response) => {
                after_string == before_string
                    || (after_string.is_some() && after_string == from_response)
            }
        };
        if !allowed {
            self.violation(
                Invariant::RefreshTokenNeverLost,
                format!(
                    "refresh token went from {:?} to {:?}",
                    before_string.as_deref().map(short),
                    after_string.as_deref().map(short)
                ),
            );
        }
        if let Some((token, first_issued_at, expires_at)) = after {
            let first_issue = self.server.refresh_token_first_issue(&token);
            let expected_expiry = self
                .refresh_token_lifetime
                .map(|lifetime| first_issued_at.saturating_add(lifetime));
            if first_issue != Some(first_issued_at) || expires_at != expected_expiry {
                self.violation(
                    Invariant::RefreshTokenExpiryFromFirstIssue,
                    format!(
                        "refresh token {} first issued at {first_issue:?} is recorded as {first_issued_at:?}, expiring {expires_at:?}",
                        short(&token)
                    ),
                );
            }
        }
    }

    /// No secret in a `Debug` text: nothing the server issued, not the client secret, no state
    /// or PKCE verifier seen so far.
    pub(crate) fn check_debug(&mut self, what: &str, text: &str) {
        let leaked = text.contains("SECRET")
            || self
                .secrets
                .iter()
                .any(|secret| text.contains(secret.as_str()));
        if leaked {
            self.violation(
                Invariant::NoSecretInDebug,
                format!(
                    "a secret in the Debug of an {what}: {}",
                    text.chars().take(300).collect::<String>()
                ),
            );
        }
    }
}

pub(crate) use crate::world::RefreshTokenLicence;

/// The first characters of a token: enough to tell tokens apart in a report.
fn short(token: &str) -> String {
    token.chars().take(7).collect()
}

pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const SKEW: Duration = Duration::from_secs(60);

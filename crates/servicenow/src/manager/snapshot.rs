//! The lock-free read: the published access token, its deadlines, and `Bearer`, the value callers send.

use std::sync::Arc;

use servicenow_auth::{CurrentToken, Timestamp, TokenId};
use servicenow_oauth::AccessToken;

/// An access token ready to send, with the id to report if the server refuses it.
#[derive(Clone, Debug)]
pub struct Bearer(pub(super) Arc<Snapshot>);

impl Bearer {
    /// The access token.
    pub fn token(&self) -> &AccessToken {
        &self.0.token
    }

    /// The id to pass to [`TokenManager::unauthorized`](crate::TokenManager::unauthorized) when
    /// the server answers 401.
    pub fn id(&self) -> TokenId {
        self.0.id
    }

    /// The `Authorization` header value, marked sensitive so HTTP stacks do not log it.
    pub fn header_value(&self) -> http::HeaderValue {
        self.0.header.clone()
    }
}

/// What the hot path reads with one atomic load: the token, its header, and two deadlines.
#[derive(Debug)]
pub(crate) struct Snapshot {
    token: AccessToken,
    header: http::HeaderValue,
    id: TokenId,
    /// The token is handed out while the clock reads earlier than this (expiry minus skew).
    usable_until: Timestamp,
    /// From here on a refresh is started in the background while this token is still handed
    /// out: the machine's proactive refresh point for this token.
    refresh_at: Timestamp,
    /// `refresh_at` minus [`COARSE_LAG_BOUND`](crate::COARSE_LAG_BOUND): a coarse reading
    /// before it proves the token usable and not due, whatever the coarse clock's lag.
    coarse_deadline: Timestamp,
}

impl Snapshot {
    /// The snapshot of the machine's current token, with the machine's proactive refresh point
    /// for it.
    pub(super) fn of(token: &CurrentToken<'_>) -> Arc<Self> {
        let mut header = http::HeaderValue::from_str(&format!("Bearer {}", token.token.secret()))
            // An access token is validated as visible ASCII when parsed, so this cannot fail;
            // were it to, the instance would answer 401 and the token would be refreshed.
            .unwrap_or_else(|_| http::HeaderValue::from_static("Bearer invalid"));
        header.set_sensitive(true);
        Arc::new(Self {
            token: token.token.clone(),
            header,
            id: token.id,
            usable_until: token.usable_until,
            refresh_at: token.refresh_at.min(token.usable_until),
            coarse_deadline: token
                .refresh_at
                .min(token.usable_until)
                .saturating_sub(crate::COARSE_LAG_BOUND),
        })
    }

    /// Whether a coarse reading (see [`Clock::now_coarse`](crate::Clock::now_coarse)) proves the
    /// token usable and not yet due, whatever the coarse clock's lag: it is more than
    /// [`COARSE_LAG_BOUND`](crate::COARSE_LAG_BOUND) before the refresh point, which is
    /// never after the end of its usable life.
    #[inline]
    pub(super) fn far_from_refresh(&self, coarse_now: Timestamp) -> bool {
        coarse_now < self.coarse_deadline
    }

    /// Whether the token may be handed out at `now`.
    #[inline]
    pub(super) fn usable_at(&self, now: Timestamp) -> bool {
        now < self.usable_until
    }

    /// Whether a refresh ahead of expiry is due at `now`.
    #[inline]
    pub(super) fn refresh_due_at(&self, now: Timestamp) -> bool {
        now >= self.refresh_at
    }

    pub(super) fn id(&self) -> TokenId {
        self.id
    }

    pub(super) fn refresh_at(&self) -> Timestamp {
        self.refresh_at
    }
}

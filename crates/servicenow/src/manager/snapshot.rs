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
        self.0.header.value.clone()
    }
}

/// `Bearer <token>` as a sensitive header value, whose bytes are wiped when it is dropped and no
/// request still holds a clone (the copies hyper and reqwest make in their write buffers are out
/// of reach).
#[derive(Debug)]
pub(crate) struct BearerHeader {
    value: http::HeaderValue,
    /// The value's bytes: the same memory, since `from_maybe_shared` keeps a `Bytes` as it is.
    bytes: bytes::Bytes,
}

impl BearerHeader {
    pub(crate) fn new(token: &AccessToken) -> Self {
        let text = zeroize::Zeroizing::new(format!("Bearer {}", token.secret()));
        let bytes = bytes::Bytes::copy_from_slice(text.as_bytes());
        let mut value = http::HeaderValue::from_maybe_shared(bytes.clone())
            // An access token is validated as visible ASCII when parsed, so this cannot fail;
            // were it to, the instance would answer 401 and the token would be refreshed.
            .unwrap_or_else(|_| http::HeaderValue::from_static("Bearer invalid"));
        value.set_sensitive(true);
        Self { value, bytes }
    }

    /// Drops this value and wipes its bytes if nothing else holds them; returns whether it did.
    fn wipe(&mut self) -> bool {
        self.value = http::HeaderValue::from_static("");
        crate::wipe::wipe_bytes(&mut self.bytes)
    }
}

impl Drop for BearerHeader {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// What the hot path reads with one atomic load: the token, its header, and two deadlines.
#[derive(Debug)]
pub(crate) struct Snapshot {
    token: AccessToken,
    header: BearerHeader,
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
        let header = BearerHeader::new(token.token);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_header_is_wiped_once_no_request_holds_it() {
        let token = AccessToken::new("access-token-value").unwrap();
        let mut header = BearerHeader::new(&token);
        assert_eq!(header.value.as_bytes(), b"Bearer access-token-value");
        assert!(header.value.is_sensitive());
        let in_flight = header.value.clone();
        assert!(!header.wipe(), "a request in flight shares the bytes");
        assert_eq!(in_flight.as_bytes(), b"Bearer access-token-value");
        drop(in_flight);
        assert!(header.wipe());
        assert!(header.bytes.iter().all(|byte| *byte == 0));
        assert_eq!(header.bytes.len(), "Bearer access-token-value".len());
    }
}

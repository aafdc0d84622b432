//! Per-user rate limits on the REST APIs (`servicenow-api.md` §2.7): fixed windows of one
//! clock hour, `X-RateLimit-*` headers while a rule applies, 429 with `Retry-After` beyond it.

use std::collections::HashMap;

use crate::RateLimitRule;

/// Request counts per user in the current window.
#[derive(Debug, Default)]
pub(crate) struct RateLimitState {
    windows: HashMap<String, (i64, u32)>,
}

/// The verdict on one request under a rule.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RateDecision {
    pub(crate) allowed: bool,
    pub(crate) limit: u32,
    /// UNIX time of the next window.
    pub(crate) reset: i64,
    pub(crate) rule_sys_id: String,
    /// Seconds until the window resets.
    pub(crate) retry_after: i64,
}

const WINDOW_SECONDS: i64 = 3600;

impl RateLimitState {
    /// Counts a request by `user` at `now` (UNIX seconds); `None` if no rule applies to them.
    pub(crate) fn check(
        &mut self,
        rule: Option<&RateLimitRule>,
        user: &str,
        now: i64,
    ) -> Option<RateDecision> {
        let rule = rule?;
        if rule.user_name.as_deref().is_some_and(|name| name != user) {
            return None;
        }
        let window_start = now - now.rem_euclid(WINDOW_SECONDS);
        let entry = self
            .windows
            .entry(user.to_owned())
            .or_insert((window_start, 0));
        if entry.0 != window_start {
            *entry = (window_start, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        let reset = window_start + WINDOW_SECONDS;
        Some(RateDecision {
            allowed: entry.1 <= rule.requests_per_hour,
            limit: rule.requests_per_hour,
            reset,
            rule_sys_id: rule.sys_id.clone(),
            retry_after: (reset - now).max(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_resets_on_the_hour() {
        let mut state = RateLimitState::default();
        let rule = RateLimitRule::all_users(2);
        let start = 1_700_000_000 - 1_700_000_000 % 3600;
        assert!(
            state
                .check(Some(&rule), "admin", start + 10)
                .unwrap()
                .allowed
        );
        assert!(
            state
                .check(Some(&rule), "admin", start + 20)
                .unwrap()
                .allowed
        );
        let refused = state.check(Some(&rule), "admin", start + 30).unwrap();
        assert!(!refused.allowed);
        assert_eq!((refused.reset, refused.retry_after), (start + 3600, 3570));
        assert!(
            state
                .check(Some(&rule), "itil", start + 30)
                .unwrap()
                .allowed,
            "counted per user"
        );
        assert!(
            state
                .check(Some(&rule), "admin", start + 3600)
                .unwrap()
                .allowed
        );
    }
}

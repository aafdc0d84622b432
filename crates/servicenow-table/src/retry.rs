//! Which failures are retried, and after how long: capped exponential backoff with jitter,
//! honouring `Retry-After` and `X-RateLimit-Reset` (read against the response's own `Date`).

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use rand::Rng;
use servicenow_http::TransportError;

use crate::response::{rate_limit_reset, response_date, retry_after};

/// How a [`TableClient`](crate::TableClient) retries.
///
/// Idempotent requests (GET, PUT, DELETE) are retried on 429, 500, 502, 503, 504, transient
/// transport failures and truncated success bodies, except a transaction the instance cancelled
/// for exceeding its quota ([`TableError::TransactionTimeout`](crate::TableError::TransactionTimeout)):
/// the same request would meet the same quota, so a stream asks again with a smaller page
/// instead ([`MAX_PAGE_HALVINGS`](crate::MAX_PAGE_HALVINGS)). POST and PATCH are retried only when the
/// transport proves the request never reached the server (a refused connection). A failure of
/// a layer over the transport (such as the facade's authorization) is never retried.
///
/// The policy reads no clock and draws no randomness of its own: the jitter comes from the RNG
/// passed in (the client's seeded one), and `X-RateLimit-Reset` is read against the
/// response's `Date` header (see [`RetryPolicy::delay_after`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 disables retries).
    pub max_attempts: u32,
    /// The backoff before the first retry; it doubles with every retry.
    pub initial_backoff: Duration,
    /// The backoff never grows beyond this.
    pub max_backoff: Duration,
    /// A `Retry-After` (or `X-RateLimit-Reset`) further away than this is not waited for: the
    /// error is returned instead.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The jittered backoff before retry number `retry` (0 for the first retry): uniformly
    /// random between half and all of `min(max_backoff, initial_backoff × 2^retry)`.
    pub fn backoff(&self, retry: u32, rng: &mut impl Rng) -> Duration {
        let exponential = self
            .initial_backoff
            .saturating_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX));
        let capped = exponential.min(self.max_backoff);
        let half = capped / 2;
        half + capped.saturating_sub(half).mul_f64(rng.random::<f64>())
    }

    /// How long to wait before retrying a request of `method` that came back as `outcome`, or
    /// `None` when it must not be retried.
    ///
    /// A retryable error response waits for the longer of the jittered [`backoff`](Self::backoff)
    /// and what the server asked for: `Retry-After` (seconds), or else, on a 429,
    /// `X-RateLimit-Reset` (a Unix time) minus the response's own `Date` header. Reading the
    /// reset against the server's `Date` rather than the local clock keeps the wait right when
    /// the two clocks disagree; without a `Date` header the reset is not used and the jittered
    /// backoff applies. A wait longer than [`max_retry_after`](Self::max_retry_after) is not
    /// waited for: `None`.
    pub fn delay_after(
        &self,
        method: &Method,
        retry: u32,
        outcome: &RetryOutcome<'_>,
        rng: &mut impl Rng,
    ) -> Option<Duration> {
        if retry + 1 >= self.max_attempts {
            return None;
        }
        let idempotent = matches!(
            *method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        );
        let backoff = self.backoff(retry, rng);
        match outcome {
            RetryOutcome::Transport(error) => {
                let may_retry =
                    error.is_transient() && (idempotent || error.never_reached_server());
                may_retry.then_some(backoff)
            }
            RetryOutcome::TruncatedBody => idempotent.then_some(backoff),
            RetryOutcome::Response(response) => {
                if !idempotent || !is_retryable_status(response.status()) {
                    return None;
                }
                let server_asked = retry_after(response.headers()).or_else(|| {
                    if response.status() != StatusCode::TOO_MANY_REQUESTS {
                        return None;
                    }
                    let reset = rate_limit_reset(response.headers())?;
                    let date = response_date(response.headers())?
                        .duration_since(UNIX_EPOCH)
                        .ok()?
                        .as_secs();
                    let date = i64::try_from(date).ok()?;
                    Some(Duration::from_secs(
                        u64::try_from(reset.saturating_sub(date)).unwrap_or(0),
                    ))
                });
                match server_asked {
                    Some(wait) if wait > self.max_retry_after => None,
                    Some(wait) => Some(wait.max(backoff)),
                    None => Some(backoff),
                }
            }
        }
    }
}

/// What an attempt produced, as far as the retry decision is concerned.
#[derive(Debug)]
pub enum RetryOutcome<'a> {
    /// A complete response with an error status.
    Response(&'a Response<Bytes>),
    /// A success status whose body did not parse (cut short by a broken connection).
    TruncatedBody,
    /// The transport failed (a sender's own failure is never retried, so it has no outcome).
    Transport(&'a TransportError),
}

fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn rng() -> rand_chacha::ChaCha8Rng {
        rand_chacha::ChaCha8Rng::seed_from_u64(7)
    }

    fn response(status: u16, headers: &[(&str, &str)]) -> Response<Bytes> {
        let mut builder = Response::builder().status(status);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Bytes::new()).expect("valid response")
    }

    #[test]
    fn backoff_doubles_is_capped_and_jittered_within_half_to_full() {
        let policy = RetryPolicy::default();
        let mut rng = rng();
        for retry in 0..40 {
            let ceiling = policy
                .initial_backoff
                .saturating_mul(1 << retry.min(20))
                .min(policy.max_backoff);
            let delay = policy.backoff(retry, &mut rng);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "retry {retry}: {delay:?} vs {ceiling:?}"
            );
        }
    }

    #[test]
    fn idempotent_requests_retry_rate_limits_and_server_errors_but_not_client_errors() {
        let policy = RetryPolicy::default();
        for status in [429, 500, 502, 503, 504] {
            let outcome = RetryOutcome::Response(&response(status, &[]));
            assert!(
                policy
                    .delay_after(&Method::GET, 0, &outcome, &mut rng())
                    .is_some(),
                "{status}"
            );
            assert!(
                policy
                    .delay_after(&Method::POST, 0, &outcome, &mut rng())
                    .is_none(),
                "{status}"
            );
            assert!(
                policy
                    .delay_after(&Method::PATCH, 0, &outcome, &mut rng())
                    .is_none(),
                "{status}"
            );
        }
        for status in [400, 401, 403, 404] {
            let outcome = RetryOutcome::Response(&response(status, &[]));
            assert!(
                policy
                    .delay_after(&Method::GET, 0, &outcome, &mut rng())
                    .is_none(),
                "{status}"
            );
        }
    }

    #[test]
    fn retry_after_and_rate_limit_reset_are_honoured_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let asked = response(429, &[("retry-after", "7")]);
        let delay =
            policy.delay_after(&Method::GET, 0, &RetryOutcome::Response(&asked), &mut rng());
        assert_eq!(delay, Some(Duration::from_secs(7)));
        // 1000 s after the epoch is 00:16:40 on 1 January 1970; the server says it is 00:16:35.
        let reset = response(
            429,
            &[
                ("x-ratelimit-reset", "1000"),
                ("date", "Thu, 01 Jan 1970 00:16:35 GMT"),
            ],
        );
        let delay =
            policy.delay_after(&Method::GET, 0, &RetryOutcome::Response(&reset), &mut rng());
        assert_eq!(delay, Some(Duration::from_secs(5)));
        let too_far = response(429, &[("retry-after", "3600")]);
        assert_eq!(
            policy.delay_after(
                &Method::GET,
                0,
                &RetryOutcome::Response(&too_far),
                &mut rng()
            ),
            None
        );
    }

    #[test]
    fn a_rate_limit_reset_is_read_against_the_server_date_never_the_local_clock() {
        let policy = RetryPolicy::default();
        // The year 2100, with no `Date`: nothing to measure the reset against, so the jittered
        // backoff applies (were the local clock read, this would be decades: `None`).
        let no_date = response(429, &[("x-ratelimit-reset", "4102444800")]);
        assert_eq!(
            policy.delay_after(
                &Method::GET,
                0,
                &RetryOutcome::Response(&no_date),
                &mut rng()
            ),
            Some(policy.backoff(0, &mut rng()))
        );
        // A server whose clock says 2099-12-31 23:59:30: the reset is 30 s away for it.
        let skewed = response(
            429,
            &[
                ("x-ratelimit-reset", "4102444800"),
                ("date", "Thu, 31 Dec 2099 23:59:30 GMT"),
            ],
        );
        assert_eq!(
            policy.delay_after(
                &Method::GET,
                0,
                &RetryOutcome::Response(&skewed),
                &mut rng()
            ),
            Some(Duration::from_secs(30))
        );
        // A reset already past by the server's clock: the backoff, not zero.
        let past = response(
            429,
            &[
                ("x-ratelimit-reset", "1000"),
                ("date", "Thu, 01 Jan 1970 01:00:00 GMT"),
            ],
        );
        assert_eq!(
            policy.delay_after(&Method::GET, 0, &RetryOutcome::Response(&past), &mut rng()),
            Some(policy.backoff(0, &mut rng()))
        );
        // A malformed `Date` is no `Date`.
        let garbled = response(
            429,
            &[("x-ratelimit-reset", "4102444800"), ("date", "yesterday")],
        );
        assert_eq!(
            policy.delay_after(
                &Method::GET,
                0,
                &RetryOutcome::Response(&garbled),
                &mut rng()
            ),
            Some(policy.backoff(0, &mut rng()))
        );
    }

    #[test]
    fn posts_are_retried_only_when_the_request_never_reached_the_server() {
        let policy = RetryPolicy::default();
        let refused = TransportError::Connect {
            origin: "http://127.0.0.1:1".into(),
            refused: true,
            source: "refused".into(),
        };
        let broken = TransportError::Io {
            origin: "http://127.0.0.1:1".into(),
            source: "reset".into(),
        };
        assert!(
            policy
                .delay_after(
                    &Method::POST,
                    0,
                    &RetryOutcome::Transport(&refused),
                    &mut rng()
                )
                .is_some()
        );
        assert!(
            policy
                .delay_after(
                    &Method::POST,
                    0,
                    &RetryOutcome::Transport(&broken),
                    &mut rng()
                )
                .is_none()
        );
        assert!(
            policy
                .delay_after(&Method::PATCH, 0, &RetryOutcome::TruncatedBody, &mut rng())
                .is_none()
        );
        assert!(
            policy
                .delay_after(
                    &Method::GET,
                    0,
                    &RetryOutcome::Transport(&broken),
                    &mut rng()
                )
                .is_some()
        );
        assert!(
            policy
                .delay_after(&Method::GET, 0, &RetryOutcome::TruncatedBody, &mut rng())
                .is_some()
        );
    }

    #[test]
    fn attempts_stop_at_the_limit() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let outcome = RetryOutcome::Response(&response(503, &[]));
        assert!(
            policy
                .delay_after(&Method::GET, 1, &outcome, &mut rng())
                .is_some()
        );
        assert!(
            policy
                .delay_after(&Method::GET, 2, &outcome, &mut rng())
                .is_none()
        );
        assert!(
            RetryPolicy::never()
                .delay_after(&Method::GET, 0, &outcome, &mut rng())
                .is_none()
        );
    }
}

//! Counters of what the emulator was asked, for tests that assert "exactly one refresh".

use std::collections::BTreeMap;

use parking_lot::Mutex;

/// Whether a token request was answered with tokens or refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TokenOutcome {
    /// Tokens were issued.
    Issued,
    /// The request was refused (any error response).
    Rejected,
}

/// A point-in-time copy of the counters; compare two snapshots to see what a step caused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CountersSnapshot {
    /// Token endpoint requests by `grant_type` as sent (`""` when missing) and outcome.
    pub token_requests: BTreeMap<(String, TokenOutcome), u64>,
    /// Table API requests by method and table name (counted before authentication).
    pub table_requests: BTreeMap<(String, String), u64>,
    /// Requests to a revocation endpoint.
    pub revocations: u64,
    /// `GET /oauth_auth.do` requests.
    pub authorization_requests: u64,
    /// Successful and failed logins through the login form.
    pub logins_succeeded: u64,
    /// Login attempts with a wrong user name or password.
    pub logins_failed: u64,
    /// Consent pages answered with Allow.
    pub consents_allowed: u64,
    /// Consent pages answered with Deny.
    pub consents_denied: u64,
    /// Table API requests refused with 401.
    pub table_unauthorized: u64,
    /// Table API requests refused with 429 by a rate limit rule.
    pub rate_limited: u64,
    /// Table API requests refused with 429 because their node's `API_INT` queue was full (cost
    /// model).
    pub queue_full: u64,
    /// Table API requests cancelled by the transaction quota of the cost model.
    pub transactions_cancelled: u64,
    /// The most Table API requests that held an `API_INT` thread at the same time (cost model).
    pub peak_executing: u64,
    /// Faults injected (errors, dropped connections, truncated bodies, added latency).
    pub faults_injected: u64,
    /// TCP connections accepted: how many connection pools a client really used.
    pub connections_accepted: u64,
    /// Batch API calls answered (each item also counts as the request it carries).
    pub batch_requests: u64,
    /// Aggregate API requests (`/api/now/stats/{table}`) that passed authentication.
    pub aggregate_requests: u64,
}

impl CountersSnapshot {
    /// Token requests with this grant type and outcome.
    pub fn token_requests(&self, grant_type: &str, outcome: TokenOutcome) -> u64 {
        self.token_requests
            .get(&(grant_type.to_owned(), outcome))
            .copied()
            .unwrap_or(0)
    }

    /// All token requests, whatever their grant type and outcome.
    pub fn total_token_requests(&self) -> u64 {
        self.token_requests.values().sum()
    }

    /// Table API requests with this method (`"GET"`, `"POST"` …) on this table.
    pub fn table_requests(&self, method: &str, table: &str) -> u64 {
        self.table_requests
            .get(&(method.to_owned(), table.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// All Table API requests.
    pub fn total_table_requests(&self) -> u64 {
        self.table_requests.values().sum()
    }
}

/// The live counters, shared by every connection.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    inner: Mutex<CountersSnapshot>,
    executing: Mutex<u64>,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> CountersSnapshot {
        self.inner.lock().clone()
    }

    pub(crate) fn reset(&self) {
        *self.inner.lock() = CountersSnapshot::default();
    }

    pub(crate) fn token_request(&self, grant_type: &str, outcome: TokenOutcome) {
        *self
            .inner
            .lock()
            .token_requests
            .entry((grant_type.to_owned(), outcome))
            .or_default() += 1;
    }

    pub(crate) fn table_request(&self, method: &str, table: &str) {
        *self
            .inner
            .lock()
            .table_requests
            .entry((method.to_owned(), table.to_owned()))
            .or_default() += 1;
    }

    /// A request took a thread (cost model): raises the peak when needed.
    pub(crate) fn executing_started(&self) {
        let mut executing = self.executing.lock();
        *executing += 1;
        let mut inner = self.inner.lock();
        inner.peak_executing = inner.peak_executing.max(*executing);
    }

    /// A request gave its thread back.
    pub(crate) fn executing_finished(&self) {
        let mut executing = self.executing.lock();
        *executing = executing.saturating_sub(1);
    }

    pub(crate) fn bump(&self, counter: impl FnOnce(&mut CountersSnapshot) -> &mut u64) {
        *counter(&mut self.inner.lock()) += 1;
    }
}

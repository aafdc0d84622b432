//! One refresh, inside the refresh task: take the store's lease, reload what another process stored, let the machine decide, and run it through the drive loop until callers have a token or an error.

use std::sync::{Arc, atomic::Ordering};

use servicenow_auth::{
    AuthMachine, Command, Event, ReauthorizationReason, TokenFailure, TokenId, TokenSet,
};
use servicenow_store::Version;
use tracing::Instrument as _;

use super::{Inner, lock, snapshot::Snapshot};
use crate::{
    codec,
    drive::{Stop, os_seed},
    error::{Error, Result},
};

/// The machine of one credential and what its driver knows about the store.
#[derive(Debug)]
pub(crate) struct MachineState {
    pub(super) machine: AuthMachine,
    /// The store version the machine's token set came from or was saved as.
    pub(super) version: Option<Version>,
    /// A token set the machine produced that the store has not accepted yet (boxed: it is
    /// almost always `None`, and an idle manager should not carry its space).
    pub(super) unpersisted: Option<Box<TokenSet>>,
    /// Set by [`TokenManager::reload`](crate::TokenManager::reload): the store is the truth, even
    /// when it holds nothing (a logout done elsewhere), so the machine forgets what it holds.
    pub(super) reload_requested: bool,
}

impl MachineState {
    pub(super) fn new(machine: AuthMachine) -> Self {
        Self {
            machine,
            version: None,
            unpersisted: None,
            reload_requested: false,
        }
    }
}

impl Inner {
    /// The body of the refresh task: with the machine's lock held, either the machine already
    /// has a usable token (another caller's refresh finished meanwhile), or one refresh runs
    /// under the store's lease.
    pub(super) async fn refresh(self: &Arc<Self>) -> Result<Arc<Snapshot>> {
        let mut guard = self.machine.lock().await;
        if guard.is_none() {
            let config = Arc::clone(&self.config);
            let machine = AuthMachine::new(config, self.shared.endpoint.clock.now(), os_seed()?);
            *guard = Some(Box::new(MachineState::new(machine)));
        }
        let Some(state) = guard.as_mut() else {
            return Err(Error::RefreshTaskStopped);
        };
        let refused = std::mem::take(&mut *lock(&self.refused));
        let now = self.shared.endpoint.clock.now();
        if refused.is_empty() && !state.reload_requested && !state.machine.status(now).refresh_due {
            if let Some(token) = state.machine.access_token(now) {
                return Ok(self.publish(Snapshot::of(&token)));
            }
        }
        let store = &self.shared.endpoint.store;
        let options = &self.shared.options;
        let lease = store
            .acquire_lease(&self.key, options.lease_ttl, options.lease_wait)
            .instrument(tracing::debug_span!("lease_wait"))
            .await?;
        let result = self.refresh_under_lease(state, refused).await;
        if let Err(error) = store.release_lease(lease).await {
            tracing::warn!(error = %error, "releasing the refresh lease failed; it expires by itself");
        }
        result
    }

    async fn refresh_under_lease(
        &self,
        state: &mut MachineState,
        refused: Vec<TokenId>,
    ) -> Result<Arc<Snapshot>> {
        let endpoint = &self.shared.endpoint;
        self.retry_unpersisted(state).await;
        self.reload_from_store(state).await?;
        for token_id in refused {
            endpoint.command(&mut state.machine, Command::Unauthorized { token_id })?;
        }
        endpoint.command(&mut state.machine, Command::EnsureFresh)?;
        self.settle(state).await
    }

    /// Restores the stored token set if the store holds a version this machine has not seen.
    async fn reload_from_store(&self, state: &mut MachineState) -> Result<()> {
        let endpoint = &self.shared.endpoint;
        let reload_requested = std::mem::take(&mut state.reload_requested);
        let Some(stored) = endpoint.store.load(&self.key).await? else {
            if reload_requested || state.version.is_some() {
                // The stored set was deleted (a logout elsewhere): forget the one in memory.
                let config = Arc::clone(&self.config);
                state.machine = AuthMachine::new(config, endpoint.clock.now(), os_seed()?);
                state.version = None;
                state.unpersisted = None;
                self.snapshot.store(None);
            }
            return Ok(());
        };
        if state.version == Some(stored.version) {
            return Ok(());
        }
        let token_set = codec::decode_token_set(&stored.value)?;
        state.version = Some(stored.version);
        state.unpersisted = None;
        endpoint.command(&mut state.machine, Command::Restore(token_set))?;
        if state.machine.access_token(endpoint.clock.now()).is_some() {
            self.reloaded_from_store.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Runs the drive loop until the callers have an outcome: a usable token, or an error.
    async fn settle(&self, state: &mut MachineState) -> Result<Arc<Snapshot>> {
        let endpoint = &self.shared.endpoint;
        let count = || {
            self.token_requests.fetch_add(1, Ordering::Relaxed);
        };
        let mut transient_failures = 0;
        let mut last_failure: Option<TokenFailure> = None;
        let mut retry_wanted = false;
        loop {
            let stop = endpoint
                .run_until_waiting(&mut state.machine, &self.key, &mut state.version, &count)
                .await?;
            match stop {
                Stop::Persisted => state.unpersisted = None,
                Stop::PersistFailed(set, error) => self.keep_unpersisted(state, set, &error),
                Stop::Event(Event::ReauthorizationRequired { reason }) => {
                    self.snapshot.store(None);
                    return Err(Error::ReauthorizationRequired { reason });
                }
                Stop::Event(Event::TokenRequestFailed { failure, .. }) => {
                    transient_failures += 1;
                    tracing::warn!(failure = %failure, "token request failed; the machine retries with backoff");
                    last_failure = Some(failure);
                    retry_wanted = true;
                }
                Stop::Event(Event::TokenSetDropped) => self.snapshot.store(None),
                Stop::Event(event) => tracing::debug!(event = ?event, "machine event"),
                Stop::Waiting(deadline) => {
                    let now = endpoint.clock.now();
                    if let Some(token) = state.machine.access_token(now) {
                        return Ok(self.publish(Snapshot::of(&token)));
                    }
                    let status = state.machine.status(now);
                    if let Some(reason) = status.reauthorization_required {
                        return Err(Error::ReauthorizationRequired { reason });
                    }
                    if !status.has_token_set && !status.token_request_in_flight && !retry_wanted {
                        return Err(Error::ReauthorizationRequired {
                            reason: ReauthorizationReason::NoTokenSet,
                        });
                    }
                    if transient_failures >= self.shared.options.max_transient_failures
                        || deadline.is_never()
                    {
                        let failure = last_failure.unwrap_or(TokenFailure::NoAnswer);
                        return Err(Error::TokenUnavailable { failure });
                    }
                    retry_wanted = false;
                    endpoint.clock.sleep_until(deadline).await;
                    endpoint.deadline_passed(&mut state.machine)?;
                }
            }
        }
    }

    /// Makes `snapshot` what the hot path reads.
    fn publish(&self, snapshot: Arc<Snapshot>) -> Arc<Snapshot> {
        self.snapshot.store(Some(Arc::clone(&snapshot)));
        snapshot
    }
}

//! `TokenManager`: drives one authentication machine for one credential with a transport, a store and a clock.
//!
//! The hot path ([`TokenManager::bearer`] on a valid token) is one atomic snapshot load and a
//! clock read: no lock. The slow path is single-flight: the first caller spawns one refresh task
//! and every caller awaits that same task's result, so a caller that is cancelled wedges nobody.
//! Inside the task, with the driver's lock held: take the store's refresh lease (so one process
//! refreshes at a time), reload the token set from the store (another process may have refreshed
//! already, and then no request is sent), let the machine decide, send what it asks, persist
//! every `Persist` event before polling further (so the new token is handed out only after it is
//! saved), release the lease.

use std::{
    sync::{
        Arc, Mutex, MutexGuard, Weak,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use arc_swap::ArcSwapOption;
use futures::{
    FutureExt as _,
    future::{BoxFuture, Shared},
};
use servicenow_auth::{
    AuthMachine, Command, CurrentToken, Event, Input, Output, ReauthorizationReason, TokenFailure,
    TokenId, TokenSet,
};
use servicenow_http::HttpTransport;
use servicenow_oauth::AccessToken;
use servicenow_store::{CredentialKey, TokenStore, Version};
use tracing::Instrument as _;

use crate::{
    clock::Clock,
    codec,
    error::{Error, Result},
    exchange,
};

/// How a [`TokenManager`] waits for leases and retries.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ManagerOptions {
    /// How long the refresh lease is held at most; it expires by itself if this process dies.
    pub lease_ttl: Duration,
    /// How long to wait for another process's lease before giving up.
    pub lease_wait: Duration,
    /// Transient token-endpoint failures tolerated in one refresh before callers get
    /// [`Error::TokenUnavailable`] (the next call tries again).
    pub max_transient_failures: u32,
    /// How long to wait before retrying a failed persist.
    pub persist_retry: Duration,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(30),
            lease_wait: Duration::from_secs(60),
            max_transient_failures: 3,
            persist_retry: Duration::from_secs(5),
        }
    }
}

/// Counters a manager keeps, for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManagerStats {
    /// Token-endpoint requests this manager sent.
    pub token_requests: u64,
    /// Refreshes avoided because another process had already stored a fresh token set.
    pub reloaded_from_store: u64,
    /// Persist attempts that failed (the token set stayed in memory and was retried).
    pub persist_failures: u64,
}

/// An access token ready to send, with the id to report if the server refuses it.
#[derive(Clone, Debug)]
pub struct Bearer(Arc<Snapshot>);

impl Bearer {
    /// The access token.
    pub fn token(&self) -> &AccessToken {
        &self.0.token
    }

    /// The id to pass to [`TokenManager::unauthorized`] when the server answers 401.
    pub fn id(&self) -> TokenId {
        self.0.id
    }

    /// The `Authorization` header value, marked sensitive so HTTP stacks do not log it.
    pub fn header_value(&self) -> http::HeaderValue {
        self.0.header.clone()
    }
}

#[derive(Debug)]
struct Snapshot {
    token: AccessToken,
    header: http::HeaderValue,
    id: TokenId,
    usable_until: servicenow_auth::Timestamp,
    /// From here on a refresh is started in the background while this token is still handed out.
    refresh_at: servicenow_auth::Timestamp,
}

/// Drives the authentication machine of one credential; cheap to clone (shared state).
///
/// See the module docs for the protocol; [`bearer`](Self::bearer) is all most callers need.
#[derive(Clone, Debug)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

type RefreshResult = std::result::Result<Arc<Snapshot>, Arc<Error>>;
type SharedRefresh = Shared<BoxFuture<'static, RefreshResult>>;

/// The refresh in progress: its generation (so that only its own task clears the slot) and the
/// shared result every caller awaits.
struct RefreshSlot {
    generation: u64,
    result: SharedRefresh,
}

struct Inner {
    this: Weak<Self>,
    key: CredentialKey,
    store: Arc<dyn TokenStore>,
    transport: Arc<dyn HttpTransport>,
    clock: Arc<dyn Clock>,
    options: ManagerOptions,
    snapshot: ArcSwapOption<Snapshot>,
    driver: tokio::sync::Mutex<Driver>,
    refresh: Mutex<Option<RefreshSlot>>,
    refresh_generation: AtomicU64,
    refused: Mutex<Vec<TokenId>>,
    persist_retry_running: AtomicBool,
    token_requests: AtomicU64,
    reloaded_from_store: AtomicU64,
    persist_failures: AtomicU64,
}

struct Driver {
    machine: AuthMachine,
    /// The store version the machine's token set came from or was saved as.
    version: Option<Version>,
    /// A token set the machine produced that the store has not accepted yet.
    unpersisted: Option<TokenSet>,
    /// The last deadline the machine asked to be woken at (proactive refresh or retry).
    deadline: servicenow_auth::Timestamp,
    /// Set by [`TokenManager::reload`]: the store is the truth, even when it holds nothing (a
    /// logout done elsewhere), so the machine forgets what it holds.
    reload_requested: bool,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("key", &self.key)
            .field("store", &self.store)
            .field("clock", &self.clock)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl TokenManager {
    /// A manager for the credential `key`, driving `machine` (built by the caller with its
    /// configuration and an RNG seed from the operating system).
    pub fn new(
        key: CredentialKey,
        machine: AuthMachine,
        store: Arc<dyn TokenStore>,
        transport: Arc<dyn HttpTransport>,
        clock: Arc<dyn Clock>,
        options: ManagerOptions,
    ) -> Self {
        let inner = Arc::new_cyclic(|this| Inner {
            this: this.clone(),
            key,
            store,
            transport,
            clock,
            options,
            snapshot: ArcSwapOption::empty(),
            driver: tokio::sync::Mutex::new(Driver {
                machine,
                version: None,
                unpersisted: None,
                deadline: servicenow_auth::Timestamp::NEVER,
                reload_requested: false,
            }),
            refresh: Mutex::new(None),
            refresh_generation: AtomicU64::new(0),
            refused: Mutex::new(Vec::new()),
            persist_retry_running: AtomicBool::new(false),
            token_requests: AtomicU64::new(0),
            reloaded_from_store: AtomicU64::new(0),
            persist_failures: AtomicU64::new(0),
        });
        Self { inner }
    }

    /// The credential this manager drives.
    pub fn key(&self) -> &CredentialKey {
        &self.inner.key
    }

    /// A usable access token: at once from the snapshot when it is valid, otherwise after the one
    /// refresh in progress (started by this call if none is).
    ///
    /// Every caller waiting on the same refresh gets the same outcome, including the same
    /// [`Error::ReauthorizationRequired`].
    pub async fn bearer(&self) -> Result<Bearer> {
        // One clock read: it is most of the hot path's cost (see benches/bearer.rs).
        let now = self.inner.clock.now();
        if let Some(bearer) = self.current_at(now) {
            if now >= bearer.0.refresh_at {
                self.start_background_refresh();
            }
            return Ok(bearer);
        }
        self.refresh_shared().await
    }

    /// The valid token of the snapshot, if any: the lock-free hot path.
    pub fn current(&self) -> Option<Bearer> {
        self.current_at(self.inner.clock.now())
    }

    fn current_at(&self, now: servicenow_auth::Timestamp) -> Option<Bearer> {
        let guard = self.inner.snapshot.load();
        let snapshot = guard.as_ref()?;
        if now < snapshot.usable_until {
            return Some(Bearer(Arc::clone(snapshot)));
        }
        None
    }

    /// Reports that the resource server answered 401 to a request made with token `token_id`.
    ///
    /// For the current token this drops it and the next [`bearer`](Self::bearer) refreshes
    /// (exactly one refresh however many callers report it); for an older token it does nothing.
    pub fn unauthorized(&self, token_id: TokenId) {
        lock(&self.inner.refused).push(token_id);
        self.inner.snapshot.rcu(|current| match current {
            Some(snapshot) if snapshot.id == token_id => None,
            other => other.clone(),
        });
    }

    /// Forgets the in-memory snapshot and makes the next [`bearer`](Self::bearer) reload the
    /// token set from the store (after a login or logout done elsewhere).
    pub async fn reload(&self) {
        self.inner.snapshot.store(None);
        let mut driver = self.inner.driver.lock().await;
        driver.version = None;
        driver.reload_requested = true;
    }

    /// Counters for tests and metrics.
    pub fn stats(&self) -> ManagerStats {
        ManagerStats {
            token_requests: self.inner.token_requests.load(Ordering::Relaxed),
            reloaded_from_store: self.inner.reloaded_from_store.load(Ordering::Relaxed),
            persist_failures: self.inner.persist_failures.load(Ordering::Relaxed),
        }
    }

    /// Starts a task that refreshes ahead of expiry (at the machine's proactive-refresh deadline)
    /// until the manager is dropped; returns its handle so the caller can abort it.
    pub fn spawn_background_refresh(&self) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let deadline = inner.driver.lock().await.deadline;
                let clock = Arc::clone(&inner.clock);
                drop(inner);
                // Capped, so that a login or restore done meanwhile is noticed.
                let cap = clock.now().saturating_add(Duration::from_secs(30));
                clock.sleep_until(deadline.min(cap)).await;
                let Some(inner) = weak.upgrade() else { return };
                let manager = Self { inner };
                if let Err(error) = manager.refresh_shared().await {
                    tracing::warn!(error = %error, "background refresh failed");
                    // Do not spin: wait a little before asking the machine again.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        })
    }

    async fn refresh_shared(&self) -> Result<Bearer> {
        let shared = {
            let mut slot = lock(&self.inner.refresh);
            match slot.as_ref() {
                Some(refresh) => refresh.result.clone(),
                None => {
                    let refresh = spawn_refresh(&self.inner);
                    let result = refresh.result.clone();
                    *slot = Some(refresh);
                    result
                }
            }
        };
        match shared.await {
            Ok(snapshot) => Ok(Bearer(snapshot)),
            Err(error) => Err(unshare(&error)),
        }
    }

    /// In the refresh window (the token is still valid but due): starts the one refresh if none
    /// is running, without making this caller wait for it.
    fn start_background_refresh(&self) {
        if lock(&self.inner.refresh).is_some() {
            return;
        }
        let manager = self.clone();
        tokio::spawn(async move {
            if let Err(error) = manager.refresh_shared().await {
                tracing::warn!(error = %error, "refresh ahead of expiry failed; the current token is still valid");
            }
        });
    }
}

/// Spawns the refresh task and wraps it so that every caller awaits the same result.
///
/// Called with the slot's lock held, so the task cannot finish and clear the slot before the
/// caller has filled it. The task runs to completion even if every caller is cancelled, and it
/// clears its own slot (checked by generation) when done, so no later caller is ever handed a
/// stale result.
fn spawn_refresh(inner: &Arc<Inner>) -> RefreshSlot {
    let generation = inner.refresh_generation.fetch_add(1, Ordering::Relaxed);
    let task_inner = Arc::clone(inner);
    let span = tracing::info_span!("token_refresh", subject = task_inner.key.subject());
    let task = tokio::spawn(
        async move {
            // Cleared on drop, so that a task that panics or is dropped with its runtime does
            // not leave its failure in the slot for every later caller.
            let _clear = ClearSlot {
                inner: Arc::clone(&task_inner),
                generation,
            };
            let mut driver = task_inner.driver.lock().await;
            task_inner.drive(&mut driver).await.map_err(Arc::new)
        }
        .instrument(span),
    );
    let result = async move {
        match task.await {
            Ok(result) => result,
            Err(_) => Err(Arc::new(Error::RefreshTaskStopped)),
        }
    }
    .boxed()
    .shared();
    RefreshSlot { generation, result }
}

/// Empties the refresh slot when the refresh task of `generation` ends, however it ends.
struct ClearSlot {
    inner: Arc<Inner>,
    generation: u64,
}

impl Drop for ClearSlot {
    fn drop(&mut self) {
        let mut slot = lock(&self.inner.refresh);
        if slot
            .as_ref()
            .is_some_and(|refresh| refresh.generation == self.generation)
        {
            *slot = None;
        }
    }
}

impl Inner {
    async fn drive(&self, driver: &mut Driver) -> Result<Arc<Snapshot>> {
        let refused = std::mem::take(&mut *lock(&self.refused));
        let now = self.clock.now();
        if refused.is_empty() && !driver.reload_requested && !driver.machine.status(now).refresh_due
        {
            if let Some(token) = driver.machine.access_token(now) {
                let refresh_at = driver.deadline;
                return Ok(self.publish(&token, refresh_at));
            }
        }
        let lease_span = tracing::debug_span!("lease_wait");
        let lease = self
            .store
            .acquire_lease(&self.key, self.options.lease_ttl, self.options.lease_wait)
            .instrument(lease_span)
            .await?;
        let result = self.refresh_under_lease(driver, refused).await;
        if let Err(error) = self.store.release_lease(lease).await {
            tracing::warn!(error = %error, "releasing the refresh lease failed; it expires by itself");
        }
        result
    }

    async fn refresh_under_lease(
        &self,
        driver: &mut Driver,
        refused: Vec<TokenId>,
    ) -> Result<Arc<Snapshot>> {
        self.retry_unpersisted(driver).await;
        self.reload_from_store(driver).await?;
        for token_id in refused {
            self.command(driver, Command::Unauthorized { token_id })?;
        }
        // Lets the machine act on a refresh that is due (ahead of expiry); harmless otherwise.
        driver.machine.handle_input(Input::Timeout {
            now: self.clock.now(),
        })?;
        self.command(driver, Command::EnsureFresh)?;
        self.settle(driver).await
    }

    /// Restores the stored token set if the store holds a version this machine has not seen.
    async fn reload_from_store(&self, driver: &mut Driver) -> Result<()> {
        let reload_requested = std::mem::take(&mut driver.reload_requested);
        let Some(stored) = self.store.load(&self.key).await? else {
            if reload_requested || driver.version.is_some() {
                // The stored set was deleted (a logout elsewhere): forget the one in memory.
                let config = driver.machine.config().clone();
                driver.machine = AuthMachine::new(config, self.clock.now(), exchange::os_seed()?);
                driver.version = None;
                driver.unpersisted = None;
                self.snapshot.store(None);
            }
            return Ok(());
        };
        if driver.version == Some(stored.version) {
            return Ok(());
        }
        let token_set = codec::decode_token_set(&stored.value)?;
        driver.version = Some(stored.version);
        driver.unpersisted = None;
        self.command(driver, Command::Restore(token_set))?;
        if driver.machine.access_token(self.clock.now()).is_some() {
            self.reloaded_from_store.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Feeds a command; the caller drains with [`settle`](Self::settle) or checks the token.
    fn command(&self, driver: &mut Driver, command: Command) -> Result<()> {
        driver.machine.handle_input(Input::Command {
            now: self.clock.now(),
            command,
        })?;
        Ok(())
    }

    /// Drains the machine until it has an outcome for the callers: a usable token, or an error.
    async fn settle(&self, driver: &mut Driver) -> Result<Arc<Snapshot>> {
        let mut transient_failures = 0;
        let mut last_failure: Option<TokenFailure> = None;
        let mut retry_wanted = false;
        loop {
            match driver.machine.poll_output() {
                Output::HttpRequest { id, request } => {
                    self.token_requests.fetch_add(1, Ordering::Relaxed);
                    let input = exchange::exchange(
                        self.transport.as_ref(),
                        self.clock.as_ref(),
                        id,
                        request,
                        driver.machine.config().timing.request_timeout,
                    )
                    .await;
                    driver.machine.handle_input(input)?;
                }
                Output::Event(Event::Persist(token_set)) => {
                    self.persist(driver, token_set).await;
                }
                Output::Event(Event::ReauthorizationRequired { reason }) => {
                    self.snapshot.store(None);
                    return Err(Error::ReauthorizationRequired { reason });
                }
                Output::Event(Event::TokenRequestFailed { failure, .. }) => {
                    transient_failures += 1;
                    tracing::warn!(failure = ?failure, "token request failed; the machine retries with backoff");
                    last_failure = Some(failure);
                    retry_wanted = true;
                }
                Output::Event(Event::TokenSetDropped) => {
                    self.snapshot.store(None);
                }
                Output::Event(event) => {
                    tracing::debug!(event = ?event, "machine event");
                }
                Output::Timeout(deadline) => {
                    driver.deadline = deadline;
                    let now = self.clock.now();
                    if let Some(token) = driver.machine.access_token(now) {
                        return Ok(self.publish(&token, deadline));
                    }
                    let status = driver.machine.status(now);
                    if let Some(reason) = status.reauthorization_required {
                        return Err(Error::ReauthorizationRequired { reason });
                    }
                    if !status.has_token_set && !status.token_request_in_flight && !retry_wanted {
                        return Err(Error::ReauthorizationRequired {
                            reason: ReauthorizationReason::NoTokenSet,
                        });
                    }
                    if transient_failures >= self.options.max_transient_failures
                        || deadline.is_never()
                    {
                        let failure = last_failure.unwrap_or(TokenFailure::NoAnswer);
                        return Err(Error::TokenUnavailable { failure });
                    }
                    retry_wanted = false;
                    self.clock.sleep_until(deadline).await;
                    driver.machine.handle_input(Input::Timeout {
                        now: self.clock.now(),
                    })?;
                }
                _ => (),
            }
        }
    }

    /// Saves a token set with compare-and-swap. A conflict means another writer stored a set
    /// while this one was obtained; this set is the newest, so it is saved over the current
    /// version. Any other failure keeps the set in memory (it is handed out) and retries later.
    async fn persist(&self, driver: &mut Driver, token_set: TokenSet) {
        let result =
            codec::save_newest(self.store.as_ref(), &self.key, &token_set, driver.version).await;
        match result {
            Ok(version) => {
                driver.version = Some(version);
                driver.unpersisted = None;
            }
            Err(error) => {
                self.persist_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    error = %error,
                    "persisting the new token set failed; it stays in memory and is retried"
                );
                driver.unpersisted = Some(token_set);
                self.schedule_persist_retry();
            }
        }
    }

    async fn retry_unpersisted(&self, driver: &mut Driver) {
        if let Some(token_set) = driver.unpersisted.take() {
            self.persist(driver, token_set).await;
        }
    }

    fn schedule_persist_retry(&self) {
        if self.persist_retry_running.swap(true, Ordering::SeqCst) {
            return;
        }
        // The retry holds only a weak reference: a dropped manager stops retrying.
        let weak = self.this.clone();
        let pause = self.options.persist_retry;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(pause).await;
                let Some(inner) = weak.upgrade() else { return };
                let mut driver = inner.driver.lock().await;
                inner.retry_unpersisted_quietly(&mut driver).await;
                if driver.unpersisted.is_none() {
                    inner.persist_retry_running.store(false, Ordering::SeqCst);
                    return;
                }
            }
        });
    }

    async fn retry_unpersisted_quietly(&self, driver: &mut Driver) {
        let Some(token_set) = driver.unpersisted.take() else {
            return;
        };
        let current = self.store.load(&self.key).await.ok().flatten();
        let expected = current.map(|current| current.version);
        match codec::save_newest(self.store.as_ref(), &self.key, &token_set, expected).await {
            Ok(version) => {
                tracing::info!("persisting the token set succeeded on retry");
                driver.version = Some(version);
            }
            Err(error) => {
                self.persist_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %error, "persisting the token set failed again");
                driver.unpersisted = Some(token_set);
            }
        }
    }

    fn publish(
        &self,
        token: &CurrentToken<'_>,
        refresh_at: servicenow_auth::Timestamp,
    ) -> Arc<Snapshot> {
        let mut header = http::HeaderValue::from_str(&format!("Bearer {}", token.token.secret()))
            .unwrap_or_else(|_| http::HeaderValue::from_static("Bearer invalid"));
        header.set_sensitive(true);
        let snapshot = Arc::new(Snapshot {
            token: token.token.clone(),
            header,
            id: token.id,
            usable_until: token.usable_until,
            refresh_at: refresh_at.min(token.usable_until),
        });
        self.snapshot.store(Some(Arc::clone(&snapshot)));
        snapshot
    }
}

/// Turns the shared outcome back into an owned error for one caller: the typed variants callers
/// match on are cloned; anything else is wrapped.
pub(crate) fn unshare(error: &Arc<Error>) -> Error {
    match error.as_ref() {
        Error::ReauthorizationRequired { reason } => Error::ReauthorizationRequired {
            reason: reason.clone(),
        },
        Error::TokenUnavailable { failure } => Error::TokenUnavailable {
            failure: failure.clone(),
        },
        _ => Error::Shared(Arc::clone(error)),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

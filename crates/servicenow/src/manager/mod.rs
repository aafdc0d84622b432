//! `TokenManager`: drives the authentication machine of one credential with the app's transport, store and clock.
//!
//! The hot path ([`TokenManager::bearer`] on a valid token) is one atomic snapshot load and a
//! coarse clock read: no lock ([`snapshot`]). The slow path is single-flight
//! ([`single_flight`]): the first caller spawns one refresh task and every caller awaits that
//! task's result. Inside the task ([`refresh`]), with the machine's lock held: take the store's
//! refresh lease (so one process refreshes at a time), reload the token set from the store
//! (another process may have refreshed already, and then no request is sent), let the machine
//! decide, and run it through the drive loop, which saves every token set before polling further
//! (so a new token is handed out only after it is saved); a failed save is retried in the
//! background ([`persist`]).
//!
//! A manager costs no task while idle, and builds its machine only when a token is first needed.

mod persist;
mod refresh;
mod single_flight;
mod snapshot;

use std::{
    sync::{
        Arc, Mutex, MutexGuard, Weak,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use arc_swap::ArcSwapOption;
use futures::future::BoxFuture;
use servicenow_auth::{AuthConfig, AuthMachine, TokenId};
use servicenow_http::HttpTransport;
use servicenow_store::{CredentialKey, TokenStore};

pub use self::snapshot::Bearer;
use self::{refresh::MachineState, snapshot::Snapshot};
use crate::{clock::Clock, drive::TokenEndpoint, error::Result};

/// How a [`TokenManager`] waits for leases and retries.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ManagerOptions {
    /// How long the refresh lease is held at most; it expires by itself if this process dies.
    pub lease_ttl: Duration,
    /// How long to wait for another process's lease before giving up.
    pub lease_wait: Duration,
    /// Transient token-endpoint failures tolerated in one refresh before callers get
    /// [`Error::TokenUnavailable`](crate::Error::TokenUnavailable) (the next call tries again).
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

/// What every manager of one app shares: the token endpoint's executor and the options.
#[derive(Debug)]
pub(crate) struct ManagerShared {
    pub(crate) endpoint: TokenEndpoint,
    pub(crate) options: ManagerOptions,
}

/// Drives the authentication machine of one credential; cheap to clone (shared state).
///
/// See the module docs for the protocol; [`bearer`](Self::bearer) is all most callers need.
#[derive(Clone, Debug)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    this: Weak<Self>,
    key: CredentialKey,
    config: Arc<AuthConfig>,
    shared: Arc<ManagerShared>,
    /// The app's clock, held here too so the hot path reaches it in one step.
    clock: Arc<dyn Clock>,
    snapshot: ArcSwapOption<Snapshot>,
    /// Built when a token is first needed; boxed, so that a handle that never asked for a
    /// token does not carry a machine's worth of empty space.
    machine: tokio::sync::Mutex<Option<Box<MachineState>>>,
    refresh: Mutex<Option<single_flight::RefreshSlot>>,
    refresh_generation: AtomicU64,
    refused: Mutex<Vec<TokenId>>,
    persist_retry_running: AtomicBool,
    token_requests: AtomicU64,
    reloaded_from_store: AtomicU64,
    persist_failures: AtomicU64,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("key", &self.key)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl TokenManager {
    /// A manager for the credential `key`, driving `machine` (built by the caller with its
    /// configuration and an RNG seed from the operating system).
    ///
    /// Most programs never call this: [`Servicenow`](crate::Servicenow) builds one manager per
    /// credential, sharing its transport, store and clock.
    pub fn new(
        key: CredentialKey,
        machine: AuthMachine,
        store: Arc<dyn TokenStore>,
        transport: Arc<dyn HttpTransport>,
        clock: Arc<dyn Clock>,
        options: ManagerOptions,
    ) -> Self {
        let shared = Arc::new(ManagerShared {
            endpoint: TokenEndpoint {
                transport,
                store,
                clock,
            },
            options,
        });
        let config = Arc::new(machine.config().clone());
        Self::with_state(
            key,
            config,
            shared,
            Some(Box::new(MachineState::new(machine))),
        )
    }

    /// A manager whose machine is built from `config` when a token is first needed.
    pub(crate) fn lazy(
        key: CredentialKey,
        config: Arc<AuthConfig>,
        shared: Arc<ManagerShared>,
    ) -> Self {
        Self::with_state(key, config, shared, None)
    }

    fn with_state(
        key: CredentialKey,
        config: Arc<AuthConfig>,
        shared: Arc<ManagerShared>,
        state: Option<Box<MachineState>>,
    ) -> Self {
        let clock = Arc::clone(&shared.endpoint.clock);
        let inner = Arc::new_cyclic(|this| Inner {
            this: this.clone(),
            key,
            config,
            shared,
            clock,
            snapshot: ArcSwapOption::empty(),
            machine: tokio::sync::Mutex::new(state),
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

    pub(crate) fn downgrade(&self) -> Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    pub(crate) fn upgrade(weak: &Weak<Inner>) -> Option<Self> {
        weak.upgrade().map(|inner| Self { inner })
    }

    /// The credential this manager drives.
    pub fn key(&self) -> &CredentialKey {
        &self.inner.key
    }

    /// The configuration of the credential's machine (its grant, client and timing).
    pub fn config(&self) -> &AuthConfig {
        &self.inner.config
    }

    /// A usable access token: at once from the snapshot when it is valid, otherwise after the one
    /// refresh in progress (started by this call if none is).
    ///
    /// Every caller waiting on the same refresh gets the same outcome, including the same
    /// [`Error::ReauthorizationRequired`](crate::Error::ReauthorizationRequired).
    ///
    /// The snapshot is checked when this is called, and the future is small and ready at once
    /// on the hot path; only a refresh allocates (a boxed future that joins the one refresh).
    #[inline]
    pub fn bearer(&self) -> BearerFuture<'_> {
        match self.snapshot_check() {
            SnapshotCheck::Valid(bearer) => BearerFuture::Ready(Some(bearer)),
            other => self.bearer_after_check(other),
        }
    }

    /// The rest of [`bearer`](Self::bearer), out of line so that the hot path (a valid
    /// snapshot) inlines into its caller without the refresh's code.
    #[cold]
    #[inline(never)]
    fn bearer_after_check(&self, check: SnapshotCheck) -> BearerFuture<'_> {
        match check {
            SnapshotCheck::Valid(bearer) => BearerFuture::Ready(Some(bearer)),
            SnapshotCheck::RefreshDue(bearer) => {
                self.start_background_refresh();
                BearerFuture::Ready(Some(bearer))
            }
            SnapshotCheck::Unusable => BearerFuture::Refreshing(Box::pin(async move {
                single_flight::join_or_start(&self.inner).await.map(Bearer)
            })),
        }
    }

    /// The valid token of the snapshot, if any: the lock-free hot path, never waiting (and never
    /// starting a refresh).
    #[inline]
    pub fn current(&self) -> Option<Bearer> {
        match self.snapshot_check() {
            SnapshotCheck::Valid(bearer) | SnapshotCheck::RefreshDue(bearer) => Some(bearer),
            SnapshotCheck::Unusable => None,
        }
    }

    /// Far from the refresh point the coarse clock decides (one atomic load and a vDSO read of
    /// the kernel's tick time); near it the precise clock does, so a token is never handed out
    /// at or after its expiry minus the skew.
    #[inline]
    fn snapshot_check(&self) -> SnapshotCheck {
        let Some(snapshot) = self.inner.snapshot.load_full() else {
            return SnapshotCheck::Unusable;
        };
        let clock = &self.inner.clock;
        if snapshot.far_from_refresh(clock.now_coarse()) {
            return SnapshotCheck::Valid(Bearer(snapshot));
        }
        let now = clock.now();
        if !snapshot.usable_at(now) {
            SnapshotCheck::Unusable
        } else if snapshot.refresh_due_at(now) {
            SnapshotCheck::RefreshDue(Bearer(snapshot))
        } else {
            SnapshotCheck::Valid(Bearer(snapshot))
        }
    }

    /// Reports that the resource server answered 401 to a request made with token `token_id`.
    ///
    /// For the current token this drops it and the next [`bearer`](Self::bearer) refreshes
    /// (exactly one refresh however many callers report it); for an older token it does nothing.
    pub fn unauthorized(&self, token_id: TokenId) {
        lock(&self.inner.refused).push(token_id);
        self.inner.snapshot.rcu(|current| match current {
            Some(snapshot) if snapshot.id() == token_id => None,
            other => other.clone(),
        });
    }

    /// Forgets the in-memory snapshot and makes the next [`bearer`](Self::bearer) reload the
    /// token set from the store (after a login or logout done elsewhere).
    pub async fn reload(&self) {
        self.inner.snapshot.store(None);
        if let Some(state) = self.inner.machine.lock().await.as_mut() {
            state.version = None;
            state.reload_requested = true;
        }
    }

    /// Counters for tests and metrics.
    pub fn stats(&self) -> ManagerStats {
        ManagerStats {
            token_requests: self.inner.token_requests.load(Ordering::Relaxed),
            reloaded_from_store: self.inner.reloaded_from_store.load(Ordering::Relaxed),
            persist_failures: self.inner.persist_failures.load(Ordering::Relaxed),
        }
    }

    /// Starts a task that refreshes ahead of expiry until the manager is dropped; returns its
    /// handle so the caller can abort it. Without it, a refresh ahead of expiry starts when a
    /// caller asks for the token inside the refresh window.
    pub fn spawn_background_refresh(&self) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let clock = Arc::clone(&inner.shared.endpoint.clock);
                // Capped, so that a login or restore done meanwhile is noticed.
                let cap = clock.now().saturating_add(Duration::from_secs(30));
                let refresh_at = inner
                    .snapshot
                    .load()
                    .as_ref()
                    .map_or(cap, |snapshot| snapshot.refresh_at().min(cap));
                drop(inner);
                clock.sleep_until(refresh_at).await;
                let Some(inner) = weak.upgrade() else { return };
                if let Err(error) = single_flight::join_or_start(&inner).await {
                    tracing::warn!(error = %error, "background refresh failed");
                    // Do not spin: wait a little before asking the machine again.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        })
    }

    /// In the refresh window (the token is still valid but due): starts the one refresh if none
    /// is running, without making this caller wait for it.
    fn start_background_refresh(&self) {
        if single_flight::is_running(&self.inner) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            if let Err(error) = single_flight::join_or_start(&inner).await {
                tracing::warn!(error = %error, "refresh ahead of expiry failed; the current token is still valid");
            }
        });
    }
}

/// The future of [`TokenManager::bearer`]: ready at once with the snapshot's token (the hot
/// path: a pointer's worth of state, nothing allocated), or joining the one refresh.
#[must_use = "a future does nothing unless awaited"]
pub enum BearerFuture<'a> {
    /// The snapshot's token, handed out on the first poll.
    #[doc(hidden)]
    Ready(Option<Bearer>),
    /// The refresh this call joined or started.
    #[doc(hidden)]
    Refreshing(BoxFuture<'a, Result<Bearer>>),
}

impl std::fmt::Debug for BearerFuture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Ready(_) => "BearerFuture::Ready",
            Self::Refreshing(_) => "BearerFuture::Refreshing",
        })
    }
}

impl Future for BearerFuture<'_> {
    type Output = Result<Bearer>;

    #[inline]
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.get_mut() {
            Self::Ready(bearer) => match bearer.take() {
                Some(bearer) => std::task::Poll::Ready(Ok(bearer)),
                None => std::task::Poll::Ready(Err(crate::Error::Unexpected {
                    operation: "waiting for a token",
                    what: "a bearer future polled after it completed",
                })),
            },
            Self::Refreshing(refresh) => refresh.as_mut().poll(cx),
        }
    }
}

/// What the hot path found in the snapshot.
enum SnapshotCheck {
    /// A token to hand out, not due for a refresh.
    Valid(Bearer),
    /// A token to hand out, inside its refresh window.
    RefreshDue(Bearer),
    /// No token, or one past its usable life.
    Unusable,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

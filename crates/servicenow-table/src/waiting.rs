//! How a client waits between retries: an injected sleep and a seeded jitter RNG, so that the
//! table crate reads no clock and no OS randomness of its own.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;

/// The seed of a [`TableClient`](crate::TableClient)'s retry jitter unless
/// [`with_jitter_seed`](crate::TableClient::with_jitter_seed) sets another: the 32 bytes of
/// `servicenow-table retry jitter v1`.
///
/// Every client with this seed draws the same jitter sequence, which is what a test wants and
/// what a fleet does not: a deployment with many replicas (or many clients retrying against one
/// instance) should pass a seed from the OS RNG, so that their retries spread out instead of
/// arriving together. The `servicenow` facade does.
pub const DEFAULT_JITTER_SEED: [u8; 32] = *b"servicenow-table retry jitter v1";

/// Waits for a retry's delay. The client calls it once per retry, with the exact delay the
/// [`RetryPolicy`](crate::RetryPolicy) chose.
///
/// The default, [`TokioSleep`], is `tokio::time::sleep` (which follows tokio's paused test
/// time); a test can record the delays instead, and an application with its own timer can
/// bring it.
pub trait RetrySleep: Send + Sync + fmt::Debug {
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}

/// [`RetrySleep`] through `tokio::time::sleep`: the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleep;

impl RetrySleep for TokioSleep {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// The client's jitter source: a ChaCha8 RNG from a caller-chosen seed, shared by the clones
/// of one client (so clones do not repeat each other's delays), locked only to draw.
#[derive(Clone)]
pub(crate) struct Jitter(Arc<Mutex<ChaCha8Rng>>);

impl Jitter {
    pub(crate) fn from_seed(seed: [u8; 32]) -> Self {
        Self(Arc::new(Mutex::new(ChaCha8Rng::from_seed(seed))))
    }

    /// Runs `draw` with the RNG. A poisoned lock is taken over: the RNG state is valid after
    /// any panic, and jitter needs no more than that.
    pub(crate) fn with<T>(&self, draw: impl FnOnce(&mut ChaCha8Rng) -> T) -> T {
        let mut rng = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        draw(&mut rng)
    }
}

impl fmt::Debug for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Jitter(ChaCha8Rng)")
    }
}

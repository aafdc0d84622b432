//! The single-flight refresh: the first caller spawns the one refresh task, every caller awaits that task's shared result.
//!
//! The task runs to completion even if every caller is cancelled, and it clears its own slot
//! (checked by generation) however it ends, so a cancelled caller wedges nobody and no later
//! caller is handed a stale result.

use std::sync::{Arc, atomic::Ordering};

use futures::{
    FutureExt as _,
    future::{BoxFuture, Shared},
};
use tracing::Instrument as _;

use super::{Inner, lock, snapshot::Snapshot};
use crate::error::{Error, Result};

type RefreshResult = Result<Arc<Snapshot>>;

/// The refresh in progress: its generation (so that only its own task clears the slot) and the
/// shared result every caller awaits.
pub(super) struct RefreshSlot {
    generation: u64,
    result: Shared<BoxFuture<'static, RefreshResult>>,
}

/// Joins the refresh in progress, or starts it: every caller of the same refresh gets the same
/// outcome (errors are cheap clones).
pub(super) async fn join_or_start(inner: &Arc<Inner>) -> RefreshResult {
    let shared = {
        let mut slot = lock(&inner.refresh);
        match slot.as_ref() {
            Some(refresh) => refresh.result.clone(),
            None => {
                let refresh = spawn(inner);
                let result = refresh.result.clone();
                *slot = Some(refresh);
                result
            }
        }
    };
    shared.await
}

/// Whether a refresh is in progress.
pub(super) fn is_running(inner: &Inner) -> bool {
    lock(&inner.refresh).is_some()
}

/// Spawns the refresh task. Called with the slot's lock held, so the task cannot finish and clear
/// the slot before the caller has filled it.
fn spawn(inner: &Arc<Inner>) -> RefreshSlot {
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
            task_inner.refresh().await
        }
        .instrument(span),
    );
    let result = async move { task.await.unwrap_or(Err(Error::RefreshTaskStopped)) }
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

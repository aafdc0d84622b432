//! The persist retry: a token set the store refused stays in memory (and is handed out) and is saved again in the background until the store takes it.

use std::sync::atomic::Ordering;

use servicenow_auth::TokenSet;

use super::{Inner, refresh::MachineState};
use crate::{codec, error::Error};

impl Inner {
    /// Records a failed save: the set stays in memory, is counted, and a retry is scheduled.
    pub(super) fn keep_unpersisted(&self, state: &mut MachineState, set: TokenSet, error: &Error) {
        self.persist_failures.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            error = %error,
            "persisting the new token set failed; it stays in memory and is retried"
        );
        state.unpersisted = Some(Box::new(set));
        self.schedule_persist_retry();
    }

    /// Saves the set a failed persist left in memory, if any, before a refresh looks at the store.
    pub(super) async fn retry_unpersisted(&self, state: &mut MachineState) {
        let Some(set) = state.unpersisted.take() else {
            return;
        };
        // When the store cannot say, the save's compare-and-swap settles it.
        let current = self
            .shared
            .endpoint
            .stored_version(&self.key)
            .await
            .ok()
            .flatten();
        match codec::save_newest(
            self.shared.endpoint.store.as_ref(),
            &self.key,
            &set,
            current,
        )
        .await
        {
            Ok(version) => {
                tracing::info!("persisting the token set succeeded on retry");
                state.version = Some(version);
            }
            Err(error) => {
                self.persist_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %error, "persisting the token set failed again");
                state.unpersisted = Some(set);
            }
        }
    }

    /// Starts the one background retry of a failed persist, if none runs. It holds only a weak
    /// reference: a dropped manager stops retrying.
    fn schedule_persist_retry(&self) {
        if self.persist_retry_running.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak = self.this.clone();
        let pause = self.shared.options.persist_retry;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(pause).await;
                let Some(inner) = weak.upgrade() else { return };
                let done = {
                    let mut state = inner.machine.lock().await;
                    match state.as_mut() {
                        Some(state) => {
                            inner.retry_unpersisted(state).await;
                            state.unpersisted.is_none()
                        }
                        None => true,
                    }
                };
                if done {
                    inner.persist_retry_running.store(false, Ordering::SeqCst);
                    return;
                }
                drop(inner);
            }
        });
    }
}

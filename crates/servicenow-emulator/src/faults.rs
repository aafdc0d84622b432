//! Fault injection on REST requests (Table, Aggregate, Batch — the call and each item — and
//! Attachment APIs): queued one-shot faults first, then random ones drawn
//! from a generator seeded by the emulator's seed.

use std::collections::VecDeque;

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

use crate::{FaultKind, FaultPlan};

/// The fault generator and the queue of faults asked for explicitly.
#[derive(Debug)]
pub(crate) struct FaultState {
    rng: ChaCha8Rng,
    queued: VecDeque<FaultKind>,
}

impl FaultState {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6661_756c_7473),
            queued: VecDeque::new(),
        }
    }

    /// Queues `kind` for the next `count` REST requests.
    pub(crate) fn queue(&mut self, kind: FaultKind, count: usize) {
        self.queued.extend(std::iter::repeat_n(kind, count));
    }

    pub(crate) fn clear(&mut self) {
        self.queued.clear();
    }

    /// The fault for the next REST request, if any.
    pub(crate) fn draw(&mut self, plan: &FaultPlan) -> Option<FaultKind> {
        if let Some(kind) = self.queued.pop_front() {
            return Some(kind);
        }
        if plan.kinds.is_empty() || plan.rate <= 0.0 {
            return None;
        }
        if self.rng.random::<f64>() >= plan.rate {
            return None;
        }
        Some(plan.kinds[self.rng.random_range(0..plan.kinds.len())])
    }
}

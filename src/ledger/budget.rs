//! The bytes held by appends waiting for the sequencer, bounded so a flood of large valid
//! envelopes cannot grow memory without limit.
//!
//! Invariant: every [`Held`] adds its size to the shared count when made and takes it away when
//! dropped (the sequencer drops it as it takes the append), so the count is exactly the bytes of
//! the envelopes still queued.

use super::error::{AppendError, Refusal};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The shared count and its bound.
#[derive(Debug)]
pub struct QueueBudget {
    held: Arc<AtomicUsize>,
    limit: usize,
}

/// Bytes of one queued append, given back when dropped.
#[derive(Debug)]
pub struct Held {
    held: Arc<AtomicUsize>,
    bytes: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.held.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl QueueBudget {
    pub fn new(limit: usize) -> Self {
        QueueBudget {
            held: Arc::new(AtomicUsize::new(0)),
            limit: limit.max(1),
        }
    }

    /// Reserves `bytes`, or refuses when the queue already holds the limit. An append larger
    /// than the whole budget is still admitted into an empty queue.
    pub fn reserve(&self, bytes: usize) -> Result<Held, AppendError> {
        let before = self.held.fetch_add(bytes, Ordering::Relaxed);
        if before > 0 && before + bytes > self.limit {
            self.held.fetch_sub(bytes, Ordering::Relaxed);
            return Err(AppendError::new(
                Refusal::ResourceExhausted,
                format!(
                    "the append queue holds {before} bytes, at its limit of {} bytes; retry later",
                    self.limit
                ),
            ));
        }
        Ok(Held {
            held: self.held.clone(),
            bytes,
        })
    }

    /// Bytes held by queued appends now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_bounded_and_given_back() {
        let budget = QueueBudget::new(100);
        let a = budget.reserve(60).unwrap();
        let refused = budget.reserve(60).unwrap_err();
        assert_eq!(refused.refusal, Refusal::ResourceExhausted);
        assert_eq!(budget.held(), 60);
        drop(a);
        assert_eq!(budget.held(), 0);
        // Larger than the budget, but the queue is empty: admitted.
        let big = budget.reserve(500).unwrap();
        budget.reserve(1).unwrap_err();
        drop(big);
        let _small = budget.reserve(1).unwrap();
    }
}

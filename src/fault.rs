//! Fault injection for the write path: crash tests make the k-th write or sync fail, at every k,
//! and then check what a reopen finds.
//!
//! The write path (leaf and tree node writes and syncs, sled's batch, flush and fsyncs, hash index
//! writes, growths and syncs, watermark files) runs each such step through
//! [`Faults::run`], naming it with a [`Step`].
//!
//! Invariants:
//! - In a production build (neither `cfg(test)` nor the `fault-injection` feature) [`Faults`]
//!   is a zero-sized type and [`Faults::run`] is `op()` inlined: nothing is counted, nothing
//!   branches, nothing is stored.
//! - With fault injection compiled in, a [`Faults`] made by [`Faults::none`] (what every
//!   ordinary constructor uses) behaves the same, at the cost of one `Option` check per step.
//!   Only a [`Faults`] made from a [`FaultPlan`] counts steps, and only the steps the plan
//!   names, so a plan's numbering does not depend on steps taken by other threads unless the
//!   plan asks for them.
//! - A plan fails exactly one counted step, the `k`-th (from 0): either before the step
//!   ([`Failure::Before`]: the operation is not performed), after it ([`Failure::After`]: it is
//!   performed and then reported as failed, like an fsync whose error comes after the data went
//!   out), or by aborting the process on the spot ([`Failure::Abort`]: a crash with no
//!   destructors, no flush, no last sync).

use std::io;

/// A step of the write path that a plan can make fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// A positioned write of a run of tree nodes (`tree/level-NN`).
    NodeWrite,
    /// `fdatasync` of the tree's node files.
    NodeSync,
    /// A positioned write of leaves or their end offsets (`leaves/data`, `leaves/offsets`).
    LeafWrite,
    /// `fdatasync` of one of the leaf files.
    LeafSync,
    /// Writing a watermark file (the node files' `tree/synced`, the hash indexes' watermarks).
    Watermark,
    /// sled's `apply_batch` of an append (its checkpoint and index entries).
    SledApply,
    /// Writing an append's journal record, or zeros growing a journal file.
    JournalWrite,
    /// `fdatasync` of a journal record (`fsync` after growing the file).
    JournalSync,
    /// sled's `flush`.
    SledFlush,
    /// `fsync` of sled's database file.
    DbFsync,
    /// `fsync` of one of sled's blob files, or of its blob directory.
    BlobSync,
    /// Writing one hash index slot.
    IndexWrite,
    /// A hash index shard's growth: building, syncing and renaming the grown file.
    IndexGrow,
    /// Writing a hash index shard's header and `fdatasync`ing it.
    IndexSync,
}

impl Step {
    /// Steps the store takes on the append path, in the appending thread.
    pub const STORE_APPEND: &'static [Step] = &[
        Step::LeafWrite,
        Step::NodeWrite,
        Step::SledApply,
        Step::JournalWrite,
        Step::JournalSync,
    ];
    /// Steps of the background sync of the leaf files and sled (on the append path only when
    /// the journal cannot take an append or must wait for that sync to reuse a file).
    pub const SLED_SYNC: &'static [Step] = &[
        Step::LeafSync,
        Step::SledFlush,
        Step::DbFsync,
        Step::BlobSync,
    ];
    /// Every step.
    pub const ALL: &'static [Step] = &[
        Step::LeafWrite,
        Step::LeafSync,
        Step::NodeWrite,
        Step::NodeSync,
        Step::Watermark,
        Step::SledApply,
        Step::JournalWrite,
        Step::JournalSync,
        Step::SledFlush,
        Step::DbFsync,
        Step::BlobSync,
        Step::IndexWrite,
        Step::IndexGrow,
        Step::IndexSync,
    ];
}

/// How a plan's chosen step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The step is not performed; it reports an error.
    Before,
    /// The step is performed, then reports an error.
    After,
    /// The process aborts instead of performing the step.
    Abort,
}

#[cfg(any(test, feature = "fault-injection"))]
pub use enabled::{FaultPlan, Faults};

#[cfg(not(any(test, feature = "fault-injection")))]
pub use disabled::Faults;

#[cfg(not(any(test, feature = "fault-injection")))]
mod disabled {
    use super::{Step, io};

    /// No fault injection in this build: a zero-sized handle whose steps always just run. (Not
    /// `Copy`, so code that clones it compiles the same with fault injection in.)
    #[derive(Debug, Clone, Default)]
    pub struct Faults;

    impl Faults {
        /// The handle every ordinary constructor uses.
        #[inline(always)]
        pub fn none() -> Self {
            Faults
        }

        /// Runs `op`.
        #[inline(always)]
        pub fn run<T, E: From<io::Error>>(
            &self,
            _step: Step,
            op: impl FnOnce() -> Result<T, E>,
        ) -> Result<T, E> {
            op()
        }
    }
}

#[cfg(any(test, feature = "fault-injection"))]
mod enabled {
    use super::{Failure, Step, io};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    /// Which counted step fails, and how; and the steps counted so far.
    #[derive(Debug)]
    pub struct FaultPlan {
        counted: Vec<Step>,
        fail_at: u64,
        failure: Failure,
        next: AtomicU64,
        taken: Mutex<Vec<Step>>,
    }

    impl FaultPlan {
        /// Fails the `fail_at`-th (from 0) step among those of a kind in `counted`.
        pub fn new(counted: &[Step], fail_at: u64, failure: Failure) -> Arc<Self> {
            Arc::new(FaultPlan {
                counted: counted.to_vec(),
                fail_at,
                failure,
                next: AtomicU64::new(0),
                taken: Mutex::new(Vec::new()),
            })
        }

        /// Counts `counted` steps and never fails one: run a scenario with it to learn how many
        /// steps there are to fail.
        pub fn counting(counted: &[Step]) -> Arc<Self> {
            Self::new(counted, u64::MAX, Failure::Before)
        }

        /// The counted steps taken (or attempted) so far, in order.
        pub fn taken(&self) -> Vec<Step> {
            self.taken.lock().map(|t| t.clone()).unwrap_or_default()
        }

        /// True once the chosen step has been reached.
        pub fn fired(&self) -> bool {
            self.next.load(Ordering::SeqCst) > self.fail_at
        }
    }

    /// A handle on an optional [`FaultPlan`], cloned into every part of the write path.
    #[derive(Debug, Clone, Default)]
    pub struct Faults(Option<Arc<FaultPlan>>);

    impl Faults {
        /// No faults: every step just runs.
        pub fn none() -> Self {
            Faults(None)
        }

        /// Steps follow `plan`.
        pub fn plan(plan: Arc<FaultPlan>) -> Self {
            Faults(Some(plan))
        }

        /// Runs `op` as `step`, unless the plan makes this step fail.
        pub fn run<T, E: From<io::Error>>(
            &self,
            step: Step,
            op: impl FnOnce() -> Result<T, E>,
        ) -> Result<T, E> {
            let Some(plan) = &self.0 else {
                return op();
            };
            if !plan.counted.contains(&step) {
                return op();
            }
            let n = {
                // Numbered under the lock, so `taken` is in numbering order.
                let mut taken = plan.taken.lock().unwrap_or_else(|p| p.into_inner());
                taken.push(step);
                plan.next.fetch_add(1, Ordering::SeqCst)
            };
            if n != plan.fail_at {
                return op();
            }
            let injected = || {
                E::from(io::Error::other(format!(
                    "injected fault: step {n} ({step:?})"
                )))
            };
            match plan.failure {
                Failure::Before => Err(injected()),
                Failure::After => op().and_then(|_| Err(injected())),
                Failure::Abort => std::process::abort(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(faults: &Faults, step: Step, done: &mut Vec<u32>, n: u32) -> io::Result<()> {
        faults.run(step, || {
            done.push(n);
            Ok(())
        })
    }

    #[test]
    fn only_the_chosen_counted_step_fails() {
        let plan = FaultPlan::new(&[Step::NodeWrite, Step::DbFsync], 1, Failure::Before);
        let faults = Faults::plan(plan.clone());
        let mut done = Vec::new();
        assert!(step(&faults, Step::NodeWrite, &mut done, 0).is_ok());
        // Not counted: runs, and does not move the numbering.
        assert!(step(&faults, Step::SledApply, &mut done, 1).is_ok());
        assert!(!plan.fired());
        let err = step(&faults, Step::DbFsync, &mut done, 2).unwrap_err();
        assert!(err.to_string().contains("injected fault: step 1 (DbFsync)"));
        assert!(plan.fired());
        assert!(step(&faults, Step::NodeWrite, &mut done, 3).is_ok());
        assert_eq!(done, vec![0, 1, 3]);
        assert_eq!(
            plan.taken(),
            vec![Step::NodeWrite, Step::DbFsync, Step::NodeWrite]
        );
    }

    #[test]
    fn after_performs_the_step_then_fails() {
        let faults = Faults::plan(FaultPlan::new(Step::ALL, 0, Failure::After));
        let mut done = Vec::new();
        assert!(step(&faults, Step::IndexSync, &mut done, 7).is_err());
        assert_eq!(done, vec![7]);
    }

    #[test]
    fn no_plan_never_fails() {
        let faults = Faults::none();
        let mut done = Vec::new();
        for (i, s) in Step::ALL.iter().enumerate() {
            assert!(step(&faults, *s, &mut done, i as u32).is_ok());
        }
        assert_eq!(done.len(), Step::ALL.len());
    }
}

//! Crash points inside the store's write path: every write and sync of an append (tree node
//! writes, sled's batch, the journal's write and sync), the background node syncs and the
//! open-time repair of the node files is made to fail in turn (see [`crate::fault`]), and each
//! time the store must come back holding whole appends only — the state before the failing
//! append or after it, never part of it — pass the open-time check and the full audit, and
//! take the next append.
//!
//! Failing a step in-process ([`Failure::Before`], [`Failure::After`]) checks the error paths;
//! [`Failure::Abort`] kills a child process (this test binary, re-executed) at the step, with
//! no destructor, flush or final sync running, which is a crash at exactly that point.

use super::audit::audit;
use super::log::{LogStore, StoreTuning};
use super::tests_journal::{APPEND_AND_SLED_SYNC, small_journal};
use crate::fault::{Failure, FaultPlan, Faults, Step};
use crate::merkle::Blake3;
use crate::note::NoteSigner;
use std::path::Path;
use std::process::Command;

pub(super) const ORIGIN: &str = "test.provledger/faults";

pub(super) fn signer() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, &[3u8; 32]).unwrap()
}

pub(super) fn leaf(i: u64) -> Vec<u8> {
    // One leaf well over sled's blob threshold, so a blob file is written and synced.
    let len = if i == 330 {
        200 * 1024
    } else {
        40 + (i % 50) as usize
    };
    let mut bytes = format!("entry {i} ").into_bytes();
    bytes.resize(len, b'.');
    bytes
}

/// Leaves already in the store before faults are armed.
pub(super) const BASE: u64 = 5;
/// The appends the scenario makes after that, as (first, count): they cross chunk and tile
/// boundaries, and one holds the blob-sized leaf.
pub(super) const BATCHES: [(u64, u64); 6] =
    [(5, 1), (6, 3), (9, 300), (309, 21), (330, 1), (331, 40)];

pub(super) fn batch(first: u64, count: u64) -> Vec<Vec<u8>> {
    (first..first + count).map(leaf).collect()
}

/// A fresh store in `dir` holding the base leaves, closed.
pub(super) fn base_store(dir: &Path) {
    let store = LogStore::<Blake3>::create(dir, ORIGIN, signer()).unwrap();
    store.append(&batch(0, BASE)).unwrap();
}

/// Reopens the store and checks it holds exactly leaves `0..size`, passes the audit, and takes
/// one more append (which must pass the audit too).
pub(super) fn check_reopened(dir: &Path, sizes_allowed: &[u64], context: &str) -> u64 {
    let store = match LogStore::<Blake3>::open(dir, Some(signer())) {
        Ok(store) => store,
        Err(e) => panic!("{context}: reopen refused the store: {e}"),
    };
    let size = store.size();
    assert!(
        sizes_allowed.contains(&size),
        "{context}: reopened at size {size}, allowed {sizes_allowed:?}"
    );
    assert_eq!(
        store.leaves(0, size).unwrap(),
        batch(0, size),
        "{context}: stored leaves differ"
    );
    let report = audit(&store).unwrap();
    assert!(report.is_clean(), "{context}: {:?}", report.problems);
    let next = store.append(&[b"after the fault".to_vec()]).unwrap();
    assert_eq!(next.first_index, size, "{context}");
    assert!(
        audit(&store).unwrap().is_clean(),
        "{context}: after an append"
    );
    size
}

/// Appends the scenario's batches to `store`; returns the index of the batch whose append
/// failed, if one did.
pub(super) fn run_batches(store: &LogStore<Blake3>) -> Option<usize> {
    for (j, (first, count)) in BATCHES.iter().enumerate() {
        match store.append(&batch(*first, *count)) {
            Ok(appended) => assert_eq!(appended.first_index, *first),
            Err(_) => return Some(j),
        }
    }
    None
}

/// How many steps of `kinds` the scenario takes.
fn steps_in_scenario(kinds: &[Step]) -> u64 {
    let tmp = tempfile::tempdir().unwrap();
    base_store(tmp.path());
    let plan = FaultPlan::counting(kinds);
    let store = LogStore::<Blake3>::open_with_faults(
        tmp.path(),
        Some(signer()),
        Faults::plan(plan.clone()),
    )
    .unwrap();
    assert_eq!(run_batches(&store), None);
    let taken = plan.taken();
    for kind in [
        Step::NodeWrite,
        Step::SledApply,
        Step::JournalWrite,
        Step::JournalSync,
    ] {
        if kinds.contains(&kind) {
            assert!(taken.contains(&kind), "the scenario never takes {kind:?}");
        }
    }
    taken.len() as u64
}

#[test]
fn an_append_failing_at_any_step_leaves_whole_appends_only() {
    let total = steps_in_scenario(Step::STORE_APPEND);
    for failure in [Failure::Before, Failure::After] {
        for k in 0..total {
            let context = format!("{failure:?} step {k} of {total}");
            let tmp = tempfile::tempdir().unwrap();
            base_store(tmp.path());
            let plan = FaultPlan::new(Step::STORE_APPEND, k, failure);
            let store = LogStore::<Blake3>::open_with_faults(
                tmp.path(),
                Some(signer()),
                Faults::plan(plan.clone()),
            )
            .unwrap();
            let failed = run_batches(&store);
            assert!(plan.fired(), "{context}: never reached");
            let Some(j) = failed else {
                panic!("{context}: the failure was not reported");
            };
            let (first, count) = BATCHES[j];
            // A failure before the commit leaves the store usable; one at or after it poisons
            // the store until a reopen. Either way nothing is half there.
            let retried = store.append(&batch(first, count));
            drop(store);
            let allowed: &[u64] = match retried {
                Ok(appended) => {
                    assert_eq!(appended.first_index, first, "{context}: retry");
                    &[first + count]
                }
                Err(_) => &[first, first + count],
            };
            check_reopened(tmp.path(), allowed, &context);
        }
    }
}

#[test]
fn failed_node_syncs_only_cost_a_replay_at_open() {
    let kinds = [Step::NodeSync, Step::Watermark];
    // The syncer's own ticks come once a second; the final sync on close is always taken.
    for failure in [Failure::Before, Failure::After] {
        let mut k = 0;
        loop {
            let tmp = tempfile::tempdir().unwrap();
            base_store(tmp.path());
            let plan = FaultPlan::new(&kinds, k, failure);
            let store = LogStore::<Blake3>::open_with_faults(
                tmp.path(),
                Some(signer()),
                Faults::plan(plan.clone()),
            )
            .unwrap();
            assert_eq!(run_batches(&store), None);
            drop(store);
            let end = BATCHES[BATCHES.len() - 1];
            check_reopened(
                tmp.path(),
                &[end.0 + end.1],
                &format!("{failure:?} sync step {k}"),
            );
            if !plan.fired() {
                break;
            }
            k += 1;
        }
        assert!(k > 2, "{failure:?}: only {k} sync steps were taken");
    }
}

#[test]
fn the_open_time_repair_failing_at_any_step_is_retried_by_the_next_open() {
    let kinds = [Step::NodeWrite, Step::NodeSync, Step::Watermark];
    let end = BATCHES[BATCHES.len() - 1];
    let size = end.0 + end.1;
    let crashed = tempfile::tempdir().unwrap();
    base_store(crashed.path());
    {
        let store = LogStore::<Blake3>::open(crashed.path(), Some(signer())).unwrap();
        assert_eq!(run_batches(&store), None);
    }
    // As after a crash before the node files were ever synced: every node is recomputed.
    crate::watermark::write(&crashed.path().join("tree"), "synced", 0).unwrap();
    for failure in [Failure::Before, Failure::After] {
        let mut k = 0;
        loop {
            let tmp = tempfile::tempdir().unwrap();
            copy_dir(crashed.path(), tmp.path());
            let plan = FaultPlan::new(&kinds, k, failure);
            let opened =
                LogStore::<Blake3>::open_with_faults(tmp.path(), None, Faults::plan(plan.clone()));
            if !plan.fired() {
                assert!(opened.is_ok(), "{failure:?}: clean open failed");
                break;
            }
            assert!(
                opened.is_err(),
                "{failure:?} step {k}: the failure was not reported"
            );
            drop(opened);
            check_reopened(tmp.path(), &[size], &format!("{failure:?} open step {k}"));
            k += 1;
        }
        assert!(k > 3, "{failure:?}: only {k} open-time steps were taken");
    }
}

pub(super) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The environment variables that make [`abort_child`] run: the store's directory and the step
/// to abort at.
pub(super) const CHILD_DIR: &str = "PROVLEDGER_FAULT_CHILD_DIR";
pub(super) const CHILD_STEP: &str = "PROVLEDGER_FAULT_CHILD_STEP";

/// Set (to anything) to make [`abort_child`] use [`small_journal`] and count the sled sync's
/// steps too.
pub(super) const CHILD_SMALL_JOURNAL: &str = "PROVLEDGER_FAULT_CHILD_SMALL_JOURNAL";

/// Run by [`crash_at_every_step`] in a child process: appends the scenario's batches with a plan
/// that aborts the process at the given step, printing `acked SIZE` after each acknowledged
/// append. Without the variables it does nothing.
#[test]
fn abort_child() {
    let (Ok(dir), Ok(step)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_STEP)) else {
        return;
    };
    let step: u64 = step.parse().unwrap();
    let (steps, tuning) = match std::env::var(CHILD_SMALL_JOURNAL) {
        Ok(_) => (APPEND_AND_SLED_SYNC, small_journal()),
        Err(_) => (Step::STORE_APPEND, StoreTuning::default()),
    };
    let plan = FaultPlan::new(steps, step, Failure::Abort);
    let store =
        LogStore::<Blake3>::open_tuned(Path::new(&dir), Some(signer()), Faults::plan(plan), tuning)
            .unwrap();
    for (first, count) in BATCHES {
        let appended = store.append(&batch(first, count)).unwrap();
        println!("acked {}", appended.checkpoint.checkpoint.size);
    }
}

/// Crashes [`abort_child`] at each of its first `total` steps in turn (with the small journal
/// when `small_journal` is set), and checks that every acknowledged append survived and the
/// one in flight is whole or absent.
pub(super) fn crash_at_every_step(total: u64, small_journal: bool) {
    let base = tempfile::tempdir().unwrap();
    base_store(base.path());
    let exe = std::env::current_exe().unwrap();
    let mut crashes = 0;
    for k in 0..total {
        let tmp = tempfile::tempdir().unwrap();
        copy_dir(base.path(), tmp.path());
        let mut command = Command::new(&exe);
        command
            .args(["--exact", "store::tests_faults::abort_child", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(CHILD_DIR, tmp.path())
            .env(CHILD_STEP, k.to_string());
        if small_journal {
            command.env(CHILD_SMALL_JOURNAL, "1");
        }
        let out = command.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let acked: Vec<u64> = stdout
            .lines()
            // The harness may print its own text before ours on the same line.
            .filter_map(|l| l.rsplit_once("acked ").map(|(_, n)| n))
            .map(|n| n.parse().unwrap())
            .collect();
        let context = format!(
            "abort at step {k} of {total} ({}; stdout: {stdout}; stderr: {})",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{context}: the child did not crash");
        crashes += 1;
        // The append in flight at the crash is the one after the last acknowledged.
        let j = acked.len();
        assert!(j < BATCHES.len(), "{context}: {stdout}");
        let (first, count) = BATCHES[j];
        if let Some(last) = acked.last() {
            assert_eq!(*last, first, "{context}");
        }
        check_reopened(tmp.path(), &[first, first + count], &context);
    }
    assert_eq!(crashes, total);
}

#[test]
fn a_crash_at_any_append_step_leaves_whole_appends_only() {
    crash_at_every_step(steps_in_scenario(Step::STORE_APPEND), false);
}

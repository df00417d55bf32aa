//! The journal inside the store: appends acknowledged from the journal alone come back after a
//! crash, a full journal file waits for sled before it is reused, an append too large for the
//! journal waits for sled instead, and sled's background sync failing or crashing at any step
//! loses no acknowledged append.

use super::audit::audit;
use super::journal::{Journal, JournalLimits, Op, Record};
use super::keys;
use super::log::{LogStore, StoreTuning};
use super::tests_faults::{
    BASE, BATCHES, base_store, batch, check_reopened, copy_dir, crash_at_every_step, run_batches,
    signer,
};
use crate::fault::{Failure, FaultPlan, Faults, Step};
use crate::merkle::Blake3;
use std::time::Duration;

/// The append path's steps and sled's sync's, for a store whose sled syncs all happen in the
/// appending thread ([`small_journal`]).
pub(super) const APPEND_AND_SLED_SYNC: &[Step] = &[
    Step::LeafWrite,
    Step::NodeWrite,
    Step::SledApply,
    Step::JournalWrite,
    Step::JournalSync,
    Step::LeafSync,
    Step::SledFlush,
    Step::DbFsync,
    Step::BlobSync,
];

/// Journal files of 4 KiB and no background sled sync within a test's time: the scenario's
/// appends fill a file, force sled syncs before a file is reused, and include batches too large
/// for the journal.
pub(super) fn small_journal() -> StoreTuning {
    StoreTuning {
        journal: JournalLimits {
            file_bytes: 4096,
            extend_bytes: 1024,
            record_bytes: 4096,
        },
        sled_sync_interval: Duration::from_secs(3600),
    }
}

/// A store whose sled is synced only when closed.
fn lazy_sled() -> StoreTuning {
    StoreTuning {
        sled_sync_interval: Duration::from_secs(3600),
        ..StoreTuning::default()
    }
}

fn end_of_scenario() -> u64 {
    let (first, count) = BATCHES[BATCHES.len() - 1];
    first + count
}

/// A base store that then took the scenario's appends with sled synced only when closed, and a
/// copy of it from before those appends: `(after, before)`.
fn scenario_and_its_copy_before() -> (tempfile::TempDir, tempfile::TempDir) {
    let live = tempfile::tempdir().unwrap();
    base_store(live.path());
    let before = tempfile::tempdir().unwrap();
    copy_dir(live.path(), before.path());
    let store =
        LogStore::<Blake3>::open_tuned(live.path(), Some(signer()), Faults::none(), lazy_sled())
            .unwrap();
    assert_eq!(run_batches(&store), None);
    drop(store);
    (live, before)
}

#[test]
fn appends_only_in_the_journal_are_applied_at_open() {
    // `crashed` is the store as it was on disk before the appends: sled without them.
    let (live, crashed) = scenario_and_its_copy_before();
    // As if sled's sync never happened: the old sled, the new journal.
    for name in ["journal-0", "journal-1"] {
        std::fs::copy(live.path().join(name), crashed.path().join(name)).unwrap();
    }
    let size = check_reopened(crashed.path(), &[end_of_scenario()], "replayed");
    assert_eq!(size, end_of_scenario());
}

#[test]
fn leaves_the_files_lost_are_written_again_from_the_journal() {
    let (live, before) = scenario_and_its_copy_before();
    // As if sled had flushed on its own but the leaf files' writes never reached the disk:
    // sled and the journal as they are now, the leaf files as they were before the appends,
    // and sled's record of the size they are durable at as it was then.
    let leaves = live.path().join("leaves");
    std::fs::remove_dir_all(&leaves).unwrap();
    copy_dir(&before.path().join("leaves"), &leaves);
    let db = sled::open(live.path()).unwrap();
    db.insert(keys::META_LEAVES_DURABLE, &keys::leaves_durable_value(BASE))
        .unwrap();
    db.flush().unwrap();
    drop(db);
    let size = check_reopened(live.path(), &[end_of_scenario()], "leaves replayed");
    assert_eq!(size, end_of_scenario());
}

#[test]
fn a_journal_record_that_does_not_follow_the_stored_leaves_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    base_store(tmp.path());
    let mut journal =
        Journal::open(tmp.path(), 10, JournalLimits::default(), Faults::none()).unwrap();
    let record = Record {
        first: BASE + 10,
        end: BASE + 11,
        ops: vec![Op::Insert(b"x/anything".to_vec(), b"value".to_vec())],
    };
    journal.append(record.end, &record.encode()).unwrap();
    let err = LogStore::<Blake3>::open(tmp.path(), Some(signer())).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("journal holds leaves 15..16") && text.contains("checkpoint is for size 5"),
        "{text}"
    );
}

/// Opens the store in `dir` with [`small_journal`] and a plan counting
/// [`APPEND_AND_SLED_SYNC`], appends the scenario's batches (then runs `more` on the store) and
/// closes it; returns the steps taken before the close, and all of them (the final sync at
/// close included).
fn small_journal_steps(
    dir: &std::path::Path,
    more: impl FnOnce(&LogStore<Blake3>),
) -> (Vec<Step>, Vec<Step>) {
    let plan = FaultPlan::counting(APPEND_AND_SLED_SYNC);
    let before_close;
    {
        let store = LogStore::<Blake3>::open_tuned(
            dir,
            Some(signer()),
            Faults::plan(plan.clone()),
            small_journal(),
        )
        .unwrap();
        assert_eq!(run_batches(&store), None);
        more(&store);
        before_close = plan.taken();
    }
    (before_close, plan.taken())
}

#[test]
fn a_small_journal_wraps_around_and_takes_appends_larger_than_itself() {
    let tmp = tempfile::tempdir().unwrap();
    base_store(tmp.path());
    let (_, taken) = small_journal_steps(tmp.path(), |store| {
        // More appends than the two files hold between sled syncs.
        for i in 0..60u64 {
            let first = end_of_scenario() + i;
            let appended = store.append(&[format!("more {i}").into_bytes()]).unwrap();
            assert_eq!(appended.first_index, first);
        }
        assert!(audit(store).unwrap().is_clean());
    });
    let syncs = taken.iter().filter(|s| **s == Step::SledFlush).count();
    // One at open, one for the 300-leaf batch, at least one for a reused file, one at close.
    assert!(syncs >= 4, "{syncs} sled syncs: {taken:?}");
    let store = LogStore::<Blake3>::open(tmp.path(), None).unwrap();
    assert_eq!(store.size(), end_of_scenario() + 60);
}

#[test]
fn a_small_journal_failing_at_any_step_leaves_whole_appends_only() {
    let total = {
        let tmp = tempfile::tempdir().unwrap();
        base_store(tmp.path());
        small_journal_steps(tmp.path(), |_| {}).0.len() as u64
    };
    for failure in [Failure::Before, Failure::After] {
        for k in 0..total {
            let context = format!("{failure:?} step {k} of {total}");
            let tmp = tempfile::tempdir().unwrap();
            base_store(tmp.path());
            let plan = FaultPlan::new(APPEND_AND_SLED_SYNC, k, failure);
            let opened = LogStore::<Blake3>::open_tuned(
                tmp.path(),
                Some(signer()),
                Faults::plan(plan.clone()),
                small_journal(),
            );
            let Ok(store) = opened else {
                // The sync at open failed: nothing was appended.
                check_reopened(tmp.path(), &[BASE], &context);
                continue;
            };
            let failed = run_batches(&store);
            assert!(plan.fired(), "{context}: never reached");
            let Some(j) = failed else {
                panic!("{context}: the failure was not reported");
            };
            let (first, count) = BATCHES[j];
            drop(store);
            check_reopened(tmp.path(), &[first, first + count], &context);
        }
    }
}

#[test]
fn a_crash_at_any_step_with_a_small_journal_leaves_whole_appends_only() {
    let tmp = tempfile::tempdir().unwrap();
    base_store(tmp.path());
    // The scenario's steps without the final sync at close, which no crash reaches.
    let total = small_journal_steps(tmp.path(), |_| {}).0.len() as u64;
    crash_at_every_step(total, true);
}

#[test]
fn sled_failing_in_the_background_stops_appends_and_loses_no_acknowledged_one() {
    let tuning = StoreTuning {
        sled_sync_interval: Duration::from_millis(1),
        ..StoreTuning::default()
    };
    for failure in [Failure::Before, Failure::After] {
        let mut fired_in_background = 0;
        for k in 0..8 {
            let context = format!("{failure:?} sled sync step {k}");
            let tmp = tempfile::tempdir().unwrap();
            base_store(tmp.path());
            let plan = FaultPlan::new(Step::SLED_SYNC, k, failure);
            let Ok(store) = LogStore::<Blake3>::open_tuned(
                tmp.path(),
                Some(signer()),
                Faults::plan(plan.clone()),
                tuning,
            ) else {
                check_reopened(tmp.path(), &[BASE], &context);
                continue;
            };
            let mut acked = BASE;
            let mut refused = None;
            for (first, count) in BATCHES {
                std::thread::sleep(Duration::from_millis(5));
                match store.append(&batch(first, count)) {
                    Ok(appended) => acked = appended.checkpoint.checkpoint.size,
                    Err(e) => {
                        assert!(plan.fired(), "{context}: {e}");
                        refused = Some(first + count);
                        break;
                    }
                }
            }
            if refused.is_some() {
                fired_in_background += 1;
                // Once failed, the store takes nothing more until it is reopened.
                assert!(store.append(&[b"later".to_vec()]).is_err(), "{context}");
            }
            drop(store);
            let allowed: Vec<u64> = [Some(acked), refused].into_iter().flatten().collect();
            check_reopened(tmp.path(), &allowed, &context);
        }
        assert!(
            fired_in_background > 0,
            "{failure:?}: no background sync failed during the appends"
        );
    }
}

//! Crash points in the ledger's whole write path: the store's commit and the hash indexes' slot
//! writes, header writes, fsyncs and watermarks (on the index writer's thread and at close) are
//! made to fail in turn (see [`crate::fault`]). After each failure the ledger is shut down and
//! started again without faults, and then every acknowledged event must be at its index with
//! its exact envelope, resending it must be answered as a duplicate at that index (the hash
//! indexes came back whole), the audit must pass, and a new event must append.
//!
//! The store's own steps are covered one by one in `store::tests_faults`; here the plan counts
//! the hash index steps and the commit, which run on two threads, so a step's number may vary
//! between runs; what is checked holds whichever step fails.

use super::{Ledger, LedgerConfig, key_action_envelope};
use crate::envelope::{EVENT_PAYLOAD_TYPE, sign};
use crate::fault::{Failure, FaultPlan, Faults, Step};
use crate::note::NoteSigner;
use crate::proto::{
    Action, Generator, KeyRegistration, LogLeaf, Origin, ProvenanceEvent, RecordRef, Role,
    SignedEvent, key_action,
};
use crate::provenance::rules::TRAINED_ALGORITHMIC_DATA;
use crate::store::{LogStore, audit};
use prost::Message;
use std::path::Path;

const ORIGIN: &str = "test.provledger/ledger-faults";
/// Events appended while a fault is armed, one durable batch each.
const EVENTS: u64 = 4;
/// The steps counted: the commit and everything the hash indexes write.
const COUNTED: &[Step] = &[
    Step::SledApply,
    Step::IndexWrite,
    Step::IndexGrow,
    Step::IndexSync,
    Step::Watermark,
];

fn log_signer() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, &[5u8; 32]).unwrap()
}

fn admin() -> NoteSigner {
    NoteSigner::from_seed("test.provledger/admin", &[6u8; 32]).unwrap()
}

fn generator() -> NoteSigner {
    NoteSigner::from_seed("gen.test/faults", &[7u8; 32]).unwrap()
}

fn envelope(n: u64) -> SignedEvent {
    let event = ProvenanceEvent {
        subject: Some(RecordRef {
            system: "salesforce".into(),
            tenant: "00D000000000001EAA".into(),
            object_type: "Lead".into(),
            record_id: format!("00Q{n:012}"),
        }),
        action: Action::Generated as i32,
        origin: Origin::Synthetic as i32,
        environment: "sandbox".into(),
        external_id: format!("fault-test/{n}"),
        generator: Some(Generator {
            source: "gen.test".into(),
            model: "m".into(),
            model_version: "1".into(),
            run_id: String::new(),
        }),
        digital_source_type: TRAINED_ALGORITHMIC_DATA.into(),
        ..Default::default()
    };
    sign(&generator(), EVENT_PAYLOAD_TYPE, event.encode_to_vec())
}

fn start(dir: &Path, faults: Faults) -> Result<Ledger, crate::store::StoreError> {
    let store = LogStore::open_with_faults(&dir.join("log"), Some(log_signer()), faults.clone())?;
    Ledger::start_with_faults(store, &dir.join("index"), LedgerConfig::default(), faults)
}

/// A ledger with the genesis entry and a registered generator key, shut down.
fn base_ledger(dir: &Path) {
    Ledger::init(
        &dir.join("log"),
        &dir.join("index"),
        ORIGIN,
        log_signer(),
        &admin(),
    )
    .unwrap();
    let ledger = start(dir, Faults::none()).unwrap();
    let register = key_action_envelope(
        &admin(),
        key_action::Action::Register(KeyRegistration {
            vkey: generator().verifier().to_vkey(),
            role: Role::Generator as i32,
            ..Default::default()
        }),
    );
    ledger.append_blocking(Some(register)).unwrap();
    ledger.shutdown();
}

fn copy_dir(from: &Path, to: &Path) {
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

/// Appends the events with `faults` armed; returns the acknowledged (index, event number).
/// A start that fails (its catch-up of the indexes hit the fault) acknowledges nothing.
fn appends_under(dir: &Path, faults: Faults) -> Vec<(u64, u64)> {
    let Ok(ledger) = start(dir, faults) else {
        return Vec::new();
    };
    let mut acked = Vec::new();
    for n in 0..EVENTS {
        if let Ok(receipt) = ledger.append_blocking(Some(envelope(n))) {
            assert!(!receipt.sequenced.duplicate, "event {n}");
            acked.push((receipt.sequenced.index, n));
        }
    }
    ledger.shutdown();
    acked
}

/// Starts the ledger without faults and checks what the armed run acknowledged.
fn check_restarted(dir: &Path, acked: &[(u64, u64)], context: &str) {
    let ledger = start(dir, Faults::none())
        .unwrap_or_else(|e| panic!("{context}: the ledger did not start again: {e}"));
    let store = ledger.store();
    for &(index, n) in acked {
        let leaf = store.leaves(index, 1).unwrap_or_else(|e| {
            panic!("{context}: acknowledged entry {index} is not readable: {e}")
        });
        let stored = LogLeaf::decode(leaf[0].as_slice()).unwrap().envelope;
        assert_eq!(stored, Some(envelope(n)), "{context}: entry {index}");
        let again = ledger.append_blocking(Some(envelope(n))).unwrap();
        assert!(
            again.sequenced.duplicate && again.sequenced.index == index,
            "{context}: event {n} resent: index {} duplicate {}",
            again.sequenced.index,
            again.sequenced.duplicate
        );
    }
    let report = audit(store).unwrap();
    assert!(report.is_clean(), "{context}: {:?}", report.problems);
    let size = store.size();
    let fresh = ledger.append_blocking(Some(envelope(1000))).unwrap();
    assert_eq!(fresh.sequenced.index, size, "{context}");
    ledger.shutdown();
}

#[test]
fn a_failure_at_any_index_or_commit_step_loses_no_acknowledged_event() {
    let base = tempfile::tempdir().unwrap();
    base_ledger(base.path());
    let counting = FaultPlan::counting(COUNTED);
    {
        let tmp = tempfile::tempdir().unwrap();
        copy_dir(base.path(), tmp.path());
        let acked = appends_under(tmp.path(), Faults::plan(counting.clone()));
        assert_eq!(acked.len() as u64, EVENTS);
    }
    let taken = counting.taken();
    for kind in [
        Step::SledApply,
        Step::IndexWrite,
        Step::IndexSync,
        Step::Watermark,
    ] {
        assert!(taken.contains(&kind), "the scenario never takes {kind:?}");
    }
    let total = taken.len() as u64;
    for failure in [Failure::Before, Failure::After] {
        for k in 0..total {
            let context = format!("{failure:?} step {k} of about {total}");
            let tmp = tempfile::tempdir().unwrap();
            copy_dir(base.path(), tmp.path());
            let plan = FaultPlan::new(COUNTED, k, failure);
            let acked = appends_under(tmp.path(), Faults::plan(plan.clone()));
            check_restarted(tmp.path(), &acked, &context);
        }
    }
}

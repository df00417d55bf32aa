//! Property test: the effective origin the lineage indexer computes, at every tree size, equals a
//! brute-force computation over the same random DAG of events (roots enumerated recursively from
//! the definition, not incrementally).

use proptest::prelude::*;
use provledger::datadir::DataDir;
use provledger::envelope::{EVENT_PAYLOAD_TYPE, sign};
use provledger::ledger::{Ledger, LedgerConfig, key_action_envelope};
use provledger::note::NoteSigner;
use provledger::proto::{
    Action, EffectiveOrigin, Generator, KeyRegistration, Origin, Parent, ProvenanceEvent,
    RecordRef, Role, key_action,
};
use provledger::provenance::rules::{DIGITAL_CAPTURE, TRAINED_ALGORITHMIC_DATA};
use std::collections::BTreeSet;

const RECORDS: usize = 6;

#[derive(Debug, Clone)]
enum Op {
    Generate(usize),
    Capture(usize),
    Update(usize),
    Attest(usize, bool),
    /// Subject, parents as (choice among existing records, pin to one of its events).
    Derive(usize, Vec<(usize, Option<usize>)>),
    Sync(usize, (usize, Option<usize>)),
}

fn op() -> impl Strategy<Value = Op> {
    let r = 0..RECORDS;
    let parent = (0..RECORDS, prop::option::of(0..4usize));
    prop_oneof![
        r.clone().prop_map(Op::Generate),
        r.clone().prop_map(Op::Capture),
        r.clone().prop_map(Op::Update),
        (r.clone(), any::<bool>()).prop_map(|(s, real)| Op::Attest(s, real)),
        (r.clone(), prop::collection::vec(parent.clone(), 1..4))
            .prop_map(|(s, p)| Op::Derive(s, p)),
        (r, parent).prop_map(|(s, p)| Op::Sync(s, p)),
    ]
}

fn record(i: usize) -> RecordRef {
    RecordRef {
        system: "crm".into(),
        tenant: "t".into(),
        object_type: "Lead".into(),
        record_id: format!("r{i}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Synthetic,
    Real,
    Unknown,
}

/// One logged event, as the model keeps it.
#[derive(Debug, Clone)]
struct Logged {
    index: u64,
    subject: usize,
    action: Action,
    declared: Origin,
    parents: Vec<(usize, Option<u64>)>,
}

/// Roots of `rec` as of `before` (its last event below it), by the definition.
fn roots_of(log: &[Logged], rec: usize, before: u64) -> BTreeSet<Kind> {
    match log
        .iter()
        .rev()
        .find(|e| e.subject == rec && e.index < before)
    {
        Some(e) => roots_of_event(log, e),
        None => BTreeSet::from([Kind::Unknown]),
    }
}

fn roots_of_event(log: &[Logged], e: &Logged) -> BTreeSet<Kind> {
    match e.action {
        Action::Generated => BTreeSet::from([Kind::Synthetic]),
        Action::Captured => BTreeSet::from([Kind::Real]),
        Action::Attested => BTreeSet::from([match e.declared {
            Origin::Real => Kind::Real,
            _ => Kind::Synthetic,
        }]),
        Action::Derived | Action::Synced => e
            .parents
            .iter()
            .flat_map(|(p, pin)| match pin {
                Some(j) => roots_of_event(log, log.iter().find(|x| x.index == *j).unwrap()),
                None => roots_of(log, *p, e.index),
            })
            .collect(),
        _ => {
            if log
                .iter()
                .any(|x| x.subject == e.subject && x.index < e.index)
            {
                roots_of(log, e.subject, e.index)
            } else {
                BTreeSet::from([Kind::Unknown])
            }
        }
    }
}

fn classify(roots: &BTreeSet<Kind>) -> EffectiveOrigin {
    if roots.contains(&Kind::Unknown) {
        EffectiveOrigin::Unknown
    } else if roots.len() == 2 {
        EffectiveOrigin::Mixed
    } else if roots.contains(&Kind::Synthetic) {
        EffectiveOrigin::Synthetic
    } else {
        EffectiveOrigin::Real
    }
}

fn register(ledger: &Ledger, admin: &NoteSigner, name: &str, role: Role) -> NoteSigner {
    let key = NoteSigner::generate(name).unwrap();
    let action = key_action::Action::Register(KeyRegistration {
        vkey: key.verifier().to_vkey(),
        role: role as i32,
        ..Default::default()
    });
    ledger
        .append_blocking(Some(key_action_envelope(admin, action)))
        .unwrap();
    key
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::new(tmp.path());
    dir.init("prop.provledger/log").unwrap();
    let admin = provledger::keyfile::read(&dir.admin_key()).unwrap();
    let ledger = dir.open_ledger(LedgerConfig::default()).unwrap();
    let generator = register(&ledger, &admin, "gen", Role::Generator);
    let sync = register(&ledger, &admin, "sync", Role::SyncJob);
    let reviewer = register(&ledger, &admin, "rev", Role::Reviewer);
    let mut log: Vec<Logged> = Vec::new();
    for op in ops {
        let events_of = |r: usize| -> Vec<u64> {
            log.iter()
                .filter(|e| e.subject == r)
                .map(|e| e.index)
                .collect()
        };
        let existing: Vec<usize> = (0..RECORDS).filter(|r| !events_of(*r).is_empty()).collect();
        let pick = |(choice, pin): (usize, Option<usize>)| -> Option<(usize, Option<u64>)> {
            let rec = *existing.get(choice % existing.len().max(1))?;
            let evs = events_of(rec);
            Some((rec, pin.map(|p| evs[p % evs.len()])))
        };
        let (signer, subject, action, declared, parents) = match op.clone() {
            Op::Generate(s) => (&generator, s, Action::Generated, Origin::Synthetic, vec![]),
            Op::Capture(s) => (&sync, s, Action::Captured, Origin::Real, vec![]),
            Op::Update(s) => (&sync, s, Action::Updated, Origin::Unspecified, vec![]),
            Op::Attest(s, real) => {
                let o = if real {
                    Origin::Real
                } else {
                    Origin::Synthetic
                };
                (&reviewer, s, Action::Attested, o, vec![])
            }
            Op::Derive(s, ps) => {
                let ps: Vec<_> = ps.into_iter().filter_map(pick).collect();
                if ps.is_empty() {
                    continue;
                }
                (&sync, s, Action::Derived, Origin::Unspecified, ps)
            }
            Op::Sync(s, p) => match pick(p) {
                Some(p) => (&sync, s, Action::Synced, Origin::Unspecified, vec![p]),
                None => continue,
            },
        };
        let event = ProvenanceEvent {
            subject: Some(record(subject)),
            action: action as i32,
            origin: declared as i32,
            environment: "sandbox".into(),
            parents: parents
                .iter()
                .map(|(p, pin)| Parent {
                    record: Some(record(*p)),
                    leaf_index: *pin,
                })
                .collect(),
            generator: (action == Action::Generated).then(|| Generator {
                source: "g".into(),
                model: "m".into(),
                model_version: "1".into(),
                run_id: String::new(),
            }),
            digital_source_type: match action {
                Action::Generated => TRAINED_ALGORITHMIC_DATA.into(),
                Action::Captured => DIGITAL_CAPTURE.into(),
                _ => String::new(),
            },
            content_hash: (log.len() as u64).to_be_bytes().to_vec(),
            ..Default::default()
        };
        let envelope = sign(
            signer,
            EVENT_PAYLOAD_TYPE,
            prost::Message::encode_to_vec(&event),
        );
        let receipt = ledger
            .append_blocking(Some(envelope))
            .map_err(|e| TestCaseError::fail(format!("{op:?} refused: {e}")))?;
        log.push(Logged {
            index: receipt.sequenced.index,
            subject,
            action,
            declared,
            parents,
        });
    }
    let size = ledger.store().size();
    let lineage = ledger.lineage();
    lineage.wait_for_blocking(size).unwrap();
    // Every record, at every size the log passed through.
    for as_of in 1..=size {
        for rec in 0..RECORDS {
            if !log.iter().any(|e| e.subject == rec && e.index < as_of) {
                continue;
            }
            let expected = classify(&roots_of(&log, rec, as_of));
            let got = lineage.history_at(&record(rec), as_of, false).unwrap();
            prop_assert_eq!(
                got.origin,
                expected as i32,
                "record {} at size {}: log {:?}",
                rec,
                as_of,
                log
            );
        }
    }
    ledger.shutdown();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn effective_origin_matches_brute_force(ops in prop::collection::vec(op(), 1..28)) {
        run(ops)?;
    }
}

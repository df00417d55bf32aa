//! Pre-signed events: signing is the clients' cost, so it happens before anything is timed.

use prost::Message;
use provledger::envelope::{EVENT_PAYLOAD_TYPE, pae, sign};
use provledger::note::NoteSigner;
use provledger::proto::{Action, Generator, Origin, ProvenanceEvent, RecordRef, SignedEvent};
use provledger::provenance::rules::TRAINED_ALGORITHMIC_DATA;
use std::time::Instant;

/// Generator keys and the events they signed.
pub struct Workload {
    pub keys: Vec<NoteSigner>,
    pub events: Vec<SignedEvent>,
}

/// A realistic event: a synthetic Salesforce Lead with generator attributes.
pub fn event(i: u64) -> ProvenanceEvent {
    ProvenanceEvent {
        subject: Some(RecordRef {
            system: "salesforce".into(),
            tenant: "00D5g000004ABCDEA4".into(),
            object_type: "Lead".into(),
            record_id: format!("00Q5g{i:010}"),
        }),
        action: Action::Generated as i32,
        origin: Origin::Synthetic as i32,
        environment: "sandbox".into(),
        content_hash: blake3::keyed_hash(&[9; 32], &i.to_be_bytes())
            .as_bytes()
            .to_vec(),
        occurred_at: Some(provledger::timestamp::Timestamp {
            seconds: 1_790_000_000 + i as i64,
            nanos: 0,
        }),
        attributes: [
            ("source", "lead-synth"),
            ("model", "crm-gen"),
            ("model_version", "3.2.1"),
            ("run_id", "run-2026-11-22-0001"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        generator: Some(Generator {
            source: "lead-synth".into(),
            model: "crm-gen".into(),
            model_version: "3.2.1".into(),
            run_id: "run-2026-11-22-0001".into(),
        }),
        digital_source_type: TRAINED_ALGORITHMIC_DATA.into(),
        ..Default::default()
    }
}

/// Signs `n` events with `keys` generator keys, round robin.
pub fn presign(n: u64, keys: usize, first: u64) -> anyhow::Result<Workload> {
    let keys: Vec<NoteSigner> = (0..keys)
        .map(|k| NoteSigner::generate(&format!("bench-gen-{k}.example/v3")))
        .collect::<Result<_, _>>()?;
    let events = sign_events(&keys, first, n, 1);
    Ok(Workload { keys, events })
}

/// Signs events `first..first + n` with `keys` round robin (the i-th of them with key
/// `i % keys.len()`), split over `threads` threads.
pub fn sign_events(keys: &[NoteSigner], first: u64, n: u64, threads: usize) -> Vec<SignedEvent> {
    let threads = threads.max(1) as u64;
    let chunk = n.div_ceil(threads);
    let sign_range = |from: u64, to: u64| -> Vec<SignedEvent> {
        (from..to)
            .map(|i| {
                let key = &keys[(i as usize) % keys.len()];
                sign(key, EVENT_PAYLOAD_TYPE, event(first + i).encode_to_vec())
            })
            .collect()
    };
    if threads == 1 || n < 2 * threads {
        return sign_range(0, n);
    }
    std::thread::scope(|s| {
        let parts: Vec<_> = (0..threads)
            .map(|t| {
                let (from, to) = ((t * chunk).min(n), ((t + 1) * chunk).min(n));
                s.spawn(move || sign_range(from, to))
            })
            .collect();
        let mut events = Vec::with_capacity(n as usize);
        for part in parts {
            // A signing thread cannot fail short of a panic, which is passed on.
            match part.join() {
                Ok(mut signed) => events.append(&mut signed),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        events
    })
}

/// The physical limit: `verify_strict` of the same envelopes on `threads` threads, no I/O.
pub fn verify_limit(work: &Workload, threads: usize) -> f64 {
    let verifiers: Vec<_> = work
        .keys
        .iter()
        .map(|k| *k.verifier().verifying_key())
        .collect();
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let verifiers = &verifiers;
            let events = &work.events;
            s.spawn(move || {
                let mut i = t;
                while i < events.len() {
                    let e = &events[i];
                    let sig = ed25519_dalek::Signature::from_bytes(
                        e.signature.as_slice().try_into().unwrap_or(&[0u8; 64]),
                    );
                    let ok = verifiers[i % verifiers.len()]
                        .verify_strict(&pae(&e.payload_type, &e.payload), &sig)
                        .is_ok();
                    assert!(ok, "pre-signed event {i} does not verify");
                    i += threads;
                }
            });
        }
    });
    work.events.len() as f64 / start.elapsed().as_secs_f64()
}

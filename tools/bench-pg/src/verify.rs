//! The signed events offered to ingest and their signature verification.
//!
//! Owns [`PgEvent`] (one DSSE envelope as the ledger receives it), the per-batch parallel
//! verifier the ingest pipeline runs, and [`verify_limit`] (verification alone, the limit of any
//! ingest that verifies).
//!
//! Invariants: an event is accepted only if its key id is known and `verify_strict` accepts its
//! signature over the DSSE PAE of its payload type and payload; an accepted event's verdict is
//! its [`event_hash`], so verification and dedup identity are computed together.

use crate::schema::event_hash;
use anyhow::{Result, anyhow, ensure};
use ed25519_dalek::{Signature, VerifyingKey};
use provledger::envelope::pae;
use provledger::proto::SignedEvent;
use std::collections::HashMap;
use std::time::Instant;

/// One signed envelope, as the ledger receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgEvent {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub key_id: String,
    pub signature: [u8; 64],
}

impl TryFrom<&SignedEvent> for PgEvent {
    type Error = anyhow::Error;

    fn try_from(e: &SignedEvent) -> Result<Self> {
        let signature: [u8; 64] = e
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| anyhow!("signature must be 64 bytes, got {}", e.signature.len()))?;
        Ok(PgEvent {
            payload_type: e.payload_type.clone(),
            payload: e.payload.clone(),
            key_id: e.key_id.clone(),
            signature,
        })
    }
}

/// Checks one event: its key is known and `verify_strict` accepts the signature over the PAE.
/// Returns the event hash, or `None` if the event is rejected.
fn check(e: &PgEvent, keys: &HashMap<String, VerifyingKey>) -> Option<[u8; 32]> {
    let key = keys.get(&e.key_id)?;
    let signature = Signature::from_bytes(&e.signature);
    key.verify_strict(&pae(&e.payload_type, &e.payload), &signature)
        .ok()?;
    Some(event_hash(
        &e.payload_type,
        &e.payload,
        &e.key_id,
        &e.signature,
    ))
}

/// Checks a batch on `threads` threads; `None` where an event is rejected.
pub(crate) fn verify_batch(
    batch: &[PgEvent],
    keys: &HashMap<String, VerifyingKey>,
    threads: usize,
) -> Vec<Option<[u8; 32]>> {
    let mut out = vec![None; batch.len()];
    if threads <= 1 || batch.len() < 2 * threads {
        for (e, o) in batch.iter().zip(&mut out) {
            *o = check(e, keys);
        }
        return out;
    }
    let chunk = batch.len().div_ceil(threads);
    std::thread::scope(|s| {
        for (events, outs) in batch.chunks(chunk).zip(out.chunks_mut(chunk)) {
            s.spawn(move || {
                for (e, o) in events.iter().zip(outs) {
                    *o = check(e, keys);
                }
            });
        }
    });
    out
}

/// `verify_strict` over the PAE of every event on `threads` threads and nothing else: the limit
/// of any ingest that verifies. Returns the seconds taken; fails if any event does not verify.
pub fn verify_limit(
    events: &[PgEvent],
    keys: &HashMap<String, VerifyingKey>,
    threads: usize,
) -> Result<f64> {
    ensure!(threads > 0, "threads must be at least 1");
    let chunk = events.len().div_ceil(threads).max(1);
    let start = Instant::now();
    let bad: usize = std::thread::scope(|s| {
        let handles: Vec<_> = events
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .filter(|e| {
                            let Some(key) = keys.get(&e.key_id) else {
                                return true;
                            };
                            let signature = Signature::from_bytes(&e.signature);
                            key.verify_strict(&pae(&e.payload_type, &e.payload), &signature)
                                .is_err()
                        })
                        .count()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("verifier thread panicked"))
            .sum()
    });
    let seconds = start.elapsed().as_secs_f64();
    ensure!(bad == 0, "{bad} of {} events do not verify", events.len());
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::events;

    #[test]
    fn verification_rejects_unknown_keys_and_bad_signatures() {
        let (mut evs, keys) = events(8, 0);
        evs[1].signature[5] ^= 1;
        evs[2].key_id = "nobody.example/synth".into();
        evs[3].payload.push(b'!');
        let verdicts = verify_batch(&evs, &keys, 3);
        let ok: Vec<bool> = verdicts.iter().map(Option::is_some).collect();
        assert_eq!(ok, [true, false, false, false, true, true, true, true]);
        assert!(verify_limit(&evs, &keys, 2).is_err());
        assert!(verify_limit(&evs[4..], &keys, 2).is_ok());
    }
}

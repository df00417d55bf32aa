//! What the harness holds from the server, across every cycle: each acknowledged event (its
//! index, its leaf hash, a digest of the exact envelope sent) and each signed checkpoint it was
//! handed, in a receipt or by `GetCheckpoint`.
//!
//! Invariants: nothing enters unverified — a receipt's checkpoint note must verify with the log
//! key and its inclusion proof must lead to it; a checkpoint must verify. What contradicts
//! something already held (a second event acknowledged at one index, a second root for one
//! size) is recorded as a conflict, never overwritten.

use prost::Message;
use provledger::checkpoint::Checkpoint;
use provledger::client::{verify_checkpoint, verify_receipt};
use provledger::note::NoteVerifier;
use provledger::proto::{self, AppendResponse, SignedEvent};
use std::collections::{BTreeMap, BTreeSet};

/// An acknowledged event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub leaf_hash: [u8; 32],
    /// BLAKE3 of the envelope's protobuf encoding as sent.
    pub envelope: [u8; 32],
}

/// The digest an envelope is compared by: equal field bytes give equal encodings.
pub fn envelope_digest(envelope: &SignedEvent) -> [u8; 32] {
    *blake3::hash(&envelope.encode_to_vec()).as_bytes()
}

#[derive(Debug)]
pub struct Held {
    log_key: NoteVerifier,
    /// Acknowledged events by index.
    pub acks: BTreeMap<u64, Ack>,
    /// Every checkpoint handed out, by size.
    pub checkpoints: BTreeMap<u64, Checkpoint>,
    /// Sizes of checkpoints first seen in the current cycle.
    pub new_this_cycle: BTreeSet<u64>,
    /// The current cycle's acknowledged envelopes, for the duplicate check after the restart.
    pub recent: Vec<(u64, SignedEvent)>,
    /// Contradictions found while recording.
    pub conflicts: Vec<String>,
}

impl Held {
    pub fn new(log_key: NoteVerifier) -> Self {
        Held {
            log_key,
            acks: BTreeMap::new(),
            checkpoints: BTreeMap::new(),
            new_this_cycle: BTreeSet::new(),
            recent: Vec::new(),
            conflicts: Vec::new(),
        }
    }

    /// Records the receipt of a fresh event (`envelope`, as sent).
    pub fn receipt(&mut self, response: &AppendResponse, envelope: &SignedEvent) {
        let Some(checkpoint) = self.verified_receipt(response) else {
            return;
        };
        self.checkpoint(checkpoint);
        if response.duplicate {
            self.conflicts.push(format!(
                "a fresh event was answered as a duplicate of index {}",
                response.index
            ));
            return;
        }
        let Ok(leaf_hash) = <[u8; 32]>::try_from(response.leaf_hash.as_slice()) else {
            // verify_receipt checked the length.
            return;
        };
        let ack = Ack {
            leaf_hash,
            envelope: envelope_digest(envelope),
        };
        match self.acks.insert(response.index, ack) {
            Some(before) if before != ack => self.conflicts.push(format!(
                "index {} was acknowledged for two different events",
                response.index
            )),
            _ => self.recent.push((response.index, envelope.clone())),
        }
    }

    /// The verified checkpoint of a receipt, or None (and a conflict) when it does not verify.
    pub fn verified_receipt(&mut self, response: &AppendResponse) -> Option<Checkpoint> {
        match verify_receipt(response, &self.log_key) {
            Ok(checkpoint) => Some(checkpoint),
            Err(e) => {
                self.conflicts
                    .push(format!("receipt for index {}: {e}", response.index));
                None
            }
        }
    }

    /// Records a checkpoint message (from `GetCheckpoint`), verifying it first.
    pub fn checkpoint_message(&mut self, message: &proto::Checkpoint) -> Option<Checkpoint> {
        match verify_checkpoint(message, &self.log_key) {
            Ok(checkpoint) => {
                self.checkpoint(checkpoint.clone());
                Some(checkpoint)
            }
            Err(e) => {
                self.conflicts.push(format!("checkpoint: {e}"));
                None
            }
        }
    }

    /// Records a verified checkpoint.
    pub fn checkpoint(&mut self, checkpoint: Checkpoint) {
        match self.checkpoints.get(&checkpoint.size) {
            Some(held) if held.root != checkpoint.root => self.conflicts.push(format!(
                "two signed checkpoints for size {} with different roots",
                checkpoint.size
            )),
            Some(_) => {}
            None => {
                self.new_this_cycle.insert(checkpoint.size);
                self.checkpoints.insert(checkpoint.size, checkpoint);
            }
        }
    }
}

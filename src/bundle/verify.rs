//! Checking a bundle offline, in order: the checkpoint's signature (log key); every entry's
//! inclusion proof against it; the key registry replayed over the bundle's key entries from the
//! genesis entry; every event's signature with the key registered for its signer at that point
//! of the log; then the lineage answer's claims ([`super::claims`]).

use super::{Bundle, BundleError};
use crate::checkpoint::{Checkpoint, open_checkpoint};
use crate::json::dsse::decode_base64;
use crate::merkle::{Blake3, Hash, TreeHasher, verify_inclusion};
use crate::note::NoteVerifier;
use crate::proto::{LogLeaf, ProvenanceEvent, SignedEvent};
use crate::replay::{Replay, Replayed};
use prost::Message;
use std::collections::BTreeMap;

/// A verified log entry: its envelope, and the event when it is one.
#[derive(Debug, Clone)]
pub struct VerifiedEntry {
    pub envelope: SignedEvent,
    pub event: Option<ProvenanceEvent>,
    pub logged_at: Option<crate::timestamp::Timestamp>,
    /// The exact leaf bytes.
    pub leaf: Vec<u8>,
}

/// What a verified bundle proves.
#[derive(Debug, Clone)]
pub struct Verified {
    pub checkpoint: Checkpoint,
    /// Every entry, by index.
    pub entries: BTreeMap<u64, VerifiedEntry>,
    /// Key entries among them (registrations and revocations).
    pub key_entries: usize,
    /// Claims re-derived from the entries, and claims taken as given (see [`super::claims`]).
    pub claims: super::claims::Checked,
}

/// Verifies `bundle` with the log's public key alone.
pub fn verify(bundle: &Bundle, log_key: &NoteVerifier) -> Result<Verified, BundleError> {
    let checkpoint = open_checkpoint(&bundle.checkpoint, log_key)
        .map_err(|e| BundleError::Checkpoint(e.to_string()))?;
    let mut entries = BTreeMap::new();
    let mut previous = None;
    for entry in &bundle.entries {
        let index = entry.index;
        if previous.is_some_and(|p| index <= p) {
            return Err(BundleError::entry(
                index,
                "entries are not in ascending order",
            ));
        }
        previous = Some(index);
        let leaf = decode_base64(&entry.leaf)
            .map_err(|e| BundleError::entry(index, format!("leaf: {e}")))?;
        let proof = entry
            .proof
            .iter()
            .map(|h| {
                let bytes = decode_base64(h)?;
                Hash::try_from(bytes.as_slice()).map_err(|_| "a proof hash is not 32 bytes".into())
            })
            .collect::<Result<Vec<Hash>, String>>()
            .map_err(|e| BundleError::entry(index, format!("proof: {e}")))?;
        verify_inclusion::<Blake3>(
            index,
            checkpoint.size,
            &Blake3::hash_leaf(&leaf),
            &proof,
            &checkpoint.root,
        )
        .map_err(|e| {
            BundleError::entry(
                index,
                format!(
                    "inclusion proof does not verify against the checkpoint (size {}): {e}",
                    checkpoint.size
                ),
            )
        })?;
        let decoded = LogLeaf::decode(leaf.as_slice())
            .map_err(|e| BundleError::entry(index, format!("leaf is not a LogLeaf: {e}")))?;
        let envelope = decoded
            .envelope
            .ok_or_else(|| BundleError::entry(index, "leaf holds no envelope"))?;
        entries.insert(
            index,
            VerifiedEntry {
                envelope,
                event: None,
                logged_at: decoded.logged_at,
                leaf,
            },
        );
    }
    let key_entries = check_signatures(&mut entries)?;
    let claims = super::claims::check(&bundle.claim, &checkpoint, &entries)?;
    Ok(Verified {
        checkpoint,
        entries,
        key_entries,
        claims,
    })
}

/// Replays the registry over the key entries (which must start at the genesis, index 0) and
/// checks every envelope's signature with its signer's key as registered at that index; decodes
/// the events. Returns the number of key entries.
fn check_signatures(entries: &mut BTreeMap<u64, VerifiedEntry>) -> Result<usize, BundleError> {
    let mut replay = Replay::new();
    let mut key_entries = 0;
    for (&index, entry) in entries.iter_mut() {
        match replay
            .entry(index, &entry.envelope)
            .map_err(|e| BundleError::entry(index, e))?
        {
            Replayed::Key => key_entries += 1,
            Replayed::Event(event) => entry.event = Some(*event),
        }
    }
    Ok(key_entries)
}

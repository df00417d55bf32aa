//! Checking a bundle offline, in order: the checkpoint's signature (log key); every entry's
//! inclusion proof against it; the key registry replayed over the bundle's key entries from the
//! genesis entry; every event's signature with the key registered for its signer at that point
//! of the log; then the lineage answer's claims ([`super::claims`]).

use super::{Bundle, BundleError};
use crate::checkpoint::{Checkpoint, open_checkpoint};
use crate::envelope::{EVENT_PAYLOAD_TYPE, KEY_PAYLOAD_TYPE, verify as verify_signature};
use crate::json::dsse::decode_base64;
use crate::merkle::{Blake3, Hash, TreeHasher, verify_inclusion};
use crate::note::NoteVerifier;
use crate::proto::{LogLeaf, ProvenanceEvent, SignedEvent};
use crate::registry::{Registry, decode_action};
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
    let mut registry = Registry::default();
    let mut key_entries = 0;
    for (&index, entry) in entries.iter_mut() {
        let envelope = &entry.envelope;
        match envelope.payload_type.as_str() {
            KEY_PAYLOAD_TYPE => {
                key_entries += 1;
                let action = decode_action(&envelope.payload)
                    .map_err(|e| BundleError::entry(index, e.to_string()))?;
                if registry.is_empty() && index != 0 {
                    return Err(BundleError::entry(
                        index,
                        "the key entries do not start at the genesis entry (index 0)",
                    ));
                }
                let change = registry
                    .check(&envelope.key_id, &action)
                    .map_err(|e| BundleError::entry(index, format!("key action: {e}")))?;
                let signer = match (&change, registry.is_empty()) {
                    // Genesis: the first admin key signs its own registration.
                    (crate::registry::KeyChange::Register { verifier, .. }, true) => {
                        (**verifier).clone()
                    }
                    _ => signer_key(&registry, index, &envelope.key_id)?,
                };
                verify_signature(envelope, &signer)
                    .map_err(|e| BundleError::entry(index, format!("envelope: {e}")))?;
                registry.apply(change, index);
            }
            EVENT_PAYLOAD_TYPE => {
                let signer = signer_key(&registry, index, &envelope.key_id)?;
                verify_signature(envelope, &signer)
                    .map_err(|e| BundleError::entry(index, format!("envelope: {e}")))?;
                let event = ProvenanceEvent::decode(envelope.payload.as_slice())
                    .map_err(|e| BundleError::entry(index, format!("event payload: {e}")))?;
                entry.event = Some(event);
            }
            other => {
                return Err(BundleError::entry(
                    index,
                    format!("unknown payload type {other:?}"),
                ));
            }
        }
    }
    Ok(key_entries)
}

/// The key `name` may sign with at `index`, from the key entries before it.
fn signer_key(registry: &Registry, index: u64, name: &str) -> Result<NoteVerifier, BundleError> {
    registry
        .active(name)
        .map(|k| k.verifier.clone())
        .map_err(|e| {
            BundleError::entry(
                index,
                format!(
                    "signer {name:?}: {e} (the bundle must hold the key's registration entry \
                     and those of the admin keys that registered it)"
                ),
            )
        })
}

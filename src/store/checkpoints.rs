//! Signed checkpoints as the store keeps them: the latest under a sled key
//! ([`keys::CHECKPOINT_PREFIX`] + size), its value the signed note exactly as published. Each
//! append replaces it; stores written before that kept one key per size, and the newest key is
//! the latest either way.
//!
//! Invariant: a checkpoint handed out by these functions verified with the log key, and its
//! origin and size match the key it was stored under; anything else is reported corrupt.

use super::error::StoreError;
use super::keys;
use crate::checkpoint::{Checkpoint, open_checkpoint};
use crate::merkle::TreeHasher;
use crate::note::NoteVerifier;

/// A checkpoint with the signed note it was published as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    pub note: String,
}

impl SignedCheckpoint {
    /// The checkpoint as the API sends it.
    pub fn to_proto(&self) -> crate::proto::Checkpoint {
        crate::proto::Checkpoint {
            note: self.note.clone(),
            size: self.checkpoint.size,
            root_hash: self.checkpoint.root.to_vec(),
        }
    }
}

/// The newest stored checkpoint that verifies, or a size-0 placeholder (empty root, empty
/// note) when none does. Only for [`LogStore::open_for_audit`].
pub(super) fn newest_verified_checkpoint<H: TreeHasher>(
    db: &sled::Db,
    verifier: &NoteVerifier,
    origin: &str,
) -> SignedCheckpoint {
    let verified = db
        .scan_prefix([keys::CHECKPOINT_PREFIX])
        .rev()
        .filter_map(Result::ok)
        .find_map(|(key, note)| {
            let size = keys::decode_prefixed(keys::CHECKPOINT_PREFIX, &key)?;
            decode_checkpoint(&note, verifier, origin, size).ok()
        });
    verified.unwrap_or_else(|| SignedCheckpoint {
        checkpoint: Checkpoint {
            origin: origin.to_string(),
            size: 0,
            root: H::empty_root(),
            extensions: Vec::new(),
        },
        note: String::new(),
    })
}

/// The newest stored checkpoint, verified.
pub(super) fn latest_checkpoint(
    db: &sled::Db,
    verifier: &NoteVerifier,
    origin: &str,
) -> Result<SignedCheckpoint, StoreError> {
    let (key, note) = db
        .scan_prefix([keys::CHECKPOINT_PREFIX])
        .next_back()
        .ok_or_else(|| StoreError::corrupt("the store holds no checkpoint"))??;
    let size = keys::decode_prefixed(keys::CHECKPOINT_PREFIX, &key)
        .ok_or_else(|| StoreError::corrupt("malformed checkpoint key"))?;
    decode_checkpoint(&note, verifier, origin, size)
}

/// A stored checkpoint note, verified with the log key and checked against its key.
pub(crate) fn decode_checkpoint(
    note: &[u8],
    verifier: &NoteVerifier,
    origin: &str,
    size: u64,
) -> Result<SignedCheckpoint, StoreError> {
    let note = std::str::from_utf8(note)
        .map_err(|_| StoreError::corrupt(format!("checkpoint at size {size} is not UTF-8")))?;
    let checkpoint = open_checkpoint(note, verifier)
        .map_err(|e| StoreError::corrupt(format!("checkpoint at size {size}: {e}")))?;
    if checkpoint.size != size || checkpoint.origin != origin {
        return Err(StoreError::corrupt(format!(
            "checkpoint stored under size {size} is for {} at size {}",
            checkpoint.origin, checkpoint.size
        )));
    }
    Ok(SignedCheckpoint {
        checkpoint,
        note: note.to_string(),
    })
}

//! Bringing sled up to the journal at open: the journalled appends sled lacks (a crash came
//! before its background sync) are applied in order and made durable.
//!
//! Invariant: a record is applied only if it starts exactly where the stored leaves end; one
//! that ends at or before that point is already in sled and is skipped after reading its range.

use super::durable::Durability;
use super::error::StoreError;
use super::journal::{self, Record};
use super::keys;
use super::leaves::Chunk;
use crate::fault::Faults;
use std::path::Path;

/// The index after the last leaf stored in `db`, from the last leaf chunk.
pub(super) fn stored_end(db: &sled::Db) -> Result<u64, StoreError> {
    match db.scan_prefix([keys::LEAF_PREFIX]).next_back() {
        None => Ok(0),
        Some(entry) => {
            let (key, value) = entry?;
            let first = keys::decode_prefixed(keys::LEAF_PREFIX, &key)
                .ok_or_else(|| StoreError::corrupt("malformed leaf chunk key"))?;
            let chunk = Chunk::decode(&value)
                .map_err(|e| StoreError::corrupt(format!("leaf chunk at {first}: {e}")))?;
            Ok(first + chunk.len() as u64)
        }
    }
}

/// Applies the journalled appends that `db` lacks (a crash came before sled's background sync),
/// in order, and makes them durable in sled; returns the newest journal generation seen.
pub(super) fn replay_journal(db: &sled::Db, dir: &Path) -> Result<u64, StoreError> {
    let mut end = stored_end(db)?;
    let mut replayed = 0u64;
    let newest = journal::replay(dir, |payload| {
        let corrupt = |e| StoreError::corrupt(format!("journal record: {e}"));
        let (first, last) = Record::range(&payload).map_err(corrupt)?;
        if last <= end {
            return Ok(());
        }
        if first != end {
            return Err(StoreError::corrupt(format!(
                "the journal holds leaves {first}..{last}, but the stored leaves end at {end}"
            )));
        }
        let record = Record::decode(&payload).map_err(corrupt)?;
        db.apply_batch(record.batch())?;
        end = last;
        replayed += 1;
        Ok(())
    })?;
    if replayed > 0 {
        Durability::new(dir, Faults::none())?.sync(db)?;
        tracing::info!(
            appends = replayed,
            size = end,
            "applied journalled appends the database lacked"
        );
    }
    Ok(newest)
}

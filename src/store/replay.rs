//! Bringing the leaf files and sled up to the journal at open: the leaves of journalled appends
//! past the size the leaf files are recorded durable at ([`keys::META_LEAVES_DURABLE`]) are
//! written to them again (a crash may have come before their background sync), the appends
//! sled lacks are applied to it in order, and both are made durable.
//!
//! Invariants:
//! - A record's leaves are written at their own indexes, so writing those already stored
//!   changes nothing; each record's first leaf follows a leaf that is durable or was written by
//!   the record before (the journal holds every append since the last sync that covered the
//!   files, and records follow one another, or follow an append too large for the journal,
//!   which waited for that sync).
//! - Leaves below the recorded durable size are never rewritten, so damage to them stays for
//!   the audit to find.
//! - A record is applied to sled only if it starts exactly where sled's latest checkpoint
//!   ends; one that ends at or before it is already in sled.

use super::durable::Durability;
use super::error::StoreError;
use super::journal::{self, Record};
use super::keys;
use super::leaf_files::LeafFiles;
use super::upgrade::move_leaves_out_of_sled;
use crate::fault::Faults;
use std::path::Path;
use std::sync::Arc;

/// The leaf files' directory inside the store's directory.
const LEAVES_DIR: &str = "leaves";

/// Opens the leaf files of the store in `dir`, moves into them the leaves a store written before
/// they existed kept in sled, and brings them and sled up to the journal. Returns the files and
/// the journal's newest generation.
pub(super) fn bring_up_to_journal(
    db: &sled::Db,
    dir: &Path,
    faults: Faults,
) -> Result<(Arc<LeafFiles>, u64), StoreError> {
    let path = dir.join(LEAVES_DIR);
    // Like sled's, the leaf files' replay does not go through the write path's faults.
    let replayed = LeafFiles::open(&path, Faults::none())?;
    move_leaves_out_of_sled(db, &replayed, dir)?;
    let newest_generation = replay_journal(db, &replayed, dir)?;
    Ok((Arc::new(LeafFiles::open(&path, faults)?), newest_generation))
}

/// The size of the newest checkpoint stored in `db` (0 when there is none).
pub(super) fn checkpoint_size(db: &sled::Db) -> Result<u64, StoreError> {
    match db.scan_prefix([keys::CHECKPOINT_PREFIX]).keys().next_back() {
        None => Ok(0),
        Some(key) => keys::decode_prefixed(keys::CHECKPOINT_PREFIX, &key?)
            .ok_or_else(|| StoreError::corrupt("malformed checkpoint key")),
    }
}

/// Writes the leaves of every journalled append to `leaves` and applies to `db` those it lacks,
/// in order, then makes both durable; returns the newest journal generation seen.
pub(super) fn replay_journal(
    db: &sled::Db,
    leaves: &LeafFiles,
    dir: &Path,
) -> Result<u64, StoreError> {
    let mut end = checkpoint_size(db)?;
    let durable = keys::leaves_durable(db)?;
    let mut replayed = 0u64;
    let mut rewritten = 0u64;
    let newest = journal::replay(dir, |payload| {
        let corrupt = |e| StoreError::corrupt(format!("journal record: {e}"));
        let (first, last) = Record::range(&payload).map_err(corrupt)?;
        if last <= durable && last <= end {
            return Ok(());
        }
        if last > end && first != end {
            return Err(StoreError::corrupt(format!(
                "the journal holds leaves {first}..{last}, but the stored checkpoint is for size {end}"
            )));
        }
        let record = Record::decode(&payload).map_err(corrupt)?;
        if last > durable {
            write_leaves(leaves, &record)?;
            rewritten += 1;
        }
        if last > end {
            db.apply_batch(record.batch())?;
            end = last;
            replayed += 1;
        }
        Ok(())
    })?;
    if rewritten > 0 || replayed > 0 {
        leaves.sync()?;
        db.insert(keys::META_LEAVES_DURABLE, &keys::leaves_durable_value(end))?;
        Durability::new(dir, Faults::none())?.sync(db)?;
        tracing::info!(
            appends = replayed,
            leaves_rewritten_for = rewritten,
            size = end,
            "brought the leaf files and the database up to the journal"
        );
    }
    Ok(newest)
}

/// Writes a record's leaves to the leaf files, at their indexes.
fn write_leaves(leaves: &LeafFiles, record: &Record) -> Result<(), StoreError> {
    let mut at = record.first;
    for (first, bytes) in record.leaf_chunks() {
        if first != at {
            return Err(StoreError::corrupt(format!(
                "journal record for {}..{}: a leaf chunk starts at {first}, not {at}",
                record.first, record.end
            )));
        }
        at += leaves.write_chunk(first, bytes, "journal record")?;
    }
    if at != record.end {
        return Err(StoreError::corrupt(format!(
            "journal record for {}..{} holds leaves up to {at}",
            record.first, record.end
        )));
    }
    Ok(())
}

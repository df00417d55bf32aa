//! Moving the leaves of a store written before the leaf files existed out of sled, once, at
//! open. Such a store kept its leaves in sled as leaf chunks ([`super::leaves`]) under
//! [`keys::leaf_chunk`] keys.
//!
//! Invariant: a crash anywhere in the move loses nothing. Every chunk is written to the leaf
//! files and those are synced before any chunk key is removed; chunks still in sled at the next
//! open are written again at their own indexes, which changes nothing, and removed then.

use super::durable::Durability;
use super::error::StoreError;
use super::keys;
use super::leaf_files::LeafFiles;
use crate::fault::Faults;
use std::path::Path;

/// Chunk keys removed per sled batch.
const REMOVE_BATCH: usize = 4096;

/// Moves every leaf chunk left in `db` into `leaves`; returns how many leaves were moved.
pub(super) fn move_leaves_out_of_sled(
    db: &sled::Db,
    leaves: &LeafFiles,
    dir: &Path,
) -> Result<u64, StoreError> {
    let mut moved = 0u64;
    let mut end = 0u64;
    let mut chunk_keys = Vec::new();
    for entry in db.scan_prefix([keys::LEAF_PREFIX]) {
        let (key, value) = entry?;
        let first = keys::decode_prefixed(keys::LEAF_PREFIX, &key)
            .ok_or_else(|| StoreError::corrupt("malformed leaf chunk key"))?;
        let count = leaves.write_chunk(first, &value, "stored in sled")?;
        moved += count;
        end = first + count;
        chunk_keys.push(key);
    }
    if chunk_keys.is_empty() {
        return Ok(0);
    }
    leaves.sync()?;
    db.insert(keys::META_LEAVES_DURABLE, &keys::leaves_durable_value(end))?;
    for keys in chunk_keys.chunks(REMOVE_BATCH) {
        let mut batch = sled::Batch::default();
        for key in keys {
            batch.remove(key);
        }
        db.apply_batch(batch)?;
    }
    Durability::new(dir, Faults::none())?.sync(db)?;
    tracing::info!(
        leaves = moved,
        "moved the log's leaves out of sled into the leaf files"
    );
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::super::audit::audit;
    use super::super::leaves::{encode_chunk, split_into_chunks};
    use super::super::log::LogStore;
    use super::super::tests_faults::{ORIGIN, batch, signer};
    use super::*;
    use crate::merkle::Blake3;

    /// A store of 700 leaves laid out as stores were before the leaf files: its leaves as chunk
    /// keys in sled, no leaf files, no journal (as after a clean stop). Returns the leaves.
    fn store_with_leaves_in_sled(dir: &Path) -> Vec<Vec<u8>> {
        let leaves = batch(0, 700);
        {
            let store = LogStore::<Blake3>::create(dir, ORIGIN, signer()).unwrap();
            store.append(&leaves[..300]).unwrap();
            store.append(&leaves[300..]).unwrap();
        }
        let db = sled::open(dir).unwrap();
        let mut at = 0u64;
        for group in split_into_chunks(&leaves) {
            db.insert(keys::leaf_chunk(at), encode_chunk(group))
                .unwrap();
            at += group.len() as u64;
        }
        db.flush().unwrap();
        drop(db);
        std::fs::remove_dir_all(dir.join("leaves")).unwrap();
        for name in ["journal-0", "journal-1"] {
            let _ = std::fs::remove_file(dir.join(name));
        }
        leaves
    }

    fn chunk_keys(dir: &Path) -> usize {
        let db = sled::open(dir).unwrap();
        db.scan_prefix([keys::LEAF_PREFIX]).count()
    }

    fn check_moved(dir: &Path, leaves: &[Vec<u8>]) {
        let store = LogStore::<Blake3>::open(dir, Some(signer())).unwrap();
        assert_eq!(store.size(), 700);
        assert_eq!(store.leaves(0, 700).unwrap(), leaves);
        assert!(audit(&store).unwrap().is_clean());
        store.append(&batch(700, 3)).unwrap();
        drop(store);
        assert_eq!(chunk_keys(dir), 0);
        let store = LogStore::<Blake3>::open(dir, None).unwrap();
        assert_eq!(store.leaves(698, 5).unwrap(), batch(698, 5));
    }

    #[test]
    fn a_store_with_its_leaves_in_sled_has_them_moved_to_the_leaf_files() {
        let tmp = tempfile::tempdir().unwrap();
        let leaves = store_with_leaves_in_sled(tmp.path());
        assert!(chunk_keys(tmp.path()) > 2);
        check_moved(tmp.path(), &leaves);
    }

    #[test]
    fn a_move_cut_short_after_the_files_were_synced_is_finished_at_the_next_open() {
        let tmp = tempfile::tempdir().unwrap();
        let leaves = store_with_leaves_in_sled(tmp.path());
        // The files written and synced, then a crash after some of the keys were removed.
        let db = sled::open(tmp.path()).unwrap();
        let files = LeafFiles::open(&tmp.path().join("leaves"), Faults::none()).unwrap();
        let mut removed = 0;
        for entry in db.scan_prefix([keys::LEAF_PREFIX]) {
            let (key, value) = entry.unwrap();
            let first = keys::decode_prefixed(keys::LEAF_PREFIX, &key).unwrap();
            files.write_chunk(first, &value, "test").unwrap();
        }
        files.sync().unwrap();
        for key in db.scan_prefix([keys::LEAF_PREFIX]).keys().step_by(2) {
            db.remove(key.unwrap()).unwrap();
            removed += 1;
        }
        db.flush().unwrap();
        drop(db);
        assert!(removed > 1 && chunk_keys(tmp.path()) > 1);
        check_moved(tmp.path(), &leaves);
    }
}

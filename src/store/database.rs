//! Opening the store's sled database and reading the log's metadata (origin and log key).
//!
//! Invariant: sled's cache is bounded by [`CACHE_CAPACITY`], whatever the log's size.

use super::error::StoreError;
use super::keys;
use crate::note::NoteVerifier;
use std::path::Path;

/// sled's page cache, in bytes. Bounds the store's memory whatever the log's size. Kept small:
/// proofs read the node files, not sled; leaves read back are mostly recent ones; and the cache
/// fills only as pages are touched, so a large one shows as memory creeping up for many minutes
/// after a start.
pub const CACHE_CAPACITY: u64 = 16 * 1024 * 1024;

/// How long opening waits for another handle in this process to release the database lock
/// (sled releases it from a background thread shortly after the last handle drops).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

pub(super) fn open_db(dir: &Path) -> Result<sled::Db, StoreError> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_CAPACITY)
            .open()
        {
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                if std::time::Instant::now() >= deadline {
                    return Err(StoreError::Locked {
                        dir: dir.to_path_buf(),
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return Ok(other?),
        }
    }
}

/// The log's origin and checkpoint verifier, from its metadata.
pub(super) fn read_meta(db: &sled::Db, dir: &Path) -> Result<(String, NoteVerifier), StoreError> {
    let meta = |key: &[u8]| -> Result<String, StoreError> {
        let value = db.get(key)?.ok_or_else(|| StoreError::NotInitialised {
            dir: dir.to_path_buf(),
        })?;
        String::from_utf8(value.to_vec())
            .map_err(|_| StoreError::corrupt("log metadata is not UTF-8"))
    };
    let origin = meta(keys::META_ORIGIN)?;
    let vkey = meta(keys::META_LOG_VKEY)?;
    let verifier = NoteVerifier::from_vkey(&vkey)
        .map_err(|e| StoreError::corrupt(format!("stored log vkey: {e}")))?;
    Ok((origin, verifier))
}

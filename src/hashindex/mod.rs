//! A persistent map from a 32-byte hash to log indexes, for the sequencer: envelope id →
//! index (the duplicate check on every append) and leaf hash → index (proof lookups). It lives
//! outside sled because a sled key per event costs too much CPU on the append path; here an
//! insert or a lookup is one or two `pread`s and at most one 16-byte `pwrite`, and memory stays
//! flat however many entries the index holds: no table in memory, no mmap, the OS page cache
//! does the caching.
//!
//! # What it owns
//!
//! One directory: `lock` and the 64 shard files `shard-00.idx` … `shard-63.idx`. A key's shard
//! is `key[0] & 63`. [`HashIndex::open`] creates missing shards and deletes a leftover
//! `shard-NN.idx.tmp`; nothing else in the directory is touched.
//!
//! # File format (all integers little-endian)
//!
//! ```text
//! header, 64 bytes:
//!   0..8    magic b"PLHIDX01"
//!   8..16   capacity: number of slots, a power of two in 16..=2^40 (open creates 1024)
//!   16..24  count: occupied slots as of the last sync
//!   24..32  first 8 bytes of BLAKE3 derive_key("provledger hashindex shard header v1", bytes 0..24)
//!   32..64  zero
//! then `capacity` slots of 16 bytes:
//!   0..8    fingerprint (0 = empty slot)
//!   8..16   value (the log index)
//! the file is exactly 64 + 16 * capacity bytes.
//! ```
//!
//! The fingerprint is `key[8..16]` as a u64 with 0 mapped to 1. A key's home slot is the
//! fingerprint's top `log2(capacity)` bits, and collisions are resolved by linear probing: the
//! probe run of a home is the slots from it onwards (wrapping at the end) up to the first empty
//! one. There is no deletion. (The home comes from the fingerprint, not from `key[16..24]`,
//! because a slot stores only the fingerprint and growth must re-place every slot from it.)
//!
//! # What a lookup answers: candidates
//!
//! The index stores 8 bytes of each key, not the key. [`HashIndex::get`] returns every value in
//! the key's probe run stored under the same fingerprint: the values inserted under this key,
//! plus those of any other key in the same shard whose `key[8..16]` is equal (or is 0 where the
//! other's is 1). For random hashes that is a chance of about 2⁻⁶⁴ per pair of keys, but it is
//! possible and can be forced by anyone who can grind keys, so **the caller must check every
//! candidate against the log** and must not take a hit as proof that the key is present.
//!
//! # Invariants
//!
//! * A slot is all zeros or a (fingerprint, value) pair that was inserted.
//! * Every slot from an entry's home to the entry is occupied, so `get` finds it; the one
//!   exception is an "orphan" left by a crash (below), which only unsynced entries can become.
//! * `insert` is idempotent: it writes nothing when the key's probe run already holds the
//!   (fingerprint, value) pair. (After a crash, re-inserting an orphan can leave a second copy
//!   further along the run; that is harmless, as `get` returns each value once.)
//! * A shard grows (doubles) before its count passes capacity / 2, so probe runs stay short;
//!   `get` reads a run 16 slots per `pread`, which almost always covers it.
//! * Memory does not grow with the index: a lookup uses a 256-byte buffer; growth streams the
//!   old file through two 1 MiB buffers and holds a handful of entries besides (capped so
//!   that a growth never uses more than about 10 MiB; a damaged shard that would need more is
//!   reported corrupt).
//!
//! # Durability and crashes
//!
//! * `insert` writes one 16-byte slot with one `pwrite`. Slots are 16-byte aligned and never
//!   straddle a page or a disk sector, so after a crash a slot is as it was or as written,
//!   never torn. Readers never see half a slot either: the slot write holds the shard's lock
//!   exclusively.
//! * [`HashIndex::sync`] writes the header of every shard written since the last sync, then
//!   fdatasyncs it. Every insert that returned before `sync` was called survives a crash once
//!   `sync` returns.
//! * Inserts after the last sync: any subset may survive a crash. A survivor can be cut off from
//!   its home by a lost slot before it (an orphan): `get` may then miss it until the caller
//!   re-inserts it, which the caller does anyway for every entry past its own durable
//!   watermark, relying on idempotence. The next growth of the shard re-places orphans where
//!   `get` finds them. No crash makes `get` return a value that was not inserted under that
//!   fingerprint, or lose an entry inserted before a completed `sync`.
//! * The header count can lag behind the occupied slots (unsynced inserts that survived) or run
//!   ahead (a crash inside `sync` can persist the header but not every slot). It only drives
//!   the growth trigger and [`HashIndex::len`], so either is harmless: every growth recounts
//!   exactly, and an insert that finds its shard full grows it (4×) whatever the count says.
//!   `len` is exact unless the index was closed without a `sync` (crash or not) since the shard
//!   last grew.
//! * Growth writes `shard-NN.idx.tmp`, fsyncs it, renames it over the shard and fsyncs the
//!   directory: after a crash the shard is the old file or the new one, each whole, and `open`
//!   deletes the leftover `.tmp`.
//! * `open` checks each shard's magic, checksum, reserved bytes, capacity and file length; a
//!   mismatch is [`HashIndexError::Corrupt`] naming the file. The remedy is
//!   [`HashIndex::destroy`] and a rebuild from the log.
//!
//! # Concurrency
//!
//! [`HashIndex`] is `Send + Sync`. Each shard has a writer mutex (insert, grow, sync) and a
//! `RwLock` that readers share; a writer takes it exclusively only to write one slot or to swap
//! in a grown file, so readers keep reading the old file while a growth runs. One process at a
//! time: `open` holds an exclusive lock on `lock` until the index is dropped.
//!
//! A growth does stall the insert that triggers it (and other inserts into that shard) while
//! the shard is rewritten and fsynced: a few ms for small shards, 0.1–0.4 s measured for a
//! 16 MiB shard (10M entries in the index) on a busy disk. [`HashIndex::open_with_capacity`]
//! can size the shards up front.
//!
//! # Left out
//!
//! Deletion, iteration, shrinking; verifying candidates (the caller's job); checksums over the
//! slots (damage inside the table by media errors or outside writers is not detected, only the
//! header is checked); repairing a damaged shard (destroy and rebuild); growing in the
//! background or incrementally; fsyncing the shards of one `sync` in parallel.

mod error;
mod format;
mod rebuild;
mod shard;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_crash;

pub use error::HashIndexError;
pub use format::{DEFAULT_INITIAL_CAPACITY, MAX_CAPACITY, MIN_CAPACITY};

use crate::fault::Faults;
use format::{fingerprint, valid_capacity};
use shard::{Shard, remove_if_exists, shard_file_name, sync_dir, tmp_file_name};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

/// Number of shards (and shard files).
pub const SHARDS: usize = 64;
/// Name of the lock file inside the index directory.
const LOCK_FILE: &str = "lock";

/// A persistent map from 32-byte hashes to u64 values; see the module docs.
#[derive(Debug)]
pub struct HashIndex {
    dir: PathBuf,
    shards: Vec<Shard>,
    /// Holds the exclusive lock on `dir/lock` for the index's lifetime.
    _lock: File,
}

impl HashIndex {
    /// Opens the index in `dir`, creating the directory and any missing shard (with
    /// [`DEFAULT_INITIAL_CAPACITY`] slots).
    pub fn open(dir: &Path) -> Result<HashIndex, HashIndexError> {
        HashIndex::open_with_capacity(dir, DEFAULT_INITIAL_CAPACITY)
    }

    /// Like [`HashIndex::open`], but shards it creates get `initial_capacity` slots (a power
    /// of two in [`MIN_CAPACITY`]..=[`MAX_CAPACITY`]); existing shards keep theirs. Sizing
    /// shards for the expected number of entries (2 slots per entry, divided by 64) saves the
    /// growths on the way.
    pub fn open_with_capacity(
        dir: &Path,
        initial_capacity: u64,
    ) -> Result<HashIndex, HashIndexError> {
        HashIndex::open_with_faults(dir, initial_capacity, Faults::none())
    }

    /// [`HashIndex::open_with_capacity`] whose slot writes, growths and syncs go through
    /// `faults` (a no-op in production builds; see [`crate::fault`]).
    pub(crate) fn open_with_faults(
        dir: &Path,
        initial_capacity: u64,
        faults: Faults,
    ) -> Result<HashIndex, HashIndexError> {
        if !valid_capacity(initial_capacity) {
            return Err(HashIndexError::InvalidCapacity(initial_capacity));
        }
        fs::create_dir_all(dir).map_err(HashIndexError::io(dir))?;
        let lock = lock_dir(dir)?;
        let mut shards = Vec::with_capacity(SHARDS);
        let mut created = false;
        for index in 0..SHARDS {
            let (shard, new) = Shard::open(dir, index, initial_capacity, faults.clone())?;
            created |= new;
            shards.push(shard);
        }
        if created {
            sync_dir(dir)?;
        }
        Ok(HashIndex {
            dir: dir.to_path_buf(),
            shards,
            _lock: lock,
        })
    }

    /// Deletes the index in `dir` (its shard files, leftover `.tmp` files and lock file, then
    /// the directory if nothing else is in it). A missing directory is not an error; an index
    /// open on it is ([`HashIndexError::Locked`]).
    pub fn destroy(dir: &Path) -> Result<(), HashIndexError> {
        match fs::metadata(dir) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(HashIndexError::io(dir)(e)),
        }
        let _lock = lock_dir(dir)?;
        for index in 0..SHARDS {
            remove_if_exists(&dir.join(shard_file_name(index)))?;
            remove_if_exists(&dir.join(tmp_file_name(index)))?;
        }
        remove_if_exists(&dir.join(LOCK_FILE))?;
        match fs::remove_dir(dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => Ok(()),
            Err(e) => Err(HashIndexError::io(dir)(e)),
        }
    }

    /// The directory the index lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn shard(&self, key: &[u8; 32]) -> &Shard {
        &self.shards[usize::from(key[0]) % SHARDS]
    }

    /// Candidate values for `key`: every value stored under its fingerprint in its probe run,
    /// each once (normally zero or one). They include everything inserted under `key`, except
    /// unsynced inserts that a crash lost or cut off (see the module docs), and may include
    /// values of other keys that share the fingerprint: **check each against the log**.
    pub fn get(&self, key: &[u8; 32]) -> Result<Vec<u64>, HashIndexError> {
        self.shard(key).get(fingerprint(key))
    }

    /// Records `value` under `key`. Idempotent: nothing is written when the key's probe run
    /// already holds this value under this fingerprint. Durable only after the next
    /// [`HashIndex::sync`]. May grow the key's shard first, which rewrites its file.
    pub fn insert(&self, key: &[u8; 32], value: u64) -> Result<(), HashIndexError> {
        self.shard(key).insert(&self.dir, fingerprint(key), value)
    }

    /// Makes every insert that returned before this call durable: writes the header of each
    /// shard written since the last sync and fsyncs it. Tries every shard and returns the
    /// first error.
    pub fn sync(&self) -> Result<(), HashIndexError> {
        let mut first_error = None;
        for shard in &self.shards {
            if let Err(e) = shard.sync(&self.dir) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Number of occupied slots (distinct (shard, fingerprint, value) entries). Exact unless
    /// the index was closed without a `sync` since a shard last grew; see the module docs.
    pub fn len(&self) -> u64 {
        self.shards.iter().map(Shard::len).sum()
    }

    /// True when [`HashIndex::len`] is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[cfg(test)]
    fn shard_capacity(&self, index: usize) -> u64 {
        self.shards[index].capacity()
    }
}

/// Opens and exclusively locks `dir/lock`.
fn lock_dir(dir: &Path) -> Result<File, HashIndexError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(HashIndexError::io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(HashIndexError::Locked { path }),
        Err(TryLockError::Error(e)) => Err(HashIndexError::io(&path)(e)),
    }
}

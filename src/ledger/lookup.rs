//! The ledger's two lookups by hash — envelope id → index (duplicates) and leaf hash → index
//! (proofs by leaf hash) — kept in on-disk hash indexes instead of one sled key per event.
//!
//! The hash indexes hold fingerprints, so every candidate is confirmed against the log itself
//! before it is believed. They are derived data: beside them, a `watermark` file records `W`,
//! written (atomically, after the shards are synced) only when every entry below `W` is durably
//! indexed. On start, entries from `W` to the log's size are indexed again (inserts are
//! idempotent); a missing watermark means 0, and an index that cannot be opened is rebuilt from
//! the log. A crash therefore never loses a duplicate or a lookup, and never invents one.
//!
//! The sequencer never touches the index files: [`Lookups::insert_batch`] puts a committed
//! batch's keys in an in-memory pending map, and a writer thread moves them into the files, syncs
//! them about once a second and then advances the watermark. (A slot write to a page that an
//! `fdatasync` is writing back waits for it, which on the sequencer's path cost more than the
//! rest of a commit.) Lookups consult the pending map first, then the files; an entry leaves the
//! map only after its file insert, so it is always in one or the other. The map is bounded:
//! past [`MAX_PENDING`] entries, `insert_batch` waits for the writer (backpressure, not growth).

use crate::envelope::envelope_id;
use crate::hashindex::{HashIndex, HashIndexError};
use crate::merkle::{Blake3, Hash, TreeHasher};
use crate::proto::LogLeaf;
use crate::store::{LogStore, StoreError};
use prost::Message;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Entries re-read per step when catching up.
const CATCH_UP_CHUNK: u64 = 1000;
/// Time between index syncs while appends flow; it bounds what a restart re-indexes.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// Committed entries the writer may be behind before `insert_batch` waits for it.
pub const MAX_PENDING: usize = 200_000;

/// The two hash indexes, the entries not yet in them, and the writer that moves them there.
pub struct Lookups {
    indexes: Arc<Indexes>,
    shared: Arc<Shared>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

struct Indexes {
    dir: PathBuf,
    by_envelope: HashIndex,
    by_leaf: HashIndex,
}

/// Committed entries not yet in the index files, in log order.
#[derive(Default)]
struct Pending {
    /// (index, envelope id, leaf hash), waiting for the writer.
    queue: Vec<(u64, [u8; 32], Hash)>,
    by_envelope: HashMap<[u8; 32], u64>,
    by_leaf: HashMap<Hash, u64>,
    /// Every entry below this is in the index files (synced or not).
    written: u64,
    closing: bool,
    /// Why the writer stopped, if it failed.
    failed: Option<String>,
}

struct Shared {
    pending: Mutex<Pending>,
    /// Signalled when work arrives or the writer makes room.
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Indexes {
    /// Indexes entry `index` whose leaf bytes are `leaf`.
    fn insert_leaf(&self, index: u64, leaf: &[u8]) -> Result<(), StoreError> {
        let decoded = LogLeaf::decode(leaf)
            .map_err(|e| StoreError::corrupt(format!("leaf {index} is not a LogLeaf: {e}")))?;
        let id = decoded.envelope.as_ref().map(envelope_id);
        self.insert(index, id.as_ref(), &Blake3::hash_leaf(leaf))
    }

    fn insert(
        &self,
        index: u64,
        id: Option<&[u8; 32]>,
        leaf_hash: &Hash,
    ) -> Result<(), StoreError> {
        self.by_leaf.insert(leaf_hash, index).map_err(index_error)?;
        if let Some(id) = id {
            self.by_envelope.insert(id, index).map_err(index_error)?;
        }
        Ok(())
    }

    /// Makes both indexes durable, then records that everything below `size` is indexed.
    fn sync(&self, size: u64) -> Result<(), StoreError> {
        self.by_envelope.sync().map_err(index_error)?;
        self.by_leaf.sync().map_err(index_error)?;
        write_watermark(&self.dir, size).map_err(StoreError::Io)
    }
}

fn index_error(e: HashIndexError) -> StoreError {
    StoreError::Corrupt {
        what: format!("hash index: {e}"),
    }
}

impl Lookups {
    /// Opens (or rebuilds) the indexes under `dir` and brings them up to the store's size.
    pub fn open(dir: &Path, store: &LogStore) -> Result<Lookups, StoreError> {
        let (by_envelope, by_leaf, from) = match Self::open_both(dir) {
            Ok((e, l)) => {
                // An index that is empty while the watermark says otherwise was lost (its
                // directory removed or recreated): the watermark is not its own.
                let lost = e.is_empty() || l.is_empty();
                let from = if lost {
                    0
                } else {
                    read_watermark(dir).min(store.size())
                };
                (e, l, from)
            }
            Err(e) => {
                tracing::warn!(error = %e, "hash index unusable; rebuilding it from the log");
                for sub in ["envelopes", "leaves"] {
                    HashIndex::destroy(&dir.join(sub)).map_err(index_error)?;
                }
                let (e, l) = Self::open_both(dir).map_err(index_error)?;
                (e, l, 0)
            }
        };
        let indexes = Indexes {
            dir: dir.to_path_buf(),
            by_envelope,
            by_leaf,
        };
        let size = store.size();
        let mut at = from;
        while at < size {
            let leaves = store.leaves(at, CATCH_UP_CHUNK)?;
            for (i, leaf) in leaves.iter().enumerate() {
                indexes.insert_leaf(at + i as u64, leaf)?;
            }
            at += leaves.len() as u64;
        }
        if from < size {
            tracing::info!(from, to = size, "hash index caught up with the log");
        }
        indexes.sync(size)?;
        let indexes = Arc::new(indexes);
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                written: size,
                ..Pending::default()
            }),
            changed: Condvar::new(),
        });
        let writer = {
            let (indexes, shared) = (indexes.clone(), shared.clone());
            std::thread::Builder::new()
                .name("provledger-index-writer".into())
                .spawn(move || write_loop(&indexes, &shared, size))
                .map_err(StoreError::Io)?
        };
        Ok(Lookups {
            indexes,
            shared,
            writer: Mutex::new(Some(writer)),
        })
    }

    fn open_both(dir: &Path) -> Result<(HashIndex, HashIndex), HashIndexError> {
        Ok((
            HashIndex::open(&dir.join("envelopes"))?,
            HashIndex::open(&dir.join("leaves"))?,
        ))
    }

    /// Records a batch just committed at `first` (its envelope ids and leaf hashes, in order)
    /// for the writer. Waits while the writer is [`MAX_PENDING`] entries behind; fails once the
    /// writer has failed (the ledger then stops taking appends).
    pub fn insert_batch(&self, first: u64, entries: &[([u8; 32], Hash)]) -> Result<(), StoreError> {
        let mut p = self.shared.lock();
        while p.queue.len() >= MAX_PENDING && p.failed.is_none() {
            p = self
                .shared
                .changed
                .wait(p)
                .unwrap_or_else(|e| e.into_inner());
        }
        if let Some(reason) = &p.failed {
            return Err(StoreError::corrupt(format!("hash index writer: {reason}")));
        }
        for (i, (id, leaf_hash)) in entries.iter().enumerate() {
            let index = first + i as u64;
            p.by_envelope.insert(*id, index);
            p.by_leaf.insert(*leaf_hash, index);
            p.queue.push((index, *id, *leaf_hash));
        }
        drop(p);
        self.shared.changed.notify_all();
        Ok(())
    }

    /// Entries committed but not yet in the index files.
    pub fn lag(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Stops the writer once it has written everything pending, and makes the indexes durable
    /// up to `size`: the next start has nothing to catch up.
    pub fn close(&self, size: u64) -> Result<(), StoreError> {
        self.shared.lock().closing = true;
        self.shared.changed.notify_all();
        let handle = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(thread) = handle
            && thread.join().is_err()
        {
            tracing::error!("hash index writer panicked");
        }
        let p = self.shared.lock();
        if let Some(reason) = &p.failed {
            return Err(StoreError::corrupt(format!("hash index writer: {reason}")));
        }
        if p.written < size {
            return Err(StoreError::corrupt(format!(
                "hash index writer stopped at {} of {size} entries",
                p.written
            )));
        }
        drop(p);
        self.indexes.sync(size)
    }

    /// The index of the entry with this envelope id, confirmed against the log.
    pub fn find_envelope(
        &self,
        store: &LogStore,
        id: &[u8; 32],
    ) -> Result<Option<u64>, StoreError> {
        if let Some(index) = self.shared.lock().by_envelope.get(id) {
            return Ok(Some(*index));
        }
        let size = store.size();
        for candidate in self.indexes.by_envelope.get(id).map_err(index_error)? {
            if candidate >= size {
                continue;
            }
            let leaf = store.leaves(candidate, 1)?;
            let Some(leaf) = leaf.first() else { continue };
            let decoded = LogLeaf::decode(leaf.as_slice()).map_err(|e| {
                StoreError::corrupt(format!("leaf {candidate} is not a LogLeaf: {e}"))
            })?;
            if decoded.envelope.as_ref().map(envelope_id).as_ref() == Some(id) {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
    }

    /// The index of the entry with this leaf hash, confirmed against the tree.
    pub fn find_leaf(&self, store: &LogStore, hash: &Hash) -> Result<Option<u64>, StoreError> {
        if let Some(index) = self.shared.lock().by_leaf.get(hash) {
            return Ok(Some(*index));
        }
        let size = store.size();
        for candidate in self.indexes.by_leaf.get(hash).map_err(index_error)? {
            if candidate < size && store.leaf_hash(candidate)? == *hash {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
    }
}

/// The writer: moves pending entries into the files in log order, removes them from the map
/// once written, and syncs (then advances the watermark) every [`SYNC_INTERVAL`] and at the end.
fn write_loop(indexes: &Indexes, shared: &Shared, start: u64) {
    let mut synced = start;
    let mut last_sync = Instant::now();
    loop {
        let (work, closing) = {
            let mut p = shared.lock();
            while p.queue.is_empty() && !p.closing {
                let wait = SYNC_INTERVAL.saturating_sub(last_sync.elapsed());
                let (guard, timeout) = shared
                    .changed
                    .wait_timeout(p, wait.max(Duration::from_millis(10)))
                    .unwrap_or_else(|e| e.into_inner());
                p = guard;
                if timeout.timed_out() {
                    break;
                }
            }
            (std::mem::take(&mut p.queue), p.closing)
        };
        let mut written = None;
        for (index, id, leaf_hash) in &work {
            if let Err(e) = indexes.insert(*index, Some(id), leaf_hash) {
                tracing::error!(error = %e, "hash index write failed; appends stop until a restart");
                shared.lock().failed = Some(e.to_string());
                shared.changed.notify_all();
                return;
            }
            written = Some(index + 1);
        }
        if let Some(written) = written {
            let mut p = shared.lock();
            for (index, id, leaf_hash) in &work {
                if p.by_envelope.get(id) == Some(index) {
                    p.by_envelope.remove(id);
                }
                if p.by_leaf.get(leaf_hash) == Some(index) {
                    p.by_leaf.remove(leaf_hash);
                }
            }
            p.written = written;
            drop(p);
            shared.changed.notify_all();
        }
        let written = shared.lock().written;
        if written > synced && (closing || last_sync.elapsed() >= SYNC_INTERVAL) {
            if let Err(e) = indexes.sync(written) {
                tracing::error!(error = %e, "hash index sync failed; appends stop until a restart");
                shared.lock().failed = Some(e.to_string());
                shared.changed.notify_all();
                return;
            }
            synced = written;
            last_sync = Instant::now();
        }
        if closing && shared.lock().queue.is_empty() {
            return;
        }
    }
}

const WATERMARK_FILE: &str = "watermark";

/// The recorded watermark, or 0 when there is none (a new or damaged index starts from 0).
fn read_watermark(dir: &Path) -> u64 {
    std::fs::read(dir.join(WATERMARK_FILE))
        .ok()
        .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
        .map_or(0, u64::from_be_bytes)
}

/// Records the watermark atomically: write a temporary file, fsync it, rename it over the old.
fn write_watermark(dir: &Path, size: u64) -> std::io::Result<()> {
    let tmp = dir.join("watermark.tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&size.to_be_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, dir.join(WATERMARK_FILE))?;
    std::fs::File::open(dir)?.sync_all()
}

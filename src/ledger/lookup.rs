//! The ledger's three lookups by hash — envelope id → index (duplicates), leaf hash → index
//! (proofs by leaf hash) and external idempotency key → index (a signer's `external_id`, see
//! [`super::admission::external_key`]) — kept in on-disk hash indexes instead of one sled key
//! per event.
//!
//! The hash indexes hold fingerprints, so every candidate is confirmed against the log itself
//! before it is believed. They are derived data: in each index's directory, a `watermark` file
//! records `W`, written (atomically, after the shards are synced) only when every entry below `W`
//! is durably indexed. On start, entries from the smallest of the three watermarks to the log's
//! size are indexed again (inserts are idempotent); a missing watermark (a new or lost index)
//! means 0, and an index that cannot be opened is rebuilt from the log. A crash therefore never loses a duplicate or a lookup, and never invents one.
//!
//! The sequencer never touches the index files: [`Lookups::insert_batch`] puts a committed
//! batch's keys in an in-memory pending map, and a writer thread moves them into the files, syncs
//! them about once a second and then advances the watermark. (A slot write to a page that an
//! `fdatasync` is writing back waits for it, which on the sequencer's path cost more than the
//! rest of a commit.) Lookups consult the pending map first, then the files; an entry leaves the
//! map only after its file insert, so it is always in one or the other. The map is bounded:
//! past [`MAX_PENDING`] entries, `insert_batch` waits for the writer (backpressure, not growth).

use super::admission::external_key;
use crate::envelope::{EVENT_PAYLOAD_TYPE, envelope_id};
use crate::fault::{Faults, Step};
use crate::hashindex::{HashIndex, HashIndexError};
use crate::merkle::{Blake3, Hash, TreeHasher};
use crate::proto::{LogLeaf, ProvenanceEvent, SignedEvent};
use crate::store::{LogStore, StoreError};
use crate::watermark;
use prost::Message;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Entries re-read per step when catching up.
const CATCH_UP_CHUNK: u64 = 1000;
/// Time between index syncs while appends flow; it bounds what a restart re-indexes.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// Committed entries the writer may be behind before `insert_batch` waits for it.
pub const MAX_PENDING: usize = 200_000;

/// The three hash indexes, the entries not yet in them, and the writer that moves them there.
pub struct Lookups {
    indexes: Arc<Indexes>,
    shared: Arc<Shared>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

struct Indexes {
    by_envelope: Index,
    by_leaf: Index,
    by_external: Index,
    /// The fault-injection hook on watermark writes (a no-op in production builds).
    faults: Faults,
}

/// One hash index and its directory (where its watermark lives).
struct Index {
    dir: PathBuf,
    map: HashIndex,
}

/// The index keys of one log entry.
#[derive(Debug, Clone, Copy)]
pub struct EntryKeys {
    pub envelope: [u8; 32],
    pub leaf: Hash,
    pub external: Option<[u8; 32]>,
}

impl EntryKeys {
    /// The keys of stored leaf bytes.
    fn of_leaf(index: u64, leaf: &[u8]) -> Result<EntryKeys, StoreError> {
        let envelope = LogLeaf::decode(leaf)
            .map_err(|e| StoreError::corrupt(format!("leaf {index} is not a LogLeaf: {e}")))?
            .envelope
            .unwrap_or_default();
        Ok(EntryKeys {
            envelope: envelope_id(&envelope),
            leaf: Blake3::hash_leaf(leaf),
            external: external_of(&envelope),
        })
    }
}

/// The external idempotency key of an envelope holding an event with an `external_id`.
fn external_of(envelope: &SignedEvent) -> Option<[u8; 32]> {
    if envelope.payload_type != EVENT_PAYLOAD_TYPE {
        return None;
    }
    let event = ProvenanceEvent::decode(envelope.payload.as_slice()).ok()?;
    (!event.external_id.is_empty()).then(|| external_key(&envelope.key_id, &event.external_id))
}

/// Committed entries not yet in the index files, in log order.
#[derive(Default)]
struct Pending {
    /// (index, keys), waiting for the writer.
    queue: Vec<(u64, EntryKeys)>,
    by_envelope: HashMap<[u8; 32], u64>,
    by_leaf: HashMap<Hash, u64>,
    by_external: HashMap<[u8; 32], u64>,
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
    fn all(&self) -> [&Index; 3] {
        [&self.by_envelope, &self.by_leaf, &self.by_external]
    }

    fn insert(&self, index: u64, keys: &EntryKeys) -> Result<(), StoreError> {
        self.by_leaf
            .map
            .insert(&keys.leaf, index)
            .map_err(index_error)?;
        self.by_envelope
            .map
            .insert(&keys.envelope, index)
            .map_err(index_error)?;
        if let Some(external) = &keys.external {
            self.by_external
                .map
                .insert(external, index)
                .map_err(index_error)?;
        }
        Ok(())
    }

    /// Makes every index durable, then records that everything below `size` is indexed.
    fn sync(&self, size: u64) -> Result<(), StoreError> {
        for index in self.all() {
            index.map.sync().map_err(index_error)?;
        }
        for index in self.all() {
            self.faults
                .run(Step::Watermark, || {
                    watermark::write(&index.dir, WATERMARK_FILE, size)
                })
                .map_err(StoreError::Io)?;
        }
        Ok(())
    }
}

fn index_error(e: HashIndexError) -> StoreError {
    StoreError::Corrupt {
        what: format!("hash index: {e}"),
    }
}

impl Lookups {
    /// Opens (or rebuilds) the indexes under `dir` and brings them up to the store's size.
    /// Their writes and syncs go through `faults`.
    pub fn open(dir: &Path, store: &LogStore, faults: Faults) -> Result<Lookups, StoreError> {
        let (indexes, from) = match Self::open_all(dir, &faults) {
            Ok(indexes) => {
                let from = indexes
                    .all()
                    .iter()
                    .map(|i| watermark::read(&i.dir, WATERMARK_FILE))
                    .min()
                    .unwrap_or(0)
                    .min(store.size());
                (indexes, from)
            }
            Err(e) => {
                tracing::warn!(error = %e, "hash index unusable; rebuilding it from the log");
                for sub in SUBDIRS {
                    HashIndex::destroy(&dir.join(sub)).map_err(index_error)?;
                }
                (Self::open_all(dir, &faults).map_err(index_error)?, 0)
            }
        };
        let size = store.size();
        let mut at = from;
        while at < size {
            let leaves = store.leaves(at, CATCH_UP_CHUNK)?;
            for (i, leaf) in leaves.iter().enumerate() {
                let index = at + i as u64;
                indexes.insert(index, &EntryKeys::of_leaf(index, leaf)?)?;
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
                .spawn(move || {
                    crate::threads::lower_current_thread(crate::threads::FOLLOWER_NICE);
                    crate::threads::lower_current_io();
                    write_loop(&indexes, &shared, size)
                })
                .map_err(StoreError::Io)?
        };
        Ok(Lookups {
            indexes,
            shared,
            writer: Mutex::new(Some(writer)),
        })
    }

    fn open_all(dir: &Path, faults: &Faults) -> Result<Indexes, HashIndexError> {
        let open = |sub: &str| -> Result<Index, HashIndexError> {
            let dir = dir.join(sub);
            Ok(Index {
                map: HashIndex::open_with_faults(
                    &dir,
                    crate::hashindex::DEFAULT_INITIAL_CAPACITY,
                    faults.clone(),
                )?,
                dir,
            })
        };
        Ok(Indexes {
            by_envelope: open(SUBDIRS[0])?,
            by_leaf: open(SUBDIRS[1])?,
            by_external: open(SUBDIRS[2])?,
            faults: faults.clone(),
        })
    }

    /// Records a batch just committed at `first` (each entry's keys, in order) for the writer. Waits while the writer is [`MAX_PENDING`] entries behind; fails once the
    /// writer has failed (the ledger then stops taking appends).
    pub fn insert_batch(&self, first: u64, entries: &[EntryKeys]) -> Result<(), StoreError> {
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
        for (i, keys) in entries.iter().enumerate() {
            let index = first + i as u64;
            p.by_envelope.insert(keys.envelope, index);
            p.by_leaf.insert(keys.leaf, index);
            if let Some(external) = keys.external {
                p.by_external.insert(external, index);
            }
            p.queue.push((index, *keys));
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
        let candidates = self.indexes.by_envelope.map.get(id).map_err(index_error)?;
        confirm(store, candidates, |keys| keys.envelope == *id)
    }

    /// The index of the entry whose signer and `external_id` give this key, confirmed against
    /// the log.
    pub fn find_external(
        &self,
        store: &LogStore,
        key: &[u8; 32],
    ) -> Result<Option<u64>, StoreError> {
        if let Some(index) = self.shared.lock().by_external.get(key) {
            return Ok(Some(*index));
        }
        let candidates = self.indexes.by_external.map.get(key).map_err(index_error)?;
        confirm(store, candidates, |keys| {
            keys.external.as_ref() == Some(key)
        })
    }

    /// The index of the entry with this leaf hash, confirmed against the tree.
    pub fn find_leaf(&self, store: &LogStore, hash: &Hash) -> Result<Option<u64>, StoreError> {
        if let Some(index) = self.shared.lock().by_leaf.get(hash) {
            return Ok(Some(*index));
        }
        let size = store.size();
        for candidate in self.indexes.by_leaf.map.get(hash).map_err(index_error)? {
            if candidate < size && store.leaf_hash(candidate)? == *hash {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
    }
}

/// The first candidate inside the log whose stored entry's keys pass `matches` (the hash
/// indexes hold fingerprints, so a candidate is only a candidate).
fn confirm(
    store: &LogStore,
    candidates: Vec<u64>,
    matches: impl Fn(&EntryKeys) -> bool,
) -> Result<Option<u64>, StoreError> {
    let size = store.size();
    for candidate in candidates.into_iter().filter(|c| *c < size) {
        if let Some(leaf) = store.leaves(candidate, 1)?.first()
            && matches(&EntryKeys::of_leaf(candidate, leaf)?)
        {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
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
        for (index, keys) in &work {
            if let Err(e) = indexes.insert(*index, keys) {
                tracing::error!(error = %e, "hash index write failed; appends stop until a restart");
                shared.lock().failed = Some(e.to_string());
                shared.changed.notify_all();
                return;
            }
            written = Some(index + 1);
        }
        if let Some(written) = written {
            let mut p = shared.lock();
            for (index, keys) in &work {
                if p.by_envelope.get(&keys.envelope) == Some(index) {
                    p.by_envelope.remove(&keys.envelope);
                }
                if p.by_leaf.get(&keys.leaf) == Some(index) {
                    p.by_leaf.remove(&keys.leaf);
                }
                if let Some(external) = &keys.external
                    && p.by_external.get(external) == Some(index)
                {
                    p.by_external.remove(external);
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
/// The index directories, in the order envelopes, leaves, externals.
const SUBDIRS: [&str; 3] = ["envelopes", "leaves", "externals"];

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
//! Index syncs (an fsync per shard file) run on a background thread, never on the sequencer's
//! path: the sequencer asks for one when due.

use crate::envelope::envelope_id;
use crate::hashindex::{HashIndex, HashIndexError};
use crate::merkle::{Blake3, Hash, TreeHasher};
use crate::proto::LogLeaf;
use crate::store::{LogStore, StoreError};
use prost::Message;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Entries re-read per step when catching up.
const CATCH_UP_CHUNK: u64 = 1000;
/// Time between index syncs while appends flow; it bounds what a restart re-indexes.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// The two hash indexes and the bookkeeping of their durable watermark.
pub struct Lookups {
    indexes: Arc<Indexes>,
    last_request: Mutex<Instant>,
    syncer: Mutex<Option<SyncerHandle>>,
}

struct Indexes {
    dir: PathBuf,
    by_envelope: HashIndex,
    by_leaf: HashIndex,
}

impl Indexes {
    /// Indexes entry `index` whose leaf bytes are `leaf`.
    fn insert_leaf(&self, index: u64, leaf: &[u8]) -> Result<(), StoreError> {
        self.by_leaf
            .insert(&Blake3::hash_leaf(leaf), index)
            .map_err(index_error)?;
        let decoded = LogLeaf::decode(leaf)
            .map_err(|e| StoreError::corrupt(format!("leaf {index} is not a LogLeaf: {e}")))?;
        if let Some(envelope) = decoded.envelope {
            self.by_envelope
                .insert(&envelope_id(&envelope), index)
                .map_err(index_error)?;
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

/// The background syncer: takes a size to make durable, reports the last one it did.
struct SyncerHandle {
    request: std::sync::mpsc::SyncSender<u64>,
    thread: std::thread::JoinHandle<()>,
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
        let (request, requests) = std::sync::mpsc::sync_channel::<u64>(1);
        let thread = {
            let indexes = indexes.clone();
            std::thread::Builder::new()
                .name("provledger-index-sync".into())
                .spawn(move || {
                    for size in requests {
                        if let Err(e) = indexes.sync(size) {
                            tracing::error!(error = %e, "hash index sync failed");
                        }
                    }
                })
                .map_err(StoreError::Io)?
        };
        Ok(Lookups {
            indexes,
            last_request: Mutex::new(Instant::now()),
            syncer: Mutex::new(Some(SyncerHandle { request, thread })),
        })
    }

    fn open_both(dir: &Path) -> Result<(HashIndex, HashIndex), HashIndexError> {
        Ok((
            HashIndex::open(&dir.join("envelopes"))?,
            HashIndex::open(&dir.join("leaves"))?,
        ))
    }

    /// Indexes a batch just committed at `first`, with its already-known envelope ids and
    /// leaf hashes.
    pub fn insert_batch(&self, first: u64, entries: &[([u8; 32], Hash)]) -> Result<(), StoreError> {
        for (i, (id, leaf_hash)) in entries.iter().enumerate() {
            let index = first + i as u64;
            self.indexes
                .by_envelope
                .insert(id, index)
                .map_err(index_error)?;
            self.indexes
                .by_leaf
                .insert(leaf_hash, index)
                .map_err(index_error)?;
        }
        Ok(())
    }

    /// Asks the background syncer to make everything below `size` durable, when one is due.
    /// Never blocks.
    pub fn after_commit(&self, size: u64) {
        let Ok(guard) = self.syncer.lock() else {
            return;
        };
        let Some(syncer) = guard.as_ref() else { return };
        if let Ok(mut last) = self.last_request.lock()
            && last.elapsed() >= SYNC_INTERVAL
            && syncer.request.try_send(size).is_ok()
        {
            *last = Instant::now();
        }
    }

    /// Stops the syncer and makes the indexes durable; every entry below `size` is then
    /// durably indexed, and the next start has nothing to catch up.
    pub fn close(&self, size: u64) -> Result<(), StoreError> {
        let handle = self.syncer.lock().ok().and_then(|mut s| s.take());
        if let Some(SyncerHandle {
            request, thread, ..
        }) = handle
        {
            drop(request);
            if thread.join().is_err() {
                tracing::error!("hash index syncer panicked");
            }
        }
        self.indexes.sync(size)
    }

    /// The index of the entry with this envelope id, confirmed against the log.
    pub fn find_envelope(
        &self,
        store: &LogStore,
        id: &[u8; 32],
    ) -> Result<Option<u64>, StoreError> {
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
        let size = store.size();
        for candidate in self.indexes.by_leaf.get(hash).map_err(index_error)? {
            if candidate < size && store.leaf_hash(candidate)? == *hash {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
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

//! The lineage database: one ordered key-value keyspace in an LSM tree (fjall), with exactly the
//! operations the indexer and the queries use — point reads, ordered range scans in both
//! directions, and atomic batches.
//!
//! Why not sled, like the log: lineage keys are random (record keys are hashes), and sled keeps
//! in-memory state for every page it has touched, so its memory grows with the database
//! (`tools/bench-log`'s engine table: 3 GiB of RSS after 1M random keys with a 32 MiB cache,
//! against under 80 MiB here), and it spends about four times more CPU per inserted key. An LSM tree writes sequentially, keeps memory to its
//! memtables and block cache, and suits an index written once and read by range.
//!
//! Invariants: a [`Batch`] is applied atomically (fjall journals it as one unit), so the
//! indexer's watermark, written in the same batch as the entries it covers, never runs ahead
//! of them after a crash. The database is derived data; [`LineageDb::open`] rebuilds an empty
//! one when the directory holds nothing it can read.

use std::ops::RangeBounds;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

/// Bytes as the database returns them.
pub type Bytes = fjall::Slice;

/// Largest in-memory write buffer before it is flushed to a table. A memtable takes about twice
/// this in memory (the skiplist's nodes besides the keys and values), and a full one waits
/// beside the next while it is written out. Memtables filling and emptying are the largest
/// swing in the server's memory under a steady load: at 8 MiB the allocated memory moved by
/// about 12 MiB between 10 s samples of a soak, at 4 MiB by about 6 (2 MiB cut it little more
/// and cost compaction CPU).
const MEMTABLE_BYTES: u64 = 4 * 1024 * 1024;
/// Most bytes of writes the memtables may hold before the indexer waits for flushes: four
/// memtables' worth, so memory stays bounded while flushes are behind.
const MAX_UNFLUSHED_MEMTABLES: u64 = 4;
/// Most batches applied while the memtables hold more than one memtable's worth, before the
/// indexer waits for a flush. fjall 3.1's worker can deadlock on its own mailbox: every batch
/// committed while the active memtable is over its size posts a rotation request to a queue of
/// 1,000 that only the worker reads, and the worker, on taking the first of them, posts its
/// flush to that same queue with a blocking send. A single worker busy compacting while a
/// writer commits a thousand small batches therefore never flushes again; a writer that then
/// waits for flushes waits for ever, and one that does not grows the memtables without bound
/// (most likely what grew them past 900 MiB in a soak before the byte bound above existed).
/// Reproduced with batches of 10 entries and 4 MiB memtables, and by the test below. A batch
/// can post a request only while the memtables hold more than one memtable's worth, and once
/// they hold less, a flush has run after every request posted before it; counting such batches
/// from that moment bounds the requests queued, well below 1,000.
const MAX_BATCHES_OVER: u32 = 500;
/// Size of the tables flushes and compactions write (fjall's default is 64 MiB). A table is
/// fsynced once, when complete, so all of it goes to disk at once, and the log's own fsyncs on
/// the same file system wait behind such bursts: smaller tables make them shorter.
const TABLE_BYTES: u64 = 8 * 1024 * 1024;
/// Largest journal before memtables are flushed to make room.
const JOURNAL_BYTES: u64 = 64 * 1024 * 1024;
/// fjall's flush and compaction threads. One: with more, fjall keeps its first worker for
/// flushes by handing every compaction request back to the shared queue, and while another
/// worker compacts that first worker takes the same request back at once, over and over — a
/// busy loop that was 6% of the server's CPU samples in a soak. One worker flushes and compacts
/// in turn; the journal and the memtable waiting beside the active one absorb a flush delayed
/// by a compaction.
const WORKER_THREADS: usize = 1;
/// The keyspace holding every lineage key.
const KEYSPACE: &str = "lineage";

/// An open lineage database.
pub struct LineageDb {
    db: fjall::Database,
    keyspace: fjall::Keyspace,
    memtable_bytes: u64,
    /// Batches applied since the memtables were last seen holding at most `memtable_bytes`.
    batches_over: AtomicU32,
}

impl std::fmt::Debug for LineageDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineageDb")
            .field("path", &self.keyspace.path())
            .finish()
    }
}

/// Writes applied together by [`LineageDb::apply`].
pub struct Batch {
    inner: fjall::OwnedWriteBatch,
    keyspace: fjall::Keyspace,
}

impl Batch {
    /// Sets `key` to `value` when the batch is applied.
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.inner
            .insert(&self.keyspace, key.as_ref(), value.as_ref());
    }
}

impl LineageDb {
    /// Opens the database in `dir` with a block cache of `cache_bytes`, creating it if needed.
    /// A directory that holds no readable database (damaged, or an older format) is emptied
    /// and a new database created: the caller rebuilds the indexes from the log.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Self, fjall::Error> {
        Self::open_sized(dir, cache_bytes, MEMTABLE_BYTES)
    }

    /// [`LineageDb::open`] with memtables of `memtable_bytes` (tests use small ones).
    fn open_sized(dir: &Path, cache_bytes: u64, memtable_bytes: u64) -> Result<Self, fjall::Error> {
        match Self::open_existing(dir, cache_bytes, memtable_bytes) {
            Ok(db) => Ok(db),
            Err(e) if dir.exists() => {
                tracing::warn!(error = %e, "lineage database unreadable; rebuilding it from the log");
                std::fs::remove_dir_all(dir)?;
                Self::open_existing(dir, cache_bytes, memtable_bytes)
            }
            Err(e) => Err(e),
        }
    }

    fn open_existing(
        dir: &Path,
        cache_bytes: u64,
        memtable_bytes: u64,
    ) -> Result<Self, fjall::Error> {
        // fjall starts its flush and compaction threads here; they inherit a lower priority,
        // so they do not take the cores acknowledgements need.
        let db = crate::threads::with_lower_priority(crate::threads::BACKGROUND_NICE, || {
            fjall::Database::builder(dir)
                .cache_size(cache_bytes)
                .max_journaling_size(JOURNAL_BYTES)
                .worker_threads(WORKER_THREADS)
                .open()
        })?;
        let keyspace = db.keyspace(KEYSPACE, || {
            fjall::KeyspaceCreateOptions::default()
                .max_memtable_size(memtable_bytes)
                .compaction_strategy(std::sync::Arc::new(
                    fjall::compaction::Leveled::default().with_table_target_size(TABLE_BYTES),
                ))
        })?;
        Ok(LineageDb {
            db,
            keyspace,
            memtable_bytes,
            batches_over: AtomicU32::new(0),
        })
    }

    /// What the database holds in memory: its block cache and its memtables.
    pub fn memory(&self) -> crate::metrics::LineageMemory {
        crate::metrics::LineageMemory {
            cache: self.db.cache_size(),
            memtables: self.db.write_buffer_size(),
        }
    }

    /// True when the writer must wait for flushes before applying another batch: the memtables
    /// hold more than [`MAX_UNFLUSHED_MEMTABLES`] memtables' worth of writes, or more than one
    /// memtable's worth after [`MAX_BATCHES_OVER`] batches.
    ///
    /// Over the first bound with no memtable sealed, nothing would ever lower it: fjall seals
    /// the active memtable only when a write finds it over its size, and the writer is waiting
    /// here. That is the state of a database reopened after a stop that left more than that in
    /// its journal (replayed into the active memtable), so this seals the memtable and queues
    /// its flush itself, as fjall's own write path does.
    pub fn flushes_behind(&self) -> bool {
        let unflushed = self.db.write_buffer_size();
        if unflushed <= self.memtable_bytes {
            self.batches_over.store(0, Ordering::Relaxed);
            return false;
        }
        if unflushed > MAX_UNFLUSHED_MEMTABLES * self.memtable_bytes {
            if self.keyspace.sealed_memtable_count() == 0
                && let Err(e) = self.keyspace.rotate_memtable()
            {
                tracing::warn!(error = %e, "lineage database: sealing the memtable for a flush failed");
            }
            return true;
        }
        self.batches_over.load(Ordering::Relaxed) >= MAX_BATCHES_OVER
    }

    /// The value of `key`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>, fjall::Error> {
        self.keyspace.get(key)
    }

    /// The entries whose keys lie in `range`, in key order (reversible).
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        range: R,
    ) -> impl DoubleEndedIterator<Item = Result<(Bytes, Bytes), fjall::Error>> + use<K, R> {
        self.keyspace.range(range).map(fjall::Guard::into_inner)
    }

    /// A new, empty batch.
    pub fn batch(&self) -> Batch {
        Batch {
            inner: self.db.batch(),
            keyspace: self.keyspace.clone(),
        }
    }

    /// Applies every write of `batch`, atomically.
    pub fn apply(&self, batch: Batch) -> Result<(), fjall::Error> {
        batch.inner.commit()?;
        if self.db.write_buffer_size() > self.memtable_bytes {
            self.batches_over.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Removes every entry.
    pub fn clear(&self) -> Result<(), fjall::Error> {
        self.keyspace.clear()
    }

    /// Makes every applied batch durable.
    pub fn persist(&self) -> Result<(), fjall::Error> {
        self.db.persist(fjall::PersistMode::SyncAll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_ranges_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lineage");
        {
            let db = LineageDb::open(&path, 1 << 20).unwrap();
            let mut batch = db.batch();
            for i in 0u8..10 {
                batch.insert([b'k', i], [i; 3]);
            }
            db.apply(batch).unwrap();
            let keys: Vec<u8> = db
                .range([b'k', 2]..[b'k', 5])
                .map(|kv| kv.unwrap().0[1])
                .collect();
            assert_eq!(keys, vec![2, 3, 4]);
            let last = db.range([b'k', 0]..[b'k', 7]).next_back().unwrap().unwrap();
            assert_eq!(&*last.1, &[6u8; 3]);
            db.persist().unwrap();
        }
        let db = LineageDb::open(&path, 1 << 20).unwrap();
        assert_eq!(db.get([b'k', 9]).unwrap().as_deref(), Some(&[9u8; 3][..]));
        db.clear().unwrap();
        assert!(db.get([b'k', 9]).unwrap().is_none());
    }

    #[test]
    fn writes_not_yet_flushed_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        // Memtables larger than anything written here, so nothing is rotated or flushed.
        let db = LineageDb::open_sized(&dir.path().join("lineage"), 1 << 20, 64 << 20).unwrap();
        assert!(!db.flushes_behind());
        let mut batch = db.batch();
        for i in 0u32..1000 {
            batch.insert(i.to_be_bytes(), [7u8; 1000]);
        }
        db.apply(batch).unwrap();
        assert!(db.db.write_buffer_size() >= 1000 * 1000);
        assert_eq!(db.batches_over.load(Ordering::Relaxed), 0);
        assert!(!db.flushes_behind());
    }

    #[test]
    fn small_batches_while_the_worker_compacts_do_not_stop_flushes() {
        // Memtables of 64 KiB and batches of one small entry: the worker is always flushing or
        // compacting while the writer commits thousands of batches per memtable, the case in
        // which fjall's worker fills its own mailbox and stops for good unless the writer waits
        // (see `MAX_BATCHES_OVER`). Without that wait this test fails: the writer waits on
        // 256 KiB of unflushed writes that the stopped worker never flushes.
        let dir = tempfile::tempdir().unwrap();
        let db = std::sync::Arc::new(
            LineageDb::open_sized(&dir.path().join("lineage"), 1 << 20, 64 * 1024).unwrap(),
        );
        let writer = db.clone();
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for i in 0u64..BATCHES {
                while writer.flushes_behind() {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                let mut batch = writer.batch();
                let key = blake3::hash(&i.to_le_bytes());
                batch.insert(&key.as_bytes()[..16], [1u8; 8]);
                writer.apply(batch).unwrap();
            }
            let _ = done.send(());
        });
        const BATCHES: u64 = 50_000;
        assert!(
            finished
                .recv_timeout(std::time::Duration::from_secs(60))
                .is_ok(),
            "the writer waited for flushes that never came ({} bytes unflushed)",
            db.db.write_buffer_size()
        );
        assert!(db.db.write_buffer_size() <= MAX_UNFLUSHED_MEMTABLES * 64 * 1024 + 64 * 1024);
    }

    #[test]
    fn a_database_reopened_with_unflushed_writes_flushes_them_without_new_writes() {
        // More than MAX_UNFLUSHED_MEMTABLES memtables' worth left in the journal by a stop
        // before fjall's worker flushed it: on reopen it is all in the active memtable, and the
        // writer asks `flushes_behind` before writing anything. It must not wait for ever.
        let memtable = 64 * 1024;
        let reopened = (0..10).find_map(|_| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("lineage");
            {
                let db = LineageDb::open_sized(&path, 1 << 20, memtable).unwrap();
                let mut batch = db.batch();
                for i in 0u32..1000 {
                    batch.insert(i.to_be_bytes(), [7u8; 1000]);
                }
                db.apply(batch).unwrap();
                db.db.persist(fjall::PersistMode::SyncAll).unwrap();
            }
            let db = LineageDb::open_sized(&path, 1 << 20, memtable).unwrap();
            // (If the worker flushed before the stop, try again: the case needs it not to.)
            (db.db.write_buffer_size() > MAX_UNFLUSHED_MEMTABLES * memtable).then_some((dir, db))
        });
        let (_dir, db) = reopened.expect("a stop before the flush");
        let started = std::time::Instant::now();
        while db.flushes_behind() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "still {} bytes unflushed",
                db.db.write_buffer_size()
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(
            db.get(7u32.to_be_bytes()).unwrap().as_deref(),
            Some(&[7u8; 1000][..])
        );
    }

    #[test]
    fn an_unreadable_directory_is_replaced_by_an_empty_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lineage");
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("db"), b"not an lsm tree").unwrap();
        std::fs::write(path.join("version"), b"garbage").unwrap();
        let db = LineageDb::open(&path, 1 << 20).unwrap();
        assert!(db.range([0u8]..[255u8]).next().is_none());
    }
}

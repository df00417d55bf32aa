//! The tree's nodes in flat files, one per level, outside sled.
//!
//! `tree/level-NN` holds the hashes of level `NN` (0 = leaf hashes): node `i` at byte offset
//! `32·i`, nothing else. A node is written once, when it completes, with a positioned write, and
//! never changes; an append therefore writes only its new nodes (a few contiguous runs), and a
//! proof is one `pread` of 32 bytes per node below the top levels, which are also held in memory
//! ([`TopLevels`]), served from the OS page cache. Memory stays flat however large the tree
//! grows.
//!
//! The files are derived data: every node can be recomputed from the leaves, which sled holds
//! durably. They are made durable lazily, not on the append path: [`NodeSyncer`] `fdatasync`s
//! them about once a second and then records in the watermark file `tree/synced` the tree size
//! `W` up to which every node is on disk. On open, the store recomputes the nodes of leaves
//! `W..size` from the stored leaves (see `LogStore::open`), so a crash costs at most a second
//! of recomputation and never a wrong node. Nodes beyond the log's size (from an append that did
//! not commit) are cut off by [`NodeFiles::truncate`].

use super::top_levels::TopLevels;
use crate::fault::{Faults, Step};
use crate::merkle::{Hash, NodeId};
use crate::watermark;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// Levels a tree of up to 2⁶⁴ − 1 leaves can have.
const LEVELS: usize = 64;
/// The watermark file: tree size up to which the files are durable.
const SYNCED: &str = "synced";
/// How often the syncer makes written nodes durable.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// The per-level node files of one tree.
#[derive(Debug)]
pub struct NodeFiles {
    dir: PathBuf,
    levels: [OnceLock<File>; LEVELS],
    /// The top levels of the files, held in memory.
    top: RwLock<TopLevels>,
    faults: Faults,
}

impl NodeFiles {
    /// Opens the node files in `dir`, creating the directory if needed. Level files are created
    /// when their first node is written. Writes and syncs go through `faults`.
    pub fn open(dir: &Path, faults: Faults) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut files = NodeFiles {
            dir: dir.to_path_buf(),
            levels: std::array::from_fn(|_| OnceLock::new()),
            top: RwLock::new(TopLevels::new(LEVELS)),
            faults,
        };
        for level in 0..LEVELS as u8 {
            match open_level(&files.path(level), false) {
                Ok(file) => {
                    let _ = files.levels[level as usize].set(file);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        files.top = RwLock::new(files.load_top()?);
        Ok(files)
    }

    /// Reads the files' top levels into memory (at most a few MiB, see [`TopLevels`]).
    fn load_top(&self) -> io::Result<TopLevels> {
        let mut counts = [0u64; LEVELS];
        for (count, slot) in counts.iter_mut().zip(&self.levels) {
            if let Some(file) = slot.get() {
                *count = file.metadata()?.len() / 32;
            }
        }
        let lowest = TopLevels::lowest_for(&counts);
        let mut held = vec![Vec::new(); LEVELS];
        for level in lowest as usize..LEVELS {
            let Some(file) = self.levels[level].get() else {
                continue;
            };
            let mut bytes = vec![0u8; (counts[level] * 32) as usize];
            file.read_exact_at(&mut bytes, 0)?;
            held[level] = bytes
                .chunks_exact(32)
                .map(|chunk| {
                    let mut hash = [0u8; 32];
                    hash.copy_from_slice(chunk);
                    hash
                })
                .collect();
        }
        Ok(TopLevels::loaded(lowest, held))
    }

    fn top(&self) -> RwLockReadGuard<'_, TopLevels> {
        self.top
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn top_mut(&self) -> RwLockWriteGuard<'_, TopLevels> {
        self.top
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, level: u8) -> PathBuf {
        self.dir.join(format!("level-{level:02}"))
    }

    /// The stored hash of `id`, or `None` if the file does not reach it.
    pub fn read(&self, id: NodeId) -> io::Result<Option<Hash>> {
        if let Some(hash) = self.top().get(id) {
            return Ok(Some(hash));
        }
        let Some(file) = self.levels.get(id.level as usize).and_then(OnceLock::get) else {
            return Ok(None);
        };
        let Some(offset) = id.index.checked_mul(32) else {
            return Ok(None);
        };
        let mut hash = [0u8; 32];
        let mut filled = 0;
        while filled < 32 {
            match file.read_at(&mut hash[filled..], offset + filled as u64) {
                Ok(0) => return Ok(None),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Some(hash))
    }

    /// Writes consecutive nodes of `level`, the first being node `first`. Only the store's one
    /// writer calls this.
    pub fn write_run(&self, level: u8, first: u64, hashes: &[Hash]) -> io::Result<()> {
        let slot = self
            .levels
            .get(level as usize)
            .ok_or_else(|| io::Error::other(format!("tree level {level} out of range")))?;
        if slot.get().is_none() {
            let _ = slot.set(open_level(&self.path(level), true)?);
        }
        let file = slot
            .get()
            .ok_or_else(|| io::Error::other("level file vanished"))?;
        let bytes: Vec<u8> = hashes.iter().flatten().copied().collect();
        let offset = first
            .checked_mul(32)
            .ok_or_else(|| io::Error::other("node offset overflows"))?;
        self.faults
            .run(Step::NodeWrite, || file.write_all_at(&bytes, offset))?;
        self.top_mut().wrote(level, first, hashes);
        Ok(())
    }

    /// Cuts every level down to the nodes a tree of `size` leaves has (`size >> level` nodes),
    /// removing nodes written for leaves that never committed.
    pub fn truncate(&self, size: u64) -> io::Result<()> {
        self.top_mut().truncate(size);
        for (level, slot) in self.levels.iter().enumerate() {
            let Some(file) = slot.get() else { continue };
            let keep = (size >> level) * 32;
            if file.metadata()?.len() > keep {
                file.set_len(keep)?;
            }
        }
        Ok(())
    }

    /// Makes every write so far durable.
    pub fn sync(&self) -> io::Result<()> {
        for file in self.levels.iter().filter_map(OnceLock::get) {
            self.faults.run(Step::NodeSync, || file.sync_data())?;
        }
        Ok(())
    }

    /// The tree size up to which the files are known to be durable (0 if never recorded).
    pub fn synced_size(&self) -> u64 {
        watermark::read(&self.dir, SYNCED)
    }

    /// Makes every write so far durable, then records that the tree of `size` is.
    pub fn sync_up_to(&self, size: u64) -> io::Result<()> {
        self.sync()?;
        self.faults.run(Step::Watermark, || {
            watermark::write(&self.dir, SYNCED, size)
        })
    }
}

/// The nodes one append completes, gathered into one contiguous run per level (nodes of a level
/// complete left to right, so an append's new nodes on each level are consecutive).
#[derive(Debug, Default)]
pub struct NodeRuns {
    runs: std::collections::BTreeMap<u8, (u64, Vec<Hash>)>,
}

impl NodeRuns {
    /// Adds a newly completed node.
    pub fn push(&mut self, id: NodeId, hash: &Hash) {
        let (first, hashes) = self
            .runs
            .entry(id.level)
            .or_insert_with(|| (id.index, Vec::new()));
        debug_assert_eq!(
            *first + hashes.len() as u64,
            id.index,
            "nodes arrive in order"
        );
        hashes.push(*hash);
    }

    /// Every node, with its id.
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, Hash)> + '_ {
        self.runs.iter().flat_map(|(level, (first, hashes))| {
            hashes.iter().enumerate().map(move |(i, h)| {
                (
                    NodeId {
                        level: *level,
                        index: first + i as u64,
                    },
                    *h,
                )
            })
        })
    }

    /// The number of nodes.
    pub fn count(&self) -> usize {
        self.runs.values().map(|(_, h)| h.len()).sum()
    }

    /// Writes every run to `files`.
    pub fn write(&self, files: &NodeFiles) -> io::Result<()> {
        for (level, (first, hashes)) in &self.runs {
            files.write_run(*level, *first, hashes)?;
        }
        Ok(())
    }
}

fn open_level(path: &Path, create: bool) -> io::Result<File> {
    crate::noatime::open(
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false),
        path,
    )
}

/// The background thread that makes written nodes durable about once a second, and once more
/// when it is dropped.
#[derive(Debug)]
pub struct NodeSyncer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl NodeSyncer {
    /// Starts syncing `files`. `written` is the tree size whose nodes have all been written (the
    /// writer raises it after each commit); `synced` is the size already recorded as durable.
    pub fn start(files: Arc<NodeFiles>, written: Arc<AtomicU64>, synced: u64) -> io::Result<Self> {
        let (stop, stopped) = channel();
        let thread = std::thread::Builder::new()
            .name("tree-sync".into())
            .spawn(move || {
                // Off the acknowledgement path: nodes not yet synced are recomputed from the
                // leaves on open.
                crate::threads::lower_current_io();
                sync_loop(&files, &written, synced, &stopped)
            })?;
        Ok(NodeSyncer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

fn sync_loop(files: &NodeFiles, written: &AtomicU64, mut synced: u64, stopped: &Receiver<()>) {
    loop {
        let last = matches!(
            stopped.recv_timeout(SYNC_INTERVAL),
            Ok(()) | Err(RecvTimeoutError::Disconnected)
        );
        // Every node of this size was written before it was published here.
        let size = written.load(Ordering::Acquire);
        if size > synced {
            match files.sync_up_to(size) {
                Ok(()) => synced = size,
                Err(e) => tracing::error!(error = %e, "syncing the tree's node files failed"),
            }
        }
        if last {
            return;
        }
    }
}

impl Drop for NodeSyncer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> Hash {
        [n; 32]
    }

    #[test]
    fn runs_are_read_back_and_missing_nodes_read_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let files = NodeFiles::open(dir.path(), Faults::none()).unwrap();
        files.write_run(0, 0, &[h(1), h(2), h(3)]).unwrap();
        files.write_run(0, 3, &[h(4)]).unwrap();
        files.write_run(1, 0, &[h(9)]).unwrap();
        assert_eq!(files.read(NodeId::leaf(3)).unwrap(), Some(h(4)));
        assert_eq!(
            files.read(NodeId { level: 1, index: 0 }).unwrap(),
            Some(h(9))
        );
        assert_eq!(files.read(NodeId::leaf(4)).unwrap(), None);
        assert_eq!(files.read(NodeId { level: 5, index: 0 }).unwrap(), None);
        assert_eq!(
            files
                .read(NodeId {
                    level: 0,
                    index: u64::MAX
                })
                .unwrap(),
            None
        );
    }

    #[test]
    fn truncate_keeps_exactly_the_nodes_of_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let files = NodeFiles::open(dir.path(), Faults::none()).unwrap();
        files
            .write_run(0, 0, &[h(1), h(2), h(3), h(4), h(5)])
            .unwrap();
        files.write_run(1, 0, &[h(6), h(7)]).unwrap();
        files.write_run(2, 0, &[h(8)]).unwrap();
        files.truncate(3).unwrap();
        assert_eq!(files.read(NodeId::leaf(2)).unwrap(), Some(h(3)));
        assert_eq!(files.read(NodeId::leaf(3)).unwrap(), None);
        assert_eq!(
            files.read(NodeId { level: 1, index: 0 }).unwrap(),
            Some(h(6))
        );
        assert_eq!(files.read(NodeId { level: 1, index: 1 }).unwrap(), None);
        assert_eq!(files.read(NodeId { level: 2, index: 0 }).unwrap(), None);
    }

    #[test]
    fn reopened_files_keep_nodes_and_the_watermark() {
        let dir = tempfile::tempdir().unwrap();
        {
            let files = NodeFiles::open(dir.path(), Faults::none()).unwrap();
            assert_eq!(files.synced_size(), 0);
            files.write_run(0, 0, &[h(1), h(2)]).unwrap();
            files.sync_up_to(2).unwrap();
        }
        let files = NodeFiles::open(dir.path(), Faults::none()).unwrap();
        assert_eq!(files.synced_size(), 2);
        assert_eq!(files.read(NodeId::leaf(1)).unwrap(), Some(h(2)));
    }

    /// A tree too big to hold whole: its lowest levels are read from the files, its top from
    /// memory, and both agree with what was written, before and after a reopen and a cut.
    #[test]
    fn levels_beyond_the_held_top_are_read_from_the_files() {
        use crate::store::top_levels::MAX_LOWEST_NODES;
        let node = |level: u64, index: u64| -> Hash {
            let mut hash = [0u8; 32];
            hash[..8].copy_from_slice(&level.to_be_bytes());
            hash[8..16].copy_from_slice(&index.to_be_bytes());
            hash
        };
        let size = 4 * MAX_LOWEST_NODES + 3;
        let dir = tempfile::tempdir().unwrap();
        let check = |files: &NodeFiles, size: u64| {
            for level in 0..4u8 {
                let count = size >> level;
                for index in [0, 1, count / 2, count - 1, count] {
                    let want = (index < count).then(|| node(level as u64, index));
                    let got = files.read(NodeId { level, index }).unwrap();
                    assert_eq!(got, want, "node {level}/{index} of a tree of {size}");
                }
            }
        };
        {
            let files = NodeFiles::open(dir.path(), Faults::none()).unwrap();
            for level in 0..4u8 {
                // Written in several runs, as appends do.
                let count = size >> level;
                let hashes: Vec<Hash> = (0..count).map(|i| node(level as u64, i)).collect();
                for (run, chunk) in hashes.chunks(7_001).enumerate() {
                    files.write_run(level, (run * 7_001) as u64, chunk).unwrap();
                }
            }
            check(&files, size);
        }
        let files = NodeFiles::open(dir.path(), Faults::none()).unwrap();
        check(&files, size);
        // Cutting the tree cuts the held levels and the files alike.
        files.truncate(size - 1).unwrap();
        check(&files, size - 1);
    }

    #[test]
    fn the_syncer_records_the_written_size_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let files = Arc::new(NodeFiles::open(dir.path(), Faults::none()).unwrap());
        let written = Arc::new(AtomicU64::new(0));
        let syncer = NodeSyncer::start(files.clone(), written.clone(), 0).unwrap();
        files.write_run(0, 0, &[h(1)]).unwrap();
        written.store(1, Ordering::Release);
        drop(syncer);
        assert_eq!(files.synced_size(), 1);
    }
}

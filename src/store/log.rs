//! [`LogStore`]: the Merkle log — leaves in flat files ([`LeafFiles`]), the latest signed
//! checkpoint in sled, tree nodes in flat files ([`NodeFiles`]).
//!
//! Invariants:
//! - Every append writes its leaves to the leaf files, then applies one sled batch holding the
//!   checkpoint signed for the new size (replacing the previous one) and its index entries; its
//!   checkpoint's size is what commits it. Before `append` returns, its record (leaves and
//!   batch) is durable in the [`journal`]; the leaf files and sled are synced in the background
//!   ([`SledSyncer`]), and `open` writes the journalled leaves again and applies the batches
//!   sled lacks, whole and in order. After a crash the store therefore holds a whole number of
//!   appends, never part of one.
//! - The leaf files hold at least the latest checkpoint's size of leaves; those past it are
//!   from an append that never committed, are read by no one, and are cut off when the store
//!   is opened to append.
//! - Only the latest checkpoint is stored: a key per append grew sled's memory with the log
//!   (about 365 bytes per key, measured; where inside sled was not traced). An older checkpoint
//!   is signed again on request ([`LogStore::checkpoint_at`]): the note's body is a function of
//!   the origin, the size and the root, and Ed25519 signatures are deterministic, so the note is
//!   byte for byte the one the append published.
//! - Tree nodes ([`NodeFiles`]) are derived from the leaves: an append writes its new nodes
//!   before its sled batch and they are synced lazily; `open` cuts off nodes beyond the log's
//!   size and recomputes those past the files' durable watermark from the stored leaves.
//! - Stored nodes are final: a node is written once, when it completes, and never changes.
//! - The latest stored checkpoint describes exactly the stored leaves; `open` checks that the
//!   stored nodes reproduce its root and refuses the store otherwise.
//! - Each checkpoint extends the previous tree (the frontier only ever appends), so no two signed
//!   checkpoints are inconsistent.
//!
//! One writer appends at a time (a mutex); readers never block on it and see only published
//! sizes. Memory is bounded by the frontier, whatever the size.

use super::checkpoints::{SignedCheckpoint, latest_checkpoint, newest_verified_checkpoint};
use super::database::{open_db, read_meta};
use super::durable::{Durability, SyncTimers};
use super::error::StoreError;
use super::journal::{Journal, JournalLimits, Op, Record};
use super::keys;
use super::leaf_files::{LeafFileError, LeafFiles};
use super::leaves::{encode_chunk, split_into_chunks};
use super::nodes::{NodeFiles, NodeRuns, NodeSyncer};
use super::replay::{bring_up_to_journal, checkpoint_size};
use super::sled_syncer::{SLED_SYNC_INTERVAL, SledSyncer};
use crate::checkpoint::Checkpoint;
use crate::fault::{Faults, Step};
use crate::merkle::{self, Blake3, Frontier, Hash, HashReader, NodeId, ProofError, TreeHasher};
use crate::note::{NoteSigner, NoteVerifier};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The node files' directory inside the store's directory.
const TREE_DIR: &str = "tree";
/// Leaves read at a time when recomputing nodes at open.
const REPLAY_BATCH: u64 = 4096;

/// What an append produced.
#[derive(Debug, Clone)]
pub struct Appended {
    /// Index of the first appended leaf; the rest follow in order.
    pub first_index: u64,
    /// The checkpoint signed for the tree including these leaves.
    pub checkpoint: Arc<SignedCheckpoint>,
}

/// The write path's knobs; [`StoreTuning::default`] is what the server runs with.
#[derive(Debug, Clone, Copy)]
pub struct StoreTuning {
    /// The journal's file sizes.
    pub journal: JournalLimits,
    /// How often sled is synced in the background.
    pub sled_sync_interval: Duration,
}

impl Default for StoreTuning {
    fn default() -> Self {
        StoreTuning {
            journal: JournalLimits::default(),
            sled_sync_interval: SLED_SYNC_INTERVAL,
        }
    }
}

/// The append side: only the holder of the checkpoint key has one.
struct Writer<H: TreeHasher> {
    signer: NoteSigner,
    frontier: Frontier<H>,
    /// Makes each append durable before it is acknowledged.
    journal: Journal,
    /// Makes sled durable in the background, so the journal can be reused.
    sled: SledSyncer,
    /// Makes written nodes durable in the background; stopped (with a last sync) on drop.
    _syncer: NodeSyncer,
    poisoned: bool,
}

/// The log store. `H` is the tree hash: BLAKE3 for provledger's log.
pub struct LogStore<H: TreeHasher = Blake3> {
    db: sled::Db,
    dir: PathBuf,
    leaves: Arc<LeafFiles>,
    nodes: Arc<NodeFiles>,
    /// The size whose nodes are all written, for the syncer.
    nodes_written: Arc<AtomicU64>,
    origin: String,
    verifier: NoteVerifier,
    published: RwLock<Arc<SignedCheckpoint>>,
    /// The nodes the last append created and the frontier it started from: every node its
    /// receipts' inclusion proofs need, so they are answered from memory.
    recent: RwLock<Arc<HashMap<NodeId, Hash>>>,
    writer: Option<Mutex<Writer<H>>>,
    /// The checkpoint key when this handle may append, for signing past checkpoints again
    /// without waiting for the writer.
    signer: Option<NoteSigner>,
    /// The write path's fault-injection hook: a zero-sized no-op in production builds.
    faults: Faults,
    /// Where each batch's sync time goes (set by the ledger; None for tools and tests).
    sync_seconds: Option<SyncTimers>,
    hasher: PhantomData<H>,
}

impl<H: TreeHasher> std::fmt::Debug for LogStore<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("dir", &self.dir)
            .field("origin", &self.origin)
            .field("size", &self.size())
            .finish()
    }
}

impl<H: TreeHasher> LogStore<H> {
    /// Creates a new, empty log in `dir` (which must not hold one), publishing the size-0
    /// checkpoint, and opens it for appending.
    pub fn create(dir: &Path, origin: &str, signer: NoteSigner) -> Result<Self, StoreError> {
        Self::create_inner(dir, origin, signer, Faults::none(), StoreTuning::default())
    }

    /// [`LogStore::create`] whose write path (this store's writes and syncs) follows `faults`.
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn create_with_faults(
        dir: &Path,
        origin: &str,
        signer: NoteSigner,
        faults: Faults,
    ) -> Result<Self, StoreError> {
        Self::create_inner(dir, origin, signer, faults, StoreTuning::default())
    }

    fn create_inner(
        dir: &Path,
        origin: &str,
        signer: NoteSigner,
        faults: Faults,
        tuning: StoreTuning,
    ) -> Result<Self, StoreError> {
        let db = open_db(dir)?;
        if db.get(keys::META_ORIGIN)?.is_some() {
            return Err(StoreError::AlreadyInitialised {
                dir: dir.to_path_buf(),
            });
        }
        let checkpoint = Checkpoint {
            origin: origin.to_string(),
            size: 0,
            root: H::empty_root(),
            extensions: Vec::new(),
        };
        let note = checkpoint.sign(&signer)?;
        let mut batch = sled::Batch::default();
        batch.insert(keys::META_ORIGIN, origin.as_bytes());
        batch.insert(keys::META_LOG_VKEY, signer.verifier().to_vkey().as_bytes());
        batch.insert(&keys::checkpoint(0), note.as_bytes());
        db.apply_batch(batch)?;
        Durability::new(dir, faults.clone())?.sync(&db)?;
        Self::open_db_handle(db, dir, Some(signer), faults, tuning)
    }

    /// Opens an existing log. With the checkpoint signer it can append; without, it only reads.
    /// Refuses a store whose stored tree does not reproduce its latest signed checkpoint.
    pub fn open(dir: &Path, signer: Option<NoteSigner>) -> Result<Self, StoreError> {
        Self::open_inner(dir, signer, Faults::none(), StoreTuning::default())
    }

    /// [`LogStore::open`] whose write path (the open-time repair of the node files included)
    /// follows `faults`.
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn open_with_faults(
        dir: &Path,
        signer: Option<NoteSigner>,
        faults: Faults,
    ) -> Result<Self, StoreError> {
        Self::open_inner(dir, signer, faults, StoreTuning::default())
    }

    /// [`LogStore::open_with_faults`] with the write path's knobs set (small journal files, say).
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn open_tuned(
        dir: &Path,
        signer: Option<NoteSigner>,
        faults: Faults,
        tuning: StoreTuning,
    ) -> Result<Self, StoreError> {
        Self::open_inner(dir, signer, faults, tuning)
    }

    fn open_inner(
        dir: &Path,
        signer: Option<NoteSigner>,
        faults: Faults,
        tuning: StoreTuning,
    ) -> Result<Self, StoreError> {
        if !dir.join("db").exists() {
            return Err(StoreError::NotInitialised {
                dir: dir.to_path_buf(),
            });
        }
        let db = open_db(dir)?;
        Self::open_db_handle(db, dir, signer, faults, tuning)
    }

    /// Opens a log read-only for [`super::audit`], even when it fails the open-time check, so
    /// that the audit can say where it is damaged; the check's failure comes back beside the
    /// store. As at any open, journalled appends sled lacks are applied first, and the node files
    /// are brought to the stored leaves (nodes past their durable watermark are recomputed), so
    /// what a crash left is not reported as tampering.
    /// When the latest checkpoint does not verify, [`LogStore::latest`] is the newest one that
    /// does (or a size-0 placeholder with an empty note): use such a store for the audit only.
    pub fn open_for_audit(dir: &Path) -> Result<(Self, Option<StoreError>), StoreError> {
        if !dir.join("db").exists() {
            return Err(StoreError::NotInitialised {
                dir: dir.to_path_buf(),
            });
        }
        let db = open_db(dir)?;
        let (leaves, _) = bring_up_to_journal(&db, dir, Faults::none())?;
        let (origin, verifier) = read_meta(&db, dir)?;
        let (latest, mut damage) = match latest_checkpoint(&db, &verifier, &origin) {
            Ok(latest) => (latest, None),
            Err(e) => (
                newest_verified_checkpoint::<H>(&db, &verifier, &origin),
                Some(e),
            ),
        };
        let stored_size = checkpoint_size(&db)?;
        let store = Self::assemble(db, dir, leaves, origin, verifier, latest, Faults::none())?;
        // The open-time check is against the newest stored checkpoint only when it verifies.
        let checked = match damage.take() {
            None => store.check_integrity().map(|_| ()),
            Some(e) => Err(e),
        };
        if let Err(e) = checked {
            // Still bring the node files to the leaves the newest stored checkpoint covers (or
            // as many as are stored), best effort.
            if let Ok(end) = store.stored_leaf_count()
                && let Err(repair) = store.bring_nodes_to(end.min(stored_size))
            {
                tracing::warn!(error = %repair, "could not recompute the node files for the audit");
            }
            damage = Some(e);
        }
        Ok((store, damage))
    }

    fn open_db_handle(
        db: sled::Db,
        dir: &Path,
        signer: Option<NoteSigner>,
        faults: Faults,
        tuning: StoreTuning,
    ) -> Result<Self, StoreError> {
        let (leaves, newest_generation) = bring_up_to_journal(&db, dir, faults.clone())?;
        let (origin, verifier) = read_meta(&db, dir)?;
        if let Some(signer) = &signer {
            let given = signer.verifier().to_vkey();
            let expected = verifier.to_vkey();
            if given != expected {
                return Err(StoreError::WrongSigner { expected, given });
            }
        }
        let latest = latest_checkpoint(&db, &verifier, &origin)?;
        let mut store = Self::assemble(db, dir, leaves, origin, verifier, latest, faults)?;
        let frontier = store.check_integrity()?;
        if let Some(signer) = signer {
            store.leaves.truncate(frontier.size())?;
            store.signer = Some(signer.clone());
            let syncer = NodeSyncer::start(
                store.nodes.clone(),
                store.nodes_written.clone(),
                frontier.size(),
            )?;
            let sled = SledSyncer::start(
                store.db.clone(),
                store.leaves.clone(),
                Durability::new(dir, store.faults.clone())?,
                frontier.size(),
                tuning.sled_sync_interval,
            )?;
            // What a crashed process left written but not synced is made durable before the
            // journal's records, which it covers, are overwritten.
            sled.sync_now()?;
            let journal =
                Journal::open(dir, newest_generation, tuning.journal, store.faults.clone())?;
            store.writer = Some(Mutex::new(Writer {
                signer,
                frontier,
                journal,
                sled,
                _syncer: syncer,
                poisoned: false,
            }));
        }
        Ok(store)
    }

    /// A read-only store over an open database, published at `latest`, nothing checked yet.
    fn assemble(
        db: sled::Db,
        dir: &Path,
        leaves: Arc<LeafFiles>,
        origin: String,
        verifier: NoteVerifier,
        latest: SignedCheckpoint,
        faults: Faults,
    ) -> Result<Self, StoreError> {
        let nodes = Arc::new(NodeFiles::open(&dir.join(TREE_DIR), faults.clone())?);
        Ok(LogStore {
            db,
            dir: dir.to_path_buf(),
            leaves,
            nodes_written: Arc::new(AtomicU64::new(latest.checkpoint.size)),
            nodes,
            origin,
            verifier,
            published: RwLock::new(Arc::new(latest)),
            recent: RwLock::new(Arc::new(HashMap::new())),
            writer: None,
            signer: None,
            faults,
            sync_seconds: None,
            hasher: PhantomData,
        })
    }

    /// How many leaves the leaf files hold (past the latest checkpoint's size only after a
    /// crash, until the store is opened to append).
    pub(crate) fn stored_leaf_count(&self) -> Result<u64, StoreError> {
        Ok(self.leaves.count()?)
    }

    /// The open-time check: the leaf files hold at least the latest checkpoint's size of leaves
    /// (any beyond it are from an append that never committed; the writer cuts them off), and
    /// the stored nodes reproduce its root. First brings the node files to exactly that size:
    /// nodes beyond it are cut off, nodes past the files' durable watermark are recomputed from
    /// the leaves (all of them, if the files are missing or unreadable). Returns the frontier to
    /// append from.
    fn check_integrity(&self) -> Result<Frontier<H>, StoreError> {
        let latest = self.latest();
        let size = latest.checkpoint.size;
        let stored_end = self.stored_leaf_count()?;
        if stored_end < size {
            return Err(StoreError::corrupt(format!(
                "the stored leaves end at {stored_end} but the latest checkpoint is for size {size}"
            )));
        }
        let frontier = self.bring_nodes_to(size)?;
        let stored = frontier.root();
        if stored != latest.checkpoint.root {
            return Err(StoreError::RootMismatch {
                size,
                signed: hex(&latest.checkpoint.root),
                stored: hex(&stored),
            });
        }
        Ok(frontier)
    }

    /// Brings the node files to exactly the tree of `size` stored leaves: cuts off nodes beyond
    /// it and recomputes those past the files' durable watermark. Returns the frontier read
    /// from (or recomputed into) the files.
    fn bring_nodes_to(&self, size: u64) -> Result<Frontier<H>, StoreError> {
        self.nodes.truncate(size)?;
        let synced = self.nodes.synced_size().min(size);
        let mut frontier = match self.frontier_from_files(synced)? {
            Some(frontier) => frontier,
            None => {
                tracing::warn!(
                    synced,
                    "tree node files incomplete; recomputing every node from the leaves"
                );
                Frontier::new()
            }
        };
        if frontier.size() < size {
            self.replay_nodes(&mut frontier, size)?;
            self.nodes.sync_up_to(size)?;
        }
        Ok(frontier)
    }

    /// The frontier of `size` read from the node files, or `None` if one of its nodes is missing.
    fn frontier_from_files(&self, size: u64) -> Result<Option<Frontier<H>>, StoreError> {
        let mut hashes = Vec::new();
        for id in Frontier::<H>::node_ids(size) {
            match self.nodes.read(id)? {
                Some(hash) => hashes.push(hash),
                None => return Ok(None),
            }
        }
        Ok(Frontier::<H>::from_hashes(size, &hashes))
    }

    /// Recomputes and writes the nodes of the stored leaves from `frontier.size()` to `size`.
    fn replay_nodes(&self, frontier: &mut Frontier<H>, size: u64) -> Result<(), StoreError> {
        while frontier.size() < size {
            let leaves = self.leaves(frontier.size(), REPLAY_BATCH.min(size - frontier.size()))?;
            let mut runs = NodeRuns::default();
            for leaf in &leaves {
                frontier.push(H::hash_leaf(leaf), |id, hash| runs.push(id, hash));
            }
            runs.write(&self.nodes)?;
        }
        Ok(())
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The verifier of the log's checkpoint signatures.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The latest published (durable, signed) checkpoint.
    pub fn latest(&self) -> Arc<SignedCheckpoint> {
        match self.published.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Records the time of every batch's sync before its acknowledgement (its journal record),
    /// of every background sled sync and of sled's flush within it.
    pub fn time_syncs(&mut self, timers: SyncTimers) {
        if let Some(writer) = &self.writer
            && let Ok(w) = writer.lock()
        {
            w.sled.time_syncs(timers.clone());
        }
        self.sync_seconds = Some(timers);
    }

    /// The published tree size.
    pub fn size(&self) -> u64 {
        self.latest().checkpoint.size
    }

    /// Appends leaves as one atomic, durable batch and publishes a checkpoint covering them.
    pub fn append<L: AsRef<[u8]>>(&self, leaves: &[L]) -> Result<Appended, StoreError> {
        self.append_with_index(leaves, Vec::new())
    }

    /// Appends leaves and writes index entries (key, value) in the same atomic, durable batch.
    /// Index keys live in their own namespace; the layer above owns their meaning.
    pub fn append_with_index<L: AsRef<[u8]>>(
        &self,
        leaves: &[L],
        index: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<Appended, StoreError> {
        let writer = self.writer.as_ref().ok_or(StoreError::ReadOnly)?;
        let mut guard = writer.lock().map_err(|_| StoreError::Poisoned)?;
        let w = &mut *guard;
        if w.poisoned || w.sled.failed() {
            return Err(StoreError::Poisoned);
        }
        let first_index = w.frontier.size();
        if leaves.is_empty() {
            debug_assert!(index.is_empty(), "index entries need leaves to go with");
            return Ok(Appended {
                first_index,
                checkpoint: self.latest(),
            });
        }
        // Work on a copy, so a failure before the commit leaves memory as it was. Leaves and nodes
        // written for an append that then fails lie beyond the published size: no reader asks
        // for them, the next append overwrites them, and `open` cuts them off.
        let mut frontier = w.frontier.clone();
        let mut runs = NodeRuns::default();
        for leaf in leaves {
            frontier.push(H::hash_leaf(leaf.as_ref()), |id, hash| runs.push(id, hash));
        }
        let started = Instant::now();
        self.leaves.write(first_index, leaves)?;
        runs.write(&self.nodes)?;
        if let Some(timers) = &self.sync_seconds {
            timers.nodes.observe_duration(started.elapsed());
        }
        // Built before the commit, swapped in after it: nothing on the path from fsync to ack.
        let mut recent: HashMap<NodeId, Hash> =
            HashMap::with_capacity(runs.count() + w.frontier.nodes().len());
        recent.extend(w.frontier.nodes().iter().copied());
        recent.extend(runs.iter());
        let signed = self.sign_checkpoint(&w.signer, frontier.size(), frontier.root())?;

        let end = signed.checkpoint.size;
        let mut ops = Vec::new();
        let mut at = first_index;
        for group in split_into_chunks(leaves) {
            ops.push(Op::Insert(
                keys::leaf_chunk(at).to_vec(),
                encode_chunk(group),
            ));
            at += group.len() as u64;
        }
        ops.push(Op::Remove(keys::checkpoint(first_index).to_vec()));
        ops.push(Op::Insert(
            keys::checkpoint(end).to_vec(),
            signed.note.as_bytes().to_vec(),
        ));
        for (key, value) in index {
            ops.push(Op::Insert(keys::index(&key), value));
        }
        let record = Record {
            first: first_index,
            end,
            ops,
        };
        let started = Instant::now();
        let written = self
            .faults
            .run(Step::SledApply, || self.db.apply_batch(record.batch()))
            .map_err(StoreError::from)
            .and_then(|()| {
                if let Some(timers) = &self.sync_seconds {
                    timers.apply.observe_duration(started.elapsed());
                }
                w.sled.applied(end);
                let started = Instant::now();
                let synced = make_durable(w, &record);
                if let (Some(timers), Ok(())) = (&self.sync_seconds, &synced) {
                    timers.sync.observe_duration(started.elapsed());
                }
                synced
            });
        if let Err(e) = written {
            // The batch may or may not be on disk: only a reopen can tell.
            w.poisoned = true;
            return Err(e);
        }

        match self.recent.write() {
            Ok(mut guard) => *guard = Arc::new(recent),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(recent),
        }
        w.frontier = frontier;
        self.nodes_written
            .store(signed.checkpoint.size, Ordering::Release);
        let published = Arc::new(signed);
        match self.published.write() {
            Ok(mut guard) => *guard = published.clone(),
            Err(poisoned) => *poisoned.into_inner() = published.clone(),
        }
        Ok(Appended {
            first_index,
            checkpoint: published,
        })
    }

    /// The signed checkpoint of the tree of the first `size` leaves, for any size up to the
    /// published one. Below it the checkpoint is signed again with the log key: byte for byte
    /// what an append that ended at `size` published (the note is a function of origin, size and
    /// root, and Ed25519 signing is deterministic). A handle opened without the key answers only
    /// the latest size.
    pub fn checkpoint_at(&self, size: u64) -> Result<SignedCheckpoint, StoreError> {
        let latest = self.latest();
        if size == latest.checkpoint.size {
            return Ok((*latest).clone());
        }
        if size > latest.checkpoint.size {
            return Err(StoreError::SizeBeyondLog {
                size,
                log_size: latest.checkpoint.size,
            });
        }
        let signer = self
            .signer
            .as_ref()
            .ok_or(StoreError::NoCheckpointAt { size })?;
        self.sign_checkpoint(signer, size, self.root_at(size)?)
    }

    /// The log's checkpoint for a tree of `size` leaves with root `root`, signed. Appends and
    /// [`LogStore::checkpoint_at`] both sign here, so a checkpoint signed again is the published
    /// one byte for byte.
    fn sign_checkpoint(
        &self,
        signer: &NoteSigner,
        size: u64,
        root: Hash,
    ) -> Result<SignedCheckpoint, StoreError> {
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            size,
            root,
            extensions: Vec::new(),
        };
        let note = checkpoint.sign(signer)?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// The sizes of every stored checkpoint, ascending, whether or not it was published or
    /// verifies. For the audit.
    pub(crate) fn stored_checkpoint_sizes(
        &self,
    ) -> impl Iterator<Item = Result<u64, StoreError>> + '_ {
        self.db
            .scan_prefix([keys::CHECKPOINT_PREFIX])
            .keys()
            .map(|k| {
                let k = k?;
                keys::decode_prefixed(keys::CHECKPOINT_PREFIX, &k)
                    .ok_or_else(|| StoreError::corrupt("malformed checkpoint key"))
            })
    }

    /// The root of the tree of `size` leaves (any size up to the published one).
    pub fn root_at(&self, size: u64) -> Result<Hash, StoreError> {
        self.check_size(size)?;
        merkle::root::<H, _>(self, size)
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.check_size(size)?;
        merkle::inclusion_proof::<H, _>(self, index, size).map_err(proof_error)
    }

    /// The consistency proof between the trees of `first` and `second` leaves.
    pub fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, StoreError> {
        self.check_size(second)?;
        merkle::consistency_proof::<H, _>(self, first, second).map_err(proof_error)
    }

    /// The hash of stored leaf `index`, from the tree (no leaf bytes read).
    pub fn leaf_hash(&self, index: u64) -> Result<Hash, StoreError> {
        let size = self.size();
        if index >= size {
            return Err(StoreError::IndexBeyondSize { index, size });
        }
        Ok(self.read_hashes(&[NodeId::leaf(index)])?[0])
    }

    /// Up to `count` leaves starting at `start`, in order; fewer at the end of the log.
    pub fn leaves(&self, start: u64, count: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let size = self.size();
        if start >= size {
            return Err(StoreError::IndexBeyondSize { index: start, size });
        }
        let end = start.saturating_add(count).min(size);
        Ok(self.leaves.read(start, end)?)
    }

    /// Stored leaves `start..end`, whether or not they are published, with what is wrong with
    /// the leaf files if they cannot be read. For the audit.
    pub(crate) fn stored_leaves(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Vec<u8>>, LeafFileError> {
        self.leaves.read(start, end)
    }

    /// The stored hash of a node, `None` if it is not stored. For the audit.
    pub(crate) fn stored_node(&self, id: NodeId) -> Result<Option<Hash>, StoreError> {
        Ok(self.nodes.read(id)?)
    }

    /// The directory of the tree's node files, for tools that inspect or damage stores on
    /// purpose.
    pub fn tree_dir(&self) -> &Path {
        self.nodes.dir()
    }

    /// An index entry written with [`LogStore::append_with_index`].
    pub fn index_get(&self, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        Ok(self.db.get(keys::index(key))?)
    }

    /// Every index entry whose key starts with `prefix`, in key order, with the prefix kept.
    pub fn index_scan(
        &self,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, sled::IVec), StoreError>> {
        self.db.scan_prefix(keys::index(prefix)).map(|entry| {
            let (key, value) = entry?;
            Ok((key[1..].to_vec(), value))
        })
    }

    /// The raw sled database, for tools that inspect or damage stores on purpose.
    pub fn raw_db(&self) -> &sled::Db {
        &self.db
    }

    fn check_size(&self, size: u64) -> Result<(), StoreError> {
        let log_size = self.size();
        if size > log_size {
            return Err(StoreError::SizeBeyondLog { size, log_size });
        }
        Ok(())
    }
}

impl<H: TreeHasher> HashReader for LogStore<H> {
    type Error = StoreError;

    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, StoreError> {
        let recent = match self.recent.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        ids.iter()
            .map(|&id| {
                if let Some(hash) = recent.get(&id) {
                    return Ok(*hash);
                }
                self.nodes.read(id)?.ok_or_else(|| {
                    StoreError::corrupt(format!(
                        "tree node {}/{} is not stored",
                        id.level, id.index
                    ))
                })
            })
            .collect()
    }
}

/// Makes an append already applied to sled durable: its record written to the journal and
/// synced, after moving to the journal's other file if this one is full (syncing sled first if
/// the records there are not yet durable in it). A record too large for the journal waits for a
/// sled sync instead.
fn make_durable<H: TreeHasher>(w: &mut Writer<H>, record: &Record) -> Result<(), StoreError> {
    let payload = record.encode();
    if !w.journal.fits(payload.len()) {
        return w.sled.sync_now();
    }
    if let Some(needed) = w.journal.switch_needs(payload.len()) {
        if w.sled.durable() < needed {
            w.sled.sync_now()?;
        }
        w.journal.switch();
    }
    w.journal.append(record.end, &payload)?;
    Ok(())
}

fn proof_error(e: ProofError<StoreError>) -> StoreError {
    match e {
        ProofError::IndexBeyondSize { index, size } => StoreError::IndexBeyondSize { index, size },
        ProofError::FirstAfterSecond { first, second } => {
            StoreError::FirstAfterSecond { first, second }
        }
        ProofError::Read(e) => e,
    }
}

/// Lowercase hex, for messages.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

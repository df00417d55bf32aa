//! Lineage: the indexes that answer "where did this record come from" and "what was derived
//! from it", kept by an indexer that follows the log, and the queries over them.
//!
//! The lineage database ([`db`]) is derived data, in its own LSM-tree database beside the log
//! (so its writes never share the log's fsyncs): [`indexer`] files each provenance event, in log order, with a
//! durable watermark in the same batch. Every answer says the tree size it reflects; a caller may
//! wait for a size ([`Lineage::wait_for`]). A database that cannot be read is rebuilt from the
//! log. The database is opened on the indexer's thread, so a restart serves the log at once
//! while lineage answers wait (bounded) until it is open and caught up. Queries ([`query`]) cost O(answer size × log n): they walk index ranges, never the log.
//!
//! What it leaves out: checking events (the ledger's admission does that, before anything is
//! written) and transport (the gRPC service maps [`LineageError`] to status codes).

pub mod db;
mod indexer;
pub mod keys;
pub mod query;

use crate::proto::ContaminationAlert;
use crate::store::{LogStore, StoreError};
use db::LineageDb;
use keys::Watermark;
use prometheus_client::metrics::counter::Counter;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

pub(crate) use indexer::decode_event;
pub use query::{DescendantsFrom, DescendantsQuery};

/// How long the indexer sleeps before looking again when the database's flushes are behind.
const FLUSH_WAIT: Duration = Duration::from_millis(10);

/// Bounds and settings of lineage indexing and queries.
#[derive(Debug, Clone)]
pub struct LineageConfig {
    /// Environments that count as production for contamination alerts (compared
    /// case-insensitively).
    pub production_environments: Vec<String>,
    /// The lineage database's block cache, in bytes.
    pub cache_bytes: u64,
    /// Deepest walk of Trace and Descendants, and their default depth.
    pub max_depth: u32,
    /// Most records one Trace visits.
    pub max_trace_nodes: usize,
    /// Most records one Descendants walk visits.
    pub max_descendants: usize,
    /// Most events one History or Trace node returns.
    pub max_history: usize,
    /// Descendants page size when the request gives none, and the largest allowed.
    pub default_page: usize,
    pub max_page: usize,
    /// How long a query waits for the indexer to reach a requested size.
    pub max_wait: Duration,
}

impl Default for LineageConfig {
    fn default() -> Self {
        LineageConfig {
            production_environments: vec!["production".into(), "prod".into()],
            cache_bytes: 16 * 1024 * 1024,
            max_depth: 64,
            max_trace_nodes: 10_000,
            max_descendants: 1_000_000,
            max_history: 10_000,
            default_page: 1000,
            max_page: 10_000,
            max_wait: Duration::from_secs(10),
        }
    }
}

impl LineageConfig {
    pub fn is_production(&self, environment: &str) -> bool {
        let environment = environment.trim();
        self.production_environments
            .iter()
            .any(|p| p.eq_ignore_ascii_case(environment))
    }
}

/// Why a lineage operation failed; the API maps each variant to one status code.
#[derive(Debug, thiserror::Error)]
pub enum LineageError {
    /// A request field is wrong (INVALID_ARGUMENT); the message names it.
    #[error("{0}")]
    Invalid(String),
    /// No event about the record below the answer's tree size (NOT_FOUND).
    #[error("{0}")]
    NotFound(String),
    /// The indexer did not reach the requested size in time (DEADLINE_EXCEEDED).
    #[error("lineage indexes reached tree size {indexed}, not {wanted}, within {waited:?}")]
    NotYet {
        indexed: u64,
        wanted: u64,
        waited: Duration,
    },
    /// The database is still being opened (UNAVAILABLE).
    #[error("the lineage database is still opening")]
    Opening,
    /// The indexer stopped after a failure (UNAVAILABLE).
    #[error("lineage indexer stopped: {0}")]
    Stopped(String),
    #[error("lineage database: {0}")]
    Db(#[from] fjall::Error),
    #[error("lineage database: corrupt {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LineageError {
    pub(crate) fn corrupt(what: &str) -> Self {
        LineageError::Corrupt(what.to_string())
    }
}

/// Wakes the indexer when the log grows.
#[derive(Debug, Default)]
pub struct Follow {
    size: Mutex<u64>,
    grown: Condvar,
}

impl Follow {
    /// The log now has `size` entries.
    pub fn advance(&self, size: u64) {
        let mut s = self.size.lock().unwrap_or_else(|e| e.into_inner());
        *s = size;
        self.grown.notify_all();
    }

    fn wait_beyond(&self, size: u64, timeout: Duration) {
        let s = self.size.lock().unwrap_or_else(|e| e.into_inner());
        if *s <= size {
            let _ = self.grown.wait_timeout(s, timeout);
        }
    }
}

/// The lineage database, its indexer thread, and the signals queries wait on.
pub struct Lineage {
    /// The database, once the indexer thread has opened it.
    opened: Arc<OnceLock<Arc<LineageDb>>>,
    store: Arc<LogStore>,
    config: LineageConfig,
    /// Every entry below this is indexed; None while the database opens.
    indexed: watch::Receiver<Option<u64>>,
    alerts: broadcast::Sender<ContaminationAlert>,
    follow: Arc<Follow>,
    stop: Arc<AtomicBool>,
    failed: Arc<Mutex<Option<String>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Lineage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lineage")
            .field("indexed", &self.indexed())
            .finish()
    }
}

impl Lineage {
    /// Starts the indexer on `store`; it opens (or rebuilds) the lineage database in `dir`,
    /// then follows the log.
    pub fn open(
        dir: &Path,
        store: Arc<LogStore>,
        config: LineageConfig,
    ) -> Result<Lineage, LineageError> {
        Self::open_counted(dir, store, config, Counter::default())
    }

    /// [`Lineage::open`] that adds every contamination alert the indexer files to `raised`.
    pub fn open_counted(
        dir: &Path,
        store: Arc<LogStore>,
        config: LineageConfig,
        raised: Counter,
    ) -> Result<Lineage, LineageError> {
        let (indexed_tx, indexed) = watch::channel(None);
        let (alerts, _) = broadcast::channel(1024);
        let follow = Arc::new(Follow::default());
        follow.advance(store.size());
        let stop = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(Mutex::new(None));
        let opened = Arc::new(OnceLock::new());
        let thread = {
            let (dir, store, config) = (dir.to_path_buf(), store.clone(), config.clone());
            let raised_total = raised;
            let (follow, stop, failed, alerts, opened) = (
                follow.clone(),
                stop.clone(),
                failed.clone(),
                alerts.clone(),
                opened.clone(),
            );
            std::thread::Builder::new()
                .name("provledger-lineage".into())
                .spawn(move || {
                    crate::threads::lower_current_thread(crate::threads::FOLLOWER_NICE);
                    crate::threads::lower_current_io();
                    let fail = |e: LineageError| {
                        tracing::error!(error = %e, "lineage indexer stopped");
                        *failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                    };
                    let (tree, mut mark) = match open_db(&dir, &store, &config) {
                        Ok((db, mark)) => {
                            let db = Arc::new(db);
                            let _ = opened.set(db.clone());
                            (db, mark)
                        }
                        Err(e) => return fail(e),
                    };
                    let _ = indexed_tx.send(Some(mark.indexed));
                    while !stop.load(Ordering::Acquire) {
                        let size = store.size();
                        if mark.indexed >= size {
                            follow.wait_beyond(size, Duration::from_millis(100));
                            continue;
                        }
                        if tree.flushes_behind() {
                            std::thread::sleep(FLUSH_WAIT);
                            continue;
                        }
                        let to = size.min(mark.indexed + indexer::CHUNK);
                        match indexer::index_chunk(&store, &tree, &config, mark, to) {
                            Ok((next, raised)) => {
                                mark = next;
                                let _ = indexed_tx.send(Some(mark.indexed));
                                raised_total.inc_by(raised.len() as u64);
                                for alert in raised {
                                    let _ = alerts.send(alert);
                                }
                            }
                            Err(e) => return fail(e),
                        }
                    }
                })
                .map_err(|e| LineageError::Store(StoreError::Io(e)))?
        };
        Ok(Lineage {
            opened,
            store,
            config,
            indexed,
            alerts,
            follow,
            stop,
            failed,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub(crate) fn tree(&self) -> Result<&LineageDb, LineageError> {
        self.opened
            .get()
            .map(|db| db.as_ref())
            .ok_or(LineageError::Opening)
    }

    /// True once the database is open (answers may still wait for the indexer to catch up).
    pub fn is_open(&self) -> bool {
        self.opened.get().is_some()
    }

    /// What wakes the indexer: the sequencer advances it after every commit.
    pub fn follow(&self) -> Arc<Follow> {
        self.follow.clone()
    }

    /// Every entry below this is indexed (0 while the database opens).
    pub fn indexed(&self) -> u64 {
        self.indexed.borrow().unwrap_or(0)
    }

    /// What the database holds in memory; None until it is open.
    pub fn memory(&self) -> Option<crate::metrics::LineageMemory> {
        self.opened.get().map(|db| db.memory())
    }

    fn check_running(&self) -> Result<(), LineageError> {
        match &*self.failed.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(reason) => Err(LineageError::Stopped(reason.clone())),
            None => Ok(()),
        }
    }

    /// Waits (up to the configured bound) until every entry below `size` is indexed.
    pub async fn wait_for(&self, size: u64) -> Result<u64, LineageError> {
        self.check_running()?;
        let mut rx = self.indexed.clone();
        let reached = tokio::time::timeout(
            self.config.max_wait,
            rx.wait_for(|i| i.is_some_and(|i| i >= size)),
        )
        .await;
        match reached {
            Ok(Ok(_)) => Ok(self.indexed()),
            _ => {
                self.check_running()?;
                Err(LineageError::NotYet {
                    indexed: self.indexed(),
                    wanted: size,
                    waited: self.config.max_wait,
                })
            }
        }
    }

    /// [`Lineage::wait_for`] for callers outside an async runtime.
    pub fn wait_for_blocking(&self, size: u64) -> Result<u64, LineageError> {
        let deadline = std::time::Instant::now() + self.config.max_wait;
        loop {
            self.check_running()?;
            let indexed = self.indexed();
            if self.is_open() && indexed >= size {
                return Ok(indexed);
            }
            if std::time::Instant::now() >= deadline {
                return Err(LineageError::NotYet {
                    indexed,
                    wanted: size,
                    waited: self.config.max_wait,
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// New alerts as they are raised.
    pub fn subscribe(&self) -> broadcast::Receiver<ContaminationAlert> {
        self.alerts.subscribe()
    }

    /// True when the log holds an event about `record` below `before`.
    /// (False while the database opens: the caller waits for the indexer and asks again.)
    pub fn has_record(&self, record: &[u8; 16], before: u64) -> Result<bool, LineageError> {
        match self.opened.get() {
            Some(db) => Ok(indexer::state_before(db, None, record, before)?.is_some()),
            None => Ok(false),
        }
    }

    /// Stops the indexer (it finishes its current chunk) and flushes the database.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.follow.advance(u64::MAX);
        let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) else {
            return;
        };
        if thread.join().is_err() {
            tracing::error!("lineage indexer panicked");
        }
        if let Some(db) = self.opened.get()
            && let Err(e) = db.persist()
        {
            tracing::warn!(error = %e, "lineage database flush failed; the next start re-indexes");
        }
    }
}

/// Opens the database in `dir` and reads its watermark; one that is unreadable or beyond the
/// log is cleared (the indexes are rebuilt from the log).
fn open_db(
    dir: &Path,
    store: &LogStore,
    config: &LineageConfig,
) -> Result<(LineageDb, Watermark), LineageError> {
    let started = std::time::Instant::now();
    let db = LineageDb::open(dir, config.cache_bytes)?;
    let layout = db.get(keys::VERSION)?;
    let mark = match db.get(keys::WATERMARK)? {
        None => Watermark::START,
        Some(bytes) => match Watermark::decode(&bytes) {
            Some(mark)
                if mark.indexed <= store.size()
                    && layout.as_deref() == Some(&[keys::LAYOUT][..]) =>
            {
                mark
            }
            _ => {
                tracing::warn!(
                    "lineage watermark unreadable, beyond the log, or of another layout; rebuilding lineage"
                );
                db.clear()?;
                Watermark::START
            }
        },
    };
    if layout.as_deref() != Some(&[keys::LAYOUT][..]) {
        let mut batch = db.batch();
        batch.insert(keys::VERSION, [keys::LAYOUT]);
        db.apply(batch)?;
    }
    tracing::info!(
        indexed = mark.indexed,
        open_ms = started.elapsed().as_millis() as u64,
        "lineage database open"
    );
    Ok((db, mark))
}

impl Drop for Lineage {
    fn drop(&mut self) {
        self.stop();
    }
}

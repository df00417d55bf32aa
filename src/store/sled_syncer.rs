//! [`SledSyncer`]: makes the leaf files' writes and sled's applied batches durable in the
//! background, off the acknowledgement path (appends are made durable by the
//! [`super::journal`] first).
//!
//! Invariants:
//! - `durable` only rises, and only to a log size whose leaves were all written to the leaf
//!   files and whose batches were all applied to sled before the sync that covered them began:
//!   everything below it survives a crash without the journal.
//! - Each sync syncs the leaf files, records in sled the size they are durable up to
//!   ([`keys::META_LEAVES_DURABLE`]), then syncs sled.
//! - Once a sync fails, `failed` is set and stays set: sled's state on disk is then unknown, and
//!   the writer refuses further appends until the store is reopened.
//! - Dropping the syncer stops its thread after one last sync.

use super::durable::{Durability, SyncTimers};
use super::error::StoreError;
use super::keys;
use super::leaf_files::LeafFiles;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the background sync sleeps between syncs, by default. Short: sled's memory rose and
/// fell by about 30 MiB in a one-minute cycle when synced every 200 ms in a soak, and stayed flat
/// when synced every 10 ms (about once per batch, as when each append waited for it).
pub const SLED_SYNC_INTERVAL: Duration = Duration::from_millis(10);

/// What the writer and the syncer's thread share.
#[derive(Debug)]
struct Shared {
    db: sled::Db,
    leaves: Arc<LeafFiles>,
    durability: Mutex<Durability>,
    /// The log size whose batches have all been applied to sled (raised by the writer).
    applied: AtomicU64,
    /// The log size whose batches are all durable in sled.
    durable: AtomicU64,
    failed: AtomicBool,
    timers: Mutex<Option<SyncTimers>>,
}

impl Shared {
    fn sync(&self) -> Result<(), StoreError> {
        let mut durability = self.durability.lock().map_err(|_| StoreError::Poisoned)?;
        if self.failed.load(Ordering::Acquire) {
            return Err(StoreError::Poisoned);
        }
        let size = self.applied.load(Ordering::Acquire);
        let started = Instant::now();
        // Recorded in sled once the files are synced, so the replay at open rewrites only the
        // leaves of appends after it.
        let synced = self.leaves.sync().map_err(StoreError::from).and_then(|()| {
            self.db
                .insert(keys::META_LEAVES_DURABLE, &keys::leaves_durable_value(size))?;
            durability.sync(&self.db).map_err(StoreError::from)
        });
        match synced {
            Ok(flushed) => {
                if let Ok(timers) = self.timers.lock()
                    && let Some(timers) = timers.as_ref()
                {
                    timers.sled_sync.observe_duration(started.elapsed());
                    timers.flush.observe_duration(flushed);
                }
                self.durable.fetch_max(size, Ordering::AcqRel);
                Ok(())
            }
            Err(e) => {
                self.failed.store(true, Ordering::Release);
                Err(e)
            }
        }
    }
}

/// The background sled sync of one store.
#[derive(Debug)]
pub struct SledSyncer {
    shared: Arc<Shared>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl SledSyncer {
    /// Starts syncing `leaves` and `db` every `interval`; `size` is the log size already
    /// durable in them.
    pub fn start(
        db: sled::Db,
        leaves: Arc<LeafFiles>,
        durability: Durability,
        size: u64,
        interval: Duration,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            db,
            leaves,
            durability: Mutex::new(durability),
            applied: AtomicU64::new(size),
            durable: AtomicU64::new(size),
            failed: AtomicBool::new(false),
            timers: Mutex::new(None),
        });
        let (stop, stopped) = channel();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("sled-sync".into())
            .spawn(move || {
                // Off the acknowledgement path: it yields the CPU to it (sled's I/O threads,
                // started from its flushes, inherit that), but keeps the normal I/O class, so
                // that the journal's files are not reused waiting for it.
                crate::threads::lower_current_thread(crate::threads::FOLLOWER_NICE);
                sync_loop(&thread_shared, &stopped, interval)
            })?;
        Ok(SledSyncer {
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Records each background sync's time, and sled's flush within it, into `timers`.
    pub fn time_syncs(&self, timers: SyncTimers) {
        if let Ok(mut slot) = self.shared.timers.lock() {
            *slot = Some(timers);
        }
    }

    /// Notes that every batch up to log size `size` has been applied to sled.
    pub fn applied(&self, size: u64) {
        self.shared.applied.fetch_max(size, Ordering::AcqRel);
    }

    /// The log size durable in sled.
    pub fn durable(&self) -> u64 {
        self.shared.durable.load(Ordering::Acquire)
    }

    /// Whether a sync has failed (the store must be reopened).
    pub fn failed(&self) -> bool {
        self.shared.failed.load(Ordering::Acquire)
    }

    /// Syncs now, in the caller's thread: afterwards everything applied so far is durable.
    pub fn sync_now(&self) -> Result<(), StoreError> {
        self.shared.sync()
    }
}

fn sync_loop(shared: &Shared, stopped: &Receiver<()>, interval: Duration) {
    loop {
        let last = matches!(
            stopped.recv_timeout(interval),
            Ok(()) | Err(RecvTimeoutError::Disconnected)
        );
        let behind =
            shared.applied.load(Ordering::Acquire) > shared.durable.load(Ordering::Acquire);
        if behind
            && !shared.failed.load(Ordering::Acquire)
            && let Err(e) = shared.sync()
        {
            tracing::error!(error = %e, "syncing the log's database failed; appends stop until the store is reopened");
        }
        if last {
            return;
        }
    }
}

impl Drop for SledSyncer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

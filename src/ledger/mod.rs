//! The ledger: admission, sequencing and the key registry over a [`LogStore`].
//!
//! [`Ledger::append`] admits an envelope (shape, signer, strict signature, payload rules),
//! queues it for the sequencer, and answers once its batch is durable, with the entry's index,
//! the batch's checkpoint and an inclusion proof against it. Transport-agnostic: the gRPC
//! service in [`crate::api`] is a thin layer over this. Each ledger owns its [`Metrics`]: every
//! append's outcome and acknowledgement time is recorded here, whatever transport called.

mod admission;
mod budget;
mod error;
mod existence;
mod index_keys;
mod lookup;
mod rate;
mod sequencer;

#[cfg(test)]
mod tests_faults;

pub use admission::{AdmissionLimits, Admitted, AdmittedEvent, Payload, admit, external_key};
pub use error::{AppendError, Refusal};
pub use rate::RateLimit;
pub use sequencer::{BatchPolicy, Sequenced};

use crate::envelope::{self, KEY_PAYLOAD_TYPE};
use crate::fault::Faults;
use crate::lineage::{Lineage, LineageConfig};
use crate::merkle::Hash;
use crate::metrics::{AppendOutcome, Metrics, MetricsError, Scrape};
use crate::note::NoteSigner;
use crate::proto::{KeyAction, KeyRecord, KeyRegistration, Role, SignedEvent, key_action};
use crate::registry::Registry;
use crate::store::{LogStore, StoreError};
use lookup::Lookups;
use prost::Message;
use sequencer::Pending;
use std::path::Path;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

/// How the ledger admits and batches appends.
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    pub batch: BatchPolicy,
    /// Appends that may wait for the sequencer; beyond it appends are refused at once.
    pub queue_capacity: usize,
    /// Envelope bytes that may wait for the sequencer; beyond it appends are refused at once.
    pub queue_bytes: usize,
    pub limits: AdmissionLimits,
    /// How fast each signing key may append.
    pub key_rate: RateLimit,
    pub lineage: LineageConfig,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            batch: BatchPolicy::default(),
            queue_capacity: 8192,
            queue_bytes: 256 * 1024 * 1024,
            limits: AdmissionLimits::default(),
            key_rate: RateLimit::default(),
            lineage: LineageConfig::default(),
        }
    }
}

/// A durable append with its proof.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub sequenced: Sequenced,
    /// Inclusion proof of the entry in `sequenced.checkpoint`'s tree.
    pub proof: Vec<Hash>,
}

/// The running ledger. Dropping it (or [`Ledger::shutdown`]) drains the queue and stops the
/// sequencer.
pub struct Ledger {
    store: Arc<LogStore>,
    registry: Arc<RwLock<Registry>>,
    lookups: Arc<Lookups>,
    lineage: Arc<Lineage>,
    queue: Mutex<Option<SyncSender<Pending>>>,
    queue_budget: budget::QueueBudget,
    key_rates: rate::KeyRates,
    sequencer: Mutex<Option<JoinHandle<()>>>,
    config: LedgerConfig,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("store", &self.store)
            .finish()
    }
}

impl Ledger {
    /// Starts the ledger over an open store, loading the key registry from its index,
    /// bringing the hash indexes in `index_dir` up to date, and starting the lineage indexer
    /// (on `index_dir/lineage`; it catches up in the background).
    pub fn start(
        store: LogStore,
        index_dir: &Path,
        config: LedgerConfig,
    ) -> Result<Ledger, StoreError> {
        Self::start_inner(store, index_dir, config, Faults::none())
    }

    /// [`Ledger::start`] whose hash indexes' writes and syncs follow `faults` (the store's
    /// follow the faults it was opened with).
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn start_with_faults(
        store: LogStore,
        index_dir: &Path,
        config: LedgerConfig,
        faults: Faults,
    ) -> Result<Ledger, StoreError> {
        Self::start_inner(store, index_dir, config, faults)
    }

    fn start_inner(
        mut store: LogStore,
        index_dir: &Path,
        config: LedgerConfig,
        faults: Faults,
    ) -> Result<Ledger, StoreError> {
        let mut records = Vec::new();
        for entry in store.index_scan(index_keys::KEY_RECORD_PREFIX) {
            let (key, value) = entry?;
            let record = KeyRecord::decode(value.as_ref()).map_err(|e| StoreError::Corrupt {
                what: format!("key record {:?}: {e}", String::from_utf8_lossy(&key)),
            })?;
            records.push(record);
        }
        let registry = Registry::from_records(records).map_err(|e| StoreError::Corrupt {
            what: format!("key registry: {e}"),
        })?;
        if registry.is_empty() && store.size() > 0 {
            return Err(StoreError::Corrupt {
                what: "the log has entries but no key registry".into(),
            });
        }
        let lookups = Arc::new(Lookups::open(index_dir, &store, faults)?);
        let metrics = Arc::new(Metrics::new());
        store.time_syncs(metrics.sync_timers());
        let store = Arc::new(store);
        let lineage = Lineage::open_counted(
            &index_dir.join("lineage"),
            store.clone(),
            config.lineage.clone(),
            metrics.alerts_counter(),
        )
        .map_err(|e| StoreError::Corrupt {
            what: format!("lineage database: {e}"),
        })?;
        let lineage = Arc::new(lineage);
        let registry = Arc::new(RwLock::new(registry));
        let (tx, rx) = sync_channel(config.queue_capacity);
        let handle = {
            let (store, registry, lookups, follow, policy, metrics) = (
                store.clone(),
                registry.clone(),
                lookups.clone(),
                lineage.follow(),
                config.batch.clone(),
                metrics.clone(),
            );
            std::thread::Builder::new()
                .name("provledger-sequencer".into())
                .spawn(move || {
                    sequencer::run(rx, store, registry, lookups, follow, policy, &metrics)
                })
                .map_err(StoreError::Io)?
        };
        Ok(Ledger {
            store,
            registry,
            lookups,
            lineage,
            queue: Mutex::new(Some(tx)),
            queue_budget: budget::QueueBudget::new(config.queue_bytes),
            key_rates: rate::KeyRates::new(config.key_rate),
            sequencer: Mutex::new(Some(handle)),
            config,
            metrics,
        })
    }

    /// Creates a new log in `dir` whose first entry registers `admin` as the first admin key.
    pub fn init(
        dir: &Path,
        index_dir: &Path,
        origin: &str,
        log_signer: NoteSigner,
        admin: &NoteSigner,
    ) -> Result<(), AppendError> {
        let store = LogStore::create(dir, origin, log_signer)?;
        let ledger = Ledger::start(store, index_dir, LedgerConfig::default())?;
        let genesis = key_action_envelope(
            admin,
            key_action::Action::Register(KeyRegistration {
                vkey: admin.verifier().to_vkey(),
                role: Role::Admin as i32,
                description: "first admin key, created by provledger init".into(),
                ..Default::default()
            }),
        );
        ledger.append_blocking(Some(genesis))?;
        ledger.shutdown();
        Ok(())
    }

    /// The store, for reads.
    pub fn store(&self) -> &LogStore {
        &self.store
    }

    /// A snapshot of the key registry.
    pub fn registry(&self) -> Registry {
        match self.registry.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The lineage indexes and queries.
    pub fn lineage(&self) -> &Arc<Lineage> {
        &self.lineage
    }

    /// This ledger's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The metrics in the OpenMetrics text format, with the values read at scrape time (tree
    /// size, checkpoint age, lineage indexer lag). Reads one leaf from the store.
    pub fn render_metrics(&self) -> Result<String, MetricsError> {
        let latest = self.store.latest();
        let tree_size = latest.checkpoint.size;
        // The latest checkpoint was signed in the batch that sequenced the last entry, so that
        // entry's sequencing time is the checkpoint's.
        let checkpoint_time = match tree_size.checked_sub(1) {
            None => None,
            Some(last) => match self.store.leaves(last, 1) {
                Ok(leaves) => leaves.first().and_then(|leaf| logged_at(leaf)),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: the last entry could not be read");
                    None
                }
            },
        };
        self.metrics.render(&Scrape {
            tree_size,
            lineage_indexed: self.lineage.indexed(),
            checkpoint_time,
            lineage_memory: self.lineage.memory(),
        })
    }

    /// Admits, sequences and durably appends one envelope; answers with its receipt.
    pub async fn append(&self, envelope: Option<SignedEvent>) -> Result<Receipt, AppendError> {
        let started = Instant::now();
        let answer = self.append_unrecorded(envelope).await;
        self.record(&answer, started);
        answer
    }

    /// [`Ledger::append`] for callers outside an async runtime (it blocks the thread; calling it
    /// from inside a runtime panics).
    pub fn append_blocking(&self, envelope: Option<SignedEvent>) -> Result<Receipt, AppendError> {
        let started = Instant::now();
        let answer = self.append_blocking_unrecorded(envelope);
        self.record(&answer, started);
        answer
    }

    fn record(&self, answer: &Result<Receipt, AppendError>, started: Instant) {
        let outcome = match answer {
            Ok(r) if r.sequenced.duplicate => AppendOutcome::Duplicate,
            Ok(_) => AppendOutcome::Appended,
            Err(e) => AppendOutcome::Refused(e.refusal),
        };
        self.metrics.append_answered(outcome, started.elapsed());
    }

    async fn append_unrecorded(
        &self,
        envelope: Option<SignedEvent>,
    ) -> Result<Receipt, AppendError> {
        let arrived = Instant::now();
        let admitted = self.admit(envelope)?;
        if let Some(wait) = existence::check(&admitted.payload, &self.store, &self.lineage, false)?
        {
            self.lineage
                .wait_for(wait.size)
                .await
                .map_err(existence::unavailable)?;
            existence::check(&admitted.payload, &self.store, &self.lineage, true)?;
        }
        let answer = self.enqueue(admitted)?;
        self.metrics.admitted(arrived.elapsed());
        let sequenced = answer
            .await
            .map_err(|_| AppendError::new(Refusal::Unavailable, "the log stopped"))??;
        self.receipt(sequenced)
    }

    fn append_blocking_unrecorded(
        &self,
        envelope: Option<SignedEvent>,
    ) -> Result<Receipt, AppendError> {
        let arrived = Instant::now();
        let admitted = self.admit(envelope)?;
        if let Some(wait) = existence::check(&admitted.payload, &self.store, &self.lineage, false)?
        {
            self.lineage
                .wait_for_blocking(wait.size)
                .map_err(existence::unavailable)?;
            existence::check(&admitted.payload, &self.store, &self.lineage, true)?;
        }
        let answer = self.enqueue(admitted)?;
        self.metrics.admitted(arrived.elapsed());
        let sequenced = answer
            .blocking_recv()
            .map_err(|_| AppendError::new(Refusal::Unavailable, "the log stopped"))??;
        self.receipt(sequenced)
    }

    fn admit(&self, envelope: Option<SignedEvent>) -> Result<Admitted, AppendError> {
        let registry = match self.registry.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let admitted = admission::admit(envelope, &registry, &self.config.limits)?;
        drop(registry);
        // After the signature verified: only the key's holder can spend its budget.
        self.key_rates.take(&admitted.envelope.key_id)?;
        Ok(admitted)
    }

    fn enqueue(
        &self,
        admitted: Admitted,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<Sequenced, AppendError>>, AppendError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let queue = match self.queue.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let queue = queue
            .ok_or_else(|| AppendError::new(Refusal::Unavailable, "the log is shutting down"))?;
        let size = admitted.envelope.payload.len() + admitted.envelope.signature.len();
        let held = self.queue_budget.reserve(size)?;
        // Counted before it is sent, so the sequencer never takes it out before it is in.
        self.metrics.queued();
        let sent = queue.try_send(Pending {
            admitted,
            reply,
            _held: held,
            queued_at: Instant::now(),
        });
        if sent.is_err() {
            self.metrics.dequeued(1);
        }
        match sent {
            Ok(()) => Ok(answer),
            Err(TrySendError::Full(_)) => Err(AppendError::new(
                Refusal::ResourceExhausted,
                format!(
                    "the append queue is full ({} waiting); retry later",
                    self.config.queue_capacity
                ),
            )),
            Err(TrySendError::Disconnected(_)) => Err(AppendError::new(
                Refusal::Unavailable,
                "the log is shutting down",
            )),
        }
    }

    /// The receipt of a sequenced append; records the time since the sequencer answered it.
    fn receipt(&self, sequenced: Sequenced) -> Result<Receipt, AppendError> {
        let building = Instant::now();
        let proof = self
            .store
            .inclusion_proof(sequenced.index, sequenced.checkpoint.checkpoint.size);
        self.metrics
            .answered(sequenced.answered_at.elapsed(), building.elapsed());
        Ok(Receipt {
            sequenced,
            proof: proof?,
        })
    }

    /// Committed entries the hash-index writer has not yet moved to its files (bounded by
    /// [`lookup::MAX_PENDING`]; lookups see them either way).
    pub fn index_lag(&self) -> usize {
        self.lookups.lag()
    }

    /// Envelope bytes waiting for the sequencer now (bounded by [`LedgerConfig::queue_bytes`]).
    pub fn queued_bytes(&self) -> usize {
        self.queue_budget.held()
    }

    /// The index of the entry whose leaf hash is `hash`, if the log holds one.
    pub fn index_of_leaf(&self, hash: &Hash) -> Result<Option<u64>, StoreError> {
        self.lookups.find_leaf(&self.store, hash)
    }

    /// Stops taking appends, commits everything already queued, and stops the sequencer.
    pub fn shutdown(&self) {
        if let Ok(mut queue) = self.queue.lock() {
            queue.take();
        }
        let handle = self.sequencer.lock().ok().and_then(|mut h| h.take());
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("sequencer thread panicked");
        }
        self.lineage.stop();
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The sequencing time of an encoded leaf.
fn logged_at(leaf: &[u8]) -> Option<std::time::SystemTime> {
    let leaf = crate::proto::LogLeaf::decode(leaf).ok()?;
    let t = leaf.logged_at?;
    std::time::SystemTime::try_from(prost_types::Timestamp {
        seconds: t.seconds,
        nanos: t.nanos,
    })
    .ok()
}

/// Signs a key action into an envelope.
pub fn key_action_envelope(signer: &NoteSigner, action: key_action::Action) -> SignedEvent {
    let payload = KeyAction {
        action: Some(action),
    }
    .encode_to_vec();
    envelope::sign(signer, KEY_PAYLOAD_TYPE, payload)
}

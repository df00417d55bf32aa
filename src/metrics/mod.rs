//! The service's metrics: their definitions, the hooks the ledger, sequencer, store, indexer
//! and API services call, and the Prometheus/OpenMetrics text rendering served at `/metrics`.
//!
//! Owns one [`Metrics`] per [`crate::ledger::Ledger`], with its own `prometheus-client`
//! [`Registry`] (no global state: several ledgers in one process never share counters).
//!
//! Invariants:
//! - Every labelled series is created at construction, and the hot paths keep handles to them:
//!   recording an event is one or a few relaxed atomic additions, never a lock, a map lookup or
//!   an allocation. Every series therefore shows from the first scrape, at zero.
//! - Values that are cheap to read but costly to track (tree size, checkpoint age, indexer lag,
//!   process metrics, the allocator's figures) are read at scrape time only ([`Scrape`],
//!   [`process`], [`allocator`]). The last two describe the whole process, whichever ledger
//!   renders them.
//! - Names start with `provledger_` (the standard `process_*` ones excepted) and carry their unit.

pub mod allocator;
mod histogram;
pub mod process;

pub use histogram::AtomicHistogram;

use crate::ledger::Refusal;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use std::time::{Duration, Instant, SystemTime};

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Why the metrics could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("rendering metrics: {0}")]
    Render(#[from] std::fmt::Error),
}

/// How an append was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Sequenced as a new entry.
    Appended,
    /// Identical signed bytes were already in the log; answered with the original entry.
    Duplicate,
    /// Not sequenced; the refusal names the status code.
    Refused(Refusal),
}

/// Every refusal, in the order of their series.
const REFUSALS: [Refusal; 7] = [
    Refusal::InvalidArgument,
    Refusal::Unauthenticated,
    Refusal::PermissionDenied,
    Refusal::FailedPrecondition,
    Refusal::ResourceExhausted,
    Refusal::Unavailable,
    Refusal::Internal,
];

/// The gRPC code name a refusal is answered with (as [`crate::api::append_status`] maps it).
pub fn code_name(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::InvalidArgument => "INVALID_ARGUMENT",
        Refusal::Unauthenticated => "UNAUTHENTICATED",
        Refusal::PermissionDenied => "PERMISSION_DENIED",
        Refusal::FailedPrecondition => "FAILED_PRECONDITION",
        Refusal::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Refusal::Unavailable => "UNAVAILABLE",
        Refusal::Internal => "INTERNAL",
    }
}

impl AppendOutcome {
    /// The outcome's series: 0 appended, 1 duplicate, then one per refusal.
    fn series(self) -> usize {
        match self {
            AppendOutcome::Appended => 0,
            AppendOutcome::Duplicate => 1,
            AppendOutcome::Refused(r) => 2 + REFUSALS.iter().position(|x| *x == r).unwrap_or(6),
        }
    }
}

/// A verifiable-log read: inclusion, consistency, entries or checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofQuery {
    Inclusion,
    Consistency,
    Entries,
    Checkpoint,
}

impl ProofQuery {
    const ALL: [ProofQuery; 4] = [
        ProofQuery::Inclusion,
        ProofQuery::Consistency,
        ProofQuery::Entries,
        ProofQuery::Checkpoint,
    ];
    fn name(self) -> &'static str {
        match self {
            ProofQuery::Inclusion => "inclusion",
            ProofQuery::Consistency => "consistency",
            ProofQuery::Entries => "entries",
            ProofQuery::Checkpoint => "checkpoint",
        }
    }
}

/// A lineage query: history, trace, descendants or alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineageQuery {
    History,
    Trace,
    Descendants,
    Alerts,
}

impl LineageQuery {
    const ALL: [LineageQuery; 4] = [
        LineageQuery::History,
        LineageQuery::Trace,
        LineageQuery::Descendants,
        LineageQuery::Alerts,
    ];
    fn name(self) -> &'static str {
        match self {
            LineageQuery::History => "history",
            LineageQuery::Trace => "trace",
            LineageQuery::Descendants => "descendants",
            LineageQuery::Alerts => "alerts",
        }
    }
}

/// Makes the latency histograms of a family.
#[derive(Debug, Clone, Copy)]
struct Latency;

impl MetricConstructor<AtomicHistogram> for Latency {
    fn new_metric(&self) -> AtomicHistogram {
        AtomicHistogram::latency()
    }
}

type Labels = Vec<(&'static str, &'static str)>;

/// Counts and latencies of one kind of query, one series per kind (and result).
#[derive(Debug)]
struct Queries {
    /// `[kind][0 = ok, 1 = error]`.
    counts: [[Counter; 2]; 4],
    seconds: [AtomicHistogram; 4],
}

impl Queries {
    /// Registers `provledger_{what}_queries` and `provledger_{what}_query_duration_seconds`;
    /// `title` is `what` as the help texts start with it.
    fn register(
        registry: &mut Registry,
        what: &str,
        title: &str,
        kinds: [&'static str; 4],
    ) -> Queries {
        let counts_family = Family::<Labels, Counter>::default();
        let seconds_family =
            Family::<Labels, AtomicHistogram, Latency>::new_with_constructor(Latency);
        let counts = kinds.map(|kind| {
            ["ok", "error"].map(|result| {
                counts_family.get_or_create_owned(&vec![("kind", kind), ("result", result)])
            })
        });
        let seconds = kinds.map(|kind| seconds_family.get_or_create_owned(&vec![("kind", kind)]));
        registry.register(
            format!("provledger_{what}_queries"),
            format!("{title} queries answered, by kind and result (ok or error)"),
            counts_family,
        );
        registry.register(
            format!("provledger_{what}_query_duration_seconds"),
            format!("Time to answer a {what} query, by kind"),
            seconds_family,
        );
        Queries { counts, seconds }
    }

    fn record(&self, kind: usize, ok: bool, elapsed: Duration) {
        self.counts[kind][usize::from(!ok)].inc();
        self.seconds[kind].observe_duration(elapsed);
    }
}

/// Records one query when dropped: its latency, and a result of `error` unless
/// [`QueryTimer::ok`] was called (so an early `?` return or a cancelled call counts as an error).
#[derive(Debug)]
#[must_use = "a query is recorded when its timer is dropped"]
pub struct QueryTimer<'a> {
    queries: &'a Queries,
    kind: usize,
    started: Instant,
    ok: bool,
}

impl<'a> QueryTimer<'a> {
    fn new(queries: &'a Queries, kind: usize) -> Self {
        QueryTimer {
            queries,
            kind,
            started: Instant::now(),
            ok: false,
        }
    }

    /// The query succeeded; it is recorded now.
    pub fn ok(mut self) {
        self.ok = true;
    }
}

impl Drop for QueryTimer<'_> {
    fn drop(&mut self) {
        self.queries
            .record(self.kind, self.ok, self.started.elapsed());
    }
}

/// Values read at scrape time from the ledger.
#[derive(Debug, Clone, Copy)]
pub struct Scrape {
    /// Entries in the log (the latest checkpoint's size).
    pub tree_size: u64,
    /// Entries the lineage indexer has filed.
    pub lineage_indexed: u64,
    /// When the latest checkpoint was made (the sequencing time of the last entry); None for
    /// an empty log or when it could not be read.
    pub checkpoint_time: Option<SystemTime>,
    /// The lineage database's memory, once it is open.
    pub lineage_memory: Option<LineageMemory>,
}

/// What the lineage database holds in memory, in bytes, as it reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineageMemory {
    /// Table blocks in its block cache (bounded by `lineage.cache_bytes`).
    pub cache: u64,
    /// Writes in its memtables, the active one and those waiting to be flushed.
    pub memtables: u64,
}

/// Registers a latency histogram (seconds, [`AtomicHistogram::latency`]) under `name`.
fn register_latency(registry: &mut Registry, name: &str, help: &str) -> AtomicHistogram {
    let histogram = AtomicHistogram::latency();
    registry.register(name, help, histogram.clone());
    histogram
}

/// One ledger's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Indexed by [`AppendOutcome::series`].
    appends: [Counter; 9],
    ack_seconds: AtomicHistogram,
    batch_entries: AtomicHistogram,
    fsync_seconds: AtomicHistogram,
    sled_sync_seconds: AtomicHistogram,
    sled_flush_seconds: AtomicHistogram,
    node_write_seconds: AtomicHistogram,
    sled_apply_seconds: AtomicHistogram,
    queue_wait_seconds: AtomicHistogram,
    commit_seconds: AtomicHistogram,
    admission_seconds: AtomicHistogram,
    answer_seconds: AtomicHistogram,
    receipt_proof_seconds: AtomicHistogram,
    runtime_delay_seconds: AtomicHistogram,
    queue_depth: Gauge,
    alerts_raised: Counter,
    proofs: Queries,
    lineage: Queries,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric, all at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let appends_family = Family::<Labels, Counter>::default();
        let outcome_labels = |series: usize| -> Labels {
            match series {
                0 => vec![("outcome", "appended"), ("code", "OK")],
                1 => vec![("outcome", "duplicate"), ("code", "OK")],
                n => vec![("outcome", "refused"), ("code", code_name(REFUSALS[n - 2]))],
            }
        };
        let appends = std::array::from_fn(|series| {
            appends_family.get_or_create_owned(&outcome_labels(series))
        });
        registry.register(
            "provledger_appends",
            "Appends answered by the ledger, by outcome (appended, duplicate, refused) and status code",
            appends_family,
        );
        let ack_seconds = register_latency(
            &mut registry,
            "provledger_append_ack_duration_seconds",
            "Time from an append's admission to its durable answer (appended and duplicate appends)",
        );
        let batch_entries = AtomicHistogram::batch_sizes();
        registry.register(
            "provledger_batch_entries",
            "Appends the sequencer took into one batch",
            batch_entries.clone(),
        );
        let fsync_seconds = register_latency(
            &mut registry,
            "provledger_fsync_duration_seconds",
            "Time to make one batch durable before its acknowledgement: its journal record written and fdatasynced (a batch too large for the journal: a whole database sync)",
        );
        let sled_sync_seconds = register_latency(
            &mut registry,
            "provledger_sled_sync_seconds",
            "Time of one background sync of the log's leaf files (fdatasync) and database (sled's flush and the fsyncs), which lets the journal be reused; off the acknowledgement path",
        );
        let sled_flush_seconds = register_latency(
            &mut registry,
            "provledger_sled_flush_seconds",
            "Time sled's flush took within one background sync: writing its buffers to its file and waiting for that range to reach the disk (sync_file_range); the rest of the sync is the fsyncs of the file's metadata and blobs",
        );
        let node_write_seconds = register_latency(
            &mut registry,
            "provledger_commit_node_write_seconds",
            "Time the sequencer spent writing one batch's leaves to the leaf files and its new tree nodes to the node files (part of provledger_commit_duration_seconds)",
        );
        let sled_apply_seconds = register_latency(
            &mut registry,
            "provledger_commit_sled_apply_seconds",
            "Time the sequencer spent applying one batch's checkpoint and index entries to the log's sled database, in memory before the journal sync (part of provledger_commit_duration_seconds)",
        );
        let queue_wait_seconds = register_latency(
            &mut registry,
            "provledger_append_queue_wait_seconds",
            "Time an admitted append waited in the queue before the sequencer took it into a batch",
        );
        let commit_seconds = register_latency(
            &mut registry,
            "provledger_commit_duration_seconds",
            "Time the sequencer spent on one batch: checks, duplicate lookups, writes, sync and answers",
        );
        let admission_seconds = register_latency(
            &mut registry,
            "provledger_append_admission_seconds",
            "Time from an append's arrival to its entering the queue: envelope checks, signature, field rules and any wait for parents to be indexed",
        );
        let answer_seconds = register_latency(
            &mut registry,
            "provledger_append_answer_seconds",
            "Time from the sequencer's answer to the append's receipt being ready: waking the caller's task and building the receipt's inclusion proof",
        );
        let receipt_proof_seconds = register_latency(
            &mut registry,
            "provledger_append_receipt_proof_seconds",
            "Time to build an append's receipt proof (its inclusion proof under the batch's checkpoint), the part of provledger_append_answer_seconds after the caller's task is running again",
        );
        let runtime_delay_seconds = register_latency(
            &mut registry,
            "provledger_runtime_wake_delay_seconds",
            "How late the server's async runtime ran a task woken by a timer every 10 ms (while the server serves requests): a delay here delays every request's task by as much",
        );
        let queue_depth = Gauge::default();
        registry.register(
            "provledger_append_queue_depth",
            "Admitted appends waiting for the sequencer",
            queue_depth.clone(),
        );
        let alerts_raised = Counter::default();
        registry.register(
            "provledger_contamination_alerts",
            "Contamination alerts raised by the lineage indexer since the server started",
            alerts_raised.clone(),
        );
        let proofs = Queries::register(
            &mut registry,
            "proof",
            "Proof and log read",
            ProofQuery::ALL.map(ProofQuery::name),
        );
        let lineage = Queries::register(
            &mut registry,
            "lineage",
            "Lineage",
            LineageQuery::ALL.map(LineageQuery::name),
        );
        registry.register_collector(Box::new(process::ProcessCollector));
        Metrics {
            registry,
            appends,
            ack_seconds,
            batch_entries,
            fsync_seconds,
            sled_sync_seconds,
            sled_flush_seconds,
            node_write_seconds,
            sled_apply_seconds,
            queue_wait_seconds,
            commit_seconds,
            admission_seconds,
            answer_seconds,
            receipt_proof_seconds,
            runtime_delay_seconds,
            queue_depth,
            alerts_raised,
            proofs,
            lineage,
        }
    }

    /// An append was answered, `elapsed` after it was submitted.
    pub fn append_answered(&self, outcome: AppendOutcome, elapsed: Duration) {
        self.appends[outcome.series()].inc();
        if !matches!(outcome, AppendOutcome::Refused(_)) {
            self.ack_seconds.observe_duration(elapsed);
        }
    }

    /// An append entered the sequencer's queue.
    pub fn queued(&self) {
        self.queue_depth.inc();
    }

    /// `n` appends left the queue (into a batch, or back out when the queue refused them).
    pub fn dequeued(&self, n: usize) {
        self.queue_depth
            .dec_by(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// The sequencer took a batch of `n` appends.
    pub fn batch(&self, n: usize) {
        self.batch_entries.observe(n as u64);
    }

    /// An append waited `waited` in the queue before the sequencer took it.
    pub fn queue_waited(&self, waited: Duration) {
        self.queue_wait_seconds.observe_duration(waited);
    }

    /// An append took `took` from arrival to entering the queue.
    pub fn admitted(&self, took: Duration) {
        self.admission_seconds.observe_duration(took);
    }

    /// An append's receipt was ready `took` after the sequencer answered it, `proof` of which
    /// went into building its inclusion proof (the rest: waiting for the caller's task to run).
    pub fn answered(&self, took: Duration, proof: Duration) {
        self.answer_seconds.observe_duration(took);
        self.receipt_proof_seconds.observe_duration(proof);
    }

    /// The runtime ran a timer-woken task `late` after its deadline.
    pub fn runtime_woke(&self, late: Duration) {
        self.runtime_delay_seconds.observe_duration(late);
    }

    /// The sequencer spent `took` on one batch, from taking it to the last answer sent.
    pub fn committed(&self, took: Duration) {
        self.commit_seconds.observe_duration(took);
    }

    /// The histograms of batch sync times, of background sled syncs and of sled's flush within
    /// them (the store records into them).
    pub fn sync_timers(&self) -> crate::store::SyncTimers {
        crate::store::SyncTimers {
            sync: self.fsync_seconds.clone(),
            sled_sync: self.sled_sync_seconds.clone(),
            flush: self.sled_flush_seconds.clone(),
            nodes: self.node_write_seconds.clone(),
            apply: self.sled_apply_seconds.clone(),
        }
    }

    /// The counter of contamination alerts (the lineage indexer adds to it).
    pub fn alerts_counter(&self) -> Counter {
        self.alerts_raised.clone()
    }

    /// Times a proof or log read from now; see [`QueryTimer`].
    pub fn proof_timer(&self, kind: ProofQuery) -> QueryTimer<'_> {
        let i = ProofQuery::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        QueryTimer::new(&self.proofs, i)
    }

    /// Times a lineage query from now; see [`QueryTimer`].
    pub fn lineage_timer(&self, kind: LineageQuery) -> QueryTimer<'_> {
        let i = LineageQuery::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(0);
        QueryTimer::new(&self.lineage, i)
    }

    /// The metrics in the OpenMetrics text format, with `scrape`'s values.
    pub fn render(&self, scrape: &Scrape) -> Result<String, MetricsError> {
        let mut out = String::with_capacity(16 * 1024);
        encode_registry(&mut out, &self.registry)?;
        let mut now = Registry::default();
        now.register(
            "provledger_tree_size",
            "Entries in the log (the latest checkpoint's tree size)",
            ConstGauge::new(scrape.tree_size),
        );
        now.register(
            "provledger_lineage_indexed_size",
            "Entries the lineage indexer has filed",
            ConstGauge::new(scrape.lineage_indexed),
        );
        now.register(
            "provledger_lineage_indexer_lag_entries",
            "Entries in the log not yet filed by the lineage indexer",
            ConstGauge::new(scrape.tree_size.saturating_sub(scrape.lineage_indexed)),
        );
        if let Some(memory) = scrape.lineage_memory {
            now.register(
                "provledger_lineage_cache_bytes",
                "Bytes of table blocks in the lineage database's block cache",
                ConstGauge::new(memory.cache),
            );
            now.register(
                "provledger_lineage_memtable_bytes",
                "Bytes of writes in the lineage database's memtables (active and awaiting flush)",
                ConstGauge::new(memory.memtables),
            );
        }
        if let Some(at) = scrape.checkpoint_time {
            let age = SystemTime::now()
                .duration_since(at)
                .unwrap_or(Duration::ZERO);
            now.register(
                "provledger_checkpoint_age_seconds",
                "Seconds since the latest checkpoint was made (absent for an empty log)",
                ConstGauge::new(age.as_secs_f64()),
            );
        }
        encode_registry(&mut out, &now)?;
        encode_eof(&mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests;

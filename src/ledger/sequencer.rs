//! The sequencer: the log's single writer.
//!
//! Admitted appends wait in a bounded queue (a full queue is refused at once, never grown). One
//! thread takes everything queued — up to `max_batch`, lingering up to `linger` for more, and
//! under load waiting until `min_interval` after the previous commit began — and commits it as
//! one atomic, fsynced store batch: the leaves, the duplicate index and any key
//! registry changes together. Only then does it answer each request, all with the batch's
//! checkpoint. Within a batch it re-checks what may have changed since admission: duplicates
//! (of the log or of the batch) and the signer's registration (a revocation earlier in the same
//! batch takes effect for the entries after it).

use super::admission::{Admitted, Payload};
use super::error::{AppendError, Refusal};
use super::index_keys;
use super::lookup::{EntryKeys, Lookups};
use crate::lineage::Follow;
use crate::merkle::{Blake3, Hash, TreeHasher};
use crate::metrics::Metrics;
use crate::proto::LogLeaf;
use crate::registry::Registry;
use crate::store::{LogStore, SignedCheckpoint, StoreError};
use prost::Message;
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::oneshot;

/// How the sequencer groups appends.
#[derive(Debug, Clone)]
pub struct BatchPolicy {
    /// Most entries in one durable batch.
    pub max_batch: usize,
    /// How long to wait for more entries once one is queued (0 = commit what is queued now).
    pub linger: Duration,
    /// Under load, the least time from the start of one commit to the start of the next. "Under
    /// load" means appends were already waiting when the previous commit ended; an append that
    /// finds the sequencer idle is committed at once, so a lone caller never waits for this.
    /// Pacing caps the commit (fsync) rate and lets batches grow with the load: each commit's
    /// fixed cost (fsync, checkpoint signature, thread wake-ups) is shared by more entries.
    pub min_interval: Duration,
}

/// The default [`BatchPolicy::min_interval`].
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_millis(5);

impl Default for BatchPolicy {
    fn default() -> Self {
        BatchPolicy {
            max_batch: 1024,
            linger: Duration::ZERO,
            min_interval: DEFAULT_MIN_INTERVAL,
        }
    }
}

impl BatchPolicy {
    /// When to commit a batch whose first entry was taken at `now`: `backlog` says whether it
    /// was already waiting when the previous commit (begun at `last_start`) ended.
    fn deadline(&self, now: Instant, backlog: bool, last_start: Option<Instant>) -> Instant {
        let lingered = now + self.linger;
        match last_start {
            Some(start) if backlog => lingered.max(start + self.min_interval),
            _ => lingered,
        }
    }
}

/// A sequenced entry, durable before this exists.
#[derive(Debug, Clone)]
pub struct Sequenced {
    pub index: u64,
    pub leaf_hash: Hash,
    /// True when identical signed bytes were already in the log (`index` is the original).
    pub duplicate: bool,
    /// A checkpoint whose tree includes the entry.
    pub checkpoint: Arc<SignedCheckpoint>,
    /// When the sequencer sent this answer (for the answer-delay histogram).
    pub answered_at: Instant,
}

/// One queued append and where its answer goes.
pub(crate) struct Pending {
    pub admitted: Admitted,
    pub reply: oneshot::Sender<Result<Sequenced, AppendError>>,
    /// The queue budget this append holds until the sequencer takes it.
    pub _held: super::budget::Held,
    /// When it entered the queue.
    pub queued_at: Instant,
}

enum Outcome {
    New(usize),
    DuplicateInBatch(usize),
    DuplicateInLog(u64),
    Refused(AppendError),
}

pub(crate) fn run(
    queue: Receiver<Pending>,
    store: Arc<LogStore>,
    registry: Arc<RwLock<Registry>>,
    lookups: Arc<Lookups>,
    follow: Arc<Follow>,
    policy: BatchPolicy,
    metrics: &Metrics,
) {
    let mut state = State {
        failed: None,
        last_logged: SystemTime::UNIX_EPOCH,
    };
    let mut last_start = None;
    loop {
        let (first, backlog) = match queue.try_recv() {
            Ok(p) => (p, true),
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => match queue.recv() {
                Ok(p) => (p, false),
                Err(_) => break,
            },
        };
        let mut batch = vec![first];
        let deadline = policy.deadline(Instant::now(), backlog, last_start);
        drain(&queue, &mut batch, policy.max_batch);
        // Sleep through the wait rather than wake for each arriving append: at thousands of
        // appends a second, a wake-up each cost the sequencer more CPU than its commits, and
        // each sender a system call to wake it. The queue's byte budget bounds what arrives.
        let now = Instant::now();
        if batch.len() < policy.max_batch && now < deadline {
            std::thread::sleep(deadline - now);
            drain(&queue, &mut batch, policy.max_batch);
        }
        metrics.dequeued(batch.len());
        metrics.batch(batch.len());
        let started = Instant::now();
        for p in &batch {
            metrics.queue_waited(started.saturating_duration_since(p.queued_at));
        }
        last_start = Some(started);
        commit(batch, &store, &registry, &lookups, &mut state);
        metrics.committed(started.elapsed());
        follow.advance(store.size());
    }
    // Leave the indexes durable up to the log's size, so a restart has nothing to catch up.
    if state.failed.is_none()
        && let Err(e) = lookups.close(store.size())
    {
        tracing::error!(error = %e, "sequencer: final index sync failed; the next start re-indexes");
    }
    tracing::debug!("sequencer: queue closed, stopping");
}

/// Moves what is queued now into `batch`, up to `max` entries in all.
fn drain(queue: &Receiver<Pending>, batch: &mut Vec<Pending>, max: usize) {
    while batch.len() < max {
        match queue.try_recv() {
            Ok(p) => batch.push(p),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
        }
    }
}

/// The outcome for an append whose key is already taken in this batch (`in_batch`) or in the log
/// (`in_log`, asked only when the batch has none), or whose lookup failed; None for a new one.
fn duplicate(
    in_batch: Option<&usize>,
    in_log: impl FnOnce() -> Result<Option<u64>, StoreError>,
) -> Option<Outcome> {
    if let Some(&pos) = in_batch {
        return Some(Outcome::DuplicateInBatch(pos));
    }
    match in_log() {
        Ok(Some(original)) => Some(Outcome::DuplicateInLog(original)),
        Ok(None) => None,
        Err(e) => Some(Outcome::Refused(e.into())),
    }
}

/// What the sequencer carries from batch to batch.
struct State {
    /// Set when the hash indexes could not be updated: appends stop until a restart (which
    /// re-indexes from the last recorded watermark).
    failed: Option<String>,
    /// The sequencing time of the last batch: times never go backwards, even if the clock
    /// does, so the log can be searched by time.
    last_logged: SystemTime,
}

fn commit(
    batch: Vec<Pending>,
    store: &LogStore,
    registry: &RwLock<Registry>,
    lookups: &Lookups,
    state: &mut State,
) {
    if let Some(reason) = &state.failed {
        for p in batch {
            let _ = p.reply.send(Err(AppendError::new(
                Refusal::Unavailable,
                format!("the log stopped taking appends after an index failure ({reason}); restart the server"),
            )));
        }
        return;
    }
    let first_index = store.size();
    state.last_logged = state.last_logged.max(SystemTime::now());
    let logged_at = crate::timestamp::from_system_time(state.last_logged);
    let shared = match registry.read() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    let mut working = shared;
    let mut registry_changed = false;
    let mut leaves: Vec<Vec<u8>> = Vec::with_capacity(batch.len());
    let mut index: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(batch.len());
    let mut in_batch: HashMap<[u8; 32], usize> = HashMap::with_capacity(batch.len());
    let mut in_batch_external: HashMap<[u8; 32], usize> = HashMap::new();
    let mut hashes: Vec<EntryKeys> = Vec::with_capacity(batch.len());
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());

    for Pending {
        admitted, reply, ..
    } in batch
    {
        replies.push(reply);
        if let Some(outcome) = duplicate(in_batch.get(&admitted.id), || {
            lookups.find_envelope(store, &admitted.id)
        }) {
            outcomes.push(outcome);
            continue;
        }
        let external = match &admitted.payload {
            Payload::Event(event) => event.external,
            Payload::Key(_) => None,
        };
        if let Some(external) = &external
            && let Some(outcome) = duplicate(in_batch_external.get(external), || {
                lookups.find_external(store, external)
            })
        {
            outcomes.push(outcome);
            continue;
        }
        let at = first_index + leaves.len() as u64;
        let signer_ok = if working.is_empty() {
            Ok(())
        } else {
            working.active(&admitted.envelope.key_id).map(|_| ())
        };
        if let Err(e) = signer_ok {
            outcomes.push(Outcome::Refused(e.into()));
            continue;
        }
        if let Payload::Key(action) = &admitted.payload {
            match working.check(&admitted.envelope.key_id, action) {
                Ok(change) => {
                    if let Some(entry) = working.apply(change, at) {
                        index.push((
                            index_keys::key_record(&entry.verifier.id().name),
                            entry.record.encode_to_vec(),
                        ));
                    }
                    registry_changed = true;
                }
                Err(e) => {
                    outcomes.push(Outcome::Refused(e.into()));
                    continue;
                }
            }
        }
        let leaf = LogLeaf {
            envelope: Some(admitted.envelope),
            logged_at: Some(logged_at),
        };
        in_batch.insert(admitted.id, leaves.len());
        let leaf = leaf.encode_to_vec();
        if let Some(external) = external {
            in_batch_external.insert(external, leaves.len());
        }
        hashes.push(EntryKeys {
            envelope: admitted.id,
            leaf: Blake3::hash_leaf(&leaf),
            external,
        });
        outcomes.push(Outcome::New(leaves.len()));
        leaves.push(leaf);
    }

    let written = if leaves.is_empty() {
        Ok(())
    } else {
        store
            .append_with_index(&leaves, index)
            .map(|_| ())
            .map_err(AppendError::from)
    };
    if let Err(e) = &written {
        tracing::error!(error = %e, entries = leaves.len(), "sequencer: batch not written");
    } else {
        match lookups.insert_batch(first_index, &hashes) {
            Ok(()) => {}
            Err(e) => {
                tracing::error!(error = %e, "sequencer: hash index update failed; refusing further appends");
                state.failed = Some(e.to_string());
            }
        }
    }
    if written.is_ok() && registry_changed {
        match registry.write() {
            Ok(mut guard) => *guard = working,
            Err(poisoned) => *poisoned.into_inner() = working,
        }
    }
    let checkpoint = store.latest();
    let answered_at = Instant::now();
    for (reply, outcome) in replies.into_iter().zip(outcomes) {
        let answer = match (outcome, &written) {
            (Outcome::Refused(e), _) => Err(e),
            (Outcome::New(_) | Outcome::DuplicateInBatch(_), Err(e)) => Err(e.clone()),
            (Outcome::New(pos), Ok(())) => Ok(Sequenced {
                index: first_index + pos as u64,
                leaf_hash: hashes[pos].leaf,
                duplicate: false,
                checkpoint: checkpoint.clone(),
                answered_at,
            }),
            (Outcome::DuplicateInBatch(pos), Ok(())) => Ok(Sequenced {
                index: first_index + pos as u64,
                leaf_hash: hashes[pos].leaf,
                duplicate: true,
                checkpoint: checkpoint.clone(),
                answered_at,
            }),
            (Outcome::DuplicateInLog(original), _) => store
                .leaf_hash(original)
                .map_err(AppendError::from)
                .map(|leaf_hash| Sequenced {
                    index: original,
                    leaf_hash,
                    duplicate: true,
                    checkpoint: checkpoint.clone(),
                    answered_at,
                }),
        };
        // The caller may have gone away; the entry stays written either way.
        let _ = reply.send(answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(linger_ms: u64, interval_ms: u64) -> BatchPolicy {
        BatchPolicy {
            max_batch: 1024,
            linger: Duration::from_millis(linger_ms),
            min_interval: Duration::from_millis(interval_ms),
        }
    }

    #[test]
    fn an_append_that_finds_the_sequencer_idle_is_not_paced() {
        let now = Instant::now();
        let just_began = Some(now - Duration::from_micros(100));
        assert_eq!(policy(0, 2).deadline(now, false, just_began), now);
        assert_eq!(policy(0, 2).deadline(now, false, None), now);
        assert_eq!(
            policy(1, 2).deadline(now, false, just_began),
            now + Duration::from_millis(1)
        );
    }

    #[test]
    fn a_backlog_waits_until_the_interval_after_the_last_commit_began() {
        let now = Instant::now();
        let began = now - Duration::from_micros(800);
        assert_eq!(
            policy(0, 2).deadline(now, true, Some(began)),
            began + Duration::from_millis(2)
        );
        // A commit that took longer than the interval: no further wait.
        let long_ago = now - Duration::from_millis(5);
        assert_eq!(policy(0, 2).deadline(now, true, Some(long_ago)), now);
        // The longer of linger and pacing wins; no pacing configured means none.
        assert_eq!(
            policy(3, 2).deadline(now, true, Some(began)),
            now + Duration::from_millis(3)
        );
        assert_eq!(policy(0, 0).deadline(now, true, Some(began)), now);
    }
}

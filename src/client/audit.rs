//! The remote audit: replay a whole log from its entries, trusting only the log key.
//!
//! Every entry is downloaded in order and its leaf hash pushed into a Merkle frontier, so the
//! root at every size is recomputed from the leaves; the latest checkpoint (checked against the
//! trusted state first) and every other signed checkpoint the auditor holds must match the
//! recomputed root at their size. Every entry is replayed ([`crate::replay`]): key actions signed
//! by an active admin from the genesis entry on, every envelope's signature checked with its
//! signer's registered key, every event against the log's field rules and its key's scopes; and
//! sequencing times never decrease. Problems are collected, each naming its index, rather than
//! stopping at the first.

use super::{ClientError, VerifiedClient};
use crate::checkpoint::{Checkpoint, open_checkpoint};
use crate::merkle::{Blake3, Frontier, TreeHasher};
use crate::proto::{GetEntriesRequest, LogLeaf};
use crate::provenance::rules::EventLimits;
use crate::replay::{Replay, Replayed};
use prost::Message;

/// Most problems kept (all are counted).
const KEPT_PROBLEMS: usize = 100;

/// What the audit found.
#[derive(Debug, Clone, Default)]
pub struct LogAudit {
    /// The latest checkpoint, which the replay reached.
    pub size: u64,
    pub key_entries: u64,
    pub events: u64,
    /// Signed checkpoints whose root was recomputed from the leaves and matched.
    pub checkpoints: u64,
    /// The first problems, each naming an index or a checkpoint.
    pub problems: Vec<String>,
    pub problem_count: u64,
}

impl LogAudit {
    pub fn is_clean(&self) -> bool {
        self.problem_count == 0
    }

    fn problem(&mut self, text: String) {
        self.problem_count += 1;
        if self.problems.len() < KEPT_PROBLEMS {
            self.problems.push(text);
        }
    }
}

/// Replays the whole log behind `client` up to its latest checkpoint; `checkpoints` are more
/// signed checkpoint notes to check (e.g. receipts a producer kept); `progress` is told the
/// number of entries replayed after each page.
pub async fn audit_log(
    client: &mut VerifiedClient,
    checkpoints: &[String],
    mut progress: impl FnMut(u64, u64),
) -> Result<LogAudit, ClientError> {
    // The checkpoint trusted before this run: the latest is proven consistent with it, and its
    // root must also be the root of the log's first entries.
    let before = client.trusted().map(|t| t.checkpoint.clone());
    let (latest, _) = client.checkpoint().await?;
    let mut targets: Vec<Checkpoint> = vec![latest.checkpoint.clone()];
    targets.extend(before);
    for note in checkpoints {
        let cp = open_checkpoint(note, client.state().log_key())
            .map_err(|e| ClientError::Invalid(format!("a given checkpoint: {e}")))?;
        if cp.size > latest.checkpoint.size {
            return Err(ClientError::Invalid(format!(
                "a given checkpoint has size {}, beyond the log's latest {}",
                cp.size, latest.checkpoint.size
            )));
        }
        targets.push(cp);
    }
    targets.sort_by_key(|c| c.size);
    targets.dedup_by(|a, b| a.size == b.size && a.root == b.root);

    let size = latest.checkpoint.size;
    let mut audit = LogAudit {
        size,
        ..Default::default()
    };
    let mut frontier = Frontier::<Blake3>::new();
    let mut replay = Replay::with_rules(EventLimits::default());
    let mut last_time = (i64::MIN, i32::MIN);
    let mut next_target = 0;
    let mut check_targets = |frontier: &Frontier<Blake3>, audit: &mut LogAudit| {
        while let Some(cp) = targets
            .get(next_target)
            .filter(|c| c.size == frontier.size())
        {
            if frontier.root() == cp.root {
                audit.checkpoints += 1;
            } else {
                audit.problem(format!(
                    "checkpoint at size {}: its signed root differs from the root of the log's \
                     first {} entries",
                    cp.size, cp.size
                ));
            }
            next_target += 1;
        }
    };
    check_targets(&frontier, &mut audit);
    while frontier.size() < size {
        let start = frontier.size();
        let answer = client
            .log_client()
            .get_entries(GetEntriesRequest {
                start,
                count: size - start,
            })
            .await?
            .into_inner();
        if answer.entries.is_empty() {
            return Err(ClientError::Invalid(format!(
                "the log returned no entries from {start}, below its checkpoint's size {size}"
            )));
        }
        for entry in answer.entries {
            let index = frontier.size();
            if entry.index != index || index >= size {
                return Err(ClientError::Invalid(format!(
                    "asked for entry {index}, got {}",
                    entry.index
                )));
            }
            frontier.push(Blake3::hash_leaf(&entry.leaf), |_, _| {});
            check_targets(&frontier, &mut audit);
            let leaf = match LogLeaf::decode(entry.leaf.as_slice()) {
                Ok(leaf) => leaf,
                Err(e) => {
                    audit.problem(format!("entry {index}: leaf is not a LogLeaf: {e}"));
                    continue;
                }
            };
            let time = leaf
                .logged_at
                .as_ref()
                .map_or((i64::MIN, i32::MIN), crate::timestamp::key);
            if time < last_time {
                audit.problem(format!(
                    "entry {index}: sequenced before the entry preceding it"
                ));
            }
            last_time = last_time.max(time);
            let Some(envelope) = leaf.envelope else {
                audit.problem(format!("entry {index}: leaf holds no envelope"));
                continue;
            };
            match replay.entry(index, &envelope) {
                Ok(Replayed::Key) => audit.key_entries += 1,
                Ok(Replayed::Event(_)) => audit.events += 1,
                Err(e) => audit.problem(format!("entry {index}: {e}")),
            }
        }
        progress(frontier.size(), size);
    }
    Ok(audit)
}

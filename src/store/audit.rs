//! The full audit: recompute the whole tree from the stored leaves and check every stored node
//! and every stored checkpoint against it.
//!
//! This is tamper detection. It reports where stored data diverges, by leaf index, and what is
//! wrong: a leaf whose bytes no longer match its tree hash, an interior node that does not match
//! its children, a checkpoint whose signature fails or whose root does not match the leaves.
//! Memory stays bounded: one frontier. It reads, never writes.

use super::checkpoints::decode_checkpoint;
use super::error::StoreError;
use super::leaf_files::LeafFileError;
use super::log::LogStore;
use crate::merkle::{Frontier, NodeId, TreeHasher};

/// At most this many problems are listed; the count goes on.
const MAX_LISTED: usize = 100;
/// Leaves read from the leaf files at a time.
const READ_BATCH: u64 = 4096;

/// One thing the audit found wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditProblem {
    #[error("leaf {index} in the leaf files: {reason}")]
    LeafFile { index: u64, reason: String },
    #[error("leaf {index}: its stored bytes do not hash to the tree's leaf hash")]
    LeafHash { index: u64 },
    #[error(
        "tree node level {level} index {index} (leaves {first_leaf}..): stored hash differs from \
         the hash recomputed from the leaves"
    )]
    Node {
        level: u8,
        index: u64,
        first_leaf: u64,
    },
    #[error("tree node level {level} index {index} is missing")]
    MissingNode { level: u8, index: u64 },
    #[error("checkpoint at size {size}: {reason}")]
    Checkpoint { size: u64, reason: String },
    #[error(
        "checkpoint at size {size}: its signed root differs from the root of the stored leaves"
    )]
    CheckpointRoot { size: u64 },
    #[error("the store holds {leaves} leaves but its latest checkpoint is for size {size}")]
    SizeMismatch { leaves: u64, size: u64 },
}

impl AuditProblem {
    /// The first leaf index the problem concerns, if it is about leaves.
    pub fn leaf_index(&self) -> Option<u64> {
        match self {
            AuditProblem::LeafFile { index, .. } => Some(*index),
            AuditProblem::LeafHash { index } => Some(*index),
            AuditProblem::Node { first_leaf, .. } => Some(*first_leaf),
            AuditProblem::MissingNode { level, index } => Some(index << level),
            AuditProblem::CheckpointRoot { size } => Some(size.saturating_sub(1)),
            _ => None,
        }
    }
}

/// What the audit checked and found.
#[derive(Debug, Clone, Default)]
pub struct AuditReport {
    /// Leaves recomputed.
    pub leaves: u64,
    /// Checkpoints checked (signature, origin, size and root).
    pub checkpoints: u64,
    /// Problems found, in log order, at most 100 listed.
    pub problems: Vec<AuditProblem>,
    /// Problems found in all.
    pub problem_count: u64,
}

impl AuditReport {
    /// True when nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problem_count == 0
    }

    fn found(&mut self, problem: AuditProblem) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(problem);
        }
    }
}

/// Audits the whole store. Errors only when storage itself fails; everything wrong with the
/// stored data is a problem in the report.
pub fn audit<H: TreeHasher>(store: &LogStore<H>) -> Result<AuditReport, StoreError> {
    let mut report = AuditReport::default();
    // Every stored checkpoint is checked, the newest included even if it does not verify (a
    // store opened with `LogStore::open_for_audit` then publishes an older one).
    let latest_size = match store.stored_checkpoint_sizes().last() {
        Some(size) => size?,
        None => 0,
    };
    let mut sizes = store.stored_checkpoint_sizes().peekable();
    let mut frontier = Frontier::<H>::new();

    // Checkpoints at sizes reached so far.
    let check_checkpoints = |size: u64,
                             root: &[u8; 32],
                             sizes: &mut std::iter::Peekable<_>,
                             report: &mut AuditReport|
     -> Result<(), StoreError> {
        while let Some(next) = sizes.peek() {
            let next: &Result<u64, StoreError> = next;
            let at = match next {
                Ok(at) if *at > size => break,
                Ok(at) => *at,
                Err(_) => {
                    return Err(sizes
                        .next()
                        .and_then(Result::err)
                        .unwrap_or(StoreError::Poisoned));
                }
            };
            sizes.next();
            report.checkpoints += 1;
            check_one_checkpoint(store, at, size, root, report)?;
        }
        Ok(())
    };
    check_checkpoints(0, &H::empty_root(), &mut sizes, &mut report)?;

    // Leaves past the newest checkpoint are from an append that never committed: not the log's.
    let stored = store.stored_leaf_count()?.min(latest_size);
    // Where the leaf files stop making sense, if they do: reported after the leaves before it.
    let mut unreadable = None;
    while frontier.size() < stored && unreadable.is_none() {
        let start = frontier.size();
        let mut end = stored.min(start + READ_BATCH);
        let leaves = loop {
            match store.stored_leaves(start, end) {
                Ok(leaves) => break leaves,
                Err(LeafFileError::Malformed { index, reason }) => {
                    unreadable = Some(AuditProblem::LeafFile { index, reason });
                    if index <= start || index >= end {
                        break Vec::new();
                    }
                    // The leaves before the first malformed one still read.
                    end = index;
                }
                Err(LeafFileError::Io(e)) => return Err(e.into()),
            }
        };
        for leaf in &leaves {
            let mut created = Vec::new();
            frontier.push(H::hash_leaf(leaf), |id, hash| created.push((id, *hash)));
            for (id, hash) in created {
                compare_node(store, id, &hash, &mut report)?;
            }
            report.leaves += 1;
            check_checkpoints(frontier.size(), &frontier.root(), &mut sizes, &mut report)?;
        }
    }
    if let Some(problem) = unreadable {
        report.found(problem);
    }
    if report.leaves != latest_size {
        report.found(AuditProblem::SizeMismatch {
            leaves: report.leaves,
            size: latest_size,
        });
    }
    Ok(report)
}

fn check_one_checkpoint<H: TreeHasher>(
    store: &LogStore<H>,
    at: u64,
    size: u64,
    root: &[u8; 32],
    report: &mut AuditReport,
) -> Result<(), StoreError> {
    let note = store
        .raw_db()
        .get(super::keys::checkpoint(at))?
        .unwrap_or_default();
    match decode_checkpoint(&note, store.verifier(), store.origin(), at) {
        Err(e) => report.found(AuditProblem::Checkpoint {
            size: at,
            reason: e.to_string(),
        }),
        Ok(signed) if at == size && signed.checkpoint.root != *root => {
            report.found(AuditProblem::CheckpointRoot { size: at })
        }
        Ok(_) => {}
    }
    Ok(())
}

fn compare_node<H: TreeHasher>(
    store: &LogStore<H>,
    id: NodeId,
    hash: &[u8; 32],
    report: &mut AuditReport,
) -> Result<(), StoreError> {
    let stored = store.stored_node(id)?;
    match stored {
        None => report.found(AuditProblem::MissingNode {
            level: id.level,
            index: id.index,
        }),
        Some(stored) if stored != *hash => report.found(if id.level == 0 {
            AuditProblem::LeafHash { index: id.index }
        } else {
            AuditProblem::Node {
                level: id.level,
                index: id.index,
                first_leaf: id.first_leaf(),
            }
        }),
        Some(_) => {}
    }
    Ok(())
}

//! Proof generation, RFC 9162 §2.1.3.1 (inclusion) and §2.1.4.1 (consistency), over any store of
//! complete nodes.
//!
//! Each algorithm first lists the subtree ranges whose hashes form the proof, bottom-up; each
//! range splits into complete nodes ([`decompose`]); all nodes are fetched with one
//! [`HashReader::read_hashes`] call and folded. A proof or root for any size at most the stored
//! size needs O(log n) node reads. Checking that a size is within the log is the caller's job.

use super::hasher::{Hash, TreeHasher};
use super::node::{NodeId, decompose, fold, split_point};

/// Reads the hashes of complete nodes. Storage implements it; tests implement it with a `Vec`.
pub trait HashReader {
    /// The storage error.
    type Error: std::error::Error + Send + Sync + 'static;
    /// The hashes of `ids`, in the same order.
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Self::Error>;
}

/// Why a proof could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProofError<E: std::error::Error + 'static> {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexBeyondSize { index: u64, size: u64 },
    /// A consistency proof was asked from a larger tree to a smaller one.
    #[error("first size {first} is larger than second size {second}")]
    FirstAfterSecond { first: u64, second: u64 },
    /// Storage failed.
    #[error(transparent)]
    Read(E),
}

/// `MTH(D[0:size])`.
pub fn root<H: TreeHasher, R: HashReader>(reader: &R, size: u64) -> Result<Hash, R::Error> {
    if size == 0 {
        return Ok(H::empty_root());
    }
    Ok(hash_ranges::<H, R>(reader, &[(0, size)])?[0])
}

/// The inclusion path of leaf `index` in the tree of `size` leaves, bottom-up.
pub fn inclusion_proof<H: TreeHasher, R: HashReader>(
    reader: &R,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<R::Error>> {
    if index >= size {
        return Err(ProofError::IndexBeyondSize { index, size });
    }
    let mut ranges = Vec::new();
    path_ranges(index, 0, size, &mut ranges);
    hash_ranges::<H, R>(reader, &ranges).map_err(ProofError::Read)
}

/// The consistency proof from the tree of `first` leaves to the tree of `second` leaves.
/// Empty when `first` is 0 or equal to `second`.
pub fn consistency_proof<H: TreeHasher, R: HashReader>(
    reader: &R,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, ProofError<R::Error>> {
    if first > second {
        return Err(ProofError::FirstAfterSecond { first, second });
    }
    if first == 0 || first == second {
        return Ok(Vec::new());
    }
    let mut ranges = Vec::new();
    subproof_ranges(first, 0, second, true, &mut ranges);
    hash_ranges::<H, R>(reader, &ranges).map_err(ProofError::Read)
}

/// RFC 9162 PATH(m, D[begin:end]) as ranges, bottom-up. `m` is an absolute leaf index.
fn path_ranges(m: u64, begin: u64, end: u64, out: &mut Vec<(u64, u64)>) {
    if end - begin <= 1 {
        return;
    }
    let k = split_point(end - begin);
    if m - begin < k {
        path_ranges(m, begin, begin + k, out);
        out.push((begin + k, end));
    } else {
        path_ranges(m, begin + k, end, out);
        out.push((begin, begin + k));
    }
}

/// RFC 9162 SUBPROOF(m, D[begin:end], b) as ranges, bottom-up. `m` is an absolute size with
/// `begin < m <= end`.
fn subproof_ranges(m: u64, begin: u64, end: u64, complete: bool, out: &mut Vec<(u64, u64)>) {
    if m == end {
        if !complete {
            out.push((begin, end));
        }
        return;
    }
    let k = split_point(end - begin);
    if m - begin <= k {
        subproof_ranges(m, begin, begin + k, complete, out);
        out.push((begin + k, end));
    } else {
        subproof_ranges(m, begin + k, end, false, out);
        out.push((begin, begin + k));
    }
}

/// The hashes of subtree ranges, with one batched read.
fn hash_ranges<H: TreeHasher, R: HashReader>(
    reader: &R,
    ranges: &[(u64, u64)],
) -> Result<Vec<Hash>, R::Error> {
    let plans: Vec<Vec<NodeId>> = ranges.iter().map(|&(b, e)| decompose(b, e)).collect();
    let ids: Vec<NodeId> = plans.iter().flatten().copied().collect();
    let hashes = reader.read_hashes(&ids)?;
    let mut out = Vec::with_capacity(plans.len());
    let mut at = 0;
    for plan in &plans {
        let part = &hashes[at..at + plan.len()];
        at += plan.len();
        // A plan is never empty: ranges are non-empty.
        out.push(fold::<H>(part).unwrap_or_else(H::empty_root));
    }
    Ok(out)
}

/// A [`HashReader`] over every node of a tree held in memory: for tests, tools and small trees.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// `levels[l][i]` is the hash of node (l, i).
    levels: Vec<Vec<Hash>>,
}

/// A node that a [`MemoryTree`] does not hold.
#[derive(Debug, thiserror::Error)]
#[error("node at level {} index {} is not in the tree", .0.level, .0.index)]
pub struct MissingNode(pub NodeId);

impl MemoryTree {
    /// A tree over the given leaf hashes.
    pub fn from_leaf_hashes<H: TreeHasher>(leaf_hashes: &[Hash]) -> Self {
        let mut tree = MemoryTree::default();
        let mut frontier = super::frontier::Frontier::<H>::new();
        for h in leaf_hashes {
            frontier.push(*h, |id, hash| tree.insert(id, *hash));
        }
        tree
    }

    fn insert(&mut self, id: NodeId, hash: Hash) {
        let level = id.level as usize;
        if self.levels.len() <= level {
            self.levels.resize(level + 1, Vec::new());
        }
        debug_assert_eq!(self.levels[level].len() as u64, id.index);
        self.levels[level].push(hash);
    }
}

impl HashReader for MemoryTree {
    type Error = MissingNode;

    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, MissingNode> {
        ids.iter()
            .map(|id| {
                self.levels
                    .get(id.level as usize)
                    .and_then(|l| usize::try_from(id.index).ok().and_then(|i| l.get(i)))
                    .copied()
                    .ok_or(MissingNode(*id))
            })
            .collect()
    }
}

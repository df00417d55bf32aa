//! Tree shape: complete subtrees (nodes) and how any RFC 6962 subtree splits into them.
//!
//! A [`NodeId`] names a complete, perfect subtree: level `L`, index `i` covers leaves
//! `[i·2^L, (i+1)·2^L)`. Every node of a log of size `n` whose leaves are all below `n` never
//! changes once it exists, so storage can write it once. Any subtree of the RFC 6962 left-balanced
//! tree (`MTH(D[begin:end])`) is a fold of at most 64 complete nodes, left to right.

use super::hasher::{Hash, TreeHasher};

/// A complete subtree of `2^level` leaves starting at leaf `index << level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves (0 = a leaf hash).
    pub level: u8,
    /// Position among the nodes of this level, counted from the left.
    pub index: u64,
}

impl NodeId {
    /// The node of a single leaf.
    pub fn leaf(index: u64) -> Self {
        NodeId { level: 0, index }
    }

    /// The first leaf this node covers.
    pub fn first_leaf(&self) -> u64 {
        self.index << self.level
    }

    /// One past the last leaf this node covers.
    pub fn end_leaf(&self) -> u64 {
        (self.index + 1) << self.level
    }
}

/// The largest power of two strictly less than `n` (RFC 6962's split point `k`). `n` must be ≥ 2.
pub fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The complete nodes whose left-to-right fold is `MTH(D[begin:end])`.
///
/// `[begin, end)` must be a subtree of the RFC 6962 tree: non-empty, with `begin` a multiple of
/// the largest power of two not above `end - begin`. Every range the proof algorithms produce is.
pub fn decompose(begin: u64, end: u64) -> Vec<NodeId> {
    debug_assert!(begin < end);
    let mut nodes = Vec::with_capacity((end - begin).count_ones() as usize);
    let mut pos = begin;
    let size = end - begin;
    for level in (0..64u8).rev() {
        if size & (1u64 << level) != 0 {
            debug_assert_eq!(pos % (1u64 << level), 0, "range is not a tree subtree");
            nodes.push(NodeId {
                level,
                index: pos >> level,
            });
            pos += 1u64 << level;
        }
    }
    nodes
}

/// Folds complete-node hashes, given left to right as [`decompose`] lists them, into the subtree
/// hash: the rightmost two combine first.
pub fn fold<H: TreeHasher>(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    Some(
        rest.iter()
            .rev()
            .fold(*last, |acc, left| H::hash_children(left, &acc)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_point_is_largest_power_below() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(1 << 40), 1 << 39);
        assert_eq!(split_point((1 << 40) + 1), 1 << 40);
    }

    #[test]
    fn decompose_follows_binary_expansion() {
        assert_eq!(decompose(0, 1), vec![NodeId::leaf(0)]);
        assert_eq!(
            decompose(0, 6),
            vec![NodeId { level: 2, index: 0 }, NodeId { level: 1, index: 2 }]
        );
        assert_eq!(
            decompose(8, 15),
            vec![
                NodeId { level: 2, index: 2 },
                NodeId { level: 1, index: 6 },
                NodeId::leaf(14)
            ]
        );
    }

    #[test]
    fn node_covers_its_leaves() {
        let n = NodeId { level: 3, index: 5 };
        assert_eq!((n.first_leaf(), n.end_leaf()), (40, 48));
    }
}

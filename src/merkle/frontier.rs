//! The right edge of the tree (a compact range over `[0, size)`), used to append.
//!
//! The frontier holds one complete node per set bit of the tree size, largest first: the
//! [`decompose`](super::node::decompose) of `[0, size)`. Appending a leaf pushes its hash and
//! merges equal-level neighbours; every node this creates is complete and final, and is handed to
//! the caller so storage writes each node exactly once. Memory is O(log size).

use super::hasher::{Hash, TreeHasher};
use super::node::{NodeId, decompose, fold};
use std::marker::PhantomData;

/// The complete nodes along the right edge of a tree, with their hashes.
#[derive(Debug)]
pub struct Frontier<H: TreeHasher> {
    size: u64,
    nodes: Vec<(NodeId, Hash)>,
    hasher: PhantomData<H>,
}

impl<H: TreeHasher> Clone for Frontier<H> {
    fn clone(&self) -> Self {
        Frontier {
            size: self.size,
            nodes: self.nodes.clone(),
            hasher: PhantomData,
        }
    }
}

impl<H: TreeHasher> Default for Frontier<H> {
    fn default() -> Self {
        Self::new()
    }
}

impl<H: TreeHasher> Frontier<H> {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Frontier {
            size: 0,
            nodes: Vec::new(),
            hasher: PhantomData,
        }
    }

    /// The ids of the nodes a frontier of `size` holds, largest first.
    pub fn node_ids(size: u64) -> Vec<NodeId> {
        if size == 0 {
            Vec::new()
        } else {
            decompose(0, size)
        }
    }

    /// Rebuilds a frontier from the hashes of [`Frontier::node_ids`]`(size)`, in that order.
    /// Returns `None` when the number of hashes is wrong.
    pub fn from_hashes(size: u64, hashes: &[Hash]) -> Option<Self> {
        let ids = Self::node_ids(size);
        if ids.len() != hashes.len() {
            return None;
        }
        Some(Frontier {
            size,
            nodes: ids.into_iter().zip(hashes.iter().copied()).collect(),
            hasher: PhantomData,
        })
    }

    /// The complete nodes along the right edge, largest first.
    pub fn nodes(&self) -> &[(NodeId, Hash)] {
        &self.nodes
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash, `MTH(D[0:size])`.
    pub fn root(&self) -> Hash {
        let hashes: Vec<Hash> = self.nodes.iter().map(|(_, h)| *h).collect();
        fold::<H>(&hashes).unwrap_or_else(H::empty_root)
    }

    /// Appends one leaf hash; `created` receives every node that became complete, the leaf's own
    /// node first, then upward.
    pub fn push(&mut self, leaf_hash: Hash, mut created: impl FnMut(NodeId, &Hash)) {
        let mut node = NodeId::leaf(self.size);
        let mut hash = leaf_hash;
        created(node, &hash);
        while let Some((left, left_hash)) = self.nodes.last() {
            if left.level != node.level {
                break;
            }
            hash = H::hash_children(left_hash, &hash);
            node = NodeId {
                level: node.level + 1,
                index: left.index >> 1,
            };
            self.nodes.pop();
            created(node, &hash);
        }
        self.nodes.push((node, hash));
        self.size += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::hasher::Sha256;

    #[test]
    fn push_creates_each_node_once() {
        let mut f = Frontier::<Sha256>::new();
        let mut created = Vec::new();
        for i in 0..8u8 {
            f.push(Sha256::hash_leaf(&[i]), |id, _| created.push(id));
        }
        // 8 leaves, 4 + 2 + 1 interior nodes.
        assert_eq!(created.len(), 15);
        let mut sorted = created.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 15);
        assert_eq!(f.node_ids_held(), vec![NodeId { level: 3, index: 0 }]);
    }

    impl<H: TreeHasher> Frontier<H> {
        fn node_ids_held(&self) -> Vec<NodeId> {
            self.nodes.iter().map(|(id, _)| *id).collect()
        }
    }

    #[test]
    fn rebuilt_frontier_continues_identically() {
        let mut a = Frontier::<Sha256>::new();
        for i in 0..11u8 {
            a.push(Sha256::hash_leaf(&[i]), |_, _| {});
        }
        let hashes: Vec<Hash> = a.nodes.iter().map(|(_, h)| *h).collect();
        let mut b = Frontier::<Sha256>::from_hashes(11, &hashes).unwrap();
        assert!(Frontier::<Sha256>::from_hashes(12, &hashes).is_none());
        for i in 11..20u8 {
            a.push(Sha256::hash_leaf(&[i]), |_, _| {});
            b.push(Sha256::hash_leaf(&[i]), |_, _| {});
        }
        assert_eq!(a.root(), b.root());
        assert_eq!(a.size(), 20);
    }
}

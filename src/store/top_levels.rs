//! An in-memory copy of the tree's top levels, so most of a proof's nodes are read without a
//! system call.
//!
//! A proof reads one node per level; in the node files that is one `pread` each, and a `pread`
//! costs far more than copying 32 bytes from memory. The upper levels are small (level `l` of a
//! tree of `n` leaves has `n >> l` nodes), so this copy holds every level from the lowest one
//! with at most [`MAX_LOWEST_NODES`] nodes up to the root: about 15 levels whatever the size
//! of the tree, in at most about 2 × 32 × [`MAX_LOWEST_NODES`] bytes. As the tree grows past
//! that bound, its lowest level is dropped; levels are never added below it.
//!
//! Invariant: each held level is a prefix of its node file, node for node. The file's owner
//! updates the copy only after the file write succeeded ([`TopLevels::wrote`]), cuts it when
//! the file is cut ([`TopLevels::truncate`]), and loads it from the files on open.

use crate::merkle::{Hash, NodeId};

/// Most nodes the lowest held level may have: 32,768 nodes of 32 bytes is 1 MiB, and the levels
/// above it hold as much again.
pub const MAX_LOWEST_NODES: u64 = 1 << 15;

/// The held levels.
#[derive(Debug)]
pub struct TopLevels {
    /// The lowest level held; every level from it up is held.
    lowest: u8,
    /// Level `l`'s nodes, in order, at `levels[l]` (empty below `lowest`).
    levels: Vec<Vec<Hash>>,
}

impl TopLevels {
    /// An empty copy for a tree of up to `levels` levels, holding everything until the lowest
    /// level outgrows the bound.
    pub fn new(levels: usize) -> Self {
        TopLevels {
            lowest: 0,
            levels: vec![Vec::new(); levels],
        }
    }

    /// The lowest level to hold for files whose level `l` has `counts[l]` nodes: the lowest
    /// from which every level has at most [`MAX_LOWEST_NODES`].
    pub fn lowest_for(counts: &[u64]) -> u8 {
        let mut lowest = counts.len();
        while lowest > 0 && counts[lowest - 1] <= MAX_LOWEST_NODES {
            lowest -= 1;
        }
        lowest as u8
    }

    /// A copy holding `levels[l]` for each `l` from `lowest` up.
    pub fn loaded(lowest: u8, levels: Vec<Vec<Hash>>) -> Self {
        let mut top = TopLevels { lowest, levels };
        for level in top.levels.iter_mut().take(lowest as usize) {
            *level = Vec::new();
        }
        top
    }

    /// The held hash of `id`, or `None` if its level is not held or does not reach it.
    pub fn get(&self, id: NodeId) -> Option<Hash> {
        if id.level < self.lowest {
            return None;
        }
        let index = usize::try_from(id.index).ok()?;
        self.levels.get(id.level as usize)?.get(index).copied()
    }

    /// Records that nodes `first..` of `level` were written as `hashes`. A run that starts past
    /// the held end of its level (which a file written in order never has) is not held: the
    /// level stays as it was, still a prefix of the file, and reads past it go to the file.
    pub fn wrote(&mut self, level: u8, first: u64, hashes: &[Hash]) {
        if level < self.lowest {
            return;
        }
        let Some(held) = self.levels.get_mut(level as usize) else {
            return;
        };
        match usize::try_from(first) {
            Ok(first) if first <= held.len() => {
                held.truncate(first);
                held.extend_from_slice(hashes);
            }
            _ => {}
        }
        while (self.lowest as usize) < self.levels.len()
            && self.levels[self.lowest as usize].len() as u64 > MAX_LOWEST_NODES
        {
            self.levels[self.lowest as usize] = Vec::new();
            self.lowest += 1;
        }
    }

    /// Cuts each held level to the nodes a tree of `size` leaves has.
    pub fn truncate(&mut self, size: u64) {
        for (level, held) in self.levels.iter_mut().enumerate() {
            let keep = usize::try_from(size >> level).unwrap_or(usize::MAX);
            held.truncate(keep);
        }
    }

    /// The lowest level held.
    #[cfg(test)]
    pub fn lowest(&self) -> u8 {
        self.lowest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u64) -> Hash {
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&i.to_be_bytes());
        hash
    }

    fn id(level: u8, index: u64) -> NodeId {
        NodeId { level, index }
    }

    #[test]
    fn holds_what_was_written_and_rewrites_from_the_first_node_of_a_run() {
        let mut top = TopLevels::new(4);
        top.wrote(0, 0, &[h(1), h(2), h(3)]);
        top.wrote(1, 0, &[h(10)]);
        assert_eq!(top.get(id(0, 2)), Some(h(3)));
        assert_eq!(top.get(id(1, 0)), Some(h(10)));
        assert_eq!(top.get(id(0, 3)), None, "not written yet");
        // An append that did not commit is written over by the next one.
        top.wrote(0, 2, &[h(30), h(40)]);
        assert_eq!(top.get(id(0, 2)), Some(h(30)));
        assert_eq!(top.get(id(0, 3)), Some(h(40)));
        // A run past the held end is not held, and nothing after it either.
        top.wrote(1, 5, &[h(50)]);
        assert_eq!(top.get(id(1, 5)), None);
        assert_eq!(top.get(id(1, 0)), Some(h(10)));
    }

    #[test]
    fn drops_the_lowest_level_once_it_outgrows_the_bound() {
        let mut top = TopLevels::new(3);
        let many: Vec<Hash> = (0..=MAX_LOWEST_NODES).map(h).collect();
        top.wrote(1, 0, &[h(7)]);
        top.wrote(0, 0, &many[..MAX_LOWEST_NODES as usize]);
        assert_eq!(top.lowest(), 0, "at the bound it is still held");
        top.wrote(0, MAX_LOWEST_NODES, &many[MAX_LOWEST_NODES as usize..]);
        assert_eq!(top.lowest(), 1);
        assert_eq!(
            top.get(id(0, 0)),
            None,
            "the dropped level is read from the file"
        );
        assert_eq!(top.get(id(1, 0)), Some(h(7)));
        top.wrote(0, MAX_LOWEST_NODES + 1, &[h(1)]);
        assert_eq!(
            top.get(id(0, MAX_LOWEST_NODES + 1)),
            None,
            "never held again"
        );
    }

    #[test]
    fn truncation_cuts_every_level_to_the_tree_size() {
        let mut top = TopLevels::new(3);
        top.wrote(0, 0, &[h(1), h(2), h(3), h(4), h(5)]);
        top.wrote(1, 0, &[h(6), h(7)]);
        top.wrote(2, 0, &[h(8)]);
        top.truncate(3);
        assert_eq!(top.get(id(0, 2)), Some(h(3)));
        assert_eq!(top.get(id(0, 3)), None);
        assert_eq!(top.get(id(1, 0)), Some(h(6)));
        assert_eq!(top.get(id(1, 1)), None);
        assert_eq!(top.get(id(2, 0)), None);
    }

    #[test]
    fn the_lowest_level_for_files_is_the_lowest_under_the_bound_with_all_above() {
        assert_eq!(TopLevels::lowest_for(&[0, 0, 0]), 0);
        assert_eq!(TopLevels::lowest_for(&[MAX_LOWEST_NODES, 5, 2]), 0);
        assert_eq!(
            TopLevels::lowest_for(&[MAX_LOWEST_NODES * 2, MAX_LOWEST_NODES, 1]),
            1
        );
        assert_eq!(TopLevels::lowest_for(&[u64::MAX, u64::MAX, 1]), 2);
        let loaded = TopLevels::loaded(1, vec![vec![h(1)], vec![h(2)], vec![]]);
        assert_eq!(loaded.get(id(0, 0)), None, "below the lowest: not held");
        assert_eq!(loaded.get(id(1, 0)), Some(h(2)));
    }
}

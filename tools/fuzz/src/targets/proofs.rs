//! Merkle proofs and their verification (`merkle::verify_inclusion`, `root_from_inclusion`,
//! `verify_consistency`) with fuzzer-chosen indexes, sizes, roots and paths, and real proofs
//! from a tree built in memory that the fuzzer then damages.
//!
//! The first input byte picks the mode. Free inclusion: a path that leads to a root for
//! (index, size) verifies against that root, and never against another root, with a hash
//! dropped or added, or for another index (unless a path hash equals the node it is combined
//! with: then the mirrored leaf has the same hash, and the proof rightly holds for it too). Free consistency: a proof that verifies stops
//! verifying when the first root changes, or the second when the first size is not 0.
//! Real trees: every real proof verifies, and flipping any one bit of it, or asking about a
//! different index or size pair, makes it fail.

use crate::input::Input;
use provledger::merkle::{
    Blake3, Hash, MemoryTree, TreeHasher, consistency_proof, inclusion_proof, root,
    root_from_inclusion, verify_consistency, verify_inclusion,
};

/// More hashes than any proof for a 64-bit tree size can have.
const MAX_PATH: usize = 130;
/// Largest in-memory tree.
const MAX_LEAVES: u64 = 300;

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    match input.u8() % 3 {
        0 => free_inclusion(&mut input),
        1 => free_consistency(&mut input),
        _ => real_tree(&mut input),
    }
}

fn flipped(hash: &Hash, bit: u8) -> Hash {
    let mut h = *hash;
    h[usize::from(bit / 8) % 32] ^= 1 << (bit % 8);
    h
}

fn free_inclusion(input: &mut Input) {
    let (index, size, bit) = (input.u64(), input.u64(), input.u8());
    let leaf = input.hash();
    let path = input.hashes(MAX_PATH);
    let Ok(root) = root_from_inclusion::<Blake3>(index, size, &leaf, &path) else {
        assert!(verify_inclusion::<Blake3>(index, size, &leaf, &path, &[0; 32]).is_err());
        return;
    };
    assert_eq!(
        verify_inclusion::<Blake3>(index, size, &leaf, &path, &root),
        Ok(())
    );
    let other_root = flipped(&root, bit);
    assert!(verify_inclusion::<Blake3>(index, size, &leaf, &path, &other_root).is_err());
    // A leaf whose sibling on some level is equal to it is also at the mirrored position:
    // hashing (x, x) is the same in either order. Other indexes fail only without one.
    if has_symmetric_step(index, size, &leaf, &path) {
        return;
    }
    let shift = u32::from(bit) % 64;
    for other in [
        index ^ 1,
        index ^ (1 << shift),
        index.wrapping_add(1),
        index.wrapping_sub(1),
    ] {
        if other != index && other < size {
            let moved = verify_inclusion::<Blake3>(other, size, &leaf, &path, &root);
            assert!(
                moved.is_err(),
                "the proof for {index} verifies {other} (size {size})"
            );
        }
    }
    if let Some((_, shorter)) = path.split_last() {
        assert!(verify_inclusion::<Blake3>(index, size, &leaf, shorter, &root).is_err());
    }
    let mut longer = path.clone();
    longer.push(leaf);
    assert!(verify_inclusion::<Blake3>(index, size, &leaf, &longer, &root).is_err());
}

/// Whether, on the way from `leaf` up `path` for (index, size), a path hash equals the node it
/// is combined with (RFC 9162 §2.1.3.2's walk, written out here to see each step).
fn has_symmetric_step(index: u64, size: u64, leaf: &Hash, path: &[Hash]) -> bool {
    let (mut fn_, mut sn) = (index, size - 1);
    let mut node = *leaf;
    for p in path {
        if *p == node {
            return true;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            node = Blake3::hash_children(p, &node);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            node = Blake3::hash_children(&node, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    false
}

fn free_consistency(input: &mut Input) {
    let (first, second, bit) = (input.u64(), input.u64(), input.u8());
    let (first_root, second_root) = (input.hash(), input.hash());
    let path = input.hashes(MAX_PATH);
    if verify_consistency::<Blake3>(first, second, &first_root, &second_root, &path).is_err() {
        return;
    }
    assert!(first <= second);
    let wrong_first = flipped(&first_root, bit);
    let moved = verify_consistency::<Blake3>(first, second, &wrong_first, &second_root, &path);
    assert!(moved.is_err(), "another first root verifies");
    if first > 0 {
        let wrong_second = flipped(&second_root, bit);
        let moved = verify_consistency::<Blake3>(first, second, &first_root, &wrong_second, &path);
        assert!(moved.is_err(), "another second root verifies");
    }
}

fn real_tree(input: &mut Input) {
    let leaves = 1 + (input.u64() % MAX_LEAVES);
    let hashes: Vec<Hash> = (0..leaves)
        .map(|i| Blake3::hash_leaf(&i.to_be_bytes()))
        .collect();
    let tree = MemoryTree::from_leaf_hashes::<Blake3>(&hashes);
    let size = 1 + input.u64() % leaves;
    let index = input.u64() % size;
    let first = input.u64() % (size + 1);
    let bit = input.u64();
    let root_of = |n| root::<Blake3, _>(&tree, n).expect("the tree holds every node");
    let (size_root, first_root) = (root_of(size), root_of(first));

    let path = inclusion_proof::<Blake3, _>(&tree, index, size).expect("index < size");
    let leaf = &hashes[index as usize];
    assert_eq!(
        verify_inclusion::<Blake3>(index, size, leaf, &path, &size_root),
        Ok(())
    );
    if !path.is_empty() {
        let damaged = damage(&path, bit);
        assert!(verify_inclusion::<Blake3>(index, size, leaf, &damaged, &size_root).is_err());
    }
    let other = (index + 1 + input.u64() % size) % size;
    if other != index {
        assert!(verify_inclusion::<Blake3>(other, size, leaf, &path, &size_root).is_err());
    }

    let proof = consistency_proof::<Blake3, _>(&tree, first, size).expect("first <= size");
    assert_eq!(
        verify_consistency::<Blake3>(first, size, &first_root, &size_root, &proof),
        Ok(())
    );
    if !proof.is_empty() {
        let damaged = damage(&proof, bit);
        let moved = verify_consistency::<Blake3>(first, size, &first_root, &size_root, &damaged);
        assert!(moved.is_err(), "a damaged consistency proof verifies");
    }
    if first > 0 && first < size {
        let other_first = 1 + input.u64() % (size - 1);
        if other_first != first {
            let r = root_of(other_first);
            let moved = verify_consistency::<Blake3>(other_first, size, &r, &size_root, &proof);
            assert!(
                moved.is_err(),
                "proof {first}->{size} verifies {other_first}->{size}"
            );
        }
    }
}

/// `path` with one bit flipped, chosen by `bit`.
fn damage(path: &[Hash], bit: u64) -> Vec<Hash> {
    let mut out = path.to_vec();
    let at = (bit / 256) as usize % out.len();
    out[at] = flipped(&out[at], (bit % 256) as u8);
    out
}

//! Property tests for the Merkle core, `provledger::merkle`, on random trees of up to
//! [`MAX_LEAVES`] leaves, with BLAKE3 (the log's hash) and SHA-256.
//!
//! The expected values come from a small reference model written straight from the RFCs and
//! sharing no code with `src/merkle`: a recursive `MTH` (RFC 6962 §2.1), `PATH` (RFC 9162
//! §2.1.3.1) and `PROOF`/`SUBPROOF` (RFC 9162 §2.1.4.1), all over plain slices of leaf hashes.
//! The tests show that:
//!
//! 1. **Tree hash.** `root` over a `MemoryTree` and `Frontier::root` after `n` appends both equal
//!    the reference `MTH`, for the whole tree and for random prefixes.
//! 2. **Proof generation.** `inclusion_proof` and `consistency_proof` return exactly the reference
//!    `PATH` and `PROOF` hashes, in the same (bottom-up) order.
//! 3. **Inclusion verification.** Every inclusion proof verifies with `verify_inclusion`, and with
//!    rs_merkle's independent `MerkleProof::verify` (BLAKE3). rs_merkle also builds the very same
//!    proof hashes in the same order and the same roots, so the two agree on the tree shape.
//! 4. **Consistency verification.** Every consistency proof, `0 ≤ m ≤ n`, verifies.
//! 5. **Tamper evidence.** Changing one byte of a leaf hash, root or proof hash, changing the
//!    leaf index, or dropping or inserting a proof hash makes verification fail. Changing a tree
//!    size fails exactly when it changes the shape of the proof: inclusion and consistency proofs
//!    do not bind the tree size on their own (the size must come from the signed checkpoint with
//!    the root), and the tests assert the exact set of sizes that still verify.
//! 6. **Reopening.** A frontier rebuilt with `Frontier::from_hashes` from stored nodes continues
//!    exactly like one that never stopped: same root, same created nodes in the same order; and a
//!    continuous frontier creates every complete node exactly once, bottom-up, with the right
//!    hash.
//! 7. **Edge cases** (plain tests): the empty tree, out-of-range indices and sizes, trivial
//!    consistency proofs, and sizes beyond the stored tree.

use std::collections::HashSet;

use proptest::prelude::*;
use proptest::sample::Index;
use provledger::merkle::{
    Blake3, Frontier, Hash, HashReader, MemoryTree, NodeId, ProofError, RsMerkleBlake3, Sha256,
    TreeHasher, VerifyError, consistency_proof, inclusion_proof, root, root_from_inclusion,
    verify_consistency, verify_inclusion,
};
use rs_merkle::{MerkleProof, MerkleTree};

#[path = "merkle_properties/edge_cases.rs"]
mod edge_cases;
#[path = "merkle_properties/reference.rs"]
mod reference;
#[path = "merkle_properties/reopening.rs"]
mod reopening;
#[path = "merkle_properties/tamper.rs"]
mod tamper;

use reference::*;

/// The largest random tree.
const MAX_LEAVES: usize = 3000;
/// Cases per property. Each case builds one tree of up to `MAX_LEAVES` leaves and checks several
/// sizes and proofs on it; this keeps the whole file to a few seconds in a debug build.
const CASES: u32 = 32;
/// How many (index, size) or (first, second) pairs each case checks on its tree.
const PAIRS: usize = 6;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        // This file is the only test artifact of this suite; a failing case is printed in full
        // (seed and sizes), which is enough to turn it into a plain test.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Test data
// ---------------------------------------------------------------------------------------------

/// `n` leaf hashes; leaf `i` is the hash of the 16 bytes `seed || i`. The inputs are distinct, so
/// the hashes are distinct too (barring a collision); the tamper tests rely on that and check it.
fn leaf_hashes<H: TreeHasher>(seed: u64, n: usize) -> Vec<Hash> {
    (0..n as u64)
        .map(|i| {
            let mut data = [0u8; 16];
            data[..8].copy_from_slice(&seed.to_le_bytes());
            data[8..].copy_from_slice(&i.to_le_bytes());
            H::hash_leaf(&data)
        })
        .collect()
}

/// A tree size ≥ 1: often small, often next to a power of two (where the shape changes), and
/// otherwise anything up to `MAX_LEAVES`.
fn tree_size() -> impl Strategy<Value = usize> {
    prop_oneof![
        1usize..=40,
        (1u32..=11).prop_flat_map(|e| ((1usize << e) - 1)..=((1usize << e) + 1)),
        1usize..=MAX_LEAVES,
    ]
}

/// Random picks, turned into indices and sizes with [`Index::index`].
fn picks() -> impl Strategy<Value = Vec<(Index, Index)>> {
    prop::collection::vec(any::<(Index, Index)>(), PAIRS)
}

/// `(index, size)` pairs with `index < size ≤ n`, always including the first and last leaf of
/// the whole tree.
fn inclusion_pairs(n: usize, picks: &[(Index, Index)]) -> Vec<(usize, usize)> {
    let mut pairs = vec![(0, n), (n - 1, n)];
    for (a, b) in picks {
        let size = 1 + a.index(n);
        pairs.push((b.index(size), size));
    }
    pairs
}

/// `(first, second)` pairs with `first ≤ second ≤ n`, always including `0`, `1`, `second - 1`
/// and `second` as first size for one random second size.
fn consistency_pairs(n: usize, picks: &[(Index, Index)]) -> Vec<(usize, usize)> {
    let mut pairs = Vec::new();
    for (i, (a, b)) in picks.iter().enumerate() {
        let second = a.index(n + 1);
        pairs.push((b.index(second + 1), second));
        if i == 0 {
            pairs.extend([(0, second), (second.min(1), second), (second, second)]);
            pairs.push((second.saturating_sub(1), second));
        }
    }
    pairs.push((n / 2, n));
    pairs
}

/// `h` with byte `pos` xor-ed with `xor` (non-zero), i.e. one byte changed.
fn flip(h: &Hash, pos: usize, xor: u8) -> Hash {
    assert_ne!(xor, 0);
    let mut out = *h;
    out[pos] ^= xor;
    out
}

// ---------------------------------------------------------------------------------------------
// 1. Tree hash
// ---------------------------------------------------------------------------------------------

fn check_roots<H: TreeHasher>(seed: u64, n: usize, prefixes: &[Index]) {
    let leaves = leaf_hashes::<H>(seed, n);
    let tree = MemoryTree::from_leaf_hashes::<H>(&leaves);
    let mut sizes: Vec<usize> = prefixes.iter().map(|p| p.index(n + 1)).collect();
    sizes.extend([0, 1, n]);
    sizes.sort_unstable();
    sizes.dedup();

    let mut frontier = Frontier::<H>::new();
    let mut pushed = 0;
    for m in sizes {
        for h in &leaves[pushed..m] {
            frontier.push(*h, |_, _| {});
        }
        pushed = m;
        let expected = mth::<H>(&leaves[..m]);
        assert_eq!(frontier.size(), m as u64);
        assert_eq!(frontier.root(), expected, "Frontier::root, size {m} of {n}");
        assert_eq!(
            root::<H, _>(&tree, m as u64).unwrap(),
            expected,
            "root over MemoryTree, size {m} of {n}"
        );
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn roots_match_reference_mth_blake3(
        seed in any::<u64>(), n in tree_size(), prefixes in prop::collection::vec(any::<Index>(), 8)
    ) {
        check_roots::<Blake3>(seed, n, &prefixes);
    }

    #[test]
    fn roots_match_reference_mth_sha256(
        seed in any::<u64>(), n in tree_size(), prefixes in prop::collection::vec(any::<Index>(), 8)
    ) {
        check_roots::<Sha256>(seed, n, &prefixes);
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Proof generation, 3. inclusion verification, 4. consistency verification
// ---------------------------------------------------------------------------------------------

fn check_proofs<H: TreeHasher>(seed: u64, n: usize, picks: &[(Index, Index)]) {
    let leaves = leaf_hashes::<H>(seed, n);
    let tree = MemoryTree::from_leaf_hashes::<H>(&leaves);

    for (index, size) in inclusion_pairs(n, picks) {
        let (i, s) = (index as u64, size as u64);
        let path = inclusion_proof::<H, _>(&tree, i, s).unwrap();
        assert_eq!(
            path,
            ref_inclusion::<H>(index, &leaves[..size]),
            "inclusion proof, index {index} size {size}"
        );
        let root_hash = mth::<H>(&leaves[..size]);
        assert_eq!(
            root_from_inclusion::<H>(i, s, &leaves[index], &path),
            Ok(root_hash)
        );
        assert_eq!(
            verify_inclusion::<H>(i, s, &leaves[index], &path, &root_hash),
            Ok(()),
            "verify_inclusion, index {index} size {size}"
        );
    }

    for (first, second) in consistency_pairs(n, picks) {
        let (m, s) = (first as u64, second as u64);
        let path = consistency_proof::<H, _>(&tree, m, s).unwrap();
        assert_eq!(
            path,
            ref_consistency::<H>(first, &leaves[..second]),
            "consistency proof, {first} -> {second}"
        );
        let first_root = mth::<H>(&leaves[..first]);
        let second_root = mth::<H>(&leaves[..second]);
        assert_eq!(
            verify_consistency::<H>(m, s, &first_root, &second_root, &path),
            Ok(()),
            "verify_consistency, {first} -> {second}"
        );
    }
}

/// rs_merkle as a second, independent implementation of the same tree (BLAKE3 only: it is what
/// [`RsMerkleBlake3`] adapts).
///
/// rs_merkle builds a tree level by level, pairing nodes from the left and promoting an unpaired
/// last node unchanged. That is RFC 6962's left-balanced tree: at level `l` every node but the
/// last covers a full `2^l` leaves, so a parent splits its range at the largest power of two below
/// its size, exactly RFC 6962's `k`. Its single-leaf proof lists, level by level from the leaves
/// up, the sibling of the leaf's ancestor and skips levels where that ancestor is promoted, which
/// is RFC 9162's `PATH` order; so our paths are handed to it unchanged, and its own proofs are
/// compared with ours hash for hash.
fn check_rs_merkle(seed: u64, n: usize, picks: &[(Index, Index)]) {
    let leaves = leaf_hashes::<Blake3>(seed, n);
    let tree = MemoryTree::from_leaf_hashes::<Blake3>(&leaves);
    let full_root = root::<Blake3, _>(&tree, n as u64).unwrap();
    let rs_full = MerkleTree::<RsMerkleBlake3>::from_leaves(&leaves);
    assert_eq!(rs_full.root(), Some(full_root), "rs_merkle root, size {n}");

    for (index, size) in inclusion_pairs(n, picks) {
        let path = inclusion_proof::<Blake3, _>(&tree, index as u64, size as u64).unwrap();
        let root_hash = root::<Blake3, _>(&tree, size as u64).unwrap();
        let rs_tree = MerkleTree::<RsMerkleBlake3>::from_leaves(&leaves[..size]);
        assert_eq!(
            rs_tree.root(),
            Some(root_hash),
            "rs_merkle root, size {size}"
        );
        assert_eq!(
            rs_tree.proof(&[index]).proof_hashes(),
            path.as_slice(),
            "rs_merkle's own proof, index {index} size {size}"
        );
        assert!(
            MerkleProof::<RsMerkleBlake3>::new(path.clone()).verify(
                root_hash,
                &[index],
                &[leaves[index]],
                size
            ),
            "rs_merkle rejects our proof, index {index} size {size}"
        );
        assert_eq!(
            verify_inclusion::<Blake3>(
                index as u64,
                size as u64,
                &leaves[index],
                &path,
                &root_hash
            ),
            Ok(())
        );
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn proofs_match_reference_and_verify_blake3(
        seed in any::<u64>(), n in tree_size(), picks in picks()
    ) {
        check_proofs::<Blake3>(seed, n, &picks);
    }

    #[test]
    fn proofs_match_reference_and_verify_sha256(
        seed in any::<u64>(), n in tree_size(), picks in picks()
    ) {
        check_proofs::<Sha256>(seed, n, &picks);
    }

    #[test]
    fn rs_merkle_agrees_on_roots_and_inclusion_proofs(
        seed in any::<u64>(), n in tree_size(), picks in picks()
    ) {
        check_rs_merkle(seed, n, &picks);
    }
}

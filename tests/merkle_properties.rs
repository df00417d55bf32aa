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
// Reference model, straight from the RFCs
// ---------------------------------------------------------------------------------------------

/// RFC 6962's `k`: the largest power of two strictly less than `n` (`n ≥ 2`).
fn split(n: usize) -> usize {
    assert!(n >= 2);
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 6962 §2.1 `MTH(D[n])`, over leaves that are already hashed (`H(0x00 || d)`).
fn mth<H: TreeHasher>(d: &[Hash]) -> Hash {
    match d.len() {
        0 => H::empty_root(),
        1 => d[0],
        n => {
            let k = split(n);
            H::hash_children(&mth::<H>(&d[..k]), &mth::<H>(&d[k..]))
        }
    }
}

/// Where an inclusion proof hash sits next to the node it is combined with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

/// RFC 9162 §2.1.3.1 `PATH(m, D[n])`, each element with its side. `subtree` computes the value
/// of a subtree (`MTH` for real hashes; nothing at all when only the shape is wanted).
fn path<T, R>(m: usize, d: &[T], subtree: &impl Fn(&[T]) -> R) -> Vec<(R, Side)> {
    let n = d.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    let (mut p, sibling) = if m < k {
        (path(m, &d[..k], subtree), (subtree(&d[k..]), Side::Right))
    } else {
        (
            path(m - k, &d[k..], subtree),
            (subtree(&d[..k]), Side::Left),
        )
    };
    p.push(sibling);
    p
}

/// What a consistency proof hash is to the verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// `SUBPROOF`'s `MTH(D[m])` for `b = false`: the subtree both trees share, where the
    /// verifier starts (absent when `m` is a power of two: then the first root is that subtree).
    Seed,
    /// A left sibling: inside the first tree, so it goes into both roots.
    Left,
    /// A right sibling: beyond the first tree, so it goes into the second root only.
    Right,
}

/// RFC 9162 §2.1.4.1 `SUBPROOF(m, D[n], b)`, each element with its part.
fn subproof<T, R>(m: usize, d: &[T], b: bool, subtree: &impl Fn(&[T]) -> R) -> Vec<(R, Part)> {
    let n = d.len();
    if m == n {
        return if b {
            Vec::new()
        } else {
            vec![(subtree(d), Part::Seed)]
        };
    }
    let k = split(n);
    let (mut p, sibling) = if m <= k {
        (
            subproof(m, &d[..k], b, subtree),
            (subtree(&d[k..]), Part::Right),
        )
    } else {
        (
            subproof(m - k, &d[k..], false, subtree),
            (subtree(&d[..k]), Part::Left),
        )
    };
    p.push(sibling);
    p
}

/// RFC 9162 §2.1.4.1 `PROOF(m, D[n]) = SUBPROOF(m, D[n], true)` for `0 < m < n`; empty for
/// `m = 0` and `m = n`, where there is nothing to prove.
fn proof<T, R>(m: usize, d: &[T], subtree: &impl Fn(&[T]) -> R) -> Vec<(R, Part)> {
    if m == 0 || m == d.len() {
        Vec::new()
    } else {
        subproof(m, d, true, subtree)
    }
}

fn ref_inclusion<H: TreeHasher>(index: usize, leaves: &[Hash]) -> Vec<Hash> {
    path(index, leaves, &mth::<H>)
        .into_iter()
        .map(|(h, _)| h)
        .collect()
}

fn ref_consistency<H: TreeHasher>(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    proof(m, leaves, &mth::<H>)
        .into_iter()
        .map(|(h, _)| h)
        .collect()
}

/// The shape of `PATH(index, D[size])`: the side of each hash, bottom-up. Computed over a slice
/// of `()`, which needs no leaves and no memory.
fn inclusion_shape(index: u64, size: u64) -> Vec<Side> {
    let units = vec![(); size as usize];
    path(index as usize, &units, &|_: &[()]| ())
        .into_iter()
        .map(|(_, s)| s)
        .collect()
}

/// What a consistency verifier does for `(first, second)`, `first ≤ second`.
#[derive(Debug, PartialEq, Eq)]
enum ConsistencyShape {
    /// `first = 0`: the empty tree is a prefix of every tree; the first root must be `H("")`.
    FromEmpty,
    /// `0 < first = second`: the roots must be equal.
    SameSize,
    /// `0 < first < second`: the parts of `PROOF(first, D[second])`, bottom-up.
    Proof(Vec<Part>),
}

fn consistency_shape(first: u64, second: u64) -> ConsistencyShape {
    assert!(first <= second);
    if first == 0 {
        ConsistencyShape::FromEmpty
    } else if first == second {
        ConsistencyShape::SameSize
    } else {
        let units = vec![(); second as usize];
        ConsistencyShape::Proof(
            proof(first as usize, &units, &|_: &[()]| ())
                .into_iter()
                .map(|(_, p)| p)
                .collect(),
        )
    }
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

// ---------------------------------------------------------------------------------------------
// 5. Tamper evidence
// ---------------------------------------------------------------------------------------------

/// One byte to change (position, non-zero xor) and a few more random choices.
#[derive(Debug, Clone)]
struct Tamper {
    pos: Index,
    xor: u8,
    other: Index,
    at: Index,
    junk: [u8; 32],
}

fn tamper() -> impl Strategy<Value = Tamper> {
    (
        any::<Index>(),
        1u8..=255,
        any::<Index>(),
        any::<Index>(),
        any::<[u8; 32]>(),
    )
        .prop_map(|(pos, xor, other, at, junk)| Tamper {
            pos,
            xor,
            other,
            at,
            junk,
        })
}

fn distinct(leaves: &[Hash]) -> bool {
    leaves.iter().collect::<HashSet<_>>().len() == leaves.len()
}

/// Whether the inclusion proof for `(index, size)` also verifies as one for `(index, other)`,
/// reasoned with bits instead of the reference model: the verifier's steps depend only on the
/// highest bit where `index` and `size - 1` differ (none when equal). Below that bit the leaf's
/// ancestors have siblings on the side given by the bits of `index`; at that bit the sibling is
/// on the right; above it the ancestor is on the right edge and has a left sibling exactly at the
/// set bits of `size - 1`, which there equal the bits of `index`. A shape check for the reference
/// model, which it must agree with.
fn same_inclusion_steps_by_bits(index: u64, size: u64, other: u64) -> bool {
    let top = |last: u64| (index != last).then(|| 63 - (index ^ last).leading_zeros());
    top(size - 1) == top(other - 1)
}

fn check_inclusion_tamper<H: TreeHasher>(
    seed: u64,
    n: usize,
    picks: &[(Index, Index)],
    t: &Tamper,
) {
    let leaves = leaf_hashes::<H>(seed, n);
    assert!(distinct(&leaves));
    let tree = MemoryTree::from_leaf_hashes::<H>(&leaves);
    let pos = t.pos.index(32);

    for (index, size) in inclusion_pairs(n, picks) {
        let (i, s) = (index as u64, size as u64);
        let leaf = leaves[index];
        let path = inclusion_proof::<H, _>(&tree, i, s).unwrap();
        let root_hash = root::<H, _>(&tree, s).unwrap();
        let verify = |i: u64, s: u64, leaf: &Hash, path: &[Hash], root_hash: &Hash| {
            verify_inclusion::<H>(i, s, leaf, path, root_hash)
        };
        let case = format!("index {index} size {size}");
        assert_eq!(verify(i, s, &leaf, &path, &root_hash), Ok(()), "{case}");

        // One byte of the leaf hash, of the root, of each path hash.
        let bad_leaf = flip(&leaf, pos, t.xor);
        assert!(
            verify(i, s, &bad_leaf, &path, &root_hash).is_err(),
            "{case}"
        );
        let bad_root = flip(&root_hash, pos, t.xor);
        assert!(verify(i, s, &leaf, &path, &bad_root).is_err(), "{case}");
        for j in 0..path.len() {
            let mut bad = path.clone();
            bad[j] = flip(&bad[j], pos, t.xor);
            assert!(
                verify(i, s, &leaf, &bad, &root_hash).is_err(),
                "{case}, hash {j}"
            );
        }

        // Another leaf index. Two indices in one tree never have the same path shape (the
        // highest bit where the index differs from `size - 1` and the bits below it identify the
        // index), and the leaf hashes are distinct, so no other index can reproduce the root.
        let mut others = vec![t.other.index(size), index ^ 1, index + 1, 0, size - 1];
        others.extend(index.checked_sub(1));
        for j in others.into_iter().filter(|&j| j != index && j < size) {
            assert_ne!(inclusion_shape(j as u64, s), inclusion_shape(i, s));
            assert!(
                verify(j as u64, s, &leaf, &path, &root_hash).is_err(),
                "{case}, as index {j}"
            );
        }

        // Another tree size, ±1 and still above the index. The verifier only sees the shape of
        // the path, and a path does not fix the size: for every size whose path for this index
        // has the same shape, the same hashes reproduce the same root, so the proof still
        // verifies (e.g. leaf 0 of 5 leaves has the shape Right, Right, Right for every size from
        // 5 to 8). Such sizes are common; a root is only meaningful together with its size, as
        // in a signed checkpoint. Exactly the sizes with another shape must fail.
        for other in [s + 1, s - 1].into_iter().filter(|&o| o > i) {
            let same_shape = inclusion_shape(i, other) == inclusion_shape(i, s);
            assert_eq!(same_shape, same_inclusion_steps_by_bits(i, s, other));
            assert_eq!(
                verify(i, other, &leaf, &path, &root_hash).is_ok(),
                same_shape,
                "{case}, as size {other}"
            );
        }

        // A hash dropped or inserted: the length is wrong for every position.
        if !path.is_empty() {
            let mut short = path.clone();
            short.remove(t.at.index(path.len()));
            assert!(matches!(
                verify(i, s, &leaf, &short, &root_hash),
                Err(VerifyError::WrongLength { .. })
            ));
        }
        let mut long = path.clone();
        long.insert(t.at.index(path.len() + 1), t.junk);
        assert!(
            matches!(
                verify(i, s, &leaf, &long, &root_hash),
                Err(VerifyError::WrongLength { .. })
            ),
            "{case}"
        );
    }
}

fn check_consistency_tamper<H: TreeHasher>(
    seed: u64,
    n: usize,
    picks: &[(Index, Index)],
    t: &Tamper,
) {
    let leaves = leaf_hashes::<H>(seed, n);
    assert!(distinct(&leaves));
    let tree = MemoryTree::from_leaf_hashes::<H>(&leaves);
    let pos = t.pos.index(32);

    for (first, second) in consistency_pairs(n, picks) {
        let (m, s) = (first as u64, second as u64);
        let path = consistency_proof::<H, _>(&tree, m, s).unwrap();
        let r1 = root::<H, _>(&tree, m).unwrap();
        let r2 = root::<H, _>(&tree, s).unwrap();
        let verify = |m: u64, s: u64, r1: &Hash, r2: &Hash, path: &[Hash]| {
            verify_consistency::<H>(m, s, r1, r2, path)
        };
        let case = format!("{first} -> {second}");
        assert_eq!(verify(m, s, &r1, &r2, &path), Ok(()), "{case}");

        // One byte of the first root: it is checked in every case (against H("") when the first
        // tree is empty, against the second root when the sizes are equal).
        assert!(
            verify(m, s, &flip(&r1, pos, t.xor), &r2, &path).is_err(),
            "{case}"
        );
        // One byte of the second root. From the empty tree to a non-empty one there is nothing
        // to prove and the second root is not looked at (the empty tree is a prefix of every
        // tree, as documented on `verify_consistency`), so it still verifies; in every other
        // case, 0 -> 0 included, it must fail.
        assert_eq!(
            verify(m, s, &r1, &flip(&r2, pos, t.xor), &path).is_ok(),
            m == 0 && s > 0,
            "{case}"
        );
        for j in 0..path.len() {
            let mut bad = path.clone();
            bad[j] = flip(&bad[j], pos, t.xor);
            assert!(verify(m, s, &r1, &r2, &bad).is_err(), "{case}, hash {j}");
        }

        // Another first or second size, ±1, keeping first ≤ second. As with inclusion proofs, the
        // verifier's steps depend only on the shape of the proof, so a size pair whose proof has
        // the same shape (the same Seed/Left/Right parts in the same order) verifies with the same
        // hashes: e.g. 3 -> 5 and 3 -> 6 are both Seed (leaf 2), Right (leaf 3), Left (leaves 0-1),
        // Right (the rest).
        // Exactly the other pairs must fail; with distinct leaves, no other shape can rebuild
        // both roots. A first size of 0 is special: the verifier then only checks that the first
        // root is H("") and, when the second size is 0 too, that the second root equals it; so
        // from the empty tree any non-zero second size verifies, but 0 -> 1 does not verify as
        // 0 -> 0 (nor the other way round unless the second root is H(""), which it is).
        let shape = consistency_shape(m, s);
        let mut others = vec![(m + 1, s), (m, s + 1)];
        others.extend(m.checked_sub(1).map(|m2| (m2, s)));
        others.extend(s.checked_sub(1).map(|s2| (m, s2)));
        for (m2, s2) in others.into_iter().filter(|&(a, b)| a <= b) {
            let expected = if m2 == 0 {
                m == 0 && (s2 > 0 || s == 0)
            } else {
                consistency_shape(m2, s2) == shape
            };
            assert_eq!(
                verify(m2, s2, &r1, &r2, &path).is_ok(),
                expected,
                "{case}, as {m2} -> {s2}"
            );
        }

        // A hash dropped or inserted.
        if !path.is_empty() {
            let mut short = path.clone();
            short.remove(t.at.index(path.len()));
            assert!(
                matches!(
                    verify(m, s, &r1, &r2, &short),
                    Err(VerifyError::WrongLength { .. })
                ),
                "{case}"
            );
        }
        let mut long = path.clone();
        long.insert(t.at.index(path.len() + 1), t.junk);
        assert!(
            matches!(
                verify(m, s, &r1, &r2, &long),
                Err(VerifyError::WrongLength { .. })
            ),
            "{case}"
        );
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn tampered_inclusion_proofs_fail_blake3(
        seed in any::<u64>(), n in tree_size(), picks in picks(), t in tamper()
    ) {
        check_inclusion_tamper::<Blake3>(seed, n, &picks, &t);
    }

    #[test]
    fn tampered_inclusion_proofs_fail_sha256(
        seed in any::<u64>(), n in tree_size(), picks in picks(), t in tamper()
    ) {
        check_inclusion_tamper::<Sha256>(seed, n, &picks, &t);
    }

    #[test]
    fn tampered_consistency_proofs_fail_blake3(
        seed in any::<u64>(), n in tree_size(), picks in picks(), t in tamper()
    ) {
        check_consistency_tamper::<Blake3>(seed, n, &picks, &t);
    }

    #[test]
    fn tampered_consistency_proofs_fail_sha256(
        seed in any::<u64>(), n in tree_size(), picks in picks(), t in tamper()
    ) {
        check_consistency_tamper::<Sha256>(seed, n, &picks, &t);
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Reopening a frontier
// ---------------------------------------------------------------------------------------------

/// The hashes of all complete nodes, `levels[l][i]` for node `(l, i)`, built by pairing the level
/// below: independent of `Frontier`, which `MemoryTree` itself uses.
fn complete_levels<H: TreeHasher>(leaves: &[Hash]) -> Vec<Vec<Hash>> {
    let mut levels = vec![leaves.to_vec()];
    while levels.last().unwrap().len() >= 2 {
        let next = levels
            .last()
            .unwrap()
            .chunks_exact(2)
            .map(|pair| H::hash_children(&pair[0], &pair[1]))
            .collect();
        levels.push(next);
    }
    levels
}

fn check_reopen<H: TreeHasher>(seed: u64, n: usize, at: Index) {
    let leaves = leaf_hashes::<H>(seed, n);
    let m = at.index(n + 1);

    // One frontier over all leaves, remembering which push created which node.
    let mut continuous = Frontier::<H>::new();
    let mut created: Vec<(usize, NodeId, Hash)> = Vec::new();
    for (j, h) in leaves.iter().enumerate() {
        continuous.push(*h, |id, hash| created.push((j, id, *hash)));
    }

    // Pushing leaf j creates node (l, j >> l) for l = 0 ..= trailing ones of j, bottom-up: every
    // complete node exactly once, with its hash.
    let levels = complete_levels::<H>(&leaves);
    let expected: Vec<(usize, NodeId, Hash)> = (0..n)
        .flat_map(|j| {
            let levels = &levels;
            (0..=j.trailing_ones()).map(move |l| {
                let index = j >> l;
                let id = NodeId {
                    level: l as u8,
                    index: index as u64,
                };
                (j, id, levels[l as usize][index])
            })
        })
        .collect();
    assert_eq!(created, expected, "nodes created by {n} pushes");
    assert_eq!(continuous.root(), mth::<H>(&leaves));

    // Store only the first m leaves, reopen from the frontier's nodes, push the rest.
    let stored = MemoryTree::from_leaf_hashes::<H>(&leaves[..m]);
    let ids = Frontier::<H>::node_ids(m as u64);
    let hashes = stored.read_hashes(&ids).unwrap();
    let mut reopened = Frontier::<H>::from_hashes(m as u64, &hashes).unwrap();
    assert_eq!(reopened.size(), m as u64);
    assert_eq!(reopened.root(), mth::<H>(&leaves[..m]));
    let mut created_after = Vec::new();
    for (j, h) in leaves.iter().enumerate().skip(m) {
        reopened.push(*h, |id, hash| created_after.push((j, id, *hash)));
    }
    let continuous_after: Vec<_> = created.into_iter().filter(|&(j, _, _)| j >= m).collect();
    assert_eq!(created_after, continuous_after, "reopened at {m} of {n}");
    assert_eq!(reopened.root(), continuous.root());
    assert_eq!(reopened.size(), continuous.size());

    // The wrong number of hashes is refused.
    let mut extra = hashes.clone();
    extra.push([0; 32]);
    assert!(Frontier::<H>::from_hashes(m as u64, &extra).is_none());
    if !hashes.is_empty() {
        assert!(Frontier::<H>::from_hashes(m as u64, &hashes[1..]).is_none());
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn reopened_frontier_continues_identically_blake3(
        seed in any::<u64>(), n in tree_size(), at in any::<Index>()
    ) {
        check_reopen::<Blake3>(seed, n, at);
    }

    #[test]
    fn reopened_frontier_continues_identically_sha256(
        seed in any::<u64>(), n in tree_size(), at in any::<Index>()
    ) {
        check_reopen::<Sha256>(seed, n, at);
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Edge cases
// ---------------------------------------------------------------------------------------------

fn hex(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_empty_tree<H: TreeHasher>(expected_hex: &str) {
    assert_eq!(hex(&H::empty_root()), expected_hex);
    let tree = MemoryTree::from_leaf_hashes::<H>(&[]);
    assert_eq!(root::<H, _>(&tree, 0).unwrap(), H::empty_root());
    assert_eq!(
        root::<H, _>(&MemoryTree::default(), 0).unwrap(),
        H::empty_root()
    );
    assert_eq!(mth::<H>(&[]), H::empty_root());
    let frontier = Frontier::<H>::new();
    assert_eq!((frontier.size(), frontier.root()), (0, H::empty_root()));
    assert!(Frontier::<H>::node_ids(0).is_empty());
    let reopened = Frontier::<H>::from_hashes(0, &[]).unwrap();
    assert_eq!((reopened.size(), reopened.root()), (0, H::empty_root()));
}

#[test]
fn empty_tree_root_is_hash_of_nothing() {
    check_empty_tree::<Sha256>("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_empty_tree::<Blake3>("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
    // rs_merkle has no root for the empty tree, which is why the rs_merkle checks start at one.
    assert_eq!(MerkleTree::<RsMerkleBlake3>::from_leaves(&[]).root(), None);
}

#[test]
fn inclusion_index_at_or_beyond_size_is_an_error() {
    let leaves = leaf_hashes::<Blake3>(7, 10);
    let tree = MemoryTree::from_leaf_hashes::<Blake3>(&leaves);
    let root10 = root::<Blake3, _>(&tree, 10).unwrap();
    for (index, size) in [
        (0, 0),
        (1, 1),
        (5, 5),
        (10, 10),
        (11, 10),
        (9, 3),
        (u64::MAX, 10),
    ] {
        assert!(
            matches!(
                inclusion_proof::<Blake3, _>(&tree, index, size),
                Err(ProofError::IndexBeyondSize { index: i, size: s }) if (i, s) == (index, size)
            ),
            "index {index} size {size}"
        );
        let expected = Err(VerifyError::IndexBeyondSize { index, size });
        assert_eq!(
            verify_inclusion::<Blake3>(index, size, &leaves[0], &[], &root10),
            expected
        );
        assert_eq!(
            root_from_inclusion::<Blake3>(index, size, &leaves[0], &[]),
            expected.map(|()| root10)
        );
    }
}

#[test]
fn consistency_with_first_after_second_is_an_error() {
    let leaves = leaf_hashes::<Blake3>(7, 10);
    let tree = MemoryTree::from_leaf_hashes::<Blake3>(&leaves);
    let r = root::<Blake3, _>(&tree, 10).unwrap();
    for (first, second) in [(1, 0), (10, 9), (6, 3), (u64::MAX, 10)] {
        assert!(
            matches!(
                consistency_proof::<Blake3, _>(&tree, first, second),
                Err(ProofError::FirstAfterSecond { first: f, second: s }) if (f, s) == (first, second)
            ),
            "{first} -> {second}"
        );
        assert_eq!(
            verify_consistency::<Blake3>(first, second, &r, &r, &[]),
            Err(VerifyError::FirstAfterSecond { first, second })
        );
    }
}

#[test]
fn trivial_consistency_proofs_are_empty_and_verify() {
    let leaves = leaf_hashes::<Sha256>(3, 70);
    let tree = MemoryTree::from_leaf_hashes::<Sha256>(&leaves);
    let empty = Sha256::empty_root();
    for n in 0..=70u64 {
        let r = root::<Sha256, _>(&tree, n).unwrap();
        for (first, first_root) in [(0, empty), (n, r)] {
            let path = consistency_proof::<Sha256, _>(&tree, first, n).unwrap();
            assert!(path.is_empty(), "{first} -> {n}");
            assert_eq!(
                verify_consistency::<Sha256>(first, n, &first_root, &r, &path),
                Ok(())
            );
            // A trivial proof carries no hashes.
            assert_eq!(
                verify_consistency::<Sha256>(first, n, &first_root, &r, &[r]),
                Err(VerifyError::WrongLength { len: 1 })
            );
        }
        if n > 0 {
            // From size 0, the first root must be the empty root.
            assert_eq!(
                verify_consistency::<Sha256>(0, n, &r, &r, &[]),
                Err(VerifyError::FirstRootMismatch)
            );
        }
    }
}

#[test]
fn same_size_consistency_with_different_roots_fails() {
    let a = leaf_hashes::<Blake3>(1, 40);
    let b = leaf_hashes::<Blake3>(2, 40);
    let (ta, tb) = (
        MemoryTree::from_leaf_hashes::<Blake3>(&a),
        MemoryTree::from_leaf_hashes::<Blake3>(&b),
    );
    for n in 1..=40u64 {
        let (ra, rb) = (
            root::<Blake3, _>(&ta, n).unwrap(),
            root::<Blake3, _>(&tb, n).unwrap(),
        );
        assert_ne!(ra, rb);
        assert_eq!(
            verify_consistency::<Blake3>(n, n, &ra, &rb, &[]),
            Err(VerifyError::RootMismatch)
        );
        assert_eq!(verify_consistency::<Blake3>(n, n, &ra, &ra, &[]), Ok(()));
    }
    // Size 0 against size 0: both roots must be the empty root.
    let empty = Blake3::empty_root();
    assert_eq!(
        verify_consistency::<Blake3>(0, 0, &empty, &empty, &[]),
        Ok(())
    );
    assert!(verify_consistency::<Blake3>(0, 0, &empty, &a[0], &[]).is_err());
}

/// The concrete case behind the size rule of the tamper tests: the proof for leaf 0 of a 5-leaf
/// tree verifies, against that tree's root, for every claimed size from 5 to 8 and no other.
#[test]
fn an_inclusion_proof_alone_does_not_fix_the_tree_size() {
    let leaves = leaf_hashes::<Blake3>(11, 9);
    let tree = MemoryTree::from_leaf_hashes::<Blake3>(&leaves);
    let path = inclusion_proof::<Blake3, _>(&tree, 0, 5).unwrap();
    let root5 = root::<Blake3, _>(&tree, 5).unwrap();
    for size in 1..=12 {
        assert_eq!(
            verify_inclusion::<Blake3>(0, size, &leaves[0], &path, &root5).is_ok(),
            (5..=8).contains(&size),
            "size {size}"
        );
    }
    // Likewise the consistency proof 3 -> 5 verifies as 3 -> 6, but not as 3 -> 4 or 3 -> 9.
    let path = consistency_proof::<Blake3, _>(&tree, 3, 5).unwrap();
    let (r3, r5) = (
        root::<Blake3, _>(&tree, 3).unwrap(),
        root::<Blake3, _>(&tree, 5).unwrap(),
    );
    for second in 3..=12 {
        assert_eq!(
            verify_consistency::<Blake3>(3, second, &r3, &r5, &path).is_ok(),
            consistency_shape(3, second) == consistency_shape(3, 5),
            "3 -> {second}"
        );
    }
}

#[test]
fn sizes_beyond_the_stored_tree_are_read_errors() {
    let leaves = leaf_hashes::<Blake3>(5, 13);
    let tree = MemoryTree::from_leaf_hashes::<Blake3>(&leaves);
    assert!(root::<Blake3, _>(&tree, 14).is_err());
    assert!(matches!(
        inclusion_proof::<Blake3, _>(&tree, 0, 14),
        Err(ProofError::Read(_))
    ));
    assert!(matches!(
        consistency_proof::<Blake3, _>(&tree, 5, 14),
        Err(ProofError::Read(_))
    ));
}

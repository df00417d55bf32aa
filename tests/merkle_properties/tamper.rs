//! Tamper evidence (property 5): one changed byte, index, size or proof hash makes verification
//! fail, and a changed size verifies exactly when it leaves the proof's shape unchanged.

use super::*;

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

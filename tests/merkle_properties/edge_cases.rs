//! Edge cases (property 7): the empty tree, out-of-range indices and sizes, trivial consistency
//! proofs, sizes beyond the stored tree.

use super::*;

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

//! Proof verification, RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency), with the inner
//! right-shift loops that make proofs for right-edge leaves and non-power-of-two sizes work.
//!
//! Pure functions of their inputs: no storage, no I/O. A verifier needs only these and a trusted
//! root (from a signed checkpoint).

use super::hasher::{Hash, TreeHasher};

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexBeyondSize { index: u64, size: u64 },
    /// The first size is larger than the second.
    #[error("first size {first} is larger than second size {second}")]
    FirstAfterSecond { first: u64, second: u64 },
    /// The proof has the wrong number of hashes for these sizes.
    #[error("proof has the wrong number of hashes ({len}) for these sizes")]
    WrongLength { len: usize },
    /// The proof does not lead to the expected root.
    #[error("proof does not lead to the expected root")]
    RootMismatch,
    /// The consistency proof does not lead to the first root.
    #[error("consistency proof does not reproduce the first root")]
    FirstRootMismatch,
    /// The consistency proof does not lead to the second root.
    #[error("consistency proof does not reproduce the second root")]
    SecondRootMismatch,
}

/// The root that an inclusion path leads to, RFC 9162 §2.1.3.2.
pub fn root_from_inclusion<H: TreeHasher>(
    index: u64,
    size: u64,
    leaf_hash: &Hash,
    path: &[Hash],
) -> Result<Hash, VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexBeyondSize { index, size });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in path {
        if sn == 0 {
            return Err(VerifyError::WrongLength { len: path.len() });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = H::hash_children(p, &r);
            // Skip levels where this node has no right sibling (it was promoted).
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = H::hash_children(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(VerifyError::WrongLength { len: path.len() });
    }
    Ok(r)
}

/// Checks that `leaf_hash` is leaf `index` of the tree of `size` leaves whose root is `root`.
pub fn verify_inclusion<H: TreeHasher>(
    index: u64,
    size: u64,
    leaf_hash: &Hash,
    path: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    if root_from_inclusion::<H>(index, size, leaf_hash, path)? == *root {
        Ok(())
    } else {
        Err(VerifyError::RootMismatch)
    }
}

/// Checks that the tree of `first` leaves with root `first_root` is a prefix of the tree of
/// `second` leaves with root `second_root`, RFC 9162 §2.1.4.2. Equal sizes need an empty proof
/// and equal roots; the empty tree (size 0, root `H("")`) is a prefix of every tree.
pub fn verify_consistency<H: TreeHasher>(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    path: &[Hash],
) -> Result<(), VerifyError> {
    if first > second {
        return Err(VerifyError::FirstAfterSecond { first, second });
    }
    if first == 0 || first == second {
        if !path.is_empty() {
            return Err(VerifyError::WrongLength { len: path.len() });
        }
        if first == 0 && *first_root != H::empty_root() {
            return Err(VerifyError::FirstRootMismatch);
        }
        if first == second && first_root != second_root {
            return Err(VerifyError::RootMismatch);
        }
        return Ok(());
    }
    if path.is_empty() {
        return Err(VerifyError::WrongLength { len: 0 });
    }
    // If first is a power of two, its root is itself the first node of the proof.
    let mut rest = path;
    let seed = if first.is_power_of_two() {
        *first_root
    } else {
        rest = &path[1..];
        path[0]
    };
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (seed, seed);
    for c in rest {
        if sn == 0 {
            return Err(VerifyError::WrongLength { len: path.len() });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = H::hash_children(c, &fr);
            sr = H::hash_children(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = H::hash_children(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(VerifyError::WrongLength { len: path.len() });
    }
    if fr != *first_root {
        return Err(VerifyError::FirstRootMismatch);
    }
    if sr != *second_root {
        return Err(VerifyError::SecondRootMismatch);
    }
    Ok(())
}

//! The reference model, straight from the RFCs and sharing no code with `src/merkle`:
//! `MTH` (RFC 6962 §2.1), `PATH` (RFC 9162 §2.1.3.1) and `PROOF`/`SUBPROOF` (RFC 9162
//! §2.1.4.1) over plain slices of leaf hashes, and the proof shapes a verifier expects.

use provledger::merkle::{Hash, TreeHasher};

/// RFC 6962's `k`: the largest power of two strictly less than `n` (`n ≥ 2`).
pub(super) fn split(n: usize) -> usize {
    assert!(n >= 2);
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 6962 §2.1 `MTH(D[n])`, over leaves that are already hashed (`H(0x00 || d)`).
pub(super) fn mth<H: TreeHasher>(d: &[Hash]) -> Hash {
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
pub(super) enum Side {
    Left,
    Right,
}

/// RFC 9162 §2.1.3.1 `PATH(m, D[n])`, each element with its side. `subtree` computes the value
/// of a subtree (`MTH` for real hashes; nothing at all when only the shape is wanted).
pub(super) fn path<T, R>(m: usize, d: &[T], subtree: &impl Fn(&[T]) -> R) -> Vec<(R, Side)> {
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
pub(super) enum Part {
    /// `SUBPROOF`'s `MTH(D[m])` for `b = false`: the subtree both trees share, where the
    /// verifier starts (absent when `m` is a power of two: then the first root is that subtree).
    Seed,
    /// A left sibling: inside the first tree, so it goes into both roots.
    Left,
    /// A right sibling: beyond the first tree, so it goes into the second root only.
    Right,
}

/// RFC 9162 §2.1.4.1 `SUBPROOF(m, D[n], b)`, each element with its part.
pub(super) fn subproof<T, R>(
    m: usize,
    d: &[T],
    b: bool,
    subtree: &impl Fn(&[T]) -> R,
) -> Vec<(R, Part)> {
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
pub(super) fn proof<T, R>(m: usize, d: &[T], subtree: &impl Fn(&[T]) -> R) -> Vec<(R, Part)> {
    if m == 0 || m == d.len() {
        Vec::new()
    } else {
        subproof(m, d, true, subtree)
    }
}

pub(super) fn ref_inclusion<H: TreeHasher>(index: usize, leaves: &[Hash]) -> Vec<Hash> {
    path(index, leaves, &mth::<H>)
        .into_iter()
        .map(|(h, _)| h)
        .collect()
}

pub(super) fn ref_consistency<H: TreeHasher>(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    proof(m, leaves, &mth::<H>)
        .into_iter()
        .map(|(h, _)| h)
        .collect()
}

/// The shape of `PATH(index, D[size])`: the side of each hash, bottom-up. Computed over a slice
/// of `()`, which needs no leaves and no memory.
pub(super) fn inclusion_shape(index: u64, size: u64) -> Vec<Side> {
    let units = vec![(); size as usize];
    path(index as usize, &units, &|_: &[()]| ())
        .into_iter()
        .map(|(_, s)| s)
        .collect()
}

/// What a consistency verifier does for `(first, second)`, `first ≤ second`.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ConsistencyShape {
    /// `first = 0`: the empty tree is a prefix of every tree; the first root must be `H("")`.
    FromEmpty,
    /// `0 < first = second`: the roots must be equal.
    SameSize,
    /// `0 < first < second`: the parts of `PROOF(first, D[second])`, bottom-up.
    Proof(Vec<Part>),
}

pub(super) fn consistency_shape(first: u64, second: u64) -> ConsistencyShape {
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

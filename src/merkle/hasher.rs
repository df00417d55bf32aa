//! The log's hash functions with RFC 6962 domain separation.
//!
//! A [`TreeHasher`] defines the three hashes of RFC 6962 §2.1 / RFC 9162 §2.1: the empty tree's
//! root `H("")`, a leaf hash `H(0x00 || leaf)` and an interior node hash
//! `H(0x01 || left || right)`. provledger's log uses [`Blake3`]; [`Sha256`] exists so the same tree
//! and proof code can be checked against the published RFC 6962 SHA-256 vectors.
//!
//! [`RsMerkleBlake3`] adapts the log hash to `rs_merkle::Hasher`, so `rs_merkle::MerkleProof` can
//! act as a second, independent verifier of inclusion proofs.

use sha2::Digest;

/// A 32-byte tree hash (leaf, interior node or root).
pub type Hash = [u8; 32];

/// Prefix of a leaf hash input, RFC 6962 §2.1.
pub const LEAF_PREFIX: u8 = 0x00;
/// Prefix of an interior node hash input, RFC 6962 §2.1.
pub const NODE_PREFIX: u8 = 0x01;

/// A hash function with RFC 6962 domain separation.
pub trait TreeHasher: Send + Sync + 'static {
    /// The root of the empty tree: `H("")`.
    fn empty_root() -> Hash;
    /// `H(0x00 || leaf)`.
    fn hash_leaf(leaf: &[u8]) -> Hash;
    /// `H(0x01 || left || right)`.
    fn hash_children(left: &Hash, right: &Hash) -> Hash;
}

/// BLAKE3-256: the log's hash.
#[derive(Debug, Clone, Copy, Default)]
pub struct Blake3;

impl TreeHasher for Blake3 {
    fn empty_root() -> Hash {
        *blake3::hash(b"").as_bytes()
    }

    fn hash_leaf(leaf: &[u8]) -> Hash {
        let mut h = blake3::Hasher::new();
        h.update(&[LEAF_PREFIX]);
        h.update(leaf);
        *h.finalize().as_bytes()
    }

    fn hash_children(left: &Hash, right: &Hash) -> Hash {
        let mut input = [0u8; 65];
        input[0] = NODE_PREFIX;
        input[1..33].copy_from_slice(left);
        input[33..].copy_from_slice(right);
        *blake3::hash(&input).as_bytes()
    }
}

/// SHA-256, for checking the tree code against RFC 6962 test vectors.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sha256;

impl TreeHasher for Sha256 {
    fn empty_root() -> Hash {
        sha2::Sha256::digest(b"").into()
    }

    fn hash_leaf(leaf: &[u8]) -> Hash {
        let mut h = sha2::Sha256::new();
        h.update([LEAF_PREFIX]);
        h.update(leaf);
        h.finalize().into()
    }

    fn hash_children(left: &Hash, right: &Hash) -> Hash {
        let mut h = sha2::Sha256::new();
        h.update([NODE_PREFIX]);
        h.update(left);
        h.update(right);
        h.finalize().into()
    }
}

/// The log hash as an `rs_merkle::Hasher`.
///
/// rs_merkle hashes an interior node by calling `concat_and_hash(left, Some(right))`, which this
/// maps to `H(0x01 || left || right)`; a node without a right sibling is promoted unchanged, which
/// gives the same left-balanced shape as RFC 6962. Leaves must be given to rs_merkle already
/// hashed with [`TreeHasher::hash_leaf`]; `hash` itself is the leaf hash, so the domains stay
/// apart however rs_merkle calls it.
#[derive(Debug, Clone, Copy, Default)]
pub struct RsMerkleBlake3;

impl rs_merkle::Hasher for RsMerkleBlake3 {
    type Hash = Hash;

    fn hash(data: &[u8]) -> Hash {
        Blake3::hash_leaf(data)
    }

    fn concat_and_hash(left: &Hash, right: Option<&Hash>) -> Hash {
        match right {
            Some(right) => Blake3::hash_children(left, right),
            None => *left,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blake3_domains_differ() {
        let leaf = Blake3::hash_leaf(b"");
        assert_ne!(leaf, Blake3::empty_root());
        assert_eq!(leaf, *blake3::hash(&[0u8]).as_bytes());
        let node = Blake3::hash_children(&[1; 32], &[2; 32]);
        let mut input = vec![1u8];
        input.extend([1u8; 32]);
        input.extend([2u8; 32]);
        assert_eq!(node, *blake3::hash(&input).as_bytes());
    }

    #[test]
    fn sha256_empty_root_is_hash_of_nothing() {
        let hex: String = Sha256::empty_root()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}

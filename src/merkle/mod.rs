//! The Merkle tree of the log: hashing, tree shape, appending, proofs and their verification.
//!
//! Tree shape and hashing follow RFC 6962 §2.1 / RFC 9162 §2.1 exactly. Everything here is
//! generic over the [`TreeHasher`] (BLAKE3 for the log, SHA-256 for the published vectors) and
//! does no I/O: storage reaches it through [`HashReader`], and appends produce complete nodes
//! through [`Frontier::push`]. There is no storage layout, signing or checkpoint format here.

mod frontier;
mod hasher;
mod node;
mod proof;
mod verify;

pub use frontier::Frontier;
pub use hasher::{Blake3, Hash, LEAF_PREFIX, NODE_PREFIX, RsMerkleBlake3, Sha256, TreeHasher};
pub use node::{NodeId, decompose, fold, split_point};
pub use proof::{
    HashReader, MemoryTree, MissingNode, ProofError, consistency_proof, inclusion_proof, root,
};
pub use verify::{VerifyError, root_from_inclusion, verify_consistency, verify_inclusion};

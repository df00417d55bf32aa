//! Evidence bundles: a self-contained JSON file that proves a lineage answer offline, with the
//! log's public key alone (README "Verification → Evidence bundles" is the specification).
//!
//! A bundle holds one signed checkpoint; the exact leaf bytes of every log entry the answer rests
//! on, each with its inclusion proof against that checkpoint; the key registration entries that
//! chain every signer back to the log's genesis entry (index 0); and the lineage answer itself
//! (a trace or a blast radius), whose every claim that the entries can decide is re-derived from
//! them by [`verify`]. Nothing in a bundle is taken on the server's word except what the README
//! lists as unprovable offline (that no other event exists: completeness).
//!
//! - [`format`]: the file's structure.
//! - [`verify`]: checking a bundle; an error names the part that broke.
//! - [`claims`]: re-deriving the lineage answer's claims from the verified entries.
//! - [`collect`]: building a bundle from a server, through the verified client.
//! - [`graph`], [`prov`], [`dot`]: a verified bundle as a graph, rendered as W3C PROV-JSON or
//!   Graphviz DOT.

pub mod claims;
pub mod collect;
pub mod dot;
pub mod format;
pub mod graph;
pub mod prov;
pub mod verify;

pub use format::{Bundle, BundleEntry, Claim, FORMAT};
pub use verify::{Verified, verify};

/// Why a bundle does not verify: the part that broke, and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// The file is not a bundle (not JSON, wrong structure or format version).
    #[error("not a provledger evidence bundle: {0}")]
    Malformed(String),
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// A log entry (by its index) is not proven or not what it claims to be.
    #[error("entry {index}: {reason}")]
    Entry { index: u64, reason: String },
    /// A claim of the lineage answer (by its path in the answer) is not borne out by the
    /// entries.
    #[error("lineage answer, {path}: {reason}")]
    Claim { path: String, reason: String },
}

impl BundleError {
    pub(crate) fn entry(index: u64, reason: impl Into<String>) -> Self {
        BundleError::Entry {
            index,
            reason: reason.into(),
        }
    }

    pub(crate) fn claim(path: impl Into<String>, reason: impl Into<String>) -> Self {
        BundleError::Claim {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

//! The log's storage: leaves in flat files, signed checkpoints in sled, tree nodes in flat
//! per-level files, atomic durable appends, the open-time integrity check and the full audit.
//!
//! The Merkle math lives in [`crate::merkle`]; this module decides only where bytes go. It has
//! no network code and knows nothing of what a leaf means.

mod audit;
mod checkpoints;
mod database;
mod durable;
mod error;
pub mod journal;
mod keys;
mod leaf_files;
mod leaves;
mod log;
mod nodes;
mod replay;
mod sled_syncer;
mod top_levels;
mod upgrade;

#[cfg(test)]
mod tests_faults;
#[cfg(test)]
mod tests_journal;

pub use audit::{AuditProblem, AuditReport, audit};
pub use checkpoints::SignedCheckpoint;
pub use database::CACHE_CAPACITY;
pub use durable::SyncTimers;
pub use error::StoreError;
pub use leaf_files::{LeafFileError, leaf_bounds};
pub use leaves::{
    Chunk, ChunkDecodeError, MAX_CHUNK_BYTES, MAX_CHUNK_LEAVES, encode_chunk, split_into_chunks,
};
pub use log::{Appended, LogStore, StoreTuning};

//! The store's error type, and how its variants read.

use super::leaf_files::LeafFileError;
use crate::checkpoint::CheckpointError;
use std::path::PathBuf;

/// Everything that can go wrong opening, appending to or reading the log store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Sled(#[from] sled::Error),
    #[error("storage I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("no log store in {dir} (run `provledger init` first)")]
    NotInitialised { dir: PathBuf },
    #[error("{dir} is in use by another process (is a server already running on it?)")]
    Locked { dir: PathBuf },
    #[error("{dir} already holds a log store")]
    AlreadyInitialised { dir: PathBuf },
    #[error("the signing key {given} is not this log's checkpoint key {expected}")]
    WrongSigner { expected: String, given: String },
    #[error("stored data is corrupt: {what}")]
    Corrupt { what: String },
    #[error(
        "store failed its integrity check: the tree stored for size {size} has root {stored}, \
         but the signed checkpoint says {signed}; refusing to serve (run the audit to locate it)"
    )]
    RootMismatch {
        size: u64,
        signed: String,
        stored: String,
    },
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("tree size {size} is beyond the log's size {log_size}")]
    SizeBeyondLog { size: u64, log_size: u64 },
    #[error("leaf index {index} is not below tree size {size}")]
    IndexBeyondSize { index: u64, size: u64 },
    #[error("first size {first} is larger than second size {second}")]
    FirstAfterSecond { first: u64, second: u64 },
    #[error(
        "no checkpoint at size {size}: only the latest is stored, and this store was opened without the log key that signs older ones"
    )]
    NoCheckpointAt { size: u64 },
    #[error("the store was opened without the checkpoint signing key, so it cannot append")]
    ReadOnly,
    #[error("an earlier write failed part-way; reopen the store to continue")]
    Poisoned,
}

impl From<LeafFileError> for StoreError {
    fn from(e: LeafFileError) -> Self {
        match e {
            LeafFileError::Io(e) => StoreError::Io(e),
            malformed @ LeafFileError::Malformed { .. } => {
                StoreError::corrupt(format!("leaf files: {malformed}"))
            }
        }
    }
}

impl StoreError {
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        StoreError::Corrupt { what: what.into() }
    }
}

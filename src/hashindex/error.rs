//! The hash index's error type.

use super::format::{MAX_CAPACITY, MIN_CAPACITY};
use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong opening, reading, writing or syncing a [`super::HashIndex`].
///
/// `Corrupt` always names the damaged file; the remedy is [`super::HashIndex::destroy`] and a
/// rebuild from the log.
#[derive(Debug, thiserror::Error)]
pub enum HashIndexError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {reason}; destroy the hash index and rebuild it from the log")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path} is held by another open hash index (in this or another process)")]
    Locked { path: PathBuf },
    #[error(
        "initial capacity {0} is not a power of two between {min} and {max}",
        min = MIN_CAPACITY,
        max = MAX_CAPACITY
    )]
    InvalidCapacity(u64),
    #[error("{path}: growing would exceed the maximum of {max} slots", max = MAX_CAPACITY)]
    CapacityExceeded { path: PathBuf },
    #[error("hash index shard {shard}: a thread panicked while holding its lock")]
    Poisoned { shard: usize },
}

impl HashIndexError {
    /// An adapter for `map_err` that attaches `path` to an I/O error.
    pub(super) fn io(path: &Path) -> impl FnOnce(io::Error) -> HashIndexError + '_ {
        move |source| HashIndexError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(super) fn corrupt(path: &Path, reason: impl Into<String>) -> HashIndexError {
        HashIndexError::Corrupt {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

//! The one place where errors become gRPC statuses.

use crate::ledger::{AppendError, Refusal};
use crate::lineage::LineageError;
use crate::store::StoreError;
use tonic::{Code, Status};

/// The status for a refused append.
pub fn append_status(e: AppendError) -> Status {
    let code = match e.refusal {
        Refusal::InvalidArgument => Code::InvalidArgument,
        Refusal::Unauthenticated => Code::Unauthenticated,
        Refusal::PermissionDenied => Code::PermissionDenied,
        Refusal::FailedPrecondition => Code::FailedPrecondition,
        Refusal::ResourceExhausted => Code::ResourceExhausted,
        Refusal::Unavailable => Code::Unavailable,
        Refusal::Internal => Code::Internal,
    };
    Status::new(code, e.message)
}

/// The status for a failed lineage query.
pub fn lineage_status(e: LineageError) -> Status {
    let e = match e {
        LineageError::Store(store) => return store_status(store),
        other => other,
    };
    let code = match &e {
        LineageError::Invalid(_) => Code::InvalidArgument,
        LineageError::NotFound(_) => Code::NotFound,
        LineageError::NotYet { .. } => Code::DeadlineExceeded,
        LineageError::Stopped(_) | LineageError::Opening => Code::Unavailable,
        LineageError::Db(_) | LineageError::Corrupt(_) | LineageError::Store(_) => Code::Internal,
    };
    Status::new(code, e.to_string())
}

/// The status for a failed read.
pub fn store_status(e: StoreError) -> Status {
    let code = match &e {
        StoreError::SizeBeyondLog { .. } | StoreError::IndexBeyondSize { .. } => Code::OutOfRange,
        StoreError::FirstAfterSecond { .. } => Code::InvalidArgument,
        StoreError::NoCheckpointAt { .. } => Code::NotFound,
        StoreError::Poisoned | StoreError::ReadOnly => Code::Unavailable,
        _ => Code::Internal,
    };
    Status::new(code, e.to_string())
}

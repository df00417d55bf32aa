//! Why an append was refused, in terms a transport maps to a status code.

use crate::registry::RegistryError;
use crate::store::StoreError;

/// The status class of a refusal; [`crate::api`] maps each to one gRPC code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    InvalidArgument,
    Unauthenticated,
    PermissionDenied,
    FailedPrecondition,
    ResourceExhausted,
    Unavailable,
    Internal,
}

/// An append that was not sequenced. Nothing of it was written.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct AppendError {
    pub refusal: Refusal,
    /// Names the field at fault, e.g. `event.payload.subject.record_id: required`.
    pub message: String,
}

impl AppendError {
    pub fn new(refusal: Refusal, message: impl Into<String>) -> Self {
        AppendError {
            refusal,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Refusal::InvalidArgument, message)
    }
}

impl From<RegistryError> for AppendError {
    fn from(e: RegistryError) -> Self {
        let refusal = match &e {
            RegistryError::UnknownKey(_) => Refusal::Unauthenticated,
            RegistryError::Revoked { .. } | RegistryError::NotAdmin { .. } => {
                Refusal::PermissionDenied
            }
            RegistryError::Invalid { .. } => Refusal::InvalidArgument,
            RegistryError::AlreadyRegistered(_)
            | RegistryError::AlreadyRevoked(_)
            | RegistryError::RevokeUnknown(_) => Refusal::FailedPrecondition,
        };
        AppendError::new(refusal, e.to_string())
    }
}

impl From<StoreError> for AppendError {
    fn from(e: StoreError) -> Self {
        let refusal = match &e {
            StoreError::Poisoned | StoreError::ReadOnly => Refusal::Unavailable,
            _ => Refusal::Internal,
        };
        AppendError::new(refusal, format!("storage: {e}"))
    }
}

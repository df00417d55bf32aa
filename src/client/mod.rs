//! Client side: connecting to a provledger server and believing only what verifies.
//!
//! - [`verify`]: pure checks of answers against the log key (receipts, checkpoints, lineage
//!   answers), usable offline.
//! - [`trust`]: the trusted state — the last verified checkpoint, kept in a file — and the rule
//!   for moving it: a newer checkpoint is accepted only with a consistency proof from it, and a
//!   rollback or a fork is an error carrying both signed checkpoints as evidence.
//! - [`verified`]: a client whose every answer is checked against a checkpoint, and whose
//!   checkpoints are checked against the trusted state, before it is returned.
//! - [`audit`]: replaying a whole log from its entries (roots, signatures, key registry, rules).

pub mod audit;
pub mod trust;
pub mod verified;
pub mod verify;

pub use trust::TrustedState;
pub use verified::VerifiedClient;
pub use verify::{check_consistency, verify_checkpoint, verify_events, verify_receipt};

use crate::proto::log_service_client::LogServiceClient;
use std::path::PathBuf;
use tonic::transport::Channel;

/// Why a server's answer was not accepted, or the client could not ask.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connecting to {url}: {source}")]
    Connect {
        url: String,
        source: tonic::transport::Error,
    },
    #[error("server answered: {0}")]
    Status(#[from] tonic::Status),
    #[error("the server's answer does not verify: {0}")]
    Invalid(String),
    /// The server's latest checkpoint is older than one it signed before.
    #[error(
        "ROLLBACK: the log now claims size {offered_size}, but it signed size {trusted_size} \
         before; both signed checkpoints follow.\n--- trusted ---\n{trusted}--- offered ---\n{offered}"
    )]
    Rollback {
        trusted_size: u64,
        offered_size: u64,
        trusted: String,
        offered: String,
    },
    /// Two checkpoints signed by the log key that cannot both be true.
    #[error(
        "FORK: the log signed two inconsistent checkpoints ({reason}); both follow.\n\
         --- trusted ---\n{trusted}--- offered ---\n{offered}"
    )]
    Fork {
        reason: String,
        trusted: String,
        offered: String,
    },
    #[error("trusted state {path}: {reason}")]
    State { path: PathBuf, reason: String },
}

/// Connects to a server, e.g. `http://127.0.0.1:50051`.
pub async fn connect(url: &str) -> Result<LogServiceClient<Channel>, ClientError> {
    LogServiceClient::connect(url.to_string())
        .await
        .map_err(|source| ClientError::Connect {
            url: url.to_string(),
            source,
        })
}

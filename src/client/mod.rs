//! Client side: connecting to a provledger server and believing only what verifies.
//!
//! - [`verify`]: pure checks of answers against the log key (receipts, checkpoints, lineage
//!   answers), usable offline.
//! - [`trust`]: the trusted state — the last verified checkpoint, kept in a file — and the rule
//!   for moving it: a newer checkpoint is accepted only with a consistency proof from it, and a
//!   rollback or a fork is an error carrying both signed checkpoints as evidence.
//! - [`verified`]: a client whose every answer is checked against a checkpoint, and whose
//!   checkpoints are checked against the trusted state, before it is returned.
//! - [`transport`]: how to reach a server — TLS trust, client certificate, read token.
//! - [`audit`]: replaying a whole log from its entries (roots, signatures, key registry, rules).

pub mod audit;
pub mod transport;
pub mod trust;
pub mod verified;
pub mod verify;

pub use transport::{ConnectOptions, Connection};
pub use trust::TrustedState;
pub use verified::VerifiedClient;
pub use verify::{check_consistency, verify_checkpoint, verify_events, verify_receipt};

use crate::proto::log_service_client::LogServiceClient;
use std::path::PathBuf;

/// Why a server's answer was not accepted, or the client could not ask.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connecting to {url}: {source}")]
    Connect {
        url: String,
        source: tonic::transport::Error,
    },
    #[error("connecting to {url}: {reason}")]
    Options { url: String, reason: String },
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

/// Connects to a server: a URL (`http://127.0.0.1:50051`) or [`ConnectOptions`] (TLS, read
/// token).
pub async fn connect(
    options: impl Into<ConnectOptions>,
) -> Result<LogServiceClient<Connection>, ClientError> {
    Ok(LogServiceClient::new(options.into().connect().await?))
}

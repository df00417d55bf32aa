//! The gRPC API: the `provledger.v1` services over a [`crate::ledger::Ledger`], and the server
//! that hosts them with health checking and reflection, TLS and read access control.

pub mod access;
mod lineage_service;
mod log_service;
mod server;
mod status;
pub mod tokens;

pub use access::{ReadAccess, ReadPolicy};
pub use lineage_service::LineageApi;
pub use log_service::{LogApi, MAX_ENTRIES_PER_REQUEST};
pub use server::{ServerConfig, ServerConfigError, ServerTls, serve};
pub use status::{append_status, lineage_status, store_status};

//! The gRPC API: the `provledger.v1` services over a [`crate::ledger::Ledger`], and the server
//! that hosts them with health checking and reflection, TLS and read access control, and the
//! same operations as an HTTP/JSON API ([`http`]) on the same port.

pub mod access;
mod coalesce;
pub mod http;
mod lineage_service;
mod log_service;
mod metrics_route;
mod runtime_probe;
mod server;
mod status;
pub mod tls;
pub mod tokens;

pub use access::{ReadAccess, ReadPolicy};
pub use lineage_service::LineageApi;
pub use log_service::{LogApi, MAX_ENTRIES_PER_REQUEST, StreamLimits};
pub use metrics_route::{METRICS_PATH, metrics_router};
pub use server::{ServeError, ServerConfig, ServerConfigError, ServerTls, serve};
pub use status::{append_status, lineage_status, store_status};

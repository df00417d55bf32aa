//! Hosting the services: `serve(listener, ledger, shutdown)`. The caller supplies the listener
//! (tests bind port 0) and the shutdown signal (the binary passes SIGTERM/SIGINT).

use super::lineage_service::LineageApi;
use super::log_service::LogApi;
use crate::ledger::Ledger;
use crate::proto::lineage_service_server::LineageServiceServer;
use crate::proto::log_service_server::LogServiceServer;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;

/// The encoded protobuf descriptors, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("provledger_descriptor");

/// Transport bounds.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest gRPC message accepted, in bytes. Larger messages are refused by the transport
    /// (OUT_OF_RANGE); payloads over the ledger's own limit, below this, get RESOURCE_EXHAUSTED.
    pub max_message_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_message_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Serves the API on `listener` until `shutdown` completes, then stops accepting, lets
/// in-flight calls finish and returns. The caller then shuts the ledger down.
pub async fn serve(
    listener: TcpListener,
    ledger: Arc<Ledger>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<LogServiceServer<LogApi>>()
        .await;
    health_reporter
        .set_serving::<LineageServiceServer<LineageApi>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| {
            tracing::error!(error = %e, "reflection service could not be built");
            e
        });
    let lineage = LineageServiceServer::new(LineageApi::new(ledger.clone()))
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);
    // The HTTP/JSON API shares the port: HTTP/1.1 is accepted beside HTTP/2, and requests that
    // match no gRPC service are routed by the HTTP API's router.
    let http_api = super::http::router(ledger.clone(), config.max_message_bytes);
    let log = LogServiceServer::new(LogApi::new(ledger))
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);
    let mut router = tonic::transport::Server::builder()
        .accept_http1(true)
        .add_routes(http_api.into())
        .add_service(health_service)
        .add_service(log)
        .add_service(lineage);
    if let Ok(reflection) = reflection {
        router = router.add_service(reflection);
    }
    // Small request/answer exchanges must not wait for Nagle's algorithm (40 ms stalls).
    let incoming = TcpListenerStream::new(listener).map(|conn| {
        conn.and_then(|stream| {
            stream.set_nodelay(true)?;
            Ok(stream)
        })
    });
    router
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

//! Hosting the services: `serve(listener, ledger, shutdown)`. The caller supplies the listener
//! (tests bind port 0) and the shutdown signal (the binary passes SIGTERM/SIGINT). The gRPC
//! services and `GET /metrics` (HTTP/1.1) share the one port.

use super::lineage_service::LineageApi;
use super::log_service::{LogApi, StreamLimits};
use crate::ledger::Ledger;
use crate::proto::lineage_service_server::LineageServiceServer;
use crate::proto::log_service_server::LogServiceServer;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::Routes;

/// The encoded protobuf descriptors, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("provledger_descriptor");

/// Transport bounds.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest gRPC message accepted, in bytes. Larger messages are refused by the transport
    /// (OUT_OF_RANGE); payloads over the ledger's own limit, below this, get RESOURCE_EXHAUSTED.
    pub max_message_bytes: usize,
    /// Bounds on one AppendStream.
    pub stream: StreamLimits,
    /// Most calls in progress at once on one HTTP/2 connection.
    pub max_concurrent_streams: u32,
    /// How often an idle connection is pinged, and how long the answer may take before the
    /// connection is closed (a vanished client frees its resources).
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_message_bytes: 4 * 1024 * 1024,
            stream: StreamLimits::default(),
            max_concurrent_streams: 256,
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
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
    // Plain HTTP/1.1 shares the port with gRPC: the HTTP/JSON API and `GET /metrics`. Requests
    // that match no gRPC service are routed by the HTTP API's router (its fallback answers
    // unknown paths).
    let http = super::http::router(ledger.clone(), config.max_message_bytes)
        .merge(super::metrics_router(ledger.clone()));
    let log = LogServiceServer::new(LogApi::with_limits(ledger, config.stream))
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);
    let mut routes = Routes::from(http)
        .add_service(health_service)
        .add_service(log)
        .add_service(lineage);
    if let Ok(reflection) = reflection {
        routes = routes.add_service(reflection);
    }
    let router = tonic::transport::Server::builder()
        .accept_http1(true)
        .max_concurrent_streams(config.max_concurrent_streams.max(1))
        .http2_keepalive_interval(Some(config.keepalive_interval))
        .http2_keepalive_timeout(Some(config.keepalive_timeout))
        .tcp_keepalive(Some(config.keepalive_interval))
        .add_routes(routes);
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

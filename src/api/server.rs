//! Hosting the services: `serve(listener, ledger, shutdown)`. The caller supplies the listener
//! (tests bind port 0) and the shutdown signal (the binary passes SIGTERM/SIGINT). The gRPC
//! services, the HTTP/JSON API and `GET /metrics` share the one port.
//!
//! With [`ServerConfig::tls`] the server speaks TLS only (rustls, [`super::tls`]: ALPN offers
//! `h2` and `http/1.1`), optionally asking clients for a certificate from a client CA; [`ServerConfig::read_access`] decides who may read (see
//! [`super::access`]). The server holds no secret beyond its checkpoint key and its TLS key:
//! read tokens are kept as hashes.

use super::access::{ReadAccess, ReadAccessLayer};
use super::coalesce::Coalesced;
use super::lineage_service::LineageApi;
use super::log_service::{LogApi, StreamLimits};
use super::tls::{TlsSetupError, TlsTerminator};
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

/// Transport bounds, TLS and read access.
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
    /// Serve TLS with this identity (plaintext when `None`).
    pub tls: Option<ServerTls>,
    /// Who may read (appends and health checks are open to all).
    pub read_access: ReadAccess,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_message_bytes: 4 * 1024 * 1024,
            stream: StreamLimits::default(),
            max_concurrent_streams: 256,
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
            tls: None,
            read_access: ReadAccess::default(),
        }
    }
}

/// The server's TLS identity and, for mutual TLS, the CA whose certificates clients may present.
#[derive(Clone)]
pub struct ServerTls {
    /// The certificate chain (PEM), leaf first.
    pub cert_chain_pem: Vec<u8>,
    /// The certificate's private key (PEM).
    pub key_pem: Vec<u8>,
    /// Client certificates must chain to one of these (PEM). A client without a certificate can
    /// still connect (to append); the read policy decides whether it may read.
    pub client_ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("client_ca", &self.client_ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a [`ServerConfig`] cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ServerConfigError {
    #[error("the read policy {0:?} checks read tokens, but no token hashes were given")]
    NoTokens(super::access::ReadPolicy),
    #[error("the read policy {0:?} checks client certificates, but TLS has no client CA")]
    NoClientCa(super::access::ReadPolicy),
    #[error("TLS settings: {0}")]
    Tls(#[from] TlsSetupError),
}

/// Why [`serve`] stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ServerConfigError),
    #[error("serving: {0}")]
    Transport(#[from] tonic::transport::Error),
}

impl ServerConfig {
    /// Checks that the settings are consistent and the TLS material loads. [`serve`] does not
    /// need this first (it fails closed: a read policy without its credential source refuses
    /// every read), but a caller that checks can report the mistake before listening.
    pub fn check(&self) -> Result<(), ServerConfigError> {
        let policy = self.read_access.policy;
        if policy.needs_tokens() && self.read_access.tokens.is_empty() {
            return Err(ServerConfigError::NoTokens(policy));
        }
        let client_ca = self.tls.as_ref().is_some_and(|t| t.client_ca_pem.is_some());
        if policy.needs_client_ca() && !client_ca {
            return Err(ServerConfigError::NoClientCa(policy));
        }
        if let Some(tls) = &self.tls {
            TlsTerminator::new(tls)?;
        }
        Ok(())
    }
}

/// Serves the API on `listener` until `shutdown` completes, then stops accepting, lets
/// in-flight calls finish and returns. The caller then shuts the ledger down.
pub async fn serve(
    listener: TcpListener,
    ledger: Arc<Ledger>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let tls = match &config.tls {
        Some(tls) => Some(TlsTerminator::new(tls).map_err(ServerConfigError::from)?),
        None => None,
    };
    // Runs while the server serves; dropped (stopped) when `serve` returns.
    let _probe = super::runtime_probe::Probe::start(ledger.metrics().clone());
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
    let builder = tonic::transport::Server::builder()
        .accept_http1(true)
        .max_concurrent_streams(config.max_concurrent_streams.max(1))
        .http2_keepalive_interval(Some(config.keepalive_interval))
        .http2_keepalive_timeout(Some(config.keepalive_timeout))
        .tcp_keepalive(Some(config.keepalive_interval));
    // The access check wraps every route, gRPC and HTTP alike.
    let router = builder
        .layer(ReadAccessLayer::new(config.read_access.clone()))
        .add_routes(routes);
    if let Some(tls) = tls {
        return Ok(router
            .serve_with_incoming_shutdown(
                tls.incoming(listener).map(|conn| conn.map(Coalesced::new)),
                shutdown,
            )
            .await?);
    }
    // Small request/answer exchanges must not wait for Nagle's algorithm (40 ms stalls).
    let incoming = TcpListenerStream::new(listener).map(|conn| {
        conn.and_then(|stream| {
            stream.set_nodelay(true)?;
            Ok(Coalesced::new(stream))
        })
    });
    Ok(router
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?)
}

//! TLS termination for the server's one port.
//!
//! The port carries gRPC (HTTP/2) and the HTTP/JSON API (HTTP/1.1 or HTTP/2), so the server
//! offers both protocols in ALPN, `h2` first: a gRPC client gets HTTP/2, and a client that can
//! only speak HTTP/1.1 (Salesforce Apex callouts, many webhook senders) negotiates `http/1.1`
//! instead of failing the handshake. The connection's first bytes then decide the protocol, as
//! on a plaintext port.
//!
//! Handshakes run concurrently, each in its own task with a deadline, so a client that connects
//! and stalls holds only its own socket and never delays anyone else's connection; at most
//! [`MAX_PENDING_HANDSHAKES`] run at once (beyond that, new connections wait in the kernel's
//! accept queue). Client certificates, when a client CA is configured, are optional at this layer:
//! a client without one may still append, and the read policy ([`super::access`]) decides reads.

use super::server::ServerTls;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

/// Protocols offered in ALPN, in the server's order of preference.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// How long a client may take to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in progress at once.
pub const MAX_PENDING_HANDSHAKES: usize = 1024;

/// Why the TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("certificate chain: {0}")]
    CertChain(String),
    #[error("private key: {0}")]
    Key(String),
    #[error("client CA: {0}")]
    ClientCa(String),
    #[error("the certificate and key do not make a TLS identity: {0}")]
    Identity(rustls::Error),
}

/// Accepts TLS connections with the server's identity.
#[derive(Clone)]
pub struct TlsTerminator {
    acceptor: TlsAcceptor,
}

impl TlsTerminator {
    /// Loads the identity and the client CA, and builds the acceptor.
    pub fn new(tls: &ServerTls) -> Result<Self, TlsSetupError> {
        let chain = certificates(&tls.cert_chain_pem).map_err(TlsSetupError::CertChain)?;
        let key = PrivateKeyDer::from_pem_slice(&tls.key_pem)
            .map_err(|e| TlsSetupError::Key(format!("no PEM private key ({e})")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsSetupError::Identity)?;
        let builder = match &tls.client_ca_pem {
            None => builder.with_no_client_auth(),
            Some(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in certificates(pem).map_err(TlsSetupError::ClientCa)? {
                    roots
                        .add(cert)
                        .map_err(|e| TlsSetupError::ClientCa(e.to_string()))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsSetupError::ClientCa(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(TlsSetupError::Identity)?;
        config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
        Ok(TlsTerminator {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Accepts connections on `listener` and yields those whose handshake completed. The
    /// listener is closed when the returned stream is dropped.
    pub fn incoming(
        self,
        listener: TcpListener,
    ) -> ReceiverStream<io::Result<TlsStream<TcpStream>>> {
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(accept_loop(listener, self.acceptor, tx));
        ReceiverStream::new(rx)
    }
}

fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not PEM certificates ({e})"))?;
    if certs.is_empty() {
        return Err("no PEM certificate found".into());
    }
    Ok(certs)
}

type Established = mpsc::Sender<io::Result<TlsStream<TcpStream>>>;

async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, tx: Established) {
    let pending = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    loop {
        let permit = tokio::select! {
            _ = tx.closed() => return,
            permit = pending.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            _ = tx.closed() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors and the like: wait rather than spin; the kernel keeps
                // the queued connections.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Small request/answer exchanges must not wait for Nagle's algorithm (40 ms stalls).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "setting TCP_NODELAY failed");
        }
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let peer = stream.peer_addr().ok();
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = tx.send(Ok(tls)).await;
                }
                Ok(Err(e)) => tracing::debug!(?peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(?peer, "TLS handshake timed out"),
            }
        });
    }
}

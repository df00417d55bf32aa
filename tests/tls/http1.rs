//! The TLS port serves clients that speak only HTTP/1.1 (they offer `http/1.1` alone in ALPN,
//! as Apex callouts and many webhook senders do), and a client that connects and never
//! completes its handshake delays no one else.

use super::common::TestServer;
use super::{Pki, ReadPolicy, TokenSet, pki, start, tls};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// A TLS connection to the server offering exactly `alpn`; returns the stream and the protocol
/// the server chose.
async fn handshake(
    server: &TestServer,
    pki: &Pki,
    alpn: &[&[u8]],
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, Option<Vec<u8>>), std::io::Error> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pki.ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let addr = server.url.trim_start_matches("https://");
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    let stream = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    let chosen = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    Ok((stream, chosen))
}

/// `GET path` over HTTP/1.1 on an established TLS stream: status and body.
async fn get_http1(
    stream: tokio_rustls::client::TlsStream<TcpStream>,
    path: &str,
) -> (u16, String) {
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Empty<axum::body::Bytes>>(TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = http::Request::get(path)
        .header("host", "localhost")
        .body(Empty::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_11);
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http1_only_client_negotiates_http1_and_gets_json() {
    let pki = pki();
    let server = start(
        Some(tls(&pki, false)),
        ReadPolicy::Open,
        TokenSet::default(),
    )
    .await;

    let (stream, chosen) = handshake(&server, &pki, &[b"http/1.1"]).await.unwrap();
    assert_eq!(chosen.as_deref(), Some(&b"http/1.1"[..]));
    let (status, body) = get_http1(stream, "/v1/checkpoint/note").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\n\n\u{2014} "), "not a signed note: {body}");

    // A client offering both gets HTTP/2 (gRPC clients offer only h2 and are tested elsewhere).
    let (_, chosen) = handshake(&server, &pki, &[b"h2", b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(chosen.as_deref(), Some(&b"h2"[..]));
    // A client offering only protocols the server does not speak is refused at the handshake.
    let refused = handshake(&server, &pki, &[b"spdy/3"]).await;
    assert!(refused.is_err(), "an unknown protocol was accepted");
    // One that offers none (no ALPN at all) is served, as a plain TLS client.
    let (stream, chosen) = handshake(&server, &pki, &[]).await.unwrap();
    assert_eq!(chosen, None);
    let (status, _) = get_http1(stream, "/v1/checkpoint").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_handshakes_do_not_hold_up_other_clients() {
    let pki = pki();
    let server = start(
        Some(tls(&pki, false)),
        ReadPolicy::Open,
        TokenSet::default(),
    )
    .await;
    let addr = server.url.trim_start_matches("https://").to_string();
    // Twenty connections that never send a ClientHello, and one that sends half of one.
    let mut stalled = Vec::new();
    for _ in 0..20 {
        stalled.push(TcpStream::connect(&addr).await.unwrap());
    }
    let mut partial = TcpStream::connect(&addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut partial, &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    stalled.push(partial);

    let started = Instant::now();
    for _ in 0..5 {
        let (stream, _) = handshake(&server, &pki, &[b"http/1.1"]).await.unwrap();
        let (status, _) = get_http1(stream, "/v1/checkpoint").await;
        assert_eq!(status, 200);
    }
    // Served while the stalled handshakes are still open (their deadline is 10 s).
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "other clients waited {:?}",
        started.elapsed()
    );
    drop(stalled);
}

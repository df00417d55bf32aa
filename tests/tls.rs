//! Transport security and read access, through the paths a user takes: a real server on
//! 127.0.0.1 with TLS (certificates made here with rcgen), the client library's
//! `ConnectOptions`, and the real `provledger` binary (serve, token new, checkpoint).

mod common;
#[path = "tls/http1.rs"]
mod http1;

use common::{TestServer, run_cli};
use provledger::api::tokens::{self, TokenSet};
use provledger::api::{ReadAccess, ReadPolicy, ServerConfig, ServerTls};
use provledger::client::{ConnectOptions, TrustedState, VerifiedClient, connect};
use provledger::ledger::{LedgerConfig, key_action_envelope};
use provledger::note::NoteSigner;
use provledger::proto::{
    AppendRequest, GetCheckpointRequest, KeyRegistration, Role, TraceRequest, key_action,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use tonic::Code;

/// A PEM certificate and its key.
struct Pem {
    cert: Vec<u8>,
    key: Vec<u8>,
}

/// A CA, a server certificate for 127.0.0.1/localhost, and client certificates from it and from
/// a foreign CA.
struct Pki {
    ca: Vec<u8>,
    foreign_ca: Vec<u8>,
    server: Pem,
    client: Pem,
    foreign_client: Pem,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    name: &str,
    usage: ExtendedKeyUsagePurpose,
) -> Pem {
    let sans = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let mut params = CertificateParams::new(sans).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    Pem {
        cert: cert.pem().into_bytes(),
        key: key.serialize_pem().into_bytes(),
    }
}

fn pki() -> Pki {
    let (root, foreign) = (ca("provledger test CA"), ca("someone else's CA"));
    Pki {
        ca: root.pem().into_bytes(),
        foreign_ca: foreign.pem().into_bytes(),
        server: leaf(&root, "provledger", ExtendedKeyUsagePurpose::ServerAuth),
        client: leaf(&root, "auditor", ExtendedKeyUsagePurpose::ClientAuth),
        foreign_client: leaf(&foreign, "intruder", ExtendedKeyUsagePurpose::ClientAuth),
    }
}

fn tls(pki: &Pki, client_ca: bool) -> ServerTls {
    ServerTls {
        cert_chain_pem: pki.server.cert.clone(),
        key_pem: pki.server.key.clone(),
        client_ca_pem: client_ca.then(|| pki.ca.clone()),
    }
}

async fn start(tls: Option<ServerTls>, policy: ReadPolicy, tokens: TokenSet) -> TestServer {
    let config = ServerConfig {
        tls,
        read_access: ReadAccess { policy, tokens },
        ..Default::default()
    };
    config.check().unwrap();
    TestServer::start_with(LedgerConfig::default(), config).await
}

fn options(server: &TestServer, ca: &[u8]) -> ConnectOptions {
    ConnectOptions {
        url: server.url.clone(),
        ca_pem: Some(ca.to_vec()),
        ..Default::default()
    }
}

/// An error and its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// A read (GetCheckpoint): Ok, or the status code and message (`Unknown` for a connection that
/// could not be made).
async fn read(options: ConnectOptions) -> Result<(), (Code, String)> {
    let mut client = connect(options)
        .await
        .map_err(|e| (Code::Unknown, chain(&e)))?;
    client
        .get_checkpoint(GetCheckpointRequest { size: 0 })
        .await
        .map(|_| ())
        .map_err(|s| (s.code(), s.message().to_string()))
}

/// An append (an admin-signed key registration).
async fn append(server: &TestServer, options: ConnectOptions) -> Result<u64, String> {
    let key = NoteSigner::generate("generator-1").unwrap();
    let envelope = key_action_envelope(
        &server.admin,
        key_action::Action::Register(KeyRegistration {
            vkey: key.verifier().to_vkey(),
            role: Role::Generator as i32,
            ..Default::default()
        }),
    );
    let mut client = connect(options).await.map_err(|e| chain(&e))?;
    let answer = client
        .append(AppendRequest {
            event: Some(envelope),
        })
        .await
        .map_err(|s| format!("{s}"))?;
    Ok(answer.into_inner().index)
}

#[tokio::test]
async fn tls_client_trusting_the_ca_appends_and_verifies_a_checkpoint() {
    let pki = pki();
    let server = start(
        Some(tls(&pki, false)),
        ReadPolicy::Open,
        TokenSet::default(),
    )
    .await;
    assert!(server.url.starts_with("https://127.0.0.1:"));
    assert_eq!(append(&server, options(&server, &pki.ca)).await, Ok(1));
    let state = TrustedState::in_memory(server.log_key.clone());
    let mut verified = VerifiedClient::connect(options(&server, &pki.ca), state)
        .await
        .unwrap();
    let (trusted, _) = verified.checkpoint().await.unwrap();
    assert_eq!(trusted.checkpoint.size, 2);
}

#[tokio::test]
async fn plaintext_and_untrusting_clients_cannot_talk_to_a_tls_server() {
    let pki = pki();
    let server = start(
        Some(tls(&pki, false)),
        ReadPolicy::Open,
        TokenSet::default(),
    )
    .await;
    let plain = server.url.replace("https://", "http://");
    assert!(read(ConnectOptions::from(plain.as_str())).await.is_err());
    let (_, message) = read(options(&server, &pki.foreign_ca)).await.unwrap_err();
    assert!(message.contains("certificate"), "{message}");
    // TLS options with a plaintext URL are refused, not dropped.
    let mut mixed = options(&server, &pki.ca);
    mixed.url = plain;
    let (_, message) = read(mixed).await.unwrap_err();
    assert!(message.contains("need an https:// URL"), "{message}");
}

#[tokio::test]
async fn mtls_policy_reads_need_a_client_certificate_from_the_client_ca() {
    let pki = pki();
    let server = start(Some(tls(&pki, true)), ReadPolicy::Mtls, TokenSet::default()).await;
    // No certificate: the connection is allowed (appends need none), reads are refused.
    let (code, message) = read(options(&server, &pki.ca)).await.unwrap_err();
    assert_eq!(code, Code::Unauthenticated, "{message}");
    assert!(message.contains("TLS client certificate"), "{message}");
    assert_eq!(append(&server, options(&server, &pki.ca)).await, Ok(1));
    // A certificate from another CA fails the handshake.
    let mut foreign = options(&server, &pki.ca);
    foreign.client_identity = Some((
        pki.foreign_client.cert.clone(),
        pki.foreign_client.key.clone(),
    ));
    assert!(read(foreign).await.is_err());
    // A certificate from the client CA reads.
    let mut good = options(&server, &pki.ca);
    good.client_identity = Some((pki.client.cert.clone(), pki.client.key.clone()));
    assert_eq!(read(good).await, Ok(()));
}

#[tokio::test]
async fn token_policy_reads_need_a_valid_token_appends_and_health_do_not() {
    let pki = pki();
    let token = tokens::generate();
    let hashes = TokenSet::parse(&format!("{}\n", tokens::hash(&token).to_hex())).unwrap();
    let server = start(Some(tls(&pki, false)), ReadPolicy::Token, hashes).await;
    let with = |token: Option<&str>| ConnectOptions {
        token: token.map(str::to_string),
        ..options(&server, &pki.ca)
    };

    let (code, message) = read(with(None)).await.unwrap_err();
    assert_eq!(code, Code::Unauthenticated);
    assert!(
        message.contains("authorization: a read token is required"),
        "{message}"
    );
    let (code, message) = read(with(Some(&tokens::generate()))).await.unwrap_err();
    assert_eq!(code, Code::Unauthenticated);
    assert!(message.contains("not valid"), "{message}");
    assert_eq!(read(with(Some(&token))).await, Ok(()));

    // Lineage answers are reads too.
    let channel = with(None).connect().await.unwrap();
    let mut lineage =
        provledger::proto::lineage_service_client::LineageServiceClient::new(channel.clone());
    let refused = lineage
        .trace(TraceRequest {
            record: Some(common::record("Lead", "00Q000000000001")),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    // Appends and health checks need no token.
    assert_eq!(append(&server, with(None)).await, Ok(1));
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}

#[tokio::test]
async fn token_or_mtls_policy_accepts_either_credential() {
    let pki = pki();
    let token = tokens::generate();
    let hashes = TokenSet::parse(&tokens::hash(&token).to_hex()).unwrap();
    let server = start(Some(tls(&pki, true)), ReadPolicy::TokenOrMtls, hashes).await;
    let (code, message) = read(options(&server, &pki.ca)).await.unwrap_err();
    assert_eq!(code, Code::Unauthenticated);
    assert!(
        message.contains("a read token is required") && message.contains("client certificate"),
        "{message}"
    );
    let mut with_token = options(&server, &pki.ca);
    with_token.token = Some(token);
    assert_eq!(read(with_token).await, Ok(()));
    let mut with_cert = options(&server, &pki.ca);
    with_cert.client_identity = Some((pki.client.cert.clone(), pki.client.key.clone()));
    assert_eq!(read(with_cert).await, Ok(()));
}

fn write(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// `provledger serve` with TLS and read tokens, a token made by `provledger token new`, and
/// `provledger checkpoint` with and without it; the server warns about the world-readable log
/// key and TLS key.
#[tokio::test]
async fn cli_serves_tls_with_tokens_and_warns_about_readable_keys() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
    let pki = pki();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let init = run_cli(&["init", "--data", &s(&data)], None).await;
    assert!(init.status.success(), "{init:?}");
    let log_key = data.join("log.key");
    std::fs::set_permissions(
        &log_key,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let cert = write(tmp.path(), "server.pem", &pki.server.cert, 0o644);
    let key = write(tmp.path(), "server.key", &pki.server.key, 0o644);
    let ca = write(tmp.path(), "ca.pem", &pki.ca, 0o644);

    let tokens_file = tmp.path().join("read-tokens");
    let made = run_cli(
        &["token", "new", "--name", "ci", "--out", &s(&tokens_file)],
        None,
    )
    .await;
    assert!(made.status.success(), "{made:?}");
    let token = String::from_utf8(made.stdout).unwrap().trim().to_string();
    let line = std::fs::read_to_string(&tokens_file).unwrap();
    assert_eq!(line, format!("{} # ci\n", tokens::hash(&token).to_hex()));
    let token_file = write(tmp.path(), "token", token.as_bytes(), 0o600);

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_provledger"))
        .args(["serve", "--data", &s(&data), "--listen", "127.0.0.1:0"])
        .args(["--tls-cert", &s(&cert), "--tls-key", &s(&key)])
        .args(["--read-access", "token", "--read-tokens", &s(&tokens_file)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            if let Some(addr) = line.strip_prefix("listening on ") {
                return addr.to_string();
            }
        }
        panic!("serve exited before listening");
    })
    .await
    .unwrap();
    let url = format!("https://{addr}");
    let vkey = s(&data.join("log.vkey"));
    let base = [
        "checkpoint",
        "--server",
        &url,
        "--tls-ca",
        ca.to_str().unwrap(),
        "--log-key",
        &vkey,
    ];

    let mut args = base.to_vec();
    args.extend(["--token-file", token_file.to_str().unwrap()]);
    let ok = run_cli(&args, None).await;
    assert!(ok.status.success(), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("verified checkpoint: size 1"));

    let refused = run_cli(&base, None).await;
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("a read token is required"), "{stderr}");

    child.start_kill().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    let _ = child.wait().await;
    for path in [&log_key, &key] {
        let named = format!("{}", path.display());
        assert!(
            stderr.lines().any(|l| l.contains("WARN")
                && l.contains("readable by group or others")
                && l.contains(&named)
                && l.contains("644")),
            "no warning naming {named}: {stderr}"
        );
    }
}

#[tokio::test]
async fn cli_refuses_inconsistent_access_options() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = run_cli(
        &[
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--read-access",
            "token",
        ],
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("access.tokens: required when access.read = \"token\""),
        "{stderr}"
    );
    let out = run_cli(
        &[
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--read-access",
            "mtls",
        ],
        None,
    )
    .await;
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("tls.client_ca: required when access.read = \"mtls\""),
        "{out:?}"
    );
}

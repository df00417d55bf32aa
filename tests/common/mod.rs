//! Shared test harness: a real server on 127.0.0.1 (port chosen at run time) over a temporary
//! data directory, and helpers to make signed events.
#![allow(dead_code)]

pub mod damage;
pub mod http;
pub mod process;

use prost::Message;
use provledger::api::{ServerConfig, serve};
use provledger::datadir::{DataDir, Initialised};
use provledger::envelope::{EVENT_PAYLOAD_TYPE, sign};
use provledger::keyfile;
use provledger::ledger::{Ledger, LedgerConfig, key_action_envelope};
use provledger::note::{NoteSigner, NoteVerifier};
use provledger::proto::lineage_service_client::LineageServiceClient;
use provledger::proto::log_service_client::LogServiceClient;
use provledger::proto::{
    Action, AppendRequest, AppendResponse, Generator, KeyRegistration, Origin, ProvenanceEvent,
    RecordRef, Role, SignedEvent, key_action,
};
use provledger::provenance::rules::TRAINED_ALGORITHMIC_DATA;
use std::sync::Arc;
use tonic::transport::Channel;

pub struct TestServer {
    pub dir: DataDir,
    pub url: String,
    pub log_key: NoteVerifier,
    pub admin: NoteSigner,
    pub ledger: Arc<Ledger>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), provledger::api::ServeError>>>,
    _tmp: Option<tempfile::TempDir>,
}

impl TestServer {
    /// A fresh, initialised log.
    pub async fn start(config: LedgerConfig) -> TestServer {
        Self::start_with(config, ServerConfig::default()).await
    }

    /// A fresh, initialised log served with `server` (TLS, read access); the URL is `https://`
    /// when it has TLS.
    pub async fn start_with(config: LedgerConfig, server: ServerConfig) -> TestServer {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path().join("data"));
        let d = dir.clone();
        let created: Initialised =
            tokio::task::spawn_blocking(move || d.init("test.provledger/log").unwrap())
                .await
                .unwrap();
        let mut server = Self::open_with(dir, config, server).await;
        assert_eq!(server.log_key.to_vkey(), created.log_vkey);
        server._tmp = Some(tmp);
        server
    }

    /// Serves an existing data directory.
    pub async fn open(dir: DataDir, config: LedgerConfig) -> TestServer {
        Self::open_with(dir, config, ServerConfig::default()).await
    }

    /// Serves an existing data directory with `server`.
    pub async fn open_with(dir: DataDir, config: LedgerConfig, server: ServerConfig) -> TestServer {
        let d = dir.clone();
        let ledger = tokio::task::spawn_blocking(move || d.open_ledger(config).unwrap())
            .await
            .unwrap();
        let ledger = Arc::new(ledger);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let scheme = if server.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let url = format!("{scheme}://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, ledger.clone(), server, async {
            let _ = stopped.await;
        }));
        let log_key = ledger.store().verifier().clone();
        let admin = keyfile::read(&dir.admin_key()).unwrap();
        TestServer {
            dir,
            url,
            log_key,
            admin,
            ledger,
            stop: Some(stop),
            task: Some(task),
            _tmp: None,
        }
    }

    pub async fn client(&self) -> LogServiceClient<Channel> {
        LogServiceClient::connect(self.url.clone()).await.unwrap()
    }

    /// Stops the server and the ledger, keeping the data directory; returns it.
    pub async fn stop(mut self) -> (DataDir, Option<tempfile::TempDir>) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        let ledger = self.ledger.clone();
        tokio::task::spawn_blocking(move || ledger.shutdown())
            .await
            .unwrap();
        (self.dir.clone(), self._tmp.take())
    }

    /// Registers a new key with the given role, via an admin-signed entry.
    pub async fn register(&self, name: &str, role: Role) -> NoteSigner {
        self.register_scoped(name, role, &[], &[]).await
    }

    /// Registers a new key with a role and scopes (empty = any).
    pub async fn register_scoped(
        &self,
        name: &str,
        role: Role,
        origins: &[Origin],
        environments: &[&str],
    ) -> NoteSigner {
        let signer = NoteSigner::generate(name).unwrap();
        let envelope = key_action_envelope(
            &self.admin,
            key_action::Action::Register(KeyRegistration {
                vkey: signer.verifier().to_vkey(),
                role: role as i32,
                allowed_origins: origins.iter().map(|o| *o as i32).collect(),
                allowed_environments: environments.iter().map(|e| e.to_string()).collect(),
                description: String::new(),
            }),
        );
        self.client().await.append(request(envelope)).await.unwrap();
        signer
    }

    pub async fn lineage(&self) -> LineageServiceClient<Channel> {
        LineageServiceClient::connect(self.url.clone())
            .await
            .unwrap()
    }
}

/// Registers a new key at the server behind `url`, signed by `admin`.
pub async fn register_at(url: &str, admin: &NoteSigner, name: &str, role: Role) -> NoteSigner {
    let signer = NoteSigner::generate(name).unwrap();
    let envelope = key_action_envelope(
        admin,
        key_action::Action::Register(KeyRegistration {
            vkey: signer.verifier().to_vkey(),
            role: role as i32,
            ..Default::default()
        }),
    );
    LogServiceClient::connect(url.to_string())
        .await
        .unwrap()
        .append(request(envelope))
        .await
        .unwrap();
    signer
}

pub fn record(object_type: &str, id: &str) -> RecordRef {
    RecordRef {
        system: "salesforce".into(),
        tenant: "00D000000000001EAA".into(),
        object_type: object_type.into(),
        record_id: id.into(),
    }
}

pub fn generated_event(i: u64) -> ProvenanceEvent {
    ProvenanceEvent {
        subject: Some(record("Lead", &format!("00Q{i:012}"))),
        action: Action::Generated as i32,
        origin: Origin::Synthetic as i32,
        environment: "sandbox".into(),
        content_hash: blake3::hash(&i.to_be_bytes()).as_bytes().to_vec(),
        generator: Some(Generator {
            source: "synth-gen.test".into(),
            model: "lead-gen".into(),
            model_version: "3.0".into(),
            run_id: "run-1".into(),
        }),
        digital_source_type: TRAINED_ALGORITHMIC_DATA.into(),
        ..Default::default()
    }
}

pub fn signed(signer: &NoteSigner, event: &ProvenanceEvent) -> SignedEvent {
    sign(signer, EVENT_PAYLOAD_TYPE, event.encode_to_vec())
}

pub fn request(envelope: SignedEvent) -> AppendRequest {
    AppendRequest {
        event: Some(envelope),
    }
}

pub fn leaf_hash(r: &AppendResponse) -> [u8; 32] {
    r.leaf_hash.as_slice().try_into().unwrap()
}

/// Runs the real `provledger` binary with `args`, feeding `stdin` when given.
pub async fn run_cli(args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::process::Stdio;
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_provledger"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(text.as_bytes()).await.unwrap();
    }
    child.wait_with_output().await.unwrap()
}

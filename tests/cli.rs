//! The `provledger` binary as a user runs it: init, keygen, serve, key register/list/revoke,
//! SIGTERM, audit.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_provledger"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Starts `serve` and waits for its "listening on ADDR" line.
fn serve(data: &Path) -> (Child, String) {
    let mut child = bin()
        .args([
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .unwrap();
        if let Some(addr) = line.strip_prefix("listening on ") {
            break addr.to_string();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://{addr}"))
}

fn value_after<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in {text}"))
        .trim()
}

#[test]
fn a_user_sets_up_a_log_registers_and_revokes_a_key() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data_s = data.to_str().unwrap();
    let out = ok(&["init", "--data", data_s, "--origin", "cli.test/log"]);
    let log_vkey = value_after(&out, "log vkey:").to_string();
    assert!(log_vkey.starts_with("cli.test/log+"));
    #[cfg(unix)]
    {
        assert_eq!(mode(&data.join("log.key")), 0o600);
        assert_eq!(mode(&data.join("admin.key")), 0o600);
    }
    assert!(
        !run(&["init", "--data", data_s]).status.success(),
        "init twice"
    );

    // The admin key moves off the server, as the README says.
    let admin = tmp.path().join("admin.key");
    std::fs::rename(data.join("admin.key"), &admin).unwrap();
    let admin_s = admin.to_str().unwrap();

    let gen_key = tmp.path().join("gen.key");
    let gen_vkey = ok(&[
        "keygen",
        "--name",
        "gen.cli/a",
        "--out",
        gen_key.to_str().unwrap(),
    ])
    .trim()
    .to_string();
    assert!(gen_vkey.starts_with("gen.cli/a+"));
    #[cfg(unix)]
    assert_eq!(mode(&gen_key), 0o600);
    assert!(
        !run(&["keygen", "--name", "x", "--out", gen_key.to_str().unwrap()])
            .status
            .success(),
        "keygen must not overwrite a key"
    );

    let (mut server, url) = serve(&data);
    let out = ok(&[
        "key",
        "register",
        "--server",
        &url,
        "--admin-key",
        admin_s,
        "--vkey",
        &gen_vkey,
        "--role",
        "generator",
        "--origins",
        "synthetic",
        "--environments",
        "sandbox,staging",
        "--log-key",
        &log_vkey,
    ]);
    assert!(out.contains("receipt verified"), "{out}");
    assert!(out.contains("recorded at log index 1"), "{out}");

    let out = ok(&["key", "list", "--server", &url]);
    assert!(out.contains("2 keys at tree size 2"), "{out}");
    let line = out.lines().find(|l| l.starts_with(&gen_vkey)).unwrap();
    assert!(
        line.contains("GENERATOR") && line.contains("registered at 1") && line.contains("active")
    );

    // Mistakes are refused with a one-line reason and a failing exit code.
    let o = run(&[
        "key",
        "register",
        "--server",
        &url,
        "--admin-key",
        admin_s,
        "--vkey",
        &gen_vkey,
        "--role",
        "boss",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--role"), "{}", stderr(&o));
    let o = run(&[
        "key",
        "register",
        "--server",
        &url,
        "--admin-key",
        gen_key.to_str().unwrap(),
        "--vkey",
        &gen_vkey,
        "--role",
        "admin",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("PermissionDenied") || stderr(&o).contains("Permission denied"),
        "{}",
        stderr(&o)
    );

    let out = ok(&[
        "key",
        "revoke",
        "--server",
        &url,
        "--admin-key",
        admin_s,
        "--name",
        "gen.cli/a",
        "--reason",
        "rotated",
    ]);
    assert!(out.contains("recorded at log index 2"), "{out}");
    let out = ok(&["key", "list", "--server", &url]);
    assert!(
        out.lines()
            .any(|l| l.starts_with(&gen_vkey) && l.contains("revoked at 2")),
        "{out}"
    );

    // SIGTERM drains and exits cleanly.
    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = server.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "server did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "server exit: {exit:?}");

    let out = ok(&["audit", "--data", data_s]);
    assert!(out.contains("audit passed: 3 leaves recomputed"), "{out}");
}

#[test]
fn serve_creates_a_data_directory_on_first_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("fresh");
    let (mut server, url) = serve(&data);
    assert!(data.join("log.key").exists());
    let out = ok(&["key", "list", "--server", &url]);
    assert!(out.contains("1 keys at tree size 1"), "{out}");
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn demo_runs_end_to_end() {
    let out = ok(&["demo"]);
    assert!(out.contains("Consistency proof from size"), "{out}");
    assert!(out.contains("Server stopped cleanly"), "{out}");
    assert!(out.contains("contamination alert #1"), "{out}");
    assert!(out.contains("every inclusion proof verified"), "{out}");
    assert!(out.contains("— Mixed"), "{out}");
}

/// Appends through the real server, SIGKILL right after the last acknowledgement, restart: every
/// acknowledged entry is there with its leaf hash, and the lineage indexer resumes exactly —
/// one alert per synced record, ids 1..n, and the generator's blast radius counted once.
#[test]
fn acknowledged_events_and_lineage_survive_kill_9() {
    use prost::Message;
    use provledger::envelope::{EVENT_PAYLOAD_TYPE, sign};
    use provledger::ledger::key_action_envelope;
    use provledger::note::NoteSigner;
    use provledger::proto::lineage_service_client::LineageServiceClient;
    use provledger::proto::log_service_client::LogServiceClient;
    use provledger::proto::{
        Action, AppendRequest, DescendantsRequest, GetInclusionProofRequest, KeyRegistration,
        ListAlertsRequest, Origin, Parent, ProvenanceEvent, RecordRef, Role, descendants_request,
        key_action,
    };

    const LEADS: u64 = 300;
    const SYNCED: u64 = 30;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&["init", "--data", data.to_str().unwrap()]);
    let admin = provledger::keyfile::read(&data.join("admin.key")).unwrap();
    let lead = |i: u64, tenant: &str| RecordRef {
        system: "salesforce".into(),
        tenant: tenant.into(),
        object_type: "Lead".into(),
        record_id: format!("00Q{i:012}"),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (mut child, url) = serve(&data);
    let acked: Vec<(u64, Vec<u8>)> = rt.block_on(async {
        let mut client = LogServiceClient::connect(url.clone()).await.unwrap();
        let generator = NoteSigner::generate("gen.kill/v1").unwrap();
        let sync = NoteSigner::generate("sync.kill/v1").unwrap();
        for (key, role) in [(&generator, Role::Generator), (&sync, Role::SyncJob)] {
            let action = key_action::Action::Register(KeyRegistration {
                vkey: key.verifier().to_vkey(),
                role: role as i32,
                ..Default::default()
            });
            client
                .append(AppendRequest {
                    event: Some(key_action_envelope(&admin, action)),
                })
                .await
                .unwrap();
        }
        let mut events = Vec::new();
        for i in 0..LEADS {
            events.push((
                &generator,
                ProvenanceEvent {
                    subject: Some(lead(i, "00D000000000001")),
                    action: Action::Generated as i32,
                    origin: Origin::Synthetic as i32,
                    environment: "sandbox".into(),
                    generator: Some(provledger::proto::Generator {
                        source: "gen.kill".into(),
                        model: "m".into(),
                        model_version: "1".into(),
                        run_id: String::new(),
                    }),
                    digital_source_type: provledger::provenance::rules::TRAINED_ALGORITHMIC_DATA
                        .into(),
                    ..Default::default()
                },
            ));
        }
        for i in 0..SYNCED {
            events.push((
                &sync,
                ProvenanceEvent {
                    subject: Some(lead(i, "00D000000000002")),
                    action: Action::Synced as i32,
                    parents: vec![Parent {
                        record: Some(lead(i, "00D000000000001")),
                        leaf_index: None,
                    }],
                    environment: "production".into(),
                    ..Default::default()
                },
            ));
        }
        let mut acked = Vec::new();
        for (key, event) in events {
            let envelope = sign(key, EVENT_PAYLOAD_TYPE, event.encode_to_vec());
            let r = client
                .append(AppendRequest {
                    event: Some(envelope),
                })
                .await
                .unwrap()
                .into_inner();
            acked.push((r.index, r.leaf_hash));
        }
        acked
    });
    child.kill().unwrap(); // SIGKILL: no drain, no index sync, no flush.
    child.wait().unwrap();

    let (mut child, url) = serve(&data);
    rt.block_on(async {
        let mut client = LogServiceClient::connect(url.clone()).await.unwrap();
        for (index, leaf_hash) in &acked {
            let proof = client
                .get_inclusion_proof(GetInclusionProofRequest {
                    leaf_hash: leaf_hash.clone(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(proof.leaf_index, *index, "acknowledged entry lost or moved");
        }
        let size = acked.last().unwrap().0 + 1;
        let mut lineage = LineageServiceClient::connect(url.clone()).await.unwrap();
        let alerts = lineage
            .list_alerts(ListAlertsRequest {
                min_tree_size: size,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .alerts;
        let ids: Vec<u64> = alerts.iter().map(|a| a.id).collect();
        assert_eq!(ids, (1..=SYNCED).collect::<Vec<_>>());
        let synced_at: Vec<u64> = acked[LEADS as usize..].iter().map(|(i, _)| *i).collect();
        assert_eq!(
            alerts.iter().map(|a| a.index).collect::<Vec<_>>(),
            synced_at
        );
        let blast = lineage
            .descendants(DescendantsRequest {
                from: Some(descendants_request::From::GeneratorSource(
                    "gen.kill".into(),
                )),
                min_tree_size: size,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(blast.total, LEADS + SYNCED);
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let out = ok(&["audit", "--data", data.to_str().unwrap()]);
    assert!(out.contains("audit passed"), "{out}");
}

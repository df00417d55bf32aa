//! The auditor commands (`checkpoint`, `monitor`, `verify`), run as a user runs them: the real
//! binary against real servers. A fork is made the way it would happen — two copies of one
//! store, each extended with different entries under the same log key — and `monitor`, holding
//! a trusted state from one copy, must catch the other.

mod common;

use common::*;
use provledger::datadir::DataDir;
use provledger::ledger::LedgerConfig;
use provledger::proto::Role;
use std::path::Path;
use std::process::Output;

async fn cli(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_provledger"))
        .args(args)
        .output()
        .await
        .unwrap()
}

/// Runs an auditor command against `url`, trusting only `log_key` (a vkey or a file).
async fn against(url: &str, log_key: &str, args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend(["--server", url, "--log-key", log_key]);
    cli(&all).await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

async fn append(
    server: &TestServer,
    signer: &provledger::note::NoteSigner,
    ids: std::ops::Range<u64>,
) {
    let mut client = server.client().await;
    for i in ids {
        client
            .append(request(signed(signer, &generated_event(i))))
            .await
            .unwrap();
    }
}

async fn monitor(url: &str, vkey: &Path, state: &Path) -> Output {
    against(
        url,
        vkey.to_str().unwrap(),
        &[
            "monitor",
            "--state",
            state.to_str().unwrap(),
            "--polls",
            "1",
            "--json",
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_catches_a_fork_and_a_rollback() {
    // A common prefix: genesis, a key, five events.
    let server = TestServer::start(LedgerConfig::default()).await;
    let generator = server.register("gen.test/fork", Role::Generator).await;
    append(&server, &generator, 0..5).await;
    let (dir, tmp) = server.stop().await;
    let tmp = tmp.unwrap();
    let vkey = dir.log_vkey();
    let state = tmp.path().join("trusted-checkpoint");
    let (fork_root, prefix_root) = (tmp.path().join("fork"), tmp.path().join("prefix"));
    copy_dir(&dir.root, &fork_root);
    copy_dir(&dir.root, &prefix_root);

    // History A: three more events. The monitor trusts it, then follows it.
    let a = TestServer::open(dir.clone(), LedgerConfig::default()).await;
    let out = monitor(&a.url, &vkey, &state).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(first["status"], "trusted on first use");
    append(&a, &generator, 5..8).await;
    let out = monitor(&a.url, &vkey, &state).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let moved: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        moved["status"],
        "advanced with a verified consistency proof"
    );
    assert_eq!(moved["from"], first["size"]);
    let trusted_note = std::fs::read_to_string(&state).unwrap();
    let trusted_size = moved["size"].as_u64().unwrap();

    // History B: the same prefix, then other events under the same log key — more of them, so
    // its checkpoint is newer than the trusted one and only a consistency proof could join them.
    let b = TestServer::open(DataDir::new(&fork_root), LedgerConfig::default()).await;
    append(&b, &generator, 100..106).await;
    let out = monitor(&b.url, &vkey, &state).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("FORK"), "{err}");
    assert!(
        err.contains(&trusted_note),
        "the trusted note is evidence: {err}"
    );
    let b_note = b.ledger.store().latest().note.clone();
    assert!(err.contains(&b_note), "the offered note is evidence: {err}");
    // The trusted state did not move.
    assert_eq!(std::fs::read_to_string(&state).unwrap(), trusted_note);

    // The bare prefix: a log that is smaller than what it signed before.
    let c = TestServer::open(DataDir::new(&prefix_root), LedgerConfig::default()).await;
    let out = monitor(&c.url, &vkey, &state).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("ROLLBACK"), "{err}");
    assert!(
        err.contains(&format!("signed size {trusted_size} before")),
        "{err}"
    );

    // History A still verifies: checkpoint, entries and a consistency proof.
    let key = vkey.to_str().unwrap();
    let out = against(
        &a.url,
        key,
        &["checkpoint", "--state", state.to_str().unwrap()],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("size {trusted_size}")));
    let out = against(
        &a.url,
        key,
        &["verify", "entry", "--count", "3", "--json", "2"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["index"], 2);
    assert_eq!(lines[2]["tree_size"], trusted_size);
    let from = first["size"].as_u64().unwrap().to_string();
    let out = against(&a.url, key, &["verify", "consistency", "--from", &from]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Entries beyond the log are an error, not a silent short answer.
    let out = against(&a.url, key, &["verify", "entry", &trusted_size.to_string()]).await;
    assert!(!out.status.success());
    // A wrong log key: nothing verifies (exit 3).
    let other = provledger::note::NoteSigner::generate("test.provledger/log")
        .unwrap()
        .verifier()
        .to_vkey();
    let out = against(&a.url, &other, &["checkpoint"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    for server in [a, b, c] {
        server.stop().await;
    }
}

fn record(tenant: &str, object_type: &str, id: &str) -> provledger::proto::RecordRef {
    provledger::proto::RecordRef {
        system: "salesforce".into(),
        tenant: tenant.into(),
        object_type: object_type.into(),
        record_id: id.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_prints_a_verified_tree_with_origins() {
    use provledger::proto::{Action, Parent, ProvenanceEvent};
    let server = TestServer::start(LedgerConfig::default()).await;
    let generator = server.register("gen.test/trace", Role::Generator).await;
    let sync = server.register("sync.test/trace", Role::SyncJob).await;
    let mut client = server.client().await;
    // A synthetic Lead in the sandbox, copied into production as a Contact.
    let mut lead = generated_event(1);
    lead.subject = Some(record("00D000000000001", "Lead", "00Q000000000001"));
    client
        .append(request(signed(&generator, &lead)))
        .await
        .unwrap();
    let copy = ProvenanceEvent {
        subject: Some(record("00D000000000002", "Contact", "003000000000001")),
        action: Action::Synced as i32,
        parents: vec![Parent {
            record: lead.subject.clone(),
            leaf_index: None,
        }],
        environment: "production".into(),
        ..Default::default()
    };
    client.append(request(signed(&sync, &copy))).await.unwrap();
    server
        .ledger
        .lineage()
        .wait_for(server.ledger.store().size())
        .await
        .unwrap();

    let vkey = server.dir.log_vkey();
    let key = vkey.to_str().unwrap();
    let traced = "salesforce/00D000000000002/Contact/003000000000001";
    let out = against(&server.url, key, &["trace", traced]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    let lines: Vec<&str> = shown.lines().collect();
    assert!(
        lines[1].contains("Contact/003000000000001") && lines[1].contains("[SYNTHETIC] —"),
        "{shown}"
    );
    assert!(
        lines[1].contains("SYNCED in production by sync.test/trace"),
        "{shown}"
    );
    assert!(lines[2].starts_with("└─ "), "{shown}");
    assert!(
        lines[2].contains("Lead/00Q000000000001") && lines[2].contains("[SYNTHETIC] root —"),
        "{shown}"
    );
    assert!(
        lines[2].contains("GENERATED in sandbox by gen.test/trace"),
        "{shown}"
    );

    let out = against(&server.url, key, &["trace", "--json", traced]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["verified"], true);
    let nodes = answer["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[1]["root"], true);
    assert_eq!(nodes[1]["origin"], "SYNTHETIC");
    assert_eq!(nodes[0]["parents"][0], nodes[1]["record"]);

    // Another log's key: nothing verifies (exit 3); a malformed record is a usage error.
    let other = provledger::note::NoteSigner::generate("test.provledger/log")
        .unwrap()
        .verifier()
        .to_vkey();
    let out = against(&server.url, &other, &["trace", traced]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let out = against(&server.url, key, &["trace", "Lead/1"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("system/tenant/object_type/record_id"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_audit_replays_every_entry_and_catches_a_forged_checkpoint() {
    let server = TestServer::start(LedgerConfig::default()).await;
    let generator = server.register("gen.test/audit", Role::Generator).await;
    append(&server, &generator, 0..20).await;
    let early = server.ledger.store().latest();
    append(&server, &generator, 20..40).await;
    let tmp = tempfile::tempdir().unwrap();
    let vkey = server.dir.log_vkey();
    let key = vkey.to_str().unwrap();
    let state = tmp.path().join("trusted.note");
    let state_arg = state.to_str().unwrap();

    // A checkpoint a producer kept from an earlier receipt, checked against the leaves too.
    let kept = tmp.path().join("kept.note");
    std::fs::write(&kept, &early.note).unwrap();
    let args = [
        "audit",
        "--json",
        "--state",
        state_arg,
        "--checkpoint",
        kept.to_str().unwrap(),
    ];
    let out = against(&server.url, key, &args).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["size"], 42);
    assert_eq!(report["key_entries"], 2);
    assert_eq!(report["events"], 40);
    assert_eq!(report["checkpoints"], 2, "{report}");

    // The log key signs a checkpoint whose root is not that of its first 30 entries (what a
    // log showing different histories to different clients must do): the audit names it.
    let log_key = provledger::keyfile::read(&server.dir.log_key()).unwrap();
    let forged = provledger::checkpoint::Checkpoint {
        origin: early.checkpoint.origin.clone(),
        size: 30,
        root: [7; 32],
        extensions: Vec::new(),
    }
    .sign(&log_key)
    .unwrap();
    let bad = tmp.path().join("forged.note");
    std::fs::write(&bad, forged).unwrap();
    let args = [
        "audit",
        "--state",
        state_arg,
        "--checkpoint",
        bad.to_str().unwrap(),
    ];
    let out = against(&server.url, key, &args).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("checkpoint at size 30: its signed root differs"),
        "{}",
        text(&out.stderr)
    );
    // The offline audit of a data directory is still there (the server must be stopped).
    let (dir, _tmp) = server.stop().await;
    let data = dir.root.to_str().unwrap().to_string();
    let out = cli(&["audit", "--data", &data]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("audit passed"));
}

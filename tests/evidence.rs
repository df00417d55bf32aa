//! Evidence bundles, PROV-JSON, DOT, blast radius and timeline as a responder runs them: the
//! real binary against a real server, then `verify-bundle` offline with no server at all; and
//! every single-byte change of a bundle caught, naming what broke.

mod common;

use common::{TestServer, generated_event, request, run_cli, signed};
use provledger::bundle::{self, Bundle};
use provledger::ledger::LedgerConfig;
use provledger::proto::{Action, Origin, Parent, ProvenanceEvent, RecordRef, Role};
use provledger::provenance::rules::DIGITAL_CAPTURE;

const TENANT: &str = "00D000000000001";

fn record(object_type: &str, id: &str) -> RecordRef {
    RecordRef {
        system: "salesforce".into(),
        tenant: TENANT.into(),
        object_type: object_type.into(),
        record_id: id.into(),
    }
}

fn parent(r: &RecordRef) -> Parent {
    Parent {
        record: Some(r.clone()),
        leaf_index: None,
    }
}

/// Three synthetic Leads and a real one; a Contact derived from synthetic Lead 1 and the real
/// Lead (MIXED), synced to production, then an Opportunity derived from the production Contact
/// and purged. Returns the traced Contact's production copy's name.
async fn world() -> (TestServer, tempfile::TempDir) {
    let server = TestServer::start(LedgerConfig::default()).await;
    let generator = server.register("gen.test/evidence", Role::Generator).await;
    let sync = server.register("sync.test/evidence", Role::SyncJob).await;
    let mut client = server.client().await;
    let mut append = async |signer, event: ProvenanceEvent| {
        client
            .append(request(signed(signer, &event)))
            .await
            .unwrap()
            .into_inner()
            .index
    };
    for i in 1..=3 {
        let mut lead = generated_event(i);
        lead.subject = Some(record("Lead", &format!("00Q00000000000{i}")));
        append(&generator, lead).await;
    }
    let real = record("Lead", "00Q000000000009");
    append(
        &sync,
        ProvenanceEvent {
            subject: Some(real.clone()),
            action: Action::Captured as i32,
            origin: Origin::Real as i32,
            environment: "sandbox".into(),
            digital_source_type: DIGITAL_CAPTURE.into(),
            ..Default::default()
        },
    )
    .await;
    let contact = record("Contact", "003000000000001");
    let event =
        |action: Action, subject: &RecordRef, parents: Vec<Parent>, env: &str| ProvenanceEvent {
            subject: Some(subject.clone()),
            action: action as i32,
            parents,
            environment: env.into(),
            ..Default::default()
        };
    append(
        &sync,
        event(
            Action::Derived,
            &contact,
            vec![parent(&record("Lead", "00Q000000000001")), parent(&real)],
            "sandbox",
        ),
    )
    .await;
    let prod = record("Contact", "003000000000002");
    append(
        &sync,
        event(Action::Synced, &prod, vec![parent(&contact)], "production"),
    )
    .await;
    let opp = record("Opportunity", "006000000000001");
    append(
        &sync,
        event(Action::Derived, &opp, vec![parent(&prod)], "production"),
    )
    .await;
    let mut purge = event(Action::Purged, &opp, vec![], "production");
    purge.reason = "synthetic contamination".into();
    append(&sync, purge).await;
    server
        .ledger
        .lineage()
        .wait_for(server.ledger.store().size())
        .await
        .unwrap();
    (server, tempfile::tempdir().unwrap())
}

const OPPORTUNITY: &str = "salesforce/00D000000000001/Opportunity/006000000000001";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn cli_ok(args: &[&str]) -> String {
    let out = run_cli(args, None).await;
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_bundle_verifies_offline_and_every_flipped_byte_is_caught() {
    let (server, tmp) = world().await;
    // The auditor's own copy of the log key: the server's data directory goes with it.
    let vkey = tmp.path().join("log.vkey");
    std::fs::copy(server.dir.log_vkey(), &vkey).unwrap();
    let key = vkey.to_str().unwrap().to_string();
    let file = tmp.path().join("opportunity.bundle.json");
    let path = file.to_str().unwrap();
    let url = server.url.clone();
    let out = cli_ok(&[
        "export",
        "record",
        OPPORTUNITY,
        "--server",
        &url,
        "--log-key",
        &key,
        "--out",
        path,
        "--json",
    ])
    .await;
    let written: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(written["verified"], true, "{out}");
    assert_eq!(written["records"], 5, "{out}");
    // Offline: the server is gone.
    server.stop().await;
    let out = cli_ok(&["verify-bundle", path, "--log-key", &key, "--json"]).await;
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["verified"], true, "{out}");
    assert_eq!(report["claim"], "trace");
    assert_eq!(report["records"], 5, "{out}");
    // 6 events of the five records, 3 key entries (genesis, generator, sync job).
    assert_eq!(report["entries"], 9, "{out}");
    assert_eq!(report["key_entries"], 3, "{out}");
    assert_eq!(report["origins_taken"], 0, "{out}");
    // Each event's origin after it, and each record's.
    assert_eq!(report["origins_recomputed"], 6 + 5, "{out}");

    let bytes = std::fs::read(&file).unwrap();
    let log_key =
        provledger::note::NoteVerifier::from_vkey(std::fs::read_to_string(&vkey).unwrap().trim())
            .unwrap();
    assert_every_flip_caught(&bytes, &log_key);

    // Through the binary: the message names what broke.
    let cases = [
        (field_flip(&bytes, "\"leaf\": \"", 12), "entry "),
        (field_flip(&bytes, "\"checkpoint\": \"", 40), "checkpoint:"),
        (
            String::from_utf8(bytes.clone())
                .unwrap()
                .replacen("EFFECTIVE_ORIGIN_MIXED", "EFFECTIVE_ORIGIN_REAL", 1)
                .into_bytes(),
            "lineage answer, ",
        ),
    ];
    for (bad, expected) in cases {
        let broken = tmp.path().join("broken.json");
        std::fs::write(&broken, &bad).unwrap();
        let out = run_cli(
            &["verify-bundle", broken.to_str().unwrap(), "--log-key", &key],
            None,
        )
        .await;
        assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
        let stderr = text(&out.stderr);
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    // Another log's key verifies nothing.
    let other = provledger::note::NoteSigner::generate("test.provledger/log")
        .unwrap()
        .verifier()
        .to_vkey();
    let out = run_cli(&["verify-bundle", path, "--log-key", &other], None).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("checkpoint:"));
}

/// The bundle verifies, and each of its bytes flipped in its lowest bit makes it refused.
fn assert_every_flip_caught(bytes: &[u8], log_key: &provledger::note::NoteVerifier) {
    let good = Bundle::from_json(bytes).unwrap();
    bundle::verify(&good, log_key).unwrap();
    let mut survivors = Vec::new();
    for at in 0..bytes.len() {
        let mut bad = bytes.to_vec();
        bad[at] ^= 1;
        let verdict = Bundle::from_json(&bad).and_then(|b| bundle::verify(&b, log_key));
        if verdict.is_ok() {
            survivors.push((
                at,
                text(&bytes[at.saturating_sub(30)..(at + 30).min(bytes.len())]),
            ));
        }
    }
    assert!(survivors.is_empty(), "flips not caught: {survivors:#?}");
}

/// The file with the `offset`-th character of the value after `marker` changed.
fn field_flip(bytes: &[u8], marker: &str, offset: usize) -> Vec<u8> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let at = text.find(marker).unwrap() + marker.len() + offset;
    let mut out = bytes.to_vec();
    out[at] = if out[at] == b'A' { b'B' } else { b'A' };
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blast_radius_timeline_prov_and_dot() {
    let (server, tmp) = world().await;
    let vkey = server.dir.log_vkey();
    let key = vkey.to_str().unwrap().to_string();
    let url = server.url.clone();
    let base = ["--server", url.as_str(), "--log-key", key.as_str()];
    let with = |args: &[&'static str]| -> Vec<String> {
        args.iter()
            .map(|s| s.to_string())
            .chain(base.iter().map(|s| s.to_string()))
            .collect()
    };
    let run = async |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        cli_ok(&refs).await
    };

    // The generator's blast radius: 3 Leads, the Contact from Lead 1, its production copy, the
    // Opportunity derived from that.
    let out = run(with(&[
        "blast-radius",
        "--generator",
        "synth-gen.test",
        "--json",
    ]))
    .await;
    let radius: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(radius["verified"], true);
    assert_eq!(radius["total"], 6, "{out}");
    assert_eq!(radius["by_environment"]["production"], 2, "{out}");
    assert_eq!(radius["by_object_type"]["Lead"], 3, "{out}");
    let out = run(with(&[
        "blast-radius",
        "--generator",
        "synth-gen.test",
        "--environment",
        "production",
    ]))
    .await;
    assert!(out.starts_with("blast radius at tree size "), "{out}");
    assert!(out.contains("6 records"), "{out}");
    assert!(
        out.contains("depth 2 #") && out.contains("Contact/003000000000002AAA in production"),
        "{out}"
    );
    assert!(!out.contains("Lead/00Q"), "filtered to production: {out}");

    // A blast-radius bundle verifies offline too.
    let file = tmp.path().join("radius.json");
    let path = file.to_str().unwrap().to_string();
    let mut args = with(&["export", "blast-radius", "--generator", "synth-gen.test"]);
    args.extend(["--out".into(), path.clone()]);
    run(args).await;
    let out = run(vec![
        "verify-bundle".into(),
        path.clone(),
        "--log-key".into(),
        key.clone(),
    ])
    .await;
    assert!(
        out.starts_with("verified: blast radius of 6 records"),
        "{out}"
    );
    assert_every_flip_caught(&std::fs::read(&file).unwrap(), &server.log_key);

    // Timeline: the Opportunity's ancestry in log order.
    let out = run(with(&["timeline", OPPORTUNITY, "--json"])).await;
    let timeline: serde_json::Value = serde_json::from_str(&out).unwrap();
    let actions: Vec<&str> = timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "GENERATED",
            "CAPTURED",
            "DERIVED",
            "SYNCED",
            "DERIVED",
            "PURGED"
        ]
    );

    // PROV-JSON and DOT of the Opportunity's trace.
    let prov = tmp.path().join("opportunity.prov.json");
    let mut args = with(&["export", "record", OPPORTUNITY, "--format", "prov-json"]);
    args.extend(["--out".into(), prov.to_str().unwrap().into()]);
    run(args).await;
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&prov).unwrap()).unwrap();
    assert_eq!(doc["prefix"]["pl"], "urn:provledger:");
    assert_eq!(doc["entity"].as_object().unwrap().len(), 5);
    assert_eq!(doc["wasDerivedFrom"].as_object().unwrap().len(), 4);
    assert_eq!(doc["wasInvalidatedBy"].as_object().unwrap().len(), 1);
    assert_eq!(doc["wasAttributedTo"].as_object().unwrap().len(), 1);
    let opp = &doc["entity"]["rec:salesforce-00D000000000001EAA-Opportunity-006000000000001AAA"];
    assert_eq!(
        opp["pl:effectiveOrigin"], "EFFECTIVE_ORIGIN_MIXED",
        "{doc:#}"
    );
    assert_prov_references_resolve(&doc);

    let args = with(&[
        "export",
        "record",
        OPPORTUNITY,
        "--format",
        "dot",
        "--out",
        "-",
    ]);
    let dot = run(args).await;
    assert!(dot.starts_with("digraph provenance {"), "{dot}");
    assert_eq!(dot.matches(" -> ").count(), 4, "{dot}");
    assert!(dot.contains("MIXED"), "{dot}");
    server.stop().await;
}

/// Every relation in a PROV-JSON document names elements the document defines.
fn assert_prov_references_resolve(doc: &serde_json::Value) {
    let defined = |kind: &str| -> Vec<String> {
        doc[kind]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let entities = defined("entity");
    let activities = defined("activity");
    let agents = defined("agent");
    for (relation, fields) in [
        (
            "wasGeneratedBy",
            vec![("prov:entity", &entities), ("prov:activity", &activities)],
        ),
        (
            "wasDerivedFrom",
            vec![
                ("prov:generatedEntity", &entities),
                ("prov:usedEntity", &entities),
            ],
        ),
        (
            "wasAttributedTo",
            vec![("prov:entity", &entities), ("prov:agent", &agents)],
        ),
        (
            "wasAssociatedWith",
            vec![("prov:activity", &activities), ("prov:agent", &agents)],
        ),
        (
            "wasInvalidatedBy",
            vec![("prov:entity", &entities), ("prov:activity", &activities)],
        ),
    ] {
        for (id, r) in doc[relation].as_object().unwrap() {
            for (field, set) in &fields {
                let target = r[*field].as_str().unwrap();
                assert!(
                    set.contains(&target.to_string()),
                    "{relation} {id}: {field} {target}"
                );
            }
        }
    }
}

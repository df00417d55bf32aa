//! `provledger demo`: the whole flow against an embedded server on a temporary directory.

use anyhow::{Context, Result, bail};
use prost::Message;
use provledger::api::{ServerConfig, serve};
use provledger::client::{
    check_consistency, connect, verify_checkpoint, verify_events, verify_receipt,
};
use provledger::datadir::{DataDir, Initialised};
use provledger::envelope::{EVENT_PAYLOAD_TYPE, sign};
use provledger::keyfile;
use provledger::ledger::{LedgerConfig, key_action_envelope};
use provledger::note::{NoteSigner, NoteVerifier};
use provledger::proto::lineage_service_client::LineageServiceClient;
use provledger::proto::{
    Action, AppendRequest, DescendantsRequest, EffectiveOrigin, Generator, GetCheckpointRequest,
    GetInclusionProofRequest, KeyRegistration, ListAlertsRequest, Origin, Parent, ProvenanceEvent,
    RecordRef, Role, TraceRequest, descendants_request, key_action,
};
use provledger::provenance::rules;
use std::sync::Arc;

pub fn run() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = DataDir::new(tmp.path().join("data"));
    // Initialising appends the genesis entry synchronously, so it runs before the runtime.
    let created = dir.init("demo.provledger/log")?;
    println!("1. Initialised a log in a temporary directory");
    println!("   log vkey:   {}", created.log_vkey);
    println!("   admin vkey: {}", created.admin_vkey);
    tokio::runtime::Runtime::new()?.block_on(demo(&dir, &created))
}

fn lead(id: &str) -> RecordRef {
    RecordRef {
        system: "salesforce".into(),
        tenant: "00D5g000004ABCDEA4".into(),
        object_type: "Lead".into(),
        record_id: id.into(),
    }
}

async fn demo(dir: &DataDir, created: &Initialised) -> Result<()> {
    let ledger = Arc::new(dir.open_ledger(LedgerConfig::default())?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        ledger.clone(),
        ServerConfig::default(),
        async {
            let _ = stopped.await;
        },
    ));
    println!("2. Serving gRPC on {url}");

    let log_key = NoteVerifier::from_vkey(&created.log_vkey)?;
    let admin = keyfile::read(&dir.admin_key())?;
    let generator = NoteSigner::generate("synth-gen.example/v3")?;
    let mut client = connect(&url).await?;
    let registration = key_action_envelope(
        &admin,
        key_action::Action::Register(KeyRegistration {
            vkey: generator.verifier().to_vkey(),
            role: Role::Generator as i32,
            allowed_origins: vec![Origin::Synthetic as i32],
            allowed_environments: vec!["sandbox".into()],
            description: "synthetic lead generator, model v3".into(),
        }),
    );
    let r = client
        .append(AppendRequest {
            event: Some(registration),
        })
        .await?
        .into_inner();
    let first = verify_receipt(&r, &log_key)?;
    println!(
        "3. Admin registered generator key {} at index {}; receipt verified",
        generator.verifier().to_vkey(),
        r.index
    );

    let mut last = None;
    for i in 0..3 {
        let event = ProvenanceEvent {
            subject: Some(lead(&format!("00Q5g00000Syn0{i}"))),
            action: Action::Generated as i32,
            origin: Origin::Synthetic as i32,
            environment: "sandbox".into(),
            content_hash: blake3::keyed_hash(&[7; 32], format!("row {i}").as_bytes())
                .as_bytes()
                .to_vec(),
            generator: Some(Generator {
                source: "synth-gen.acme".into(),
                model: "lead-synth".into(),
                model_version: "3.0.0".into(),
                run_id: "demo-run-1".into(),
            }),
            digital_source_type: rules::TRAINED_ALGORITHMIC_DATA.into(),
            ..Default::default()
        };
        let envelope = sign(&generator, EVENT_PAYLOAD_TYPE, event.encode_to_vec());
        let r = client
            .append(AppendRequest {
                event: Some(envelope),
            })
            .await?
            .into_inner();
        verify_receipt(&r, &log_key)?;
        println!(
            "4. Generator appended synthetic Lead {i} at index {}: inclusion proof verified",
            r.index
        );
        last = Some(r);
    }
    let capture = NoteSigner::generate("webform.example/capture")?;
    let registration = key_action_envelope(
        &admin,
        key_action::Action::Register(KeyRegistration {
            vkey: capture.verifier().to_vkey(),
            role: Role::SyncJob as i32,
            allowed_origins: vec![Origin::Real as i32],
            allowed_environments: vec!["production".into()],
            description: "web-to-lead form capture".into(),
        }),
    );
    client
        .append(AppendRequest {
            event: Some(registration),
        })
        .await?;
    let real = ProvenanceEvent {
        subject: Some(lead("00Q5g00000WebF1")),
        action: Action::Captured as i32,
        origin: Origin::Real as i32,
        environment: "production".into(),
        digital_source_type: rules::DIGITAL_CAPTURE.into(),
        content_hash: blake3::keyed_hash(&[7; 32], b"web form row")
            .as_bytes()
            .to_vec(),
        ..Default::default()
    };
    let envelope = sign(&capture, EVENT_PAYLOAD_TYPE, real.encode_to_vec());
    let r = client
        .append(AppendRequest {
            event: Some(envelope),
        })
        .await?
        .into_inner();
    verify_receipt(&r, &log_key)?;
    println!(
        "4. Web-form capture key (registered by the admin) appended a real Lead at index {}: inclusion proof verified",
        r.index
    );
    let last = last.context("no events appended")?;

    let checkpoint = client
        .get_checkpoint(GetCheckpointRequest { size: 0 })
        .await?
        .into_inner();
    let latest = verify_checkpoint(&checkpoint, &log_key)?;
    println!("5. Latest checkpoint, signature verified with the log vkey:");
    for line in checkpoint.note.lines() {
        println!("   {line}");
    }

    let proof = client
        .get_inclusion_proof(GetInclusionProofRequest {
            leaf_hash: last.leaf_hash.clone(),
            ..Default::default()
        })
        .await?
        .into_inner();
    if proof.leaf_index != last.index {
        bail!(
            "lookup by leaf hash found index {}, expected {}",
            proof.leaf_index,
            last.index
        );
    }
    println!(
        "6. Looked up entry {} by its leaf hash: inclusion proof of {} hashes at size {}",
        proof.leaf_index,
        proof.hashes.len(),
        proof.tree_size
    );

    let n = check_consistency(&mut client, &first, &latest).await?;
    println!(
        "7. Consistency proof from size {} to {} ({n} hashes) verified: the log only grew",
        first.size, latest.size
    );

    lineage_steps(&url, &admin, &log_key).await?;

    let _ = stop.send(());
    server.await??;
    ledger.shutdown();
    println!("12. Server stopped cleanly");
    Ok(())
}

/// Steps 8–11: a sync into production raises a contamination alert, a Contact derived from a
/// synthetic and a real Lead is MIXED, and a responder traces it and asks the blast radius.
async fn lineage_steps(url: &str, admin: &NoteSigner, log_key: &NoteVerifier) -> Result<()> {
    let mut client = connect(url).await?;
    let mut lineage = LineageServiceClient::connect(url.to_string()).await?;
    let sync = NoteSigner::generate("sync.example/sandbox-to-prod")?;
    let registration = key_action_envelope(
        admin,
        key_action::Action::Register(KeyRegistration {
            vkey: sync.verifier().to_vkey(),
            role: Role::SyncJob as i32,
            allowed_environments: vec!["production".into()],
            description: "nightly sandbox-to-production sync".into(),
            ..Default::default()
        }),
    );
    client
        .append(AppendRequest {
            event: Some(registration),
        })
        .await?;
    let append = |event: ProvenanceEvent| {
        let mut client = client.clone();
        let envelope = sign(&sync, EVENT_PAYLOAD_TYPE, event.encode_to_vec());
        async move {
            let r = client
                .append(AppendRequest {
                    event: Some(envelope),
                })
                .await?
                .into_inner();
            verify_receipt(&r, log_key)?;
            anyhow::Ok(r.index)
        }
    };
    let mut copy = lead("00Q5g00000Syn00");
    copy.tenant = "00D5g0000009ZZZ".into();
    let copied = append(ProvenanceEvent {
        subject: Some(copy),
        action: Action::Synced as i32,
        parents: vec![parent(lead("00Q5g00000Syn00"))],
        environment: "production".into(),
        ..Default::default()
    })
    .await?;
    let size = connect(url)
        .await?
        .get_checkpoint(GetCheckpointRequest { size: 0 })
        .await?
        .into_inner()
        .size;
    let alerts = lineage
        .list_alerts(ListAlertsRequest {
            min_tree_size: size,
            ..Default::default()
        })
        .await?
        .into_inner()
        .alerts;
    let alert = alerts
        .first()
        .context("no contamination alert was raised")?;
    println!(
        "8. Sync job copied synthetic Lead 0 into production at index {copied}: contamination alert #{} ({:?} record in {})",
        alert.id,
        EffectiveOrigin::try_from(alert.origin).unwrap_or_default(),
        alert.environment
    );

    let contact = RecordRef {
        object_type: "Contact".into(),
        record_id: "0035g00000Cnt01".into(),
        ..lead("")
    };
    let derived = append(ProvenanceEvent {
        subject: Some(contact.clone()),
        action: Action::Derived as i32,
        parents: vec![
            parent(lead("00Q5g00000Syn01")),
            parent(lead("00Q5g00000WebF1")),
        ],
        environment: "production".into(),
        ..Default::default()
    })
    .await?;
    println!(
        "9. Contact derived from synthetic Lead 1 and the real web-form Lead at index {derived}"
    );

    let trace = lineage
        .trace(TraceRequest {
            record: Some(contact),
            with_proofs: true,
            min_tree_size: derived + 1,
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut events = 0;
    for node in &trace.nodes {
        verify_events(&node.events, trace.checkpoint.as_ref(), log_key)?;
        events += node.events.len();
    }
    println!(
        "10. Trace of the Contact at tree size {} ({events} events, every inclusion proof verified):",
        trace.tree_size
    );
    for node in &trace.nodes {
        let r = node.record.clone().unwrap_or_default();
        println!(
            "    {}{} {} — {:?}{}",
            "  ".repeat(node.depth as usize),
            r.object_type,
            r.record_id,
            EffectiveOrigin::try_from(node.origin).unwrap_or_default(),
            if node.root { " (root)" } else { "" }
        );
    }

    let blast = lineage
        .descendants(DescendantsRequest {
            from: Some(descendants_request::From::GeneratorSource(
                "synth-gen.acme".into(),
            )),
            min_tree_size: derived + 1,
            ..Default::default()
        })
        .await?
        .into_inner();
    let counts: Vec<String> = blast
        .by_environment
        .iter()
        .map(|c| format!("{} in {}", c.count, c.key))
        .collect();
    println!(
        "11. Blast radius of generator synth-gen.acme: {} records ({})",
        blast.total,
        counts.join(", ")
    );
    Ok(())
}

fn parent(record: RecordRef) -> Parent {
    Parent {
        record: Some(record),
        leaf_index: None,
    }
}

//! The HTTP/JSON API end to end: a real HTTP/1.1 client against a real server on 127.0.0.1
//! (the gRPC port, which also serves HTTP/1.1): appends, every query, batches, error answers,
//! the gRPC/HTTP equivalence (`http_api/equivalence.rs`) and the OpenAPI document checked
//! against live answers (`http_api/openapi.rs`).

#[path = "http_api/batch.rs"]
mod batch;
mod common;
#[path = "http_api/equivalence.rs"]
mod equivalence;
#[path = "http_api/openapi.rs"]
mod openapi;
#[path = "http_api/refusals.rs"]
mod refusals;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::http::{HttpClient, escape};
use common::*;
use provledger::client::{verify_checkpoint, verify_events, verify_receipt};
use provledger::json::DsseEnvelope;
use provledger::ledger::{LedgerConfig, key_action_envelope};
use provledger::merkle::{Blake3, TreeHasher, verify_consistency};
use provledger::note::NoteSigner;
use provledger::proto::{
    Action, AppendResponse, Checkpoint, ConsistencyProof, DescendantsResponse, GetEntriesResponse,
    HistoryResponse, InclusionProof, KeyRegistration, ListAlertsResponse, ListKeysResponse, Parent,
    ProvenanceEvent, RecordRef, Role, SignedEvent, TraceResponse, key_action,
};

/// The DSSE JSON form of a signed envelope, as a producer would send it.
pub fn dsse(envelope: &SignedEvent) -> serde_json::Value {
    serde_json::to_value(DsseEnvelope::from_signed(envelope)).unwrap()
}

/// The path of a record's lineage route `tail` (history, trace, descendants).
pub fn record_path(record: &RecordRef, tail: &str) -> String {
    let tenant = if record.tenant.is_empty() {
        "-".to_string()
    } else {
        escape(&record.tenant)
    };
    format!(
        "/v1/records/{}/{tenant}/{}/{}/{tail}",
        escape(&record.system),
        escape(&record.object_type),
        escape(&record.record_id)
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A sync job's copy of generated Lead `i` into production (raises an alert).
pub fn synced_to_production(i: u64) -> ProvenanceEvent {
    let source = generated_event(i).subject.unwrap();
    ProvenanceEvent {
        subject: Some(RecordRef {
            tenant: "00D000000000002EAA".into(),
            ..source.clone()
        }),
        action: Action::Synced as i32,
        environment: "production".into(),
        parents: vec![Parent {
            record: Some(source),
            leaf_index: None,
        }],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_and_query_over_http() {
    let server = TestServer::start(LedgerConfig::default()).await;
    let http = HttpClient::new(&server.url);

    // An admin registers a generator key over HTTP: key actions are envelopes too.
    let generator = NoteSigner::generate("gen.test/http").unwrap();
    let registration = key_action_envelope(
        &server.admin,
        key_action::Action::Register(KeyRegistration {
            vkey: generator.verifier().to_vkey(),
            role: Role::Generator as i32,
            ..Default::default()
        }),
    );
    let r: AppendResponse = http
        .post_json("/v1/events", &dsse(&registration))
        .await
        .ok();
    verify_receipt(&r, &server.log_key).unwrap();
    assert_eq!(r.index, 1);
    let first_checkpoint = r.checkpoint.clone().unwrap();

    // Standard base64.
    let first = signed(&generator, &generated_event(1));
    let r1: AppendResponse = http.post_json("/v1/events", &dsse(&first)).await.ok();
    verify_receipt(&r1, &server.log_key).unwrap();
    assert!(!r1.duplicate);

    // URL-safe, unpadded base64 of an envelope whose standard form has '+' or '/'.
    let (second, mut body) = (2..)
        .map(|i| signed(&generator, &generated_event(i)))
        .map(|e| {
            let body = DsseEnvelope::from_signed(&e);
            (e, body)
        })
        .find(|(_, body)| {
            body.payload.contains(['+', '/']) && body.signatures[0].sig.contains(['+', '/'])
        })
        .unwrap();
    body.payload = URL_SAFE_NO_PAD.encode(&second.payload);
    body.signatures[0].sig = URL_SAFE_NO_PAD.encode(&second.signature);
    let r2: AppendResponse = http
        .post_json("/v1/events", &serde_json::to_value(&body).unwrap())
        .await
        .ok();
    verify_receipt(&r2, &server.log_key).unwrap();
    assert_eq!(r2.index, r1.index + 1);
    let entries: GetEntriesResponse = http
        .get(&format!("/v1/entries?start={}&count=1", r2.index))
        .await
        .ok();
    let leaf = &entries.entries[0].leaf;
    assert_eq!(Blake3::hash_leaf(leaf), leaf_hash(&r2), "stored as signed");

    // Resending identical bytes answers the original index.
    let again: AppendResponse = http.post_json("/v1/events", &dsse(&first)).await.ok();
    assert!(again.duplicate);
    assert_eq!(again.index, r1.index);
    verify_receipt(&again, &server.log_key).unwrap();

    // A record whose id needs escaping, with no tenant.
    let odd = RecordRef {
        system: "webhook".into(),
        tenant: String::new(),
        object_type: "Order".into(),
        record_id: "ord/2026 #7?x=1&y".into(),
    };
    let update = ProvenanceEvent {
        subject: Some(odd.clone()),
        action: Action::Updated as i32,
        environment: "sandbox".into(),
        ..Default::default()
    };
    let r3: AppendResponse = http
        .post_json("/v1/events", &dsse(&signed(&generator, &update)))
        .await
        .ok();

    // A sync job copies Lead 1 into production: a contamination alert.
    let sync = server.register("sync.test/http", Role::SyncJob).await;
    let r4: AppendResponse = http
        .post_json(
            "/v1/events",
            &dsse(&signed(&sync, &synced_to_production(1))),
        )
        .await
        .ok();
    let size = r4.index + 1;

    // The checkpoint: JSON, and the signed note as text (negotiated, and at its own path).
    let checkpoint: Checkpoint = http.get("/v1/checkpoint").await.ok();
    let verified = verify_checkpoint(&checkpoint, &server.log_key).unwrap();
    assert_eq!(verified.size, size);
    for answer in [
        http.get_accepting("/v1/checkpoint", "text/plain").await,
        http.get("/v1/checkpoint/note").await,
    ] {
        assert_eq!(answer.status, 200);
        assert_eq!(answer.content_type, "text/plain; charset=utf-8");
        assert_eq!(answer.text(), checkpoint.note);
        let opened =
            provledger::note::open(&answer.text(), std::slice::from_ref(&server.log_key)).unwrap();
        assert!(opened.is_signed_by(&server.log_key));
    }
    let old: Checkpoint = http
        .get(&format!("/v1/checkpoint?size={}", first_checkpoint.size))
        .await
        .ok();
    assert_eq!(old, first_checkpoint);
    let old_note = http
        .get(&format!(
            "/v1/checkpoint/note?size={}",
            first_checkpoint.size
        ))
        .await;
    assert_eq!(old_note.text(), first_checkpoint.note);

    // Entries: the leaves hash to the receipts' leaf hashes.
    let entries: GetEntriesResponse = http.get("/v1/entries?start=0&count=100").await.ok();
    assert_eq!(entries.entries.len() as u64, size);
    for r in [&r1, &r2, &r3, &r4] {
        let entry = &entries.entries[r.index as usize];
        assert_eq!(entry.index, r.index);
        assert_eq!(Blake3::hash_leaf(&entry.leaf), leaf_hash(r));
    }

    // Inclusion proofs by index, by hex leaf hash and by base64 leaf hash agree and verify.
    let by_index: InclusionProof = http
        .get(&format!(
            "/v1/proofs/inclusion?leaf_index={}&tree_size={size}",
            r1.index
        ))
        .await
        .ok();
    let by_hex: InclusionProof = http
        .get(&format!(
            "/v1/proofs/inclusion?leaf_hash={}",
            hex(&r1.leaf_hash)
        ))
        .await
        .ok();
    let by_b64: InclusionProof = http
        .get(&format!(
            "/v1/proofs/inclusion?leaf_hash={}",
            escape(&STANDARD.encode(&r1.leaf_hash))
        ))
        .await
        .ok();
    assert_eq!(by_index, by_hex);
    assert_eq!(by_index, by_b64);
    let receipt = AppendResponse {
        checkpoint: Some(checkpoint.clone()),
        proof: Some(by_index),
        ..r1.clone()
    };
    verify_receipt(&receipt, &server.log_key).unwrap();

    // A consistency proof from the first checkpoint to the latest.
    let proof: ConsistencyProof = http
        .get(&format!(
            "/v1/proofs/consistency?first_size={}",
            first_checkpoint.size
        ))
        .await
        .ok();
    assert_eq!(
        (proof.first_size, proof.second_size),
        (first_checkpoint.size, size)
    );
    let hashes: Vec<[u8; 32]> = proof
        .hashes
        .iter()
        .map(|h| h.as_slice().try_into().unwrap())
        .collect();
    let old_root: [u8; 32] = first_checkpoint.root_hash.as_slice().try_into().unwrap();
    verify_consistency::<Blake3>(proof.first_size, size, &old_root, &verified.root, &hashes)
        .unwrap();

    // Keys: the admin, the generator and the sync job.
    let keys: ListKeysResponse = http.get("/v1/keys").await.ok();
    assert_eq!(keys.keys.len(), 3);
    assert_eq!(keys.tree_size, size);

    // Lineage, by records named in the path.
    let lead = generated_event(1).subject.unwrap();
    let copy = synced_to_production(1).subject.unwrap();
    let normalised_copy = provledger::provenance::record::normalise(&copy).unwrap();
    let history: HistoryResponse = http
        .get(&format!(
            "{}?with_proofs=true&min_tree_size={size}",
            record_path(&lead, "history")
        ))
        .await
        .ok();
    assert_eq!(history.events.len(), 1);
    assert_eq!(history.events[0].index, r1.index);
    verify_events(
        &history.events,
        history.checkpoint.as_ref(),
        &server.log_key,
    )
    .unwrap();
    let odd_history: HistoryResponse = http
        .get(&format!(
            "{}?min_tree_size={size}",
            record_path(&odd, "history")
        ))
        .await
        .ok();
    assert_eq!(odd_history.record.as_ref(), Some(&odd));
    assert_eq!(odd_history.events[0].index, r3.index);
    let trace: TraceResponse = http
        .get(&format!(
            "{}?with_proofs=1&min_tree_size={size}",
            record_path(&copy, "trace")
        ))
        .await
        .ok();
    assert_eq!(trace.nodes.len(), 2);
    let parent_id = &trace.nodes[1].record.as_ref().unwrap().record_id;
    assert!(parent_id.starts_with(&lead.record_id), "{parent_id}");
    let blast: DescendantsResponse = http
        .get(&format!(
            "{}?min_tree_size={size}",
            record_path(&lead, "descendants")
        ))
        .await
        .ok();
    assert_eq!(blast.total, 2);
    let by_generator: DescendantsResponse = http
        .get(&format!(
            "/v1/descendants?generator_source=synth-gen.test&environments=production&min_tree_size={size}"
        ))
        .await
        .ok();
    assert_eq!(by_generator.total, 1);
    assert_eq!(
        by_generator.records[0].record.as_ref(),
        Some(&normalised_copy)
    );
    let by_key: DescendantsResponse = http
        .get(&format!(
            "/v1/descendants?key_id=sync.test%2Fhttp&min_tree_size={size}"
        ))
        .await
        .ok();
    assert_eq!(by_key.total, 1);
    let alerts: ListAlertsResponse = http
        .get(&format!("/v1/alerts?from_id=1&min_tree_size={size}"))
        .await
        .ok();
    assert_eq!(alerts.alerts.len(), 1);
    assert_eq!(alerts.alerts[0].index, r4.index);
    assert_eq!(alerts.next_id, 2);

    // Stopping the server does not wait for the client's idle keep-alive connection.
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(10), server.stop()).await;
    assert!(
        stopped.is_ok(),
        "the server did not stop with an idle HTTP/1.1 connection open"
    );
    drop(http);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_to_unknown_services_still_get_grpc_unimplemented() {
    let server = TestServer::start(LedgerConfig::default()).await;
    let channel = tonic::transport::Channel::from_shared(server.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let codec =
        tonic_prost::ProstCodec::<provledger::proto::ListKeysRequest, ListKeysResponse>::default();
    let status = grpc
        .unary(
            tonic::Request::new(provledger::proto::ListKeysRequest {}),
            axum::http::uri::PathAndQuery::from_static("/provledger.v1.NoSuchService/Call"),
            codec,
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    // Answered as gRPC (status in the trailers-only answer), not as the JSON 404.
    let answer = HttpClient::new(&server.url)
        .send(
            "POST",
            "/provledger.v1.NoSuchService/Call",
            &[("content-type", "application/grpc")],
            Vec::new(),
        )
        .await;
    assert_eq!(
        (answer.status, answer.content_type.as_str()),
        (200, "application/grpc")
    );
    assert!(answer.body.is_empty());
    // The gRPC services answer beside the HTTP API on the same port.
    let keys = server
        .client()
        .await
        .list_keys(provledger::proto::ListKeysRequest {})
        .await
        .unwrap();
    assert_eq!(keys.into_inner().keys.len(), 1);
}

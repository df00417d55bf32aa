//! The HTTP/JSON API end to end: a real HTTP/1.1 client against a real server on 127.0.0.1
//! (the gRPC port, which also serves HTTP/1.1): appends, every query, batches, error answers,
//! the gRPC/HTTP equivalence (`http_api/equivalence.rs`) and the OpenAPI document checked
//! against live answers (`http_api/openapi.rs`).

mod common;
#[path = "http_api/equivalence.rs"]
mod equivalence;
#[path = "http_api/openapi.rs"]
mod openapi;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::http::{HttpClient, escape};
use common::*;
use provledger::api::http::{BatchItem, BatchResponse};
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_answers_each_envelope_in_order() {
    let server = TestServer::start(LedgerConfig::default()).await;
    let generator = server.register("gen.test/batch", Role::Generator).await;
    let http = HttpClient::new(&server.url);
    let stranger = NoteSigner::generate("nobody.test/key").unwrap();
    let good: Vec<SignedEvent> = (0..4)
        .map(|i| signed(&generator, &generated_event(i)))
        .collect();
    let mut bad_base64 = dsse(&good[1]);
    bad_base64["payload"] = "not base64!".into();
    let envelopes = vec![
        dsse(&good[0]),
        bad_base64,
        dsse(&good[2]),
        dsse(&signed(&stranger, &generated_event(9))),
        serde_json::json!({"payload": 5}),
        dsse(&good[3]),
        dsse(&good[0]),
    ];
    let size = server.ledger.store().size();
    let answer: BatchResponse = http
        .post_json(
            "/v1/events:batch",
            &serde_json::json!({ "envelopes": envelopes }),
        )
        .await
        .ok();
    assert_eq!(answer.results.len(), 7);
    let receipt = |i: usize| match &answer.results[i] {
        BatchItem::Response(r) => r.clone(),
        BatchItem::Error(e) => panic!("result {i}: {e:?}"),
    };
    let error = |i: usize| match &answer.results[i] {
        BatchItem::Error(e) => e.clone(),
        BatchItem::Response(r) => panic!("result {i} is a receipt: {r:?}"),
    };
    let (a, c, f, again) = (receipt(0), receipt(2), receipt(5), receipt(6));
    for r in [&a, &c, &f, &again] {
        verify_receipt(r, &server.log_key).unwrap();
    }
    assert!(
        a.index < c.index && c.index < f.index,
        "sequenced in the order sent"
    );
    assert_eq!(again.index, a.index);
    assert!(again.duplicate && !a.duplicate);
    assert_eq!(error(1).code, "INVALID_ARGUMENT");
    assert!(
        error(1)
            .message
            .starts_with("envelopes[1].payload: not base64"),
        "{:?}",
        error(1)
    );
    assert_eq!(error(3).code, "UNAUTHENTICATED");
    assert!(
        error(3).message.contains("event.key_id: unknown key"),
        "{:?}",
        error(3)
    );
    assert_eq!(error(4).code, "INVALID_ARGUMENT");
    assert!(
        error(4)
            .message
            .starts_with("envelopes[4].payload: invalid type"),
        "{:?}",
        error(4)
    );
    assert_eq!(server.ledger.store().size(), size + 3);

    // Refusals of the whole batch.
    let too_many = vec![dsse(&good[0]); provledger::api::http::MAX_BATCH_ENVELOPES + 1];
    for (body, message) in [
        (
            serde_json::json!({ "envelopes": too_many }),
            "envelopes: at most 1000 per batch, got 1001",
        ),
        (
            serde_json::json!({ "envelopes": [] }),
            "envelopes: at least one is needed",
        ),
        (
            serde_json::json!({ "envelope": [] }),
            "envelope: unknown field `envelope`",
        ),
        (serde_json::json!([1]), "body: expected a JSON object"),
    ] {
        let e = http.post_json("/v1/events:batch", &body).await.error(400);
        assert_eq!(e.code, "INVALID_ARGUMENT");
        assert!(e.message.starts_with(message), "{e:?}");
    }
    assert_eq!(server.ledger.store().size(), size + 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_carry_their_code_status_and_field() {
    let server = TestServer::start(LedgerConfig::default()).await;
    let generator = server.register("gen.test/errors", Role::Generator).await;
    let http = HttpClient::new(&server.url);
    let r: AppendResponse = http
        .post_json(
            "/v1/events",
            &dsse(&signed(&generator, &generated_event(0))),
        )
        .await
        .ok();
    let good = signed(&generator, &generated_event(1));
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut body = dsse(&good);
        f(&mut body);
        serde_json::to_vec(&body).unwrap()
    };
    let with_envelope = |f: &dyn Fn(&mut SignedEvent)| {
        let mut e = good.clone();
        f(&mut e);
        serde_json::to_vec(&dsse(&e)).unwrap()
    };
    let stranger = NoteSigner::generate("nobody.test/key").unwrap();
    let size = server.ledger.store().size();
    let oversized_payload = provledger::envelope::sign(
        &generator,
        provledger::envelope::EVENT_PAYLOAD_TYPE,
        vec![0u8; 300 * 1024],
    );
    // (what, body, HTTP status, code, message start)
    let appends: Vec<(&str, Vec<u8>, u16, &str, &str)> = vec![
        (
            "not JSON",
            b"{\"payload\":".to_vec(),
            400,
            "INVALID_ARGUMENT",
            "body: not valid JSON",
        ),
        (
            "wrong type",
            with(&|b| b["payload"] = 5.into()),
            400,
            "INVALID_ARGUMENT",
            "payload: invalid type",
        ),
        (
            "unknown field",
            with(&|b| b["extra"] = 1.into()),
            400,
            "INVALID_ARGUMENT",
            "extra: unknown field `extra`",
        ),
        (
            "missing field",
            with(&|b| {
                b.as_object_mut().unwrap().remove("payloadType");
            }),
            400,
            "INVALID_ARGUMENT",
            "body: missing field `payloadType`",
        ),
        (
            "bad base64",
            with(&|b| b["payload"] = "@@@".into()),
            400,
            "INVALID_ARGUMENT",
            "payload: not base64",
        ),
        (
            "bad signature base64",
            with(&|b| b["signatures"][0]["sig"] = "%%".into()),
            400,
            "INVALID_ARGUMENT",
            "signatures[0].sig: not base64",
        ),
        (
            "two signatures",
            with(&|b| {
                let s = b["signatures"][0].clone();
                b["signatures"].as_array_mut().unwrap().push(s);
            }),
            400,
            "INVALID_ARGUMENT",
            "signatures: exactly one signature",
        ),
        (
            "unknown key",
            serde_json::to_vec(&dsse(&signed(&stranger, &generated_event(1)))).unwrap(),
            401,
            "UNAUTHENTICATED",
            "event.key_id: unknown key",
        ),
        (
            "bad signature",
            with_envelope(&|e| e.signature[5] ^= 1),
            401,
            "UNAUTHENTICATED",
            "event.signature",
        ),
        (
            "invalid event",
            with_envelope(&|e| {
                *e = signed(
                    &generator,
                    &ProvenanceEvent {
                        subject: None,
                        ..generated_event(1)
                    },
                )
            }),
            400,
            "INVALID_ARGUMENT",
            "event.payload.subject: required",
        ),
        (
            "payload over the ledger's limit",
            serde_json::to_vec(&dsse(&oversized_payload)).unwrap(),
            429,
            "RESOURCE_EXHAUSTED",
            "event.payload: 307200 bytes is over the limit",
        ),
        (
            "body over the transport limit",
            vec![b' '; 4 * 1024 * 1024 + 1],
            413,
            "OUT_OF_RANGE",
            "body: larger than the limit of 4194304 bytes",
        ),
    ];
    for (what, body, status, code, message) in appends {
        let answer = http.post_bytes("/v1/events", body).await;
        let e = answer.error(status);
        assert_eq!(e.code, code, "{what}: {e:?}");
        assert!(
            e.message.starts_with(message),
            "{what}: {:?} does not start with {message:?}",
            e.message
        );
    }
    assert_eq!(
        server.ledger.store().size(),
        size,
        "nothing refused was written"
    );

    let unknown = record("Lead", "00Q999999999999");
    let gets: Vec<(String, u16, &str, &str)> = vec![
        (
            format!("/v1/proofs/inclusion?leaf_index={size}"),
            400,
            "OUT_OF_RANGE",
            "",
        ),
        (
            format!("/v1/proofs/inclusion?leaf_index=0&tree_size={}", size + 1),
            400,
            "OUT_OF_RANGE",
            "",
        ),
        (
            format!("/v1/proofs/inclusion?leaf_hash={}", "ab".repeat(32)),
            404,
            "NOT_FOUND",
            "leaf_hash: no entry",
        ),
        (
            "/v1/proofs/inclusion?leaf_hash=AAAA".into(),
            400,
            "INVALID_ARGUMENT",
            "leaf_hash: must be 32 bytes",
        ),
        (
            "/v1/proofs/inclusion?leaf_hash=%21".into(),
            400,
            "INVALID_ARGUMENT",
            "leaf_hash: not 64 hex digits, and not base64",
        ),
        (
            "/v1/proofs/consistency?first_size=3&second_size=2".into(),
            400,
            "INVALID_ARGUMENT",
            "first_size: 3 is larger",
        ),
        (
            format!("/v1/entries?start={size}&count=1"),
            400,
            "OUT_OF_RANGE",
            "",
        ),
        (
            "/v1/entries?start=0".into(),
            400,
            "INVALID_ARGUMENT",
            "count: must be at least 1",
        ),
        (
            "/v1/entries?start=abc&count=1".into(),
            400,
            "INVALID_ARGUMENT",
            "start: \"abc\" is not an unsigned",
        ),
        (
            "/v1/entries?start=0&count=1&begin=1".into(),
            400,
            "INVALID_ARGUMENT",
            "begin: unknown query parameter",
        ),
        (
            "/v1/entries?start=0&start=1&count=1".into(),
            400,
            "INVALID_ARGUMENT",
            "start: given more than once",
        ),
        (
            format!("/v1/checkpoint?size={}", size + 1),
            400,
            "OUT_OF_RANGE",
            "",
        ),
        (
            "/v1/checkpoint?size=-1".into(),
            400,
            "INVALID_ARGUMENT",
            "size:",
        ),
        (
            format!("/v1/checkpoint/note?size={}", size + 1),
            400,
            "OUT_OF_RANGE",
            "",
        ),
        (
            format!(
                "{}?min_tree_size={size}",
                record_path(&unknown, "descendants")
            ),
            404,
            "NOT_FOUND",
            "record: no event about",
        ),
        (
            format!("{}?min_tree_size={size}", record_path(&unknown, "trace")),
            404,
            "NOT_FOUND",
            "record: no event about",
        ),
        (
            record_path(&unknown, "history") + "?with_proofs=maybe",
            400,
            "INVALID_ARGUMENT",
            "with_proofs: \"maybe\" is not true or false",
        ),
        (
            record_path(&record("Lead", "00Q000000000001AAA"), "history"),
            400,
            "INVALID_ARGUMENT",
            "record.record_id:",
        ),
        (
            "/v1/descendants".into(),
            400,
            "INVALID_ARGUMENT",
            "from: one of record, generator_source or key_id is required",
        ),
        (
            "/v1/descendants?generator_source=a&key_id=b".into(),
            400,
            "INVALID_ARGUMENT",
            "from: give generator_source or key_id, not both",
        ),
        (
            "/v1/descendants?key_id=k&since=yesterday".into(),
            400,
            "INVALID_ARGUMENT",
            "since: \"yesterday\" is not an RFC 3339 timestamp",
        ),
        (
            "/v1/alerts?page_size=4294967296".into(),
            400,
            "INVALID_ARGUMENT",
            "page_size: \"4294967296\" is not",
        ),
        (
            "/v1/keys?all=1".into(),
            400,
            "INVALID_ARGUMENT",
            "all: unknown query parameter; this route takes none",
        ),
        (
            "/v1/nothing/here".into(),
            404,
            "NOT_FOUND",
            "path: no route GET /v1/nothing/here",
        ),
        (
            "/v1/events".into(),
            405,
            "UNIMPLEMENTED",
            "method: /v1/events does not take GET",
        ),
    ];
    for (path, status, code, message) in gets {
        let e = http.get(&path).await.error(status);
        assert_eq!(e.code, code, "{path}: {e:?}");
        assert!(
            e.message.starts_with(message),
            "{path}: {:?} does not start with {message:?}",
            e.message
        );
    }
    // The history of a record the log has never seen is empty, as over gRPC.
    let empty: HistoryResponse = http
        .get(&format!(
            "{}?min_tree_size={size}",
            record_path(&unknown, "history")
        ))
        .await
        .ok();
    assert!(empty.events.is_empty());
    let e = http
        .send("DELETE", "/v1/keys", &[], Vec::new())
        .await
        .error(405);
    assert_eq!(e.code, "UNIMPLEMENTED");
    assert_eq!(server.ledger.store().size(), size);
    assert_eq!(r.index, size - 1);
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

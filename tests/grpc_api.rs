//! The gRPC ingest service end to end: real clients against a real server on loopback.

mod common;

use common::*;
use prost::Message;
use provledger::client::{check_consistency, verify_checkpoint, verify_receipt};
use provledger::envelope::{EVENT_PAYLOAD_TYPE, KEY_PAYLOAD_TYPE, sign};
use provledger::ledger::{BatchPolicy, LedgerConfig, key_action_envelope};
use provledger::merkle::{Blake3, TreeHasher};
use provledger::note::NoteSigner;
use provledger::proto::{
    AppendRequest, GetCheckpointRequest, GetConsistencyProofRequest, GetEntriesRequest,
    GetInclusionProofRequest, KeyRegistration, KeyRevocation, ListKeysRequest, LogLeaf, Role,
    SignedEvent, key_action,
};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_verify_and_survive_restart() {
    let server = TestServer::start(LedgerConfig::default()).await;
    let generator = server.register("gen.test/a", Role::Generator).await;
    let mut tasks = Vec::new();
    for c in 0..16u64 {
        let url = server.url.clone();
        let generator = generator.clone_for_test();
        let log_key = server.log_key.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = provledger::proto::log_service_client::LogServiceClient::connect(url)
                .await
                .unwrap();
            let mut acks = Vec::new();
            for i in 0..25u64 {
                let envelope = signed(&generator, &generated_event(c * 1000 + i));
                let r = client
                    .append(request(envelope.clone()))
                    .await
                    .unwrap()
                    .into_inner();
                assert!(!r.duplicate);
                verify_receipt(&r, &log_key).unwrap();
                acks.push((r, envelope));
            }
            acks
        }));
    }
    let mut acks = Vec::new();
    for t in tasks {
        acks.extend(t.await.unwrap());
    }
    assert_eq!(acks.len(), 400);
    let mut indexes: Vec<u64> = acks.iter().map(|(r, _)| r.index).collect();
    indexes.sort();
    indexes.dedup();
    assert_eq!(
        indexes.len(),
        400,
        "every acknowledgement has its own index"
    );
    let before = verify_checkpoint(
        &server
            .client()
            .await
            .get_checkpoint(GetCheckpointRequest { size: 0 })
            .await
            .unwrap()
            .into_inner(),
        &server.log_key,
    )
    .unwrap();
    assert_eq!(before.size, 402); // genesis + registration + 400 events

    let (dir, tmp) = server.stop().await;
    let server = TestServer::open(dir, LedgerConfig::default()).await;
    let mut client = server.client().await;
    for (r, envelope) in &acks {
        let entries = client
            .get_entries(GetEntriesRequest {
                start: r.index,
                count: 1,
            })
            .await
            .unwrap()
            .into_inner()
            .entries;
        assert_eq!(entries[0].index, r.index);
        assert_eq!(Blake3::hash_leaf(&entries[0].leaf), leaf_hash(r));
        let leaf = LogLeaf::decode(entries[0].leaf.as_slice()).unwrap();
        assert_eq!(leaf.envelope.as_ref(), Some(envelope), "stored verbatim");
        // Only the latest checkpoint is stored; the receipt's is signed again, byte for byte.
        let published = r.checkpoint.as_ref().unwrap();
        let again = client
            .get_checkpoint(GetCheckpointRequest {
                size: published.size,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(again.note, published.note);
    }
    // New appends after the restart extend the same tree.
    let r = client
        .append(request(signed(&generator, &generated_event(99_999))))
        .await
        .unwrap()
        .into_inner();
    let after = verify_receipt(&r, &server.log_key).unwrap();
    assert_eq!(r.index, 402);
    check_consistency(&mut client, &before, &after)
        .await
        .unwrap();
    drop(tmp);
}

/// `NoteSigner` is not `Clone` on purpose (it is secret); tests rebuild it from its key string.
trait CloneForTest {
    fn clone_for_test(&self) -> NoteSigner;
}

impl CloneForTest for NoteSigner {
    fn clone_for_test(&self) -> NoteSigner {
        NoteSigner::from_private_key_str(&self.to_private_key_string()).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_bytes_are_answered_as_duplicates() {
    let server = TestServer::start(LedgerConfig::default()).await;
    let generator = server.register("gen.test/dup", Role::Generator).await;
    let mut client = server.client().await;
    let envelope = signed(&generator, &generated_event(1));
    let first = client
        .append(request(envelope.clone()))
        .await
        .unwrap()
        .into_inner();
    let again = client
        .append(request(envelope.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.duplicate);
    assert!(again.duplicate);
    assert_eq!(again.index, first.index);
    assert_eq!(again.leaf_hash, first.leaf_hash);
    verify_receipt(&again, &server.log_key).unwrap();
    // Concurrent resubmissions within one batch resolve to one entry too.
    let envelope = signed(&generator, &generated_event(2));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut c = server.client().await;
        let e = envelope.clone();
        tasks.push(tokio::spawn(async move {
            c.append(request(e)).await.unwrap().into_inner()
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert!(answers.iter().all(|a| a.index == answers[0].index));
    assert_eq!(answers.iter().filter(|a| !a.duplicate).count(), 1);
    let size = server.ledger.store().size();
    assert_eq!(size, 4); // genesis, registration, two events
    // Persisted across restart.
    let (dir, _tmp) = server.stop().await;
    let server = TestServer::open(dir, LedgerConfig::default()).await;
    let r = server
        .client()
        .await
        .append(request(envelope))
        .await
        .unwrap()
        .into_inner();
    assert!(r.duplicate);
    assert_eq!(r.index, answers[0].index);
    assert_eq!(server.ledger.store().size(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resent_key_registration_is_a_duplicate_not_a_refusal() {
    let server = TestServer::start(LedgerConfig::default()).await;
    let signer = NoteSigner::generate("gen.test/resend").unwrap();
    let envelope = key_action_envelope(
        &server.admin,
        key_action::Action::Register(KeyRegistration {
            vkey: signer.verifier().to_vkey(),
            role: Role::Generator as i32,
            ..Default::default()
        }),
    );
    let mut client = server.client().await;
    let first = client
        .append(request(envelope.clone()))
        .await
        .unwrap()
        .into_inner();
    // A producer that lost the first answer resends the same bytes: the same entry comes back.
    let again = client.append(request(envelope)).await.unwrap().into_inner();
    assert!(!first.duplicate);
    assert!(again.duplicate);
    assert_eq!(again.index, first.index);
    verify_receipt(&again, &server.log_key).unwrap();
    // Registering the same name again with other bytes is still refused.
    let other = NoteSigner::generate("gen.test/resend").unwrap();
    let status = client
        .append(request(key_action_envelope(
            &server.admin,
            key_action::Action::Register(KeyRegistration {
                vkey: other.verifier().to_vkey(),
                role: Role::Generator as i32,
                ..Default::default()
            }),
        )))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert_eq!(server.ledger.store().size(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_and_unknown_keys_are_refused() {
    let server = TestServer::start(LedgerConfig::default()).await;
    let generator = server.register("gen.test/rev", Role::Generator).await;
    let mut client = server.client().await;
    client
        .append(request(signed(&generator, &generated_event(1))))
        .await
        .unwrap();
    let revoke = key_action_envelope(
        &server.admin,
        key_action::Action::Revoke(KeyRevocation {
            key_name: "gen.test/rev".into(),
            reason: "leaked".into(),
        }),
    );
    let revoked_at = client
        .append(request(revoke))
        .await
        .unwrap()
        .into_inner()
        .index;
    let size = server.ledger.store().size();
    let err = client
        .append(request(signed(&generator, &generated_event(2))))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().contains("event.key_id"), "{}", err.message());
    assert!(
        err.message()
            .contains(&format!("revoked at log index {revoked_at}"))
    );
    // A generator key cannot register keys.
    let other = NoteSigner::generate("x.test/other").unwrap();
    let gen2 = server.register("gen.test/two", Role::Generator).await;
    let size2 = server.ledger.store().size();
    assert_eq!(size2, size + 1);
    let err = client
        .append(request(key_action_envelope(
            &gen2,
            key_action::Action::Register(provledger::proto::KeyRegistration {
                vkey: other.verifier().to_vkey(),
                role: Role::Admin as i32,
                ..Default::default()
            }),
        )))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = client
        .append(request(signed(&other, &generated_event(3))))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(server.ledger.store().size(), size2);
    let keys = client
        .list_keys(ListKeysRequest {})
        .await
        .unwrap()
        .into_inner();
    let rev = keys
        .keys
        .iter()
        .find(|k| k.registration.as_ref().unwrap().vkey == generator.verifier().to_vkey())
        .unwrap();
    assert!(rev.revoked);
    assert_eq!(rev.revoked_at, revoked_at);
    assert_eq!(keys.keys.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let server = TestServer::start(LedgerConfig::default()).await;
    let generator = server.register("gen.test/bad", Role::Generator).await;
    let mut client = server.client().await;
    client
        .append(request(signed(&generator, &generated_event(0))))
        .await
        .unwrap();
    let good = signed(&generator, &generated_event(1));
    let with = |f: &dyn Fn(&mut SignedEvent)| {
        let mut e = good.clone();
        f(&mut e);
        AppendRequest { event: Some(e) }
    };
    let resign = |event: provledger::proto::ProvenanceEvent| request(signed(&generator, &event));
    let mut no_subject = generated_event(5);
    no_subject.subject = None;
    let mut no_record_id = generated_event(6);
    no_record_id.subject.as_mut().unwrap().record_id.clear();
    let mut no_action = generated_event(7);
    no_action.action = 0;
    let mut bad_parent = generated_event(8);
    bad_parent.action = provledger::proto::Action::Derived as i32;
    bad_parent.origin = 0;
    bad_parent.digital_source_type.clear();
    bad_parent.parents.push(provledger::proto::Parent {
        record: Some(record("Lead", "")),
        leaf_index: None,
    });
    let cases: Vec<(&str, AppendRequest, Code, &str)> = vec![
        (
            "no envelope",
            AppendRequest { event: None },
            Code::InvalidArgument,
            "event: required",
        ),
        (
            "no payload type",
            with(&|e| e.payload_type.clear()),
            Code::InvalidArgument,
            "event.payload_type: required",
        ),
        (
            "unknown payload type",
            with(&|e| e.payload_type = "text/plain".into()),
            Code::InvalidArgument,
            "event.payload_type: unknown",
        ),
        (
            "empty payload",
            with(&|e| e.payload.clear()),
            Code::InvalidArgument,
            "event.payload: required",
        ),
        (
            "no key id",
            with(&|e| e.key_id.clear()),
            Code::InvalidArgument,
            "event.key_id: required",
        ),
        (
            "short signature",
            with(&|e| e.signature.truncate(10)),
            Code::InvalidArgument,
            "event.signature: must be 64 bytes",
        ),
        (
            "bad signature",
            with(&|e| e.signature[5] ^= 1),
            Code::Unauthenticated,
            "event.signature",
        ),
        (
            "tampered payload",
            with(&|e| e.payload.push(0)),
            Code::Unauthenticated,
            "event.signature",
        ),
        (
            "unknown key",
            with(&|e| e.key_id = "nobody".into()),
            Code::Unauthenticated,
            "event.key_id: unknown key",
        ),
        (
            "payload not protobuf",
            request(sign(&generator, EVENT_PAYLOAD_TYPE, vec![0xff, 0xff, 0xff])),
            Code::InvalidArgument,
            "event.payload: not a valid ProvenanceEvent",
        ),
        (
            "key payload not protobuf",
            request(sign(&server.admin, KEY_PAYLOAD_TYPE, vec![0xff, 0x01])),
            Code::InvalidArgument,
            "event.payload.(KeyAction)",
        ),
        (
            "no subject",
            resign(no_subject),
            Code::InvalidArgument,
            "event.payload.subject: required",
        ),
        (
            "no record id",
            resign(no_record_id),
            Code::InvalidArgument,
            "event.payload.subject.record_id: required",
        ),
        (
            "no action",
            resign(no_action),
            Code::InvalidArgument,
            "event.payload.action: required",
        ),
        (
            "parent without id",
            resign(bad_parent),
            Code::InvalidArgument,
            "event.payload.parents[0].record.record_id: required",
        ),
        (
            "oversized payload",
            request(sign(&generator, EVENT_PAYLOAD_TYPE, vec![0u8; 300 * 1024])),
            Code::ResourceExhausted,
            "event.payload: 307200 bytes is over the limit",
        ),
    ];
    let size = server.ledger.store().size();
    for (name, req, code, message) in cases {
        let err = client.append(req).await.expect_err(name);
        assert_eq!(err.code(), code, "{name}: {}", err.message());
        assert!(
            err.message().contains(message),
            "{name}: {:?} lacks {message:?}",
            err.message()
        );
        assert_eq!(server.ledger.store().size(), size, "{name} changed the log");
    }
    let read_cases: Vec<(&str, Result<(), tonic::Status>, Code)> = vec![
        (
            "inclusion beyond the log",
            client
                .get_inclusion_proof(GetInclusionProofRequest {
                    leaf_index: 0,
                    tree_size: size + 1,
                    leaf_hash: vec![],
                })
                .await
                .map(|_| ()),
            Code::OutOfRange,
        ),
        (
            "index beyond the tree",
            client
                .get_inclusion_proof(GetInclusionProofRequest {
                    leaf_index: size,
                    tree_size: size,
                    leaf_hash: vec![],
                })
                .await
                .map(|_| ()),
            Code::OutOfRange,
        ),
        (
            "unknown leaf hash",
            client
                .get_inclusion_proof(GetInclusionProofRequest {
                    leaf_index: 0,
                    tree_size: 0,
                    leaf_hash: vec![1; 32],
                })
                .await
                .map(|_| ()),
            Code::NotFound,
        ),
        (
            "short leaf hash",
            client
                .get_inclusion_proof(GetInclusionProofRequest {
                    leaf_index: 0,
                    tree_size: 0,
                    leaf_hash: vec![1; 31],
                })
                .await
                .map(|_| ()),
            Code::InvalidArgument,
        ),
        (
            "consistency first > second",
            client
                .get_consistency_proof(GetConsistencyProofRequest {
                    first_size: 3,
                    second_size: 2,
                })
                .await
                .map(|_| ()),
            Code::InvalidArgument,
        ),
        (
            "consistency beyond the log",
            client
                .get_consistency_proof(GetConsistencyProofRequest {
                    first_size: 1,
                    second_size: size + 5,
                })
                .await
                .map(|_| ()),
            Code::OutOfRange,
        ),
        (
            "entries beyond the log",
            client
                .get_entries(GetEntriesRequest {
                    start: size,
                    count: 1,
                })
                .await
                .map(|_| ()),
            Code::OutOfRange,
        ),
        (
            "zero entries",
            client
                .get_entries(GetEntriesRequest { start: 0, count: 0 })
                .await
                .map(|_| ()),
            Code::InvalidArgument,
        ),
        (
            "checkpoint beyond the log",
            client
                .get_checkpoint(GetCheckpointRequest { size: size + 1 })
                .await
                .map(|_| ()),
            Code::OutOfRange,
        ),
    ];
    for (name, result, code) in read_cases {
        assert_eq!(result.expect_err(name).code(), code, "{name}");
    }
    assert_eq!(server.ledger.store().size(), size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_stream_answers_each_request_in_order() {
    let server = TestServer::start(LedgerConfig::default()).await;
    let generator = server.register("gen.test/stream", Role::Generator).await;
    let mut client = server.client().await;
    let mut requests: Vec<AppendRequest> = (0..300u64)
        .map(|i| request(signed(&generator, &generated_event(i))))
        .collect();
    // One bad request in the middle is answered with its own error, in its place.
    requests[150] = AppendRequest { event: None };
    let mut responses = client
        .append_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(r) = responses.message().await.transpose() {
        got.push(r);
    }
    // The stream ends at the first error (gRPC streams carry one final status).
    assert_eq!(got.len(), 151);
    assert!(got[..150].iter().all(|r| r.is_ok()));
    assert_eq!(got[150].as_ref().unwrap_err().code(), Code::InvalidArgument);
    let indexes: Vec<u64> = got[..150]
        .iter()
        .map(|r| r.as_ref().unwrap().index)
        .collect();
    assert!(
        indexes.windows(2).all(|w| w[0] < w[1]),
        "answers come in request order"
    );
    for r in got[..150].iter() {
        verify_receipt(r.as_ref().unwrap(), &server.log_key).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_quickly_and_loses_nothing() {
    let config = LedgerConfig {
        batch: BatchPolicy {
            max_batch: 1,
            ..Default::default()
        },
        queue_capacity: 1,
        ..Default::default()
    };
    let server = TestServer::start(config).await;
    let generator = server.register("gen.test/queue", Role::Generator).await;
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let mut c = server.client().await;
        let e = signed(&generator, &generated_event(i));
        tasks.push(tokio::spawn(async move { c.append(request(e)).await }));
    }
    let (mut ok, mut exhausted) = (Vec::new(), 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(r) => ok.push(r.into_inner()),
            Err(s) => {
                assert_eq!(s.code(), Code::ResourceExhausted, "{}", s.message());
                assert!(s.message().contains("queue is full"));
                exhausted += 1;
            }
        }
    }
    assert!(
        exhausted > 0,
        "a queue of one must overflow under 200 concurrent appends"
    );
    assert_eq!(server.ledger.store().size(), 2 + ok.len() as u64);
    for r in &ok {
        verify_receipt(r, &server.log_key).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_serving() {
    let server = TestServer::start(LedgerConfig::default()).await;
    let channel = tonic::transport::Channel::from_shared(server.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let answer = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "provledger.v1.LogService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        answer.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}

//! Refusals over HTTP: each with its gRPC code, the mapped HTTP status and a message naming the
//! field or parameter at fault; nothing refused is written.

use super::common::http::HttpClient;
use super::common::*;
use super::dsse;
use super::record_path;
use provledger::ledger::LedgerConfig;
use provledger::note::NoteSigner;
use provledger::proto::{AppendResponse, HistoryResponse, ProvenanceEvent, Role, SignedEvent};

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

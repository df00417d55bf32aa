//! `POST /v1/events:batch`: each envelope answered in its place, in order; refusals of the
//! whole batch.

use super::common::http::HttpClient;
use super::common::*;
use super::dsse;
use provledger::api::http::{BatchItem, BatchResponse};
use provledger::client::verify_receipt;
use provledger::ledger::LedgerConfig;
use provledger::note::NoteSigner;
use provledger::proto::{Role, SignedEvent};

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

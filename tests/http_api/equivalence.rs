//! One list of cases run through gRPC and through HTTP: answers decoded into the same proto
//! types must be equal, and refusals must carry the same code and message (and the HTTP status
//! of the gRPC → HTTP mapping).

use super::common::http::{HttpClient, escape};
use super::common::*;
use super::{dsse, record_path, synced_to_production};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use provledger::api::http::{code_from_name, http_status};
use provledger::envelope::{EVENT_PAYLOAD_TYPE, sign};
use provledger::ledger::LedgerConfig;
use provledger::proto::{
    AppendResponse, Checkpoint, ConsistencyProof, DescendantsRequest, DescendantsResponse,
    GetCheckpointRequest, GetConsistencyProofRequest, GetEntriesRequest, GetEntriesResponse,
    GetInclusionProofRequest, HistoryRequest, HistoryResponse, InclusionProof, ListAlertsRequest,
    ListAlertsResponse, ListKeysRequest, ListKeysResponse, ProvenanceEvent, Role, SignedEvent,
    TraceRequest, TraceResponse, descendants_request,
};
use serde::de::DeserializeOwned;
use tonic::Code;

/// One operation with its proto request.
#[derive(Debug, Clone)]
enum Case {
    Append(SignedEvent),
    Checkpoint(GetCheckpointRequest),
    Entries(GetEntriesRequest),
    Inclusion(GetInclusionProofRequest),
    Consistency(GetConsistencyProofRequest),
    Keys,
    History(HistoryRequest),
    Trace(TraceRequest),
    Descendants(DescendantsRequest),
    Alerts(ListAlertsRequest),
}

/// An answer, as the proto type of its operation.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Append(AppendResponse),
    Checkpoint(Checkpoint),
    Entries(GetEntriesResponse),
    Inclusion(InclusionProof),
    Consistency(ConsistencyProof),
    Keys(ListKeysResponse),
    History(HistoryResponse),
    Trace(TraceResponse),
    Descendants(DescendantsResponse),
    Alerts(ListAlertsResponse),
}

type Outcome = Result<Answer, (Code, String)>;

async fn over_grpc(server: &TestServer, case: &Case) -> Outcome {
    let mut log = server.client().await;
    let mut lineage = server.lineage().await;
    let answer = match case.clone() {
        Case::Append(e) => log
            .append(request(e))
            .await
            .map(|r| Answer::Append(r.into_inner())),
        Case::Checkpoint(r) => log
            .get_checkpoint(r)
            .await
            .map(|r| Answer::Checkpoint(r.into_inner())),
        Case::Entries(r) => log
            .get_entries(r)
            .await
            .map(|r| Answer::Entries(r.into_inner())),
        Case::Inclusion(r) => log
            .get_inclusion_proof(r)
            .await
            .map(|r| Answer::Inclusion(r.into_inner())),
        Case::Consistency(r) => log
            .get_consistency_proof(r)
            .await
            .map(|r| Answer::Consistency(r.into_inner())),
        Case::Keys => log
            .list_keys(ListKeysRequest {})
            .await
            .map(|r| Answer::Keys(r.into_inner())),
        Case::History(r) => lineage
            .history(r)
            .await
            .map(|r| Answer::History(r.into_inner())),
        Case::Trace(r) => lineage
            .trace(r)
            .await
            .map(|r| Answer::Trace(r.into_inner())),
        Case::Descendants(r) => lineage
            .descendants(r)
            .await
            .map(|r| Answer::Descendants(r.into_inner())),
        Case::Alerts(r) => lineage
            .list_alerts(r)
            .await
            .map(|r| Answer::Alerts(r.into_inner())),
    };
    answer.map_err(|s| (s.code(), s.message().to_string()))
}

/// `name=value` pairs as a query string; zero values (proto defaults) are left out.
fn query(pairs: &[(&str, String)]) -> String {
    let kept: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty() && v != "0" && v != "false")
        .map(|(k, v)| format!("{k}={}", escape(v)))
        .collect();
    if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    }
}

fn timestamp(t: &Option<pbjson_types::Timestamp>) -> String {
    t.as_ref()
        .map(|t| {
            serde_json::to_value(t)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .unwrap_or_default()
}

async fn over_http(http: &HttpClient, case: &Case) -> Outcome {
    let answer = match case {
        Case::Append(e) => http.post_json("/v1/events", &dsse(e)).await,
        Case::Checkpoint(r) => {
            http.get(&format!(
                "/v1/checkpoint{}",
                query(&[("size", r.size.to_string())])
            ))
            .await
        }
        Case::Entries(r) => {
            let q = query(&[
                ("start", r.start.to_string()),
                ("count", r.count.to_string()),
            ]);
            http.get(&format!("/v1/entries{q}")).await
        }
        Case::Inclusion(r) => {
            let q = query(&[
                ("leaf_index", r.leaf_index.to_string()),
                ("tree_size", r.tree_size.to_string()),
                ("leaf_hash", URL_SAFE_NO_PAD.encode(&r.leaf_hash)),
            ]);
            http.get(&format!("/v1/proofs/inclusion{q}")).await
        }
        Case::Consistency(r) => {
            let q = query(&[
                ("first_size", r.first_size.to_string()),
                ("second_size", r.second_size.to_string()),
            ]);
            http.get(&format!("/v1/proofs/consistency{q}")).await
        }
        Case::Keys => http.get("/v1/keys").await,
        Case::History(r) => {
            let q = query(&[
                ("as_of", r.as_of.to_string()),
                ("with_proofs", r.with_proofs.to_string()),
                ("min_tree_size", r.min_tree_size.to_string()),
            ]);
            http.get(&format!(
                "{}{q}",
                record_path(r.record.as_ref().unwrap(), "history")
            ))
            .await
        }
        Case::Trace(r) => {
            let q = query(&[
                ("max_depth", r.max_depth.to_string()),
                ("as_of", r.as_of.to_string()),
                ("with_proofs", r.with_proofs.to_string()),
                ("min_tree_size", r.min_tree_size.to_string()),
            ]);
            http.get(&format!(
                "{}{q}",
                record_path(r.record.as_ref().unwrap(), "trace")
            ))
            .await
        }
        Case::Descendants(r) => {
            let mut pairs = vec![
                ("since", timestamp(&r.since)),
                ("until", timestamp(&r.until)),
                ("max_depth", r.max_depth.to_string()),
                ("page_size", r.page_size.to_string()),
                ("page_token", r.page_token.clone()),
                ("as_of", r.as_of.to_string()),
                ("min_tree_size", r.min_tree_size.to_string()),
            ];
            pairs.extend(r.environments.iter().map(|e| ("environments", e.clone())));
            let path = match &r.from {
                Some(descendants_request::From::Record(record)) => {
                    record_path(record, "descendants")
                }
                Some(descendants_request::From::GeneratorSource(s)) => {
                    pairs.push(("generator_source", s.clone()));
                    "/v1/descendants".into()
                }
                Some(descendants_request::From::KeyId(k)) => {
                    pairs.push(("key_id", k.clone()));
                    "/v1/descendants".into()
                }
                None => "/v1/descendants".into(),
            };
            http.get(&format!("{path}{}", query(&pairs))).await
        }
        Case::Alerts(r) => {
            let q = query(&[
                ("from_id", r.from_id.to_string()),
                ("page_size", r.page_size.to_string()),
                ("min_tree_size", r.min_tree_size.to_string()),
            ]);
            http.get(&format!("/v1/alerts{q}")).await
        }
    };
    if answer.status != 200 {
        let error = answer.error(answer.status);
        let code = code_from_name(&error.code).unwrap_or_else(|| panic!("unknown code {error:?}"));
        assert_eq!(http_status(code).as_u16(), answer.status, "{error:?}");
        return Err((code, error.message));
    }
    fn decode<T: DeserializeOwned>(a: &super::common::http::HttpAnswer) -> T {
        a.ok()
    }
    Ok(match case {
        Case::Append(_) => Answer::Append(decode(&answer)),
        Case::Checkpoint(_) => Answer::Checkpoint(decode(&answer)),
        Case::Entries(_) => Answer::Entries(decode(&answer)),
        Case::Inclusion(_) => Answer::Inclusion(decode(&answer)),
        Case::Consistency(_) => Answer::Consistency(decode(&answer)),
        Case::Keys => Answer::Keys(decode(&answer)),
        Case::History(_) => Answer::History(decode(&answer)),
        Case::Trace(_) => Answer::Trace(decode(&answer)),
        Case::Descendants(_) => Answer::Descendants(decode(&answer)),
        Case::Alerts(_) => Answer::Alerts(decode(&answer)),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_and_http_give_the_same_answers() {
    let server = TestServer::start(LedgerConfig::default()).await;
    let generator = server.register("gen.test/same", Role::Generator).await;
    let sync = server.register("sync.test/same", Role::SyncJob).await;
    let mut log = server.client().await;
    let mut appended = Vec::new();
    for i in 0..6 {
        let e = signed(&generator, &generated_event(i));
        log.append(request(e.clone())).await.unwrap();
        appended.push(e);
    }
    let mut last = None;
    for i in 0..3 {
        let r = log
            .append(request(signed(&sync, &synced_to_production(i))))
            .await
            .unwrap();
        last = Some(r.into_inner());
    }
    let size = last.unwrap().index + 1;
    let lead = generated_event(1).subject.unwrap();
    let copy = synced_to_production(1).subject.unwrap();
    let unknown = record("Lead", "00Q999999999999");
    let mut tampered = appended[2].clone();
    tampered.signature[3] ^= 1;
    let mut text_type = appended[2].clone();
    text_type.payload_type = "text/plain".into();
    let since = pbjson_types::Timestamp {
        seconds: 0,
        nanos: 0,
    };
    let cases = vec![
        Case::Append(appended[0].clone()),
        Case::Append(tampered),
        Case::Append(text_type),
        Case::Append(signed(&generator, &ProvenanceEvent::default())),
        Case::Append(sign(&generator, EVENT_PAYLOAD_TYPE, vec![0xff, 0xff])),
        Case::Append(sign(&generator, EVENT_PAYLOAD_TYPE, vec![0u8; 300 * 1024])),
        Case::Checkpoint(GetCheckpointRequest { size: 0 }),
        Case::Checkpoint(GetCheckpointRequest { size: 3 }),
        Case::Checkpoint(GetCheckpointRequest { size: size + 1 }),
        Case::Entries(GetEntriesRequest { start: 0, count: 5 }),
        Case::Entries(GetEntriesRequest {
            start: 2,
            count: 5000,
        }),
        Case::Entries(GetEntriesRequest { start: 0, count: 0 }),
        Case::Entries(GetEntriesRequest {
            start: size,
            count: 1,
        }),
        Case::Inclusion(GetInclusionProofRequest {
            leaf_index: 3,
            tree_size: 0,
            leaf_hash: vec![],
        }),
        Case::Inclusion(GetInclusionProofRequest {
            leaf_index: 3,
            tree_size: 7,
            leaf_hash: vec![],
        }),
        Case::Inclusion(GetInclusionProofRequest {
            leaf_index: 0,
            tree_size: 0,
            leaf_hash: vec![9; 32],
        }),
        Case::Inclusion(GetInclusionProofRequest {
            leaf_index: 0,
            tree_size: 0,
            leaf_hash: vec![9; 31],
        }),
        Case::Inclusion(GetInclusionProofRequest {
            leaf_index: size,
            tree_size: 0,
            leaf_hash: vec![],
        }),
        Case::Consistency(GetConsistencyProofRequest {
            first_size: 3,
            second_size: 0,
        }),
        Case::Consistency(GetConsistencyProofRequest {
            first_size: 0,
            second_size: 4,
        }),
        Case::Consistency(GetConsistencyProofRequest {
            first_size: 5,
            second_size: 4,
        }),
        Case::Consistency(GetConsistencyProofRequest {
            first_size: 1,
            second_size: size + 1,
        }),
        Case::Keys,
        Case::History(HistoryRequest {
            record: Some(lead.clone()),
            min_tree_size: size,
            with_proofs: true,
            ..Default::default()
        }),
        Case::History(HistoryRequest {
            record: Some(copy.clone()),
            as_of: size - 1,
            min_tree_size: size,
            ..Default::default()
        }),
        Case::History(HistoryRequest {
            record: Some(unknown.clone()),
            min_tree_size: size,
            ..Default::default()
        }),
        Case::History(HistoryRequest {
            record: Some(lead.clone()),
            as_of: size + 10,
            ..Default::default()
        }),
        Case::Trace(TraceRequest {
            record: Some(copy.clone()),
            min_tree_size: size,
            with_proofs: true,
            ..Default::default()
        }),
        Case::Trace(TraceRequest {
            record: Some(copy.clone()),
            max_depth: 1,
            min_tree_size: size,
            ..Default::default()
        }),
        Case::Trace(TraceRequest {
            record: Some(unknown.clone()),
            min_tree_size: size,
            ..Default::default()
        }),
        Case::Descendants(DescendantsRequest {
            from: Some(descendants_request::From::GeneratorSource(
                "synth-gen.test".into(),
            )),
            min_tree_size: size,
            page_size: 4,
            ..Default::default()
        }),
        Case::Descendants(DescendantsRequest {
            from: Some(descendants_request::From::GeneratorSource(
                "synth-gen.test".into(),
            )),
            environments: vec!["production".into(), "staging".into()],
            since: Some(since),
            min_tree_size: size,
            ..Default::default()
        }),
        Case::Descendants(DescendantsRequest {
            from: Some(descendants_request::From::KeyId("sync.test/same".into())),
            min_tree_size: size,
            ..Default::default()
        }),
        Case::Descendants(DescendantsRequest {
            from: Some(descendants_request::From::Record(lead.clone())),
            min_tree_size: size,
            ..Default::default()
        }),
        Case::Descendants(DescendantsRequest {
            min_tree_size: size,
            ..Default::default()
        }),
        Case::Alerts(ListAlertsRequest {
            min_tree_size: size,
            ..Default::default()
        }),
        Case::Alerts(ListAlertsRequest {
            from_id: 2,
            page_size: 1,
            min_tree_size: size,
        }),
    ];
    let http = HttpClient::new(&server.url);
    let (mut answers, mut refusals) = (0, 0);
    for case in &cases {
        let grpc = over_grpc(&server, case).await;
        let over_http = over_http(&http, case).await;
        assert_eq!(grpc, over_http, "{case:?}");
        match grpc {
            Ok(_) => answers += 1,
            Err(_) => refusals += 1,
        }
    }
    assert!(
        answers >= 15 && refusals >= 10,
        "{answers} answers, {refusals} refusals"
    );
    assert_eq!(
        server.ledger.store().size(),
        size,
        "only duplicates and refusals were sent"
    );
}

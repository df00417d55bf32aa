//! The served OpenAPI document against the live server: it is the document in the source
//! tree, every documented operation is exercised and its real answers (successes and refusals)
//! validate against the documented response schemas, and every route takes exactly the query
//! parameters the document lists for it.

use super::common::http::{HttpAnswer, HttpClient, escape};
use super::common::*;
use super::{dsse, record_path, synced_to_production};
use provledger::api::http::openapi::{OPENAPI_JSON, documented_operations};
use provledger::ledger::LedgerConfig;
use provledger::proto::Role;
use serde_json::{Value, json};

/// How `instance` breaks `schema` (a schema of the document, whose references it resolves).
fn violations(document: &Value, schema: &Value, instance: &Value, id: &str) -> Vec<String> {
    let mut root = schema.clone();
    root["components"] = document["components"].clone();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("{id}: schema does not compile: {e}"));
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Checks `answer` against the response the document gives `operation` for its status.
fn check_answer(document: &Value, operation: &Value, id: &str, answer: &HttpAnswer) {
    let responses = &operation["responses"];
    let mut response = &responses[answer.status.to_string()];
    if response.is_null() {
        response = &responses["default"];
    }
    assert!(
        !response.is_null(),
        "{id}: status {} is not documented",
        answer.status
    );
    if let Some(reference) = response["$ref"].as_str() {
        let pointer = reference.trim_start_matches('#');
        response = document
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{id}: {reference}"));
    }
    let media_type = answer.content_type.split(';').next().unwrap_or("").trim();
    let schema = &response["content"][media_type]["schema"];
    assert!(
        !schema.is_null(),
        "{id}: {media_type} answer to status {} is not documented",
        answer.status
    );
    let instance = if media_type == "application/json" {
        answer.json()
    } else {
        Value::String(answer.text())
    };
    let errors = violations(document, schema, &instance, id);
    assert!(
        errors.is_empty(),
        "{id} ({}): {errors:#?}\n{}",
        answer.status,
        answer.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_matches_live_answers() {
    let server = TestServer::start(LedgerConfig::default()).await;
    let generator = server.register("gen.test/doc", Role::Generator).await;
    let sync = server.register("sync.test/doc", Role::SyncJob).await;
    let mut log = server.client().await;
    for i in 0..3 {
        log.append(request(signed(&generator, &generated_event(i))))
            .await
            .unwrap();
    }
    let r = log
        .append(request(signed(&sync, &synced_to_production(1))))
        .await
        .unwrap()
        .into_inner();
    let size = r.index + 1;
    let http = HttpClient::new(&server.url);

    let served = http.get("/v1/openapi.json").await;
    assert_eq!(served.status, 200);
    assert_eq!(served.text(), OPENAPI_JSON);
    let document: Value = served.json();

    let lead = generated_event(1).subject.unwrap();
    let copy = synced_to_production(1).subject.unwrap();
    let unknown = record("Lead", "00Q999999999999");
    let new_event = |i| dsse(&signed(&generator, &generated_event(i)));
    let wait = format!("min_tree_size={size}");
    // Real requests for every operation: (operationId, method, path, accept, body).
    let samples: Vec<(&str, &str, String, &str, Option<Value>)> = vec![
        (
            "append",
            "POST",
            "/v1/events".into(),
            "",
            Some(new_event(10)),
        ),
        (
            "append",
            "POST",
            "/v1/events".into(),
            "",
            Some(json!({"payload": 1})),
        ),
        (
            "appendBatch",
            "POST",
            "/v1/events:batch".into(),
            "",
            Some(json!({"envelopes": [new_event(11), {"payload": "@"}, new_event(10)]})),
        ),
        (
            "appendBatch",
            "POST",
            "/v1/events:batch".into(),
            "",
            Some(json!({"envelopes": []})),
        ),
        (
            "appendBatch",
            "POST",
            "/v1/events:batch".into(),
            "",
            Some(json!({"envelopes": [new_event(12), new_event(13)]})),
        ),
        ("getCheckpoint", "GET", "/v1/checkpoint".into(), "", None),
        (
            "getCheckpoint",
            "GET",
            "/v1/checkpoint?size=2".into(),
            "text/plain",
            None,
        ),
        (
            "getCheckpoint",
            "GET",
            "/v1/checkpoint?size=99999".into(),
            "",
            None,
        ),
        (
            "getCheckpointNote",
            "GET",
            "/v1/checkpoint/note".into(),
            "",
            None,
        ),
        (
            "getCheckpointNote",
            "GET",
            "/v1/checkpoint/note?size=x".into(),
            "",
            None,
        ),
        (
            "getEntries",
            "GET",
            "/v1/entries?start=0&count=100".into(),
            "",
            None,
        ),
        ("getEntries", "GET", "/v1/entries?start=0".into(), "", None),
        (
            "getInclusionProof",
            "GET",
            "/v1/proofs/inclusion?leaf_index=2&tree_size=4".into(),
            "",
            None,
        ),
        (
            "getInclusionProof",
            "GET",
            format!("/v1/proofs/inclusion?leaf_hash={}", "0".repeat(64)),
            "",
            None,
        ),
        (
            "getConsistencyProof",
            "GET",
            "/v1/proofs/consistency?first_size=2".into(),
            "",
            None,
        ),
        (
            "getConsistencyProof",
            "GET",
            "/v1/proofs/consistency?first_size=9&second_size=2".into(),
            "",
            None,
        ),
        ("listKeys", "GET", "/v1/keys".into(), "", None),
        (
            "history",
            "GET",
            format!("{}?with_proofs=true&{wait}", record_path(&lead, "history")),
            "",
            None,
        ),
        (
            "history",
            "GET",
            format!("{}?{wait}", record_path(&unknown, "history")),
            "",
            None,
        ),
        (
            "trace",
            "GET",
            format!("{}?with_proofs=true&{wait}", record_path(&copy, "trace")),
            "",
            None,
        ),
        (
            "trace",
            "GET",
            format!("{}?max_depth=x", record_path(&copy, "trace")),
            "",
            None,
        ),
        (
            "recordDescendants",
            "GET",
            format!("{}?{wait}", record_path(&lead, "descendants")),
            "",
            None,
        ),
        (
            "descendants",
            "GET",
            format!("/v1/descendants?generator_source=synth-gen.test&page_size=2&{wait}"),
            "",
            None,
        ),
        (
            "descendants",
            "GET",
            format!(
                "/v1/descendants?key_id={}&since=2020-01-01T00:00:00Z&{wait}",
                escape("sync.test/doc")
            ),
            "",
            None,
        ),
        ("descendants", "GET", "/v1/descendants".into(), "", None),
        ("listAlerts", "GET", format!("/v1/alerts?{wait}"), "", None),
        ("openApi", "GET", "/v1/openapi.json".into(), "", None),
    ];
    let operations = documented_operations(&document);
    for (method, path, id) in &operations {
        let id = id
            .as_deref()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        let operation = &document["paths"][path][method];
        let mine: Vec<_> = samples.iter().filter(|s| s.0 == id).collect();
        assert!(!mine.is_empty(), "{id}: no live sample; add one");
        let mut statuses = Vec::new();
        for (_, sample_method, sample_path, accept, body) in mine {
            assert_eq!(sample_method.to_lowercase(), *method, "{id}");
            let headers: Vec<(&str, &str)> = if accept.is_empty() {
                vec![]
            } else {
                vec![("accept", *accept)]
            };
            let bytes = body
                .as_ref()
                .map(|b| serde_json::to_vec(b).unwrap())
                .unwrap_or_default();
            let answer = http.send(sample_method, sample_path, &headers, bytes).await;
            check_answer(&document, operation, id, &answer);
            // A body the server accepted in full (every envelope of a batch) fits the
            // documented request schema.
            let whole = answer.status == 200
                && answer.content_type == "application/json"
                && answer.json()["results"]
                    .as_array()
                    .is_none_or(|r| r.iter().all(|item| item.get("response").is_some()));
            if let (Some(body), true) = (body, whole) {
                let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
                assert!(
                    !schema.is_null(),
                    "{id}: its request body is not documented"
                );
                let errors = violations(&document, schema, body, id);
                assert!(errors.is_empty(), "{id} request: {errors:#?}");
            }
            statuses.push(answer.status);
        }
        assert!(statuses.contains(&200), "{id}: no successful sample");
    }

    // Each GET route takes exactly its documented query parameters.
    let sample_record = |p: &str| {
        p.replace("{system}", "salesforce")
            .replace("{tenant}", &escape(&lead.tenant))
            .replace("{object_type}", "Lead")
            .replace("{record_id}", &escape(&lead.record_id))
    };
    let resolve = |p: &Value| -> Value {
        match p["$ref"].as_str() {
            Some(r) => document
                .pointer(r.trim_start_matches('#'))
                .cloned()
                .unwrap_or(Value::Null),
            None => p.clone(),
        }
    };
    for (method, path, id) in &operations {
        let id = id.as_deref().unwrap_or_default();
        let parameters: Vec<Value> = document["paths"][path][method]["parameters"]
            .as_array()
            .map(|a| a.iter().map(resolve).collect())
            .unwrap_or_default();
        let url = sample_record(path);
        for p in parameters.iter().filter(|p| p["in"] == "query") {
            let name = p["name"].as_str().unwrap();
            let answer = http
                .send(
                    &method.to_uppercase(),
                    &format!("{url}?{name}=1"),
                    &[],
                    vec![],
                )
                .await;
            assert!(
                !answer.text().contains("unknown query parameter"),
                "{id}: documented parameter {name} is refused: {}",
                answer.text()
            );
        }
        let answer = http
            .send(
                &method.to_uppercase(),
                &format!("{url}?undocumented=1"),
                &[],
                vec![],
            )
            .await;
        let e = answer.error(400);
        assert!(
            e.message
                .starts_with("undocumented: unknown query parameter"),
            "{id}: {e:?}"
        );
        let listed: Vec<&str> = parameters
            .iter()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| p["name"].as_str())
            .collect();
        let taken = e.message.split("this route takes ").nth(1).unwrap_or("");
        let mut taken: Vec<&str> = taken
            .split(", ")
            .filter(|n| *n != "none" && !n.is_empty())
            .collect();
        let mut listed = listed.clone();
        taken.sort();
        listed.sort();
        assert_eq!(
            taken, listed,
            "{id}: the route's query parameters differ from the document's"
        );
    }
}

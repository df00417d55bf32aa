//! `GET /metrics` end to end: a real server on 127.0.0.1, a workload of known shape through real
//! gRPC clients (unary and streamed appends, duplicate resends, refusals with known codes, proofs,
//! lineage queries, a contamination alert), then a scrape over HTTP/1.1 on the same port whose
//! every counter must equal what was done.

mod common;

use common::*;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use provledger::ledger::LedgerConfig;
use provledger::proto::{
    Action, DescendantsRequest, GetCheckpointRequest, GetConsistencyProofRequest,
    GetEntriesRequest, GetInclusionProofRequest, HistoryRequest, ListAlertsRequest, Origin, Parent,
    ProvenanceEvent, RecordRef, Role, TraceRequest, descendants_request,
};
use std::collections::HashMap;
use tokio_stream::StreamExt;
use tonic::Code;

const UNARY: u64 = 6;
const STREAMED: u64 = 25;
const DUPLICATES: u64 = 4;
const BAD_SIGNATURES: u64 = 3;
const MISSING_EVENTS: u64 = 2;
const OUT_OF_SCOPE: u64 = 1;

/// A scrape: series (name and labels as rendered) to value, and the raw text.
struct Scraped {
    series: HashMap<String, f64>,
    content_type: String,
    text: String,
}

impl Scraped {
    fn get(&self, series: &str) -> f64 {
        *self
            .series
            .get(series)
            .unwrap_or_else(|| panic!("{series} is not in the scrape:\n{}", self.text))
    }
}

/// GET `/metrics` from the server at `url` with a real HTTP/1.1 client, and parse the text.
async fn scrape(url: &str) -> Scraped {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri: hyper::Uri = format!("{url}/metrics").parse().unwrap();
    let response = client.get(uri).await.expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let content_type = response
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    let mut series = HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, value) = line.rsplit_once(' ').expect("series value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
        assert!(
            series.insert(name.to_string(), value).is_none(),
            "{name} twice"
        );
    }
    Scraped {
        series,
        content_type,
        text,
    }
}

fn appends(outcome: &str, code: &str) -> String {
    format!("provledger_appends_total{{outcome=\"{outcome}\",code=\"{code}\"}}")
}

fn queries(what: &str, kind: &str, result: &str) -> String {
    format!("provledger_{what}_queries_total{{kind=\"{kind}\",result=\"{result}\"}}")
}

fn query_count(what: &str, kind: &str) -> String {
    format!("provledger_{what}_query_duration_seconds_count{{kind=\"{kind}\"}}")
}

fn production_lead(i: u64) -> RecordRef {
    RecordRef {
        system: "salesforce".into(),
        tenant: "00D000000000002EAA".into(),
        object_type: "Lead".into(),
        record_id: format!("00Q{i:012}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_after_a_known_workload_matches_it() {
    let server = TestServer::start(LedgerConfig::default()).await;
    let generator = server
        .register_scoped(
            "gen.test/metrics",
            Role::Generator,
            &[Origin::Synthetic],
            &["sandbox"],
        )
        .await;
    let sync = server
        .register_scoped("sync.test/metrics", Role::SyncJob, &[], &["production"])
        .await;
    let registrations = 2;
    let mut client = server.client().await;

    // Unary appends, then identical resends of some of them (answered as duplicates).
    let mut unary = Vec::new();
    for i in 0..UNARY {
        let envelope = signed(&generator, &generated_event(i));
        let r = client.append(request(envelope.clone())).await.unwrap();
        assert!(!r.into_inner().duplicate);
        unary.push(envelope);
    }
    for envelope in unary.iter().take(DUPLICATES as usize) {
        let r = client.append(request(envelope.clone())).await.unwrap();
        assert!(r.into_inner().duplicate);
    }

    // A stream of new appends.
    let streamed: Vec<_> = (0..STREAMED)
        .map(|i| request(signed(&generator, &generated_event(1000 + i))))
        .collect();
    let mut answers = client
        .append_stream(tokio_stream::iter(streamed))
        .await
        .unwrap()
        .into_inner();
    let mut answered = 0;
    while let Some(a) = answers.next().await {
        assert!(!a.unwrap().duplicate);
        answered += 1;
    }
    assert_eq!(answered, STREAMED);

    // Refusals with known codes.
    for i in 0..BAD_SIGNATURES {
        let mut envelope = signed(&generator, &generated_event(2000 + i));
        envelope.signature[0] ^= 0x55;
        let e = client.append(request(envelope)).await.unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    }
    for _ in 0..MISSING_EVENTS {
        let empty = provledger::proto::AppendRequest { event: None };
        let e = client.append(empty).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    }
    for i in 0..OUT_OF_SCOPE {
        let mut event = generated_event(3000 + i);
        event.environment = "production".into();
        let e = client
            .append(request(signed(&generator, &event)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    }

    // A sync job copies a synthetic sandbox Lead into production: one contamination alert.
    let synced = ProvenanceEvent {
        subject: Some(production_lead(0)),
        action: Action::Synced as i32,
        environment: "production".into(),
        content_hash: vec![7; 32],
        parents: vec![Parent {
            record: generated_event(0).subject,
            leaf_index: None,
        }],
        ..Default::default()
    };
    client
        .append(request(signed(&sync, &synced)))
        .await
        .unwrap();
    let appended = registrations + UNARY + STREAMED + 1;
    let size = server.ledger.store().size();
    assert_eq!(
        size,
        1 + appended,
        "genesis (written by init) and the appends"
    );

    // Proofs and log reads, one of them refused.
    for index in [0, 3, size - 1] {
        client
            .get_inclusion_proof(GetInclusionProofRequest {
                leaf_index: index,
                tree_size: size,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    for first in [1, size / 2] {
        client
            .get_consistency_proof(GetConsistencyProofRequest {
                first_size: first,
                second_size: size,
            })
            .await
            .unwrap();
    }
    let e = client
        .get_consistency_proof(GetConsistencyProofRequest {
            first_size: size,
            second_size: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    client
        .get_entries(GetEntriesRequest {
            start: 0,
            count: 10,
        })
        .await
        .unwrap();
    for s in [0, size] {
        client
            .get_checkpoint(GetCheckpointRequest { size: s })
            .await
            .unwrap();
    }

    // Lineage queries; listing the alerts at the full size also waits for the indexer.
    let mut lineage = server.lineage().await;
    let alerts = lineage
        .list_alerts(ListAlertsRequest {
            min_tree_size: size,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(alerts.alerts.len(), 1);
    for i in [0, 1] {
        lineage
            .history(HistoryRequest {
                record: generated_event(i).subject,
                min_tree_size: size,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    lineage
        .trace(TraceRequest {
            record: Some(production_lead(0)),
            min_tree_size: size,
            ..Default::default()
        })
        .await
        .unwrap();
    lineage
        .descendants(DescendantsRequest {
            from: Some(descendants_request::From::GeneratorSource(
                "synth-gen.test".into(),
            )),
            min_tree_size: size,
            ..Default::default()
        })
        .await
        .unwrap();
    let e = lineage
        .history(HistoryRequest {
            record: None,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    let m = scrape(&server.url).await;
    assert!(
        m.content_type.starts_with("application/openmetrics-text"),
        "{}",
        m.content_type
    );
    assert!(m.text.ends_with("# EOF\n"));

    // Appends by outcome and code.
    assert_eq!(m.get(&appends("appended", "OK")), appended as f64);
    assert_eq!(m.get(&appends("duplicate", "OK")), DUPLICATES as f64);
    assert_eq!(
        m.get(&appends("refused", "UNAUTHENTICATED")),
        BAD_SIGNATURES as f64
    );
    assert_eq!(
        m.get(&appends("refused", "INVALID_ARGUMENT")),
        MISSING_EVENTS as f64
    );
    assert_eq!(
        m.get(&appends("refused", "PERMISSION_DENIED")),
        OUT_OF_SCOPE as f64
    );
    for code in [
        "FAILED_PRECONDITION",
        "RESOURCE_EXHAUSTED",
        "UNAVAILABLE",
        "INTERNAL",
    ] {
        assert_eq!(m.get(&appends("refused", code)), 0.0, "{code}");
    }
    let answered = (appended + DUPLICATES) as f64;
    assert_eq!(
        m.get("provledger_append_ack_duration_seconds_count"),
        answered
    );
    assert_eq!(
        m.get("provledger_append_ack_duration_seconds_bucket{le=\"+Inf\"}"),
        answered
    );
    assert!(m.get("provledger_append_ack_duration_seconds_sum") > 0.0);

    // Every admitted append went through exactly one batch; refusals at admission never queue.
    assert_eq!(m.get("provledger_batch_entries_sum"), answered);
    let batches = m.get("provledger_batch_entries_count");
    assert!((1.0..=answered).contains(&batches), "{batches} batches");
    // One fsync per batch that wrote something (a batch of duplicates only writes nothing).
    let fsyncs = m.get("provledger_fsync_duration_seconds_count");
    assert!(
        (1.0..=batches).contains(&fsyncs),
        "{fsyncs} fsyncs, {batches} batches"
    );
    // sled's flush is timed inside every background sled sync (a sync may land between the
    // scrape's reading of the two).
    let sled_syncs = m.get("provledger_sled_sync_seconds_count");
    let flushes = m.get("provledger_sled_flush_seconds_count");
    assert!(
        (sled_syncs..=sled_syncs + 1.0).contains(&flushes),
        "{flushes} flushes, {sled_syncs} sled syncs"
    );
    assert_eq!(m.get("provledger_append_queue_depth"), 0.0);
    // Every admitted append waited in the queue once; every batch was timed once.
    assert_eq!(
        m.get("provledger_append_queue_wait_seconds_count"),
        answered
    );
    assert_eq!(m.get("provledger_commit_duration_seconds_count"), batches);
    // A batch with new entries writes nodes and applies to sled once each, inside its commit.
    for stage in [
        "provledger_commit_node_write_seconds",
        "provledger_commit_sled_apply_seconds",
    ] {
        let count = m.get(&format!("{stage}_count"));
        assert!(
            count >= 1.0 && count <= batches,
            "{stage}: {count} of {batches} batches"
        );
        assert!(
            m.get(&format!("{stage}_sum")) <= m.get("provledger_commit_duration_seconds_sum"),
            "{stage} is part of the commit"
        );
    }
    assert!(
        m.get("provledger_commit_duration_seconds_sum")
            >= m.get("provledger_fsync_duration_seconds_sum"),
        "a commit includes its sync"
    );
    // The parts of an acknowledgement the queue and the commit do not cover: every admitted
    // append was timed once from arrival to the queue, and once from its answer to its receipt;
    // the parts add up to no more than the acknowledgements' total.
    assert_eq!(m.get("provledger_append_admission_seconds_count"), answered);
    assert_eq!(m.get("provledger_append_answer_seconds_count"), answered);
    // The receipt's proof is part of the answer.
    assert_eq!(
        m.get("provledger_append_receipt_proof_seconds_count"),
        answered
    );
    assert!(
        m.get("provledger_append_receipt_proof_seconds_sum")
            <= m.get("provledger_append_answer_seconds_sum"),
        "a receipt's proof is part of its answer"
    );
    // The runtime probe wakes every 10 ms while the server serves.
    assert!(
        m.get("provledger_runtime_wake_delay_seconds_count") >= 1.0,
        "the runtime probe recorded no wake"
    );
    assert!(
        m.get("provledger_append_admission_seconds_sum")
            + m.get("provledger_append_queue_wait_seconds_sum")
            + m.get("provledger_append_answer_seconds_sum")
            <= m.get("provledger_append_ack_duration_seconds_sum"),
        "the parts of an acknowledgement exceed it"
    );

    // Log and lineage state.
    assert_eq!(
        m.get("provledger_tree_size"),
        server.ledger.store().size() as f64
    );
    assert_eq!(m.get("provledger_lineage_indexed_size"), size as f64);
    assert_eq!(m.get("provledger_lineage_indexer_lag_entries"), 0.0);
    // The lineage database is open and has filed every entry: its memtable holds them, and its
    // block cache stays within the configured bound.
    assert!(m.get("provledger_lineage_memtable_bytes") > 0.0);
    let cache = m.get("provledger_lineage_cache_bytes");
    assert!(
        (0.0..=provledger::lineage::LineageConfig::default().cache_bytes as f64).contains(&cache),
        "lineage cache {cache}"
    );
    let age = m.get("provledger_checkpoint_age_seconds");
    assert!((0.0..60.0).contains(&age), "checkpoint age {age}");
    assert_eq!(m.get("provledger_contamination_alerts_total"), 1.0);

    // Proof and lineage queries by kind and result; their histograms count every one.
    for (kind, ok, error) in [
        ("inclusion", 3.0, 0.0),
        ("consistency", 2.0, 1.0),
        ("entries", 1.0, 0.0),
        ("checkpoint", 2.0, 0.0),
    ] {
        assert_eq!(m.get(&queries("proof", kind, "ok")), ok, "{kind}");
        assert_eq!(m.get(&queries("proof", kind, "error")), error, "{kind}");
        assert_eq!(m.get(&query_count("proof", kind)), ok + error, "{kind}");
    }
    for (kind, ok, error) in [
        ("history", 2.0, 1.0),
        ("trace", 1.0, 0.0),
        ("descendants", 1.0, 0.0),
        ("alerts", 1.0, 0.0),
    ] {
        assert_eq!(m.get(&queries("lineage", kind, "ok")), ok, "{kind}");
        assert_eq!(m.get(&queries("lineage", kind, "error")), error, "{kind}");
        assert_eq!(m.get(&query_count("lineage", kind)), ok + error, "{kind}");
    }

    // Process metrics, read from /proc.
    if cfg!(target_os = "linux") {
        assert!(m.get("process_cpu_seconds_total") > 0.0);
        assert!(m.get("process_resident_memory_bytes") > 0.0);
        assert!(m.get("process_virtual_memory_bytes") > 0.0);
        assert!(m.get("process_open_fds") > 0.0);
        assert!(m.get("process_threads") >= 1.0);
        let started = m.get("process_start_time_seconds");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            started > 1.0e9 && started <= now + 1.0,
            "start time {started}"
        );
    }

    // gRPC still works on the port after the HTTP/1.1 scrape.
    client
        .get_checkpoint(GetCheckpointRequest { size: 0 })
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_server_counts_only_its_own_work() {
    let busy = TestServer::start(LedgerConfig::default()).await;
    let idle = TestServer::start(LedgerConfig::default()).await;
    busy.register("gen.test/busy", Role::Generator).await;
    let busy_scrape = scrape(&busy.url).await;
    let idle_scrape = scrape(&idle.url).await;
    assert_eq!(busy_scrape.get(&appends("appended", "OK")), 1.0);
    assert_eq!(idle_scrape.get(&appends("appended", "OK")), 0.0);
    assert_eq!(busy_scrape.get("provledger_tree_size"), 2.0);
    assert_eq!(idle_scrape.get("provledger_tree_size"), 1.0);
    busy.stop().await;
    idle.stop().await;
}

//! The lineage database is derived from the log: lost, it is rebuilt; re-indexing entries it
//! already holds (a watermark behind its entries) files nothing twice. Answers, alert ids
//! included, are the same afterwards.

mod common;

use common::*;
use provledger::ledger::LedgerConfig;
use provledger::lineage::db::LineageDb;
use provledger::lineage::keys::{WATERMARK, Watermark};
use provledger::proto::{
    Action, DescendantsRequest, DescendantsResponse, ListAlertsRequest, ListAlertsResponse, Parent,
    ProvenanceEvent, RecordRef, Role, TraceRequest, TraceResponse, descendants_request,
};

fn lead(i: u64, tenant: &str) -> RecordRef {
    RecordRef {
        system: "salesforce".into(),
        tenant: tenant.into(),
        object_type: "Lead".into(),
        record_id: format!("00Q{i:012}"),
    }
}

/// 30 synthetic Leads, 5 copied to production (5 alerts).
async fn scenario() -> TestServer {
    let server = TestServer::start(LedgerConfig::default()).await;
    let generator = server.register("gen.test/rec", Role::Generator).await;
    let sync = server.register("sync.test/rec", Role::SyncJob).await;
    let mut client = server.client().await;
    for i in 0..30 {
        let mut e = generated_event(i);
        e.subject = Some(lead(i, "00D000000000001"));
        client
            .append(request(signed(&generator, &e)))
            .await
            .unwrap();
    }
    for i in 0..5 {
        let e = ProvenanceEvent {
            subject: Some(lead(i, "00D000000000002")),
            action: Action::Synced as i32,
            parents: vec![Parent {
                record: Some(lead(i, "00D000000000001")),
                leaf_index: None,
            }],
            environment: "production".into(),
            ..Default::default()
        };
        client.append(request(signed(&sync, &e))).await.unwrap();
    }
    server
}

async fn answers(server: &TestServer) -> (ListAlertsResponse, DescendantsResponse, TraceResponse) {
    let size = server.ledger.store().size();
    let mut lineage = server.lineage().await;
    let alerts = lineage
        .list_alerts(ListAlertsRequest {
            min_tree_size: size,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let blast = lineage
        .descendants(DescendantsRequest {
            from: Some(descendants_request::From::GeneratorSource(
                "synth-gen.test".into(),
            )),
            min_tree_size: size,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let trace = lineage
        .trace(TraceRequest {
            record: Some(lead(3, "00D000000000002")),
            min_tree_size: size,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    (alerts, blast, trace)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lineage_database_is_rebuilt_from_the_log() {
    let server = scenario().await;
    let before = answers(&server).await;
    assert_eq!(before.0.alerts.len(), 5);
    assert_eq!(before.1.total, 35);
    let (dir, _tmp) = server.stop().await;
    std::fs::remove_dir_all(dir.index().join("lineage")).unwrap();
    let server = TestServer::open(dir, LedgerConfig::default()).await;
    assert_eq!(answers(&server).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindexing_entries_already_filed_counts_nothing_twice() {
    let server = scenario().await;
    let before = answers(&server).await;
    let (dir, _tmp) = server.stop().await;
    {
        // As if a crash had lost only the watermark: every entry is filed again over itself.
        let db = LineageDb::open(&dir.index().join("lineage"), 1 << 20).unwrap();
        let mut batch = db.batch();
        batch.insert(WATERMARK, Watermark::START.encode());
        db.apply(batch).unwrap();
        db.persist().unwrap();
    }
    let server = TestServer::open(dir, LedgerConfig::default()).await;
    assert_eq!(answers(&server).await, before);
    // New alerts continue the numbering.
    let sync = server.register("sync.test/rec2", Role::SyncJob).await;
    let e = ProvenanceEvent {
        subject: Some(lead(9, "00D000000000002")),
        action: Action::Synced as i32,
        parents: vec![Parent {
            record: Some(lead(9, "00D000000000001")),
            leaf_index: None,
        }],
        environment: "production".into(),
        ..Default::default()
    };
    server
        .client()
        .await
        .append(request(signed(&sync, &e)))
        .await
        .unwrap();
    let (alerts, _, _) = answers(&server).await;
    let ids: Vec<u64> = alerts.alerts.iter().map(|a| a.id).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6]);
}

//! Lineage end to end, through real gRPC clients: a generator fills a sandbox with synthetic
//! Leads, a sync job copies some into production (alerts), a Contact is derived from a synthetic
//! and a real Lead (MIXED), a reviewer attests it, and a responder traces, asks the blast radius
//! and verifies every proof with the log key alone.

mod common;

use common::*;
use provledger::client::verify_events;
use provledger::ledger::LedgerConfig;
use provledger::proto::{
    Action, DescendantsRequest, EffectiveOrigin, HistoryRequest, ListAlertsRequest, Origin, Parent,
    ProvenanceEvent, RecordRef, Role, TraceRequest, WatchAlertsRequest, descendants_request,
};
use provledger::provenance::rules::DIGITAL_CAPTURE;
use tokio_stream::StreamExt;
use tonic::Code;

const LEADS: u64 = 2000;
const SYNCED: u64 = 40;
const GENERATOR_SOURCE: &str = "synth-gen.test";

fn lead(id: &str, tenant: &str) -> RecordRef {
    RecordRef {
        system: "salesforce".into(),
        tenant: tenant.into(),
        object_type: "Lead".into(),
        record_id: id.into(),
    }
}

const SANDBOX_ORG: &str = "00D000000000001";
const PROD_ORG: &str = "00D000000000002";

fn sandbox_lead(i: u64) -> RecordRef {
    lead(&format!("00Q{i:012}"), SANDBOX_ORG)
}

fn parent(record: RecordRef) -> Parent {
    Parent {
        record: Some(record),
        leaf_index: None,
    }
}

fn event(action: Action, subject: RecordRef, env: &str) -> ProvenanceEvent {
    ProvenanceEvent {
        subject: Some(subject),
        action: action as i32,
        environment: env.into(),
        content_hash: vec![7; 32],
        ..Default::default()
    }
}

fn synced(i: u64) -> ProvenanceEvent {
    let mut e = event(
        Action::Synced,
        lead(&format!("00Q{i:012}"), PROD_ORG),
        "production",
    );
    e.parents.push(parent(sandbox_lead(i)));
    e
}

fn trace(record: RecordRef, as_of: u64) -> TraceRequest {
    TraceRequest {
        record: Some(record),
        as_of,
        with_proofs: true,
        ..Default::default()
    }
}

/// The whole scenario's keys and server.
struct World {
    server: TestServer,
    generator: provledger::note::NoteSigner,
    sync: provledger::note::NoteSigner,
    capture: provledger::note::NoteSigner,
    reviewer: provledger::note::NoteSigner,
}

async fn world() -> World {
    let server = TestServer::start(LedgerConfig::default()).await;
    let generator = server
        .register_scoped(
            "gen.test/v3",
            Role::Generator,
            &[Origin::Synthetic],
            &["sandbox"],
        )
        .await;
    let sync = server
        .register_scoped(
            "sync.test/sandbox-to-prod",
            Role::SyncJob,
            &[],
            &["production"],
        )
        .await;
    let capture = server
        .register_scoped(
            "webform.test",
            Role::SyncJob,
            &[Origin::Real],
            &["production"],
        )
        .await;
    let reviewer = server
        .register_scoped("reviewer.test", Role::Reviewer, &[], &[])
        .await;
    World {
        server,
        generator,
        sync,
        capture,
        reviewer,
    }
}

async fn append(w: &World, signer: &provledger::note::NoteSigner, e: &ProvenanceEvent) -> u64 {
    let r = w
        .server
        .client()
        .await
        .append(request(signed(signer, e)))
        .await
        .unwrap_or_else(|s| panic!("append refused: {s:?}"))
        .into_inner();
    provledger::client::verify_receipt(&r, &w.server.log_key).unwrap();
    r.index
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_leads_through_sync_derivation_and_review() {
    let w = world().await;
    let mut client = w.server.client().await;
    let mut lineage = w.server.lineage().await;

    // A generator creates thousands of synthetic Leads in the sandbox, over one stream.
    let requests: Vec<_> = (0..LEADS)
        .map(|i| {
            let mut e = generated_event(i);
            e.subject = Some(sandbox_lead(i));
            request(signed(&w.generator, &e))
        })
        .collect();
    let mut answers = client
        .append_stream(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    while let Some(a) = answers.next().await {
        a.unwrap();
        n += 1;
    }
    assert_eq!(n, LEADS);

    // A sync job copies some into production: each raises a contamination alert.
    let mut watch = lineage
        .watch_alerts(WatchAlertsRequest { from_id: 1 })
        .await
        .unwrap()
        .into_inner();
    let mut synced_at = Vec::new();
    for i in 0..SYNCED {
        synced_at.push(append(&w, &w.sync, &synced(i)).await);
    }

    // A real web-form Lead, and a Contact derived from a synthetic and the real Lead.
    let web = lead("00Q00000000WEB1", PROD_ORG);
    let mut captured = event(Action::Captured, web.clone(), "production");
    captured.origin = Origin::Real as i32;
    captured.digital_source_type = DIGITAL_CAPTURE.into();
    append(&w, &w.capture, &captured).await;
    let contact = RecordRef {
        system: "salesforce".into(),
        tenant: PROD_ORG.into(),
        object_type: "Contact".into(),
        record_id: "003000000000001".into(),
    };
    let mut derived = event(Action::Derived, contact.clone(), "production");
    derived.parents = vec![parent(sandbox_lead(LEADS - 1)), parent(web.clone())];
    let derived_at = append(&w, &w.sync, &derived).await;

    // Alerts: one per synced Lead and one for the MIXED Contact, in log order, live on the
    // stream and listed.
    let expected_alerts = SYNCED as usize + 1;
    let mut streamed = Vec::new();
    while streamed.len() < expected_alerts {
        let alert = tokio::time::timeout(std::time::Duration::from_secs(10), watch.next())
            .await
            .expect("alert streamed in time")
            .unwrap()
            .unwrap();
        streamed.push(alert);
    }
    let size = w.server.ledger.store().size();
    let listed = lineage
        .list_alerts(ListAlertsRequest {
            min_tree_size: size,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.alerts, streamed);
    assert_eq!(listed.next_id, expected_alerts as u64 + 1);
    for (alert, at) in listed.alerts.iter().zip(&synced_at) {
        assert_eq!(alert.index, *at);
        assert_eq!(alert.origin, EffectiveOrigin::Synthetic as i32);
        assert_eq!(alert.environment, "production");
    }
    let last = listed.alerts.last().unwrap();
    assert_eq!(
        (last.index, last.origin),
        (derived_at, EffectiveOrigin::Mixed as i32)
    );

    // Trace of a synced Lead: the production copy and its synthetic sandbox origin, proofs
    // verifying against the answer's checkpoint.
    let t = lineage
        .trace(trace(lead("00Q000000000003", PROD_ORG), 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.nodes.len(), 2);
    assert_eq!(t.nodes[0].origin, EffectiveOrigin::Synthetic as i32);
    assert!(t.nodes[1].root && t.nodes[1].depth == 1);
    assert!(!t.truncated);
    for node in &t.nodes {
        verify_events(&node.events, t.checkpoint.as_ref(), &w.server.log_key).unwrap();
    }

    // The Contact is MIXED; a reviewer attests it REAL, which becomes part of its history.
    let before_review = w.server.ledger.store().size();
    let mut attest = event(Action::Attested, contact.clone(), "production");
    attest.origin = Origin::Real as i32;
    attest.reason = "verified with the customer".into();
    append(&w, &w.reviewer, &attest).await;
    let now = lineage
        .trace(TraceRequest {
            min_tree_size: w.server.ledger.store().size(),
            ..trace(contact.clone(), 0)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(now.nodes.len(), 3);
    assert_eq!(now.nodes[0].origin, EffectiveOrigin::Real as i32);
    assert_eq!(now.nodes[0].events.len(), 2);
    let origins: Vec<i32> = now.nodes[1..].iter().map(|n| n.origin).collect();
    assert!(origins.contains(&(EffectiveOrigin::Synthetic as i32)));
    assert!(origins.contains(&(EffectiveOrigin::Real as i32)));
    for node in &now.nodes {
        verify_events(&node.events, now.checkpoint.as_ref(), &w.server.log_key).unwrap();
    }
    // Point in time: before the review, the same trace said MIXED.
    let then = lineage
        .trace(trace(contact.clone(), before_review))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(then.tree_size, before_review);
    assert_eq!(then.nodes[0].origin, EffectiveOrigin::Mixed as i32);
    assert_eq!(then.nodes[0].events.len(), 1);
    for node in &then.nodes {
        verify_events(&node.events, then.checkpoint.as_ref(), &w.server.log_key).unwrap();
    }

    // The blast radius of the generator: every Lead it made, the production copies and the
    // Contact, paged, with counts.
    let mut seen = std::collections::HashSet::new();
    let mut token = String::new();
    let mut first_page = None;
    loop {
        let page = lineage
            .descendants(DescendantsRequest {
                from: Some(descendants_request::From::GeneratorSource(
                    GENERATOR_SOURCE.into(),
                )),
                page_size: 500,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        for d in &page.records {
            assert!(
                seen.insert(
                    d.record.clone().unwrap().record_id + &d.record.clone().unwrap().tenant
                )
            );
        }
        first_page.get_or_insert(page.clone());
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let first = first_page.unwrap();
    let total = LEADS + SYNCED + 1;
    assert_eq!(first.total, total);
    assert_eq!(seen.len() as u64, total);
    let count = |counts: &[provledger::proto::Count], key: &str| {
        counts.iter().find(|c| c.key == key).map_or(0, |c| c.count)
    };
    assert_eq!(count(&first.by_object_type, "Lead"), LEADS + SYNCED);
    assert_eq!(count(&first.by_object_type, "Contact"), 1);
    assert_eq!(count(&first.by_environment, "sandbox"), LEADS);
    assert_eq!(count(&first.by_environment, "production"), SYNCED + 1);
    // Production only, and from one record.
    let prod = lineage
        .descendants(DescendantsRequest {
            from: Some(descendants_request::From::GeneratorSource(
                GENERATOR_SOURCE.into(),
            )),
            environments: vec!["production".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(prod.total, SYNCED + 1);
    assert!(prod.records.iter().all(|d| d.environment == "production"));
    let one = lineage
        .descendants(DescendantsRequest {
            from: Some(descendants_request::From::Record(sandbox_lead(LEADS - 1))),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        one.total, 2,
        "the Lead itself and the Contact derived from it"
    );
    assert_eq!(
        one.records[1].record.as_ref().unwrap().object_type,
        "Contact"
    );
    assert_eq!(one.records[1].origin, EffectiveOrigin::Real as i32);
    // By signing key: the sync job touched the production copies and the Contact.
    let by_key = lineage
        .descendants(DescendantsRequest {
            from: Some(descendants_request::From::KeyId(
                "sync.test/sandbox-to-prod".into(),
            )),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_key.total, SYNCED + 1);

    // Quarantine and purge are recorded state changes; nothing is removed.
    let prod_lead = lead("00Q000000000000", PROD_ORG);
    let mut q = event(Action::Quarantined, prod_lead.clone(), "production");
    q.reason = "synthetic row in production".into();
    append(&w, &w.sync, &q).await;
    let mut p = event(Action::Purged, prod_lead.clone(), "production");
    p.reason = "purged after incident review".into();
    append(&w, &w.sync, &p).await;
    let h = lineage
        .history(HistoryRequest {
            // The 18-character form names the same record.
            record: Some(lead("00Q000000000000EAA", "00D000000000002EAA")),
            with_proofs: true,
            min_tree_size: w.server.ledger.store().size(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let actions: Vec<i32> = h
        .events
        .iter()
        .map(|e| e.event.as_ref().unwrap().action)
        .collect();
    assert_eq!(
        actions,
        [Action::Synced, Action::Quarantined, Action::Purged].map(|a| a as i32)
    );
    assert_eq!(h.origin, EffectiveOrigin::Synthetic as i32);
    verify_events(&h.events, h.checkpoint.as_ref(), &w.server.log_key).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rule_refuses_with_the_right_code_and_writes_nothing() {
    let w = world().await;
    append(&w, &w.generator, &{
        let mut e = generated_event(1);
        e.subject = Some(sandbox_lead(1));
        e
    })
    .await;
    let mut client = w.server.client().await;
    let gen_in_prod = {
        let mut e = generated_event(2);
        e.environment = "production".into();
        e
    };
    let gen_real = {
        let mut e = event(Action::Captured, sandbox_lead(3), "sandbox");
        e.origin = Origin::Real as i32;
        e.digital_source_type = DIGITAL_CAPTURE.into();
        e
    };
    let no_model = {
        let mut e = generated_event(4);
        e.generator.as_mut().unwrap().model.clear();
        e
    };
    let unknown_parent = {
        let mut e = event(Action::Derived, sandbox_lead(5), "production");
        e.parents.push(parent(sandbox_lead(999)));
        e
    };
    let wrong_pin = {
        let mut e = synced(1);
        e.parents[0].leaf_index = Some(0);
        e
    };
    let quarantine_unknown = {
        let mut e = event(Action::Quarantined, sandbox_lead(77), "production");
        e.reason = "x".into();
        e
    };
    let attest = {
        let mut e = event(Action::Attested, sandbox_lead(1), "sandbox");
        e.origin = Origin::Real as i32;
        e
    };
    let cases = [
        (
            "sync job generates",
            &w.sync,
            generated_event(9),
            Code::PermissionDenied,
            "may not sign GENERATED",
        ),
        (
            "generator outside its environments",
            &w.generator,
            gen_in_prod,
            Code::PermissionDenied,
            "event.payload.environment",
        ),
        (
            "generator declares REAL",
            &w.generator,
            gen_real,
            Code::PermissionDenied,
            "event.key_id",
        ),
        (
            "generator metadata missing",
            &w.generator,
            no_model,
            Code::InvalidArgument,
            "event.payload.generator.model: required",
        ),
        (
            "parent not in the log",
            &w.sync,
            unknown_parent,
            Code::InvalidArgument,
            "event.payload.parents[0].record: no event about",
        ),
        (
            "pin to another record's entry",
            &w.sync,
            wrong_pin,
            Code::InvalidArgument,
            "event.payload.parents[0].leaf_index: entry 0 is not an event about",
        ),
        (
            "quarantine of an unknown record",
            &w.sync,
            quarantine_unknown,
            Code::InvalidArgument,
            "event.payload.subject: no event about",
        ),
        (
            "non-reviewer attests",
            &w.sync,
            attest,
            Code::PermissionDenied,
            "may not sign ATTESTED",
        ),
    ];
    let size = w.server.ledger.store().size();
    for (name, signer, e, code, message) in cases {
        let err = client
            .append(request(signed(signer, &e)))
            .await
            .expect_err(name);
        assert_eq!(err.code(), code, "{name}: {}", err.message());
        assert!(
            err.message().contains(message),
            "{name}: {:?} lacks {message:?}",
            err.message()
        );
    }
    assert_eq!(
        w.server.ledger.store().size(),
        size,
        "refusals write nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_ids_make_retries_idempotent_per_key() {
    let w = world().await;
    let mut e = generated_event(1);
    e.subject = Some(sandbox_lead(1));
    append(&w, &w.generator, &e).await;
    let mut first = synced(1);
    first.external_id = "0001a2b3/00000001".into();
    let at = append(&w, &w.sync, &first).await;
    // The same change re-sent by the source system, with a different content hash (so
    // different signed bytes): answered as the first.
    let mut again = first.clone();
    again.content_hash = vec![8; 32];
    let r = w
        .server
        .client()
        .await
        .append(request(signed(&w.sync, &again)))
        .await
        .unwrap()
        .into_inner();
    assert!(r.duplicate);
    assert_eq!(r.index, at);
    // Another key's event with the same external id is its own.
    let other = w
        .server
        .register_scoped("sync.test/other", Role::SyncJob, &[], &[])
        .await;
    let r = w
        .server
        .client()
        .await
        .append(request(signed(&other, &again)))
        .await
        .unwrap()
        .into_inner();
    assert!(!r.duplicate);
    // And it holds across a restart (the external-id index is rebuilt or reopened).
    let (dir, _tmp) = w.server.stop().await;
    let server = TestServer::open(dir, LedgerConfig::default()).await;
    let r = server
        .client()
        .await
        .append(request(signed(&w.sync, &again)))
        .await
        .unwrap()
        .into_inner();
    assert!(r.duplicate);
    assert_eq!(r.index, at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_name_bad_fields_and_missing_records() {
    let w = world().await;
    let mut lineage = w.server.lineage().await;
    let err = lineage
        .trace(trace(lead("00Q00", SANDBOX_ORG), 0))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().starts_with("record.record_id:"),
        "{}",
        err.message()
    );
    let err = lineage.trace(trace(sandbox_lead(5), 0)).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = lineage
        .history(HistoryRequest {
            record: Some(sandbox_lead(5)),
            as_of: 1_000_000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("as_of:"));
    let err = lineage
        .descendants(DescendantsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("from:"));
    let err = lineage
        .descendants(DescendantsRequest {
            from: Some(descendants_request::From::KeyId("x".into())),
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(err.message().starts_with("page_token:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descendants_within_a_sequencing_time_window() {
    let w = world().await;
    let mut at = Vec::new();
    for i in 0..10 {
        let mut e = generated_event(i);
        e.subject = Some(sandbox_lead(i));
        at.push(append(&w, &w.generator, &e).await);
    }
    let mut lineage = w.server.lineage().await;
    let size = w.server.ledger.store().size();
    // Each Lead's sequencing time, from its history.
    let mut times = Vec::new();
    for i in 0..10 {
        let h = lineage
            .history(HistoryRequest {
                record: Some(sandbox_lead(i)),
                min_tree_size: size,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        times.push(h.events[0].logged_at.unwrap());
    }
    let window = |since: Option<usize>, until: Option<usize>| DescendantsRequest {
        from: Some(descendants_request::From::GeneratorSource(
            GENERATOR_SOURCE.into(),
        )),
        since: since.map(|i| times[i]),
        until: until.map(|i| times[i]),
        ..Default::default()
    };
    for (since, until, expected) in [
        (None, None, 0..10),
        (Some(5), None, 5..10),
        (None, Some(5), 0..5),
        (Some(3), Some(7), 3..7),
    ] {
        let answer = lineage
            .descendants(window(since, until))
            .await
            .unwrap()
            .into_inner();
        let got: Vec<u64> = answer.records.iter().map(|d| d.index).collect();
        assert_eq!(got, at[expected].to_vec(), "window {since:?}..{until:?}");
    }
}

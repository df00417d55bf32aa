//! Commit pacing, seen from clients of a real server: under load the sequencer waits
//! `min_interval` between commits and batches grow; a lone caller is never made to wait.

mod common;

use common::http::HttpClient;
use common::*;
use provledger::ledger::{BatchPolicy, LedgerConfig};
use provledger::proto::Role;
use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_millis(100);

async fn paced_server() -> TestServer {
    TestServer::start(LedgerConfig {
        batch: BatchPolicy {
            min_interval: INTERVAL,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
}

/// Batches committed so far, from the server's `/metrics`.
async fn batches(server: &TestServer) -> u64 {
    let scrape = HttpClient::new(&server.url)
        .send("GET", "/metrics", &[], vec![])
        .await;
    let text = String::from_utf8(scrape.body).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("provledger_batch_entries_count "))
        .and_then(|v| v.trim().parse().ok())
        .expect("provledger_batch_entries_count in the scrape")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_caller_is_not_paced() {
    let server = paced_server().await;
    let generator = server.register("gen.test/lone", Role::Generator).await;
    let mut client = server.client().await;
    let started = Instant::now();
    for i in 0..10u64 {
        client
            .append(request(signed(&generator, &generated_event(i))))
            .await
            .unwrap();
    }
    // Paced, ten appends would take a second; each finds the sequencer idle.
    assert!(
        started.elapsed() < INTERVAL * 5,
        "10 sequential appends took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_load_commits_are_paced_and_batches_grow() {
    let server = paced_server().await;
    let generator = server.register("gen.test/load", Role::Generator).await;
    let envelopes: Vec<Vec<_>> = (0..40u64)
        .map(|c| {
            (0..5u64)
                .map(|i| signed(&generator, &generated_event(c * 100 + i)))
                .collect()
        })
        .collect();
    // Every caller connects first, and all send all their appends at once when released, so
    // the load does not depend on round trips: callers trickling in one at a time would each
    // find the sequencer idle and be committed at once, as a lone caller is.
    let mut clients = Vec::new();
    for _ in 0..envelopes.len() {
        clients.push(server.client().await);
    }
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(envelopes.len() + 1));
    let mut tasks = Vec::new();
    for (mine, client) in envelopes.into_iter().zip(clients) {
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let appends = mine.into_iter().map(|e| {
                let mut client = client.clone();
                async move { client.append(request(e)).await.unwrap() }
            });
            futures::future::join_all(appends).await;
        }));
    }
    let before = batches(&server).await;
    let started = Instant::now();
    start.wait().await;
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    let commits = batches(&server).await - before;
    // 200 appends at once from 40 callers: the first commit finds the sequencer idle and goes
    // at once; the appends queued behind it wait for the interval and go together (a few
    // stragglers may make one or two more commits).
    assert!(commits <= 6, "{commits} commits for 200 appends");
    assert!(
        elapsed >= INTERVAL,
        "{commits} commits in {elapsed:?}: not paced"
    );
}

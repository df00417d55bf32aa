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
    let before = batches(&server).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mine in envelopes {
        let mut client = server.client().await;
        tasks.push(tokio::spawn(async move {
            for e in mine {
                client.append(request(e)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    let commits = batches(&server).await - before;
    // 200 appends from 40 callers: unpaced they would take about as many commits as rounds
    // of fsyncs; paced, commits start at least 100 ms apart (a commit that found the
    // sequencer idle may start sooner, at most once per idle spell).
    assert!(commits <= 20, "{commits} commits for 200 appends");
    assert!(
        elapsed >= INTERVAL * (commits as u32 / 2),
        "{commits} commits in {elapsed:?}: not paced"
    );
}

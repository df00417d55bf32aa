//! Unit tests of the metric definitions and their rendering.

use super::*;

fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
}

#[test]
fn every_series_renders_from_the_start_and_counts_once() {
    let m = Metrics::new();
    m.append_answered(AppendOutcome::Appended, Duration::from_millis(2));
    m.append_answered(
        AppendOutcome::Refused(Refusal::Unauthenticated),
        Duration::from_millis(1),
    );
    drop(m.proof_timer(ProofQuery::Consistency));
    m.lineage_timer(LineageQuery::Trace).ok();
    let text = m
        .render(&Scrape {
            tree_size: 7,
            lineage_indexed: 5,
            checkpoint_time: Some(SystemTime::now()),
            lineage_memory: Some(LineageMemory {
                cache: 4096,
                memtables: 1234,
            }),
        })
        .unwrap();
    let value = |p: &str| line(&text, p).unwrap_or_else(|| panic!("{p} missing:\n{text}"));
    assert_eq!(value("provledger_lineage_cache_bytes"), "4096");
    assert_eq!(value("provledger_lineage_memtable_bytes"), "1234");
    assert_eq!(
        value("provledger_appends_total{outcome=\"appended\",code=\"OK\"}"),
        "1"
    );
    assert_eq!(
        value("provledger_appends_total{outcome=\"duplicate\",code=\"OK\"}"),
        "0"
    );
    assert_eq!(
        value("provledger_appends_total{outcome=\"refused\",code=\"UNAUTHENTICATED\"}"),
        "1"
    );
    assert_eq!(value("provledger_append_ack_duration_seconds_count"), "1");
    assert_eq!(
        value("provledger_proof_queries_total{kind=\"consistency\",result=\"error\"}"),
        "1"
    );
    assert_eq!(
        value("provledger_lineage_queries_total{kind=\"trace\",result=\"ok\"}"),
        "1"
    );
    assert_eq!(
        value("provledger_lineage_queries_total{kind=\"history\",result=\"ok\"}"),
        "0"
    );
    assert_eq!(
        value("provledger_lineage_query_duration_seconds_count{kind=\"trace\"}"),
        "1"
    );
    assert_eq!(value("provledger_tree_size"), "7");
    assert_eq!(value("provledger_lineage_indexer_lag_entries"), "2");
    assert!(line(&text, "provledger_checkpoint_age_seconds").is_some());
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn queue_depth_follows_queue_and_dequeue() {
    let m = Metrics::new();
    m.queued();
    m.queued();
    m.dequeued(1);
    assert_eq!(m.queue_depth.get(), 1);
}

/// What recording costs per append: the ledger's timing and outcome, the queue gauge in and
/// out, and a batch of one. Prints the cost; run with `--ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn recording_cost_per_append() {
    let m = std::sync::Arc::new(Metrics::new());
    const N: u32 = 1_000_000;
    let run = |m: &Metrics| {
        for _ in 0..N {
            let started = Instant::now();
            m.queued();
            m.dequeued(1);
            m.batch(1);
            m.append_answered(AppendOutcome::Appended, started.elapsed());
        }
    };
    let t = Instant::now();
    run(&m);
    println!("one thread: {:?} per append", t.elapsed() / N);
    let t = Instant::now();
    let other = {
        let m = m.clone();
        std::thread::spawn(move || run(&m))
    };
    run(&m);
    other.join().unwrap();
    println!(
        "two threads at once: {:?} per append on each",
        t.elapsed() / N
    );
}

//! `bench-pg`: the PostgreSQL baseline on its own. Starts a throw-away cluster, pre-signs events
//! (not timed), measures `verify_strict` alone (the limit), ingests the events with
//! verification, hash chain and unique index, then fills the table and times proving row 1
//! under the head. Prints markdown.

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use ed25519_dalek::VerifyingKey;
use prost::Message;
use provledger::envelope::{EVENT_PAYLOAD_TYPE, sign};
use provledger::note::NoteSigner;
use provledger::proto::{Action, Parent, ProvenanceEvent, RecordRef};
use provledger_bench_pg::{NotInstalled, PgCluster, PgConfig, PgEvent, WriteMethod, verify_limit};
use std::collections::HashMap;
use std::time::Instant;

#[derive(Parser)]
#[command(about = "PostgreSQL baseline for the provledger benchmark")]
struct Args {
    /// Events to sign and ingest.
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Events per transaction.
    #[arg(long, default_value_t = 1024)]
    batch: usize,
    /// Verifying threads (default: the machine's cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Rows to fill the table to before timing the chain proof of row 1 (0: skip).
    #[arg(long, default_value_t = 1_000_000)]
    rows_for_proof: u64,
    /// Write method: measure both on a sample and use the faster, or force one.
    #[arg(long, value_enum, default_value_t = Method::Auto)]
    method: Method,
}

#[derive(Clone, Copy, ValueEnum)]
enum Method {
    Auto,
    Copy,
    Insert,
}

fn main() {
    if let Err(e) = real_main() {
        if e.downcast_ref::<NotInstalled>().is_some() {
            eprintln!("bench-pg: skipped: {e:#}");
            std::process::exit(2);
        }
        eprintln!("bench-pg: error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let args = Args::parse();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = args.threads.unwrap_or(cores).max(1);
    let config = PgConfig {
        batch: args.batch.max(1),
        threads,
    };

    let t = Instant::now();
    let mut pg = PgCluster::start()?;
    pg.force_method(match args.method {
        Method::Auto => None,
        Method::Copy => Some(WriteMethod::Copy),
        Method::Insert => Some(WriteMethod::Insert),
    });
    let server_version: String = {
        let out =
            std::process::Command::new(provledger_bench_pg::find_postgres()?.join("postgres"))
                .arg("--version")
                .output()?;
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    eprintln!(
        "cluster up in {:.1} s: {server_version}, 127.0.0.1:{}, {}",
        t.elapsed().as_secs_f64(),
        pg.port(),
        pg.dir().display()
    );

    let t = Instant::now();
    let (events, keys) = make_events(args.events, threads)?;
    let mean_payload =
        events.iter().map(|e| e.payload.len()).sum::<usize>() as f64 / events.len().max(1) as f64;
    eprintln!(
        "signed {} events with {} keys in {:.1} s (not timed), mean payload {mean_payload:.0} bytes",
        events.len(),
        keys.len(),
        t.elapsed().as_secs_f64()
    );

    let limit_s = verify_limit(&events, &keys, threads)?;
    let limit = events.len() as f64 / limit_s;
    eprintln!("verify_strict alone: {limit:.0} events/s");

    let ingest = pg.ingest(&events, &keys, &config)?;
    anyhow::ensure!(
        ingest.appended == events.len() as u64,
        "appended {} of {} events ({} duplicates, {} rejected)",
        ingest.appended,
        events.len(),
        ingest.duplicates,
        ingest.rejected
    );
    let table_after_ingest = pg.table_bytes()?;

    let mut fill = None;
    let mut proof = None;
    if args.rows_for_proof > 0 {
        let t = Instant::now();
        pg.fill_to(args.rows_for_proof)?;
        let fill_s = t.elapsed().as_secs_f64();
        let rows = pg.row_count()?;
        eprintln!("filled to {rows} rows in {fill_s:.1} s");
        fill = Some((rows, fill_s, pg.table_bytes()?));
        proof = Some(pg.prove_first_row()?);
    }

    println!("## PostgreSQL baseline (bench-pg)\n");
    println!(
        "Machine: {cores} cores; {server_version}, throw-away cluster, fsync=on, \
         synchronous_commit=on, full_page_writes=on, client over the Unix socket."
    );
    println!(
        "{} events, mean payload {mean_payload:.0} bytes, {} signing keys; batch {}, {} verifying threads.\n",
        events.len(),
        keys.len(),
        config.batch,
        threads
    );
    println!("| what | events/s | ÷ limit |");
    println!("| --- | ---: | ---: |");
    println!("| verify_strict alone on {threads} threads (the limit) | {limit:.0} | 1.00 |");
    println!(
        "| PostgreSQL ingest: verify + chain + unique index, {} per batch of {} ({} transactions) | {:.0} | {:.2} |",
        ingest.method,
        config.batch,
        events.len().div_ceil(config.batch),
        ingest.events_per_sec,
        ingest.events_per_sec / limit
    );
    if let Some(p) = ingest.probe {
        println!(
            "| sample of {} events, COPY | {:.0} | {:.2} |",
            p.events,
            p.copy_events_per_sec,
            p.copy_events_per_sec / limit
        );
        println!(
            "| sample of {} events, multi-row INSERT | {:.0} | {:.2} |",
            p.events,
            p.insert_events_per_sec,
            p.insert_events_per_sec / limit
        );
    }
    println!(
        "\nIngest: {} events in {:.2} s; table + indexes {:.1} MiB.",
        ingest.events,
        ingest.seconds,
        table_after_ingest as f64 / 1048576.0
    );
    if let (Some((rows, fill_s, bytes)), Some(proof)) = (fill, proof) {
        println!("\n| chain proof of row 1 under the head | rows read and re-hashed | seconds |");
        println!("| --- | ---: | ---: |");
        println!(
            "| PostgreSQL hash chain | {} | {:.3} |",
            proof.rows, proof.seconds
        );
        println!(
            "\nFill to {rows} rows (synthetic rows by COPY, unique index rebuilt after; not timed above): {fill_s:.1} s; table + indexes {:.1} MiB.",
            bytes as f64 / 1048576.0
        );
    }
    Ok(())
}

/// Pre-signs `n` events of realistic size with 4 generator keys, on `threads` threads.
fn make_events(n: usize, threads: usize) -> Result<(Vec<PgEvent>, HashMap<String, VerifyingKey>)> {
    let signers: Vec<NoteSigner> = (1..=4)
        .map(|i| NoteSigner::generate(&format!("generator-{i}.synthcrm.example/synth")))
        .collect::<Result<_, _>>()
        .context("generating keys")?;
    let keys = signers
        .iter()
        .map(|s| (s.id().name.clone(), *s.verifier().verifying_key()))
        .collect();
    let chunk = n.div_ceil(threads).max(1);
    let signers = &signers;
    let events = std::thread::scope(|s| -> Result<Vec<PgEvent>> {
        let handles: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|from| {
                s.spawn(move || -> Result<Vec<PgEvent>> {
                    (from..(from + chunk).min(n))
                        .map(|i| {
                            let signer = &signers[i % signers.len()];
                            let env = sign(signer, EVENT_PAYLOAD_TYPE, event_payload(i as u64));
                            PgEvent::try_from(&env)
                        })
                        .collect()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(n);
        for h in handles {
            all.extend(h.join().expect("signing thread panicked")?);
        }
        Ok(all)
    })?;
    Ok((events, keys))
}

/// A Salesforce-like 18-character record id with the given 3-character key prefix.
fn sf_id(prefix: &str, n: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut tail = [b'0'; 8];
    let mut v = n;
    for c in tail.iter_mut().rev() {
        *c = ALPHABET[(v % 62) as usize];
        v /= 62;
    }
    format!(
        "{prefix}5g000{}AAE",
        std::str::from_utf8(&tail).expect("ascii")
    )
}

fn record(object_type: &str, prefix: &str, n: u64) -> RecordRef {
    RecordRef {
        system: "salesforce".into(),
        tenant: "00D5g000004XyZ1EAK".into(),
        object_type: object_type.into(),
        record_id: sf_id(prefix, n),
    }
}

/// An encoded ProvenanceEvent of about 400 bytes: a synthetic Opportunity generated from an
/// Account and a Contact, with a 32-byte content hash and a few attributes.
fn event_payload(i: u64) -> Vec<u8> {
    let content_hash = blake3::hash(&i.to_be_bytes()).as_bytes().to_vec();
    let attributes = [
        ("generator", "synthcrm/2.3.1".to_string()),
        ("schema", "Opportunity@v58.0".to_string()),
        (
            "run_id",
            format!("run-2025-06-{:02}-{:08x}", i % 28 + 1, i / 1000),
        ),
        ("seed", format!("{}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15))),
        ("locale", "de-DE".to_string()),
        ("stage", "Prospecting".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    ProvenanceEvent {
        subject: Some(record("Opportunity", "006", i)),
        action: Action::Derived as i32,
        parents: vec![
            Parent {
                record: Some(record("Account", "001", i / 7)),
                leaf_index: None,
            },
            Parent {
                record: Some(record("Contact", "003", i / 3)),
                leaf_index: None,
            },
        ],
        environment: "staging-eu1".into(),
        content_hash,
        occurred_at: Some(provledger::timestamp::Timestamp {
            seconds: 1_750_000_000 + i as i64,
            nanos: ((i * 7919) % 1_000_000_000) as i32,
        }),
        attributes,
        ..Default::default()
    }
    .encode_to_vec()
}

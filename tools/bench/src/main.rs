//! `bench`: provledger end to end, against the limit and baselines measured in the same run.
//!
//! It starts the server as a separate process on a fresh data directory, pre-signs the events
//! (signing is the clients' cost, outside the timed part), and prints markdown tables:
//! ingest (unary with many callers, streams, latency at full and half load, server CPU, peak
//! RSS, disk bytes per event) against `verify_strict` of the same events on the same cores;
//! proofs over gRPC, restart time and memory at growing log sizes; and rs_merkle's in-memory
//! tree. Run: `cargo run --release -p provledger-bench -- [--quick]`; the soak (see [`soak`]):
//! `cargo run --release -p provledger-bench -- soak [--minutes 10 | --quick]`.

mod events;
mod ingest;
mod lineage;
mod proofs;
mod server;
mod soak;
mod stats;

/// The server's allocator and its options, shared with the `provledger` binary.
#[cfg(not(target_env = "msvc"))]
#[path = "../../../src/bin/provledger/allocator.rs"]
mod allocator;

use anyhow::Result;
use clap::{Parser, Subcommand};
use provledger::merkle::{Blake3, Hash, RsMerkleBlake3, TreeHasher};
use server::ServerProcess;
use stats::latency_ms;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    about = "Benchmark provledger: ingest, proofs and restart against the limit and baselines"
)]
struct Args {
    #[command(subcommand)]
    child: Option<Mode>,
    /// Events per ingest measurement.
    #[arg(long, default_value_t = 60_000)]
    events: u64,
    /// Concurrent unary callers.
    #[arg(long, default_value_t = 64)]
    callers: usize,
    /// Concurrent AppendStream calls.
    #[arg(long, default_value_t = 4)]
    streams: usize,
    /// Generator keys signing the workload.
    #[arg(long, default_value_t = 8)]
    keys: usize,
    /// Log sizes for the proof, restart and growth figures.
    #[arg(long, value_delimiter = ',', default_value = "1000000,10000000")]
    sizes: Vec<u64>,
    /// Seconds per proof measurement.
    #[arg(long, default_value_t = 5.0)]
    proof_seconds: f64,
    /// Concurrent proof clients.
    #[arg(long, default_value_t = 16)]
    proof_clients: usize,
    /// HTTP/2 connections the proof clients share, round robin (default: one per client).
    #[arg(long)]
    proof_connections: Option<usize>,
    /// Records of the generator whose blast radius is measured.
    #[arg(long, default_value_t = 100_000)]
    lineage_records: u64,
    /// Depth of the derivation chain that Trace walks.
    #[arg(long, default_value_t = 20)]
    trace_depth: u64,
    /// A run that finishes in well under a minute, to check the tool works.
    #[arg(long)]
    quick: bool,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// (internal) Serve a data directory; the benchmark runs the server this way.
    #[command(hide = true)]
    ServeChild {
        #[arg(long)]
        data: PathBuf,
        /// The sequencer's least interval between commits under load, in microseconds.
        #[arg(long)]
        commit_interval_us: Option<u64>,
    },
    /// Restart and proof figures alone, on a log kept in DATA (grown to SIZE first if smaller),
    /// for investigating one size repeatedly.
    Proofs {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        size: u64,
        /// Seconds to wait after the restart before measuring proofs.
        #[arg(long, default_value_t = 0.0)]
        settle: f64,
    },
    /// A long run at half the measured maximum rate: errors, RSS and latency over time,
    /// durability of every acknowledgement, and a PASS/FAIL verdict.
    Soak(soak::SoakArgs),
}

fn main() -> Result<()> {
    #[cfg(not(target_env = "msvc"))]
    allocator::report();
    let mut args = Args::parse();
    match args.child.take() {
        Some(Mode::ServeChild {
            data,
            commit_interval_us,
        }) => {
            let options = server::ChildOptions { commit_interval_us };
            return server::serve_child(&data, &options);
        }
        Some(Mode::Proofs { data, size, settle }) => {
            return proofs_only(&args, &data, size, settle);
        }
        Some(Mode::Soak(soak)) => return soak::run(soak),
        None => {}
    }
    if args.quick {
        args.events = 3_000;
        args.callers = 16;
        args.sizes = vec![20_000, 60_000];
        args.proof_seconds = 1.0;
        args.proof_clients = 8;
        args.lineage_records = 5_000;
    }
    run(args)
}

impl Args {
    /// The proof clients and the connections they share (at least one, at most one each).
    fn callers(&self) -> proofs::Callers {
        proofs::Callers {
            clients: self.proof_clients,
            connections: self
                .proof_connections
                .unwrap_or(self.proof_clients)
                .clamp(1, self.proof_clients.max(1)),
        }
    }
}

fn proofs_only(args: &Args, data: &std::path::Path, size: u64, settle: f64) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let keys = events::presign(0, args.keys, 0)?.keys;
    let load = proofs::load(data, size, &keys)?;
    let (srv, restart) = rt.block_on(ServerProcess::start(data))?;
    let after_start = srv.rss_mib()?;
    std::thread::sleep(Duration::from_secs_f64(settle));
    let span = Duration::from_secs_f64(args.proof_seconds);
    let ask = proofs::asker(&rt, srv.url.clone(), size, args.callers(), span);
    let inc = ask(proofs::ProofKind::Inclusion)?;
    let (rss, peak) = srv.rss_mib()?;
    let cpu = srv.cpu_seconds()?;
    let floor = ask(proofs::ProofKind::Floor)?;
    srv.stop()?;
    let (i50, i99, _) = latency_ms(inc.latencies.clone());
    let (f50, f99, _) = latency_ms(floor.latencies.clone());
    println!(
        "size {size}: load {load:.1} s, restart {:.2} s, RSS after start {:.0} MiB, inclusion {:.0}/s p50 {i50:.2} ms p99 {i99:.2} ms, RSS {rss:.0} (peak {peak:.0}) MiB, server CPU {cpu:.1} s; gRPC floor (latest checkpoint) {:.0}/s p50 {f50:.2} ms p99 {f99:.2} ms, inclusion ÷ floor {:.2}",
        restart.as_secs_f64(),
        after_start.0,
        inc.rate(),
        floor.rate(),
        inc.rate() / floor.rate()
    );
    Ok(())
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or("?".into(), |kb| format!("{:.0} GiB", kb / 1024.0 / 1024.0));
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores ({cpu}), {mem}")
}

fn run(args: Args) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("# provledger benchmark\n");
    println!("machine: {}", machine());
    // The arguments as given, so a reader can repeat the run exactly.
    let given: String = std::env::args().skip(1).map(|a| format!(" {a}")).collect();
    println!("command: `cargo run --release -p provledger-bench --{given}`\n");

    // Signing is the clients' cost: done before any timing.
    let paced_events = args.events / 2;
    let total = 2 * args.events + paced_events;
    let work = events::presign(total, args.keys, 0)?;
    let limit = events::verify_limit(&work, cores);

    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("ingest");
    let (srv, _) = rt.block_on(ServerProcess::start(&data))?;
    rt.block_on(ingest::register(&srv.url, &data, &work.keys))?;
    let (unary_events, rest) = work.events.split_at(args.events as usize);
    let (stream_events, paced) = rest.split_at(args.events as usize);

    let cpu0 = srv.cpu_seconds()?;
    let unary = rt.block_on(ingest::unary_closed(
        &srv.url,
        unary_events,
        args.callers,
        None,
    ))?;
    let cpu1 = srv.cpu_seconds()?;
    let stream = rt.block_on(ingest::streamed(&srv.url, stream_events, args.streams))?;
    let stream_size = 1 + args.keys as u64 + 2 * args.events;
    let lineage_lag = rt.block_on(lineage::catch_up(&srv.url, stream_size))?;
    let cpu2 = srv.cpu_seconds()?;
    let half = unary.rate() / 2.0;
    let paced = rt.block_on(ingest::unary_paced(&srv.url, paced, args.callers, half))?;
    let cpu3 = srv.cpu_seconds()?;
    let (_, ingest_peak) = srv.rss_mib()?;
    let size = 1 + args.keys as u64 + 2 * args.events + paced_events;
    let disk = proofs::disk_bytes(&data)? as f64 / size as f64;
    srv.stop()?;

    println!("## Ingest (durable acknowledgements over gRPC on 127.0.0.1)\n");
    println!(
        "Limit: `verify_strict` of the same {} pre-signed events on {cores} threads, no I/O: **{limit:.0} events/s**.\n",
        work.events.len()
    );
    println!(
        "| mode | events | events/s | ÷ limit | p50 ms | p99 ms | p99.9 ms | server CPU cores |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, run, cpu) in [
        (
            format!("Append, {} callers, full load", args.callers),
            &unary,
            cpu1 - cpu0,
        ),
        (
            format!("AppendStream, {} streams", args.streams),
            &stream,
            cpu2 - cpu1,
        ),
        (
            format!("Append at half the unary rate ({half:.0}/s)"),
            &paced,
            cpu3 - cpu2,
        ),
    ] {
        let (p50, p99, p999) = latency_ms(run.latencies.clone());
        println!(
            "| {name} | {} | {:.0} | {:.2} | {p50:.2} | {p99:.2} | {p999:.2} | {:.2} |",
            run.events,
            run.rate(),
            run.rate() / limit,
            cpu / run.seconds
        );
    }
    println!(
        "\nServer peak RSS during ingest: {ingest_peak:.0} MiB. Disk: {disk:.0} bytes per event (data directory ÷ entries). Lineage indexes (off the acknowledgement path) covered the last streamed entry {:.0} ms after its acknowledgement.\n",
        lineage_lag.as_secs_f64() * 1e3
    );

    println!("### The PostgreSQL baseline\n");
    let mut pg = match provledger_bench_pg::PgCluster::start() {
        Ok(pg) => Some(pg),
        Err(e) => {
            println!("skipped: {e}\n");
            None
        }
    };
    if let Some(pg) = pg.as_mut() {
        let pg_events: Vec<provledger_bench_pg::PgEvent> = unary_events
            .iter()
            .map(provledger_bench_pg::PgEvent::try_from)
            .collect::<Result<_>>()?;
        let keys = work
            .keys
            .iter()
            .map(|k| (k.id().name.clone(), *k.verifier().verifying_key()))
            .collect();
        let r = pg.ingest(
            &pg_events,
            &keys,
            &provledger_bench_pg::PgConfig {
                batch: 1024,
                threads: cores,
            },
        )?;
        println!(
            "An append-only table with a hash chain and a unique index on the event hash, the same events verified with `verify_strict` on {cores} threads, {} per transaction of 1,024 (fsync and synchronous_commit on): **{:.0} events/s** ({:.2} × the limit).\n",
            r.method,
            r.events_per_sec,
            r.events_per_sec / limit
        );
        println!("| provledger mode | ÷ PostgreSQL |");
        println!("|---|---:|");
        println!(
            "| Append, {} callers | {:.2} |",
            args.callers,
            unary.rate() / r.events_per_sec
        );
        println!(
            "| AppendStream, {} streams | {:.2} |\n",
            args.streams,
            stream.rate() / r.events_per_sec
        );
    }

    println!("## Proofs, restart and growth\n");
    println!(
        "The log is grown through the library (distinct signed events, 10,000 per append) and fully indexed before each restart; queries go through gRPC, {} closed-loop clients over {} connections, {:.0} s each. The gRPC floor is the same clients asking for the latest checkpoint, which the server answers from memory: the most calls/s this machine serves with no storage read and no proof work.\n",
        args.proof_clients,
        args.callers().connections,
        args.proof_seconds
    );
    println!(
        "| log size | load s | restart to serving s | inclusion proofs/s | p50 ms | p99 ms | consistency proofs/s | p50 ms | p99 ms | gRPC floor calls/s | inclusion ÷ floor | server RSS MiB (peak) | disk bytes/entry | PostgreSQL chain proof of row 1, s | ÷ inclusion p50 |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let big = tmp.path().join("big");
    let span = Duration::from_secs_f64(args.proof_seconds);
    for &size in &args.sizes {
        let load = proofs::load(&big, size, &work.keys)?;
        let (srv, restart) = rt.block_on(ServerProcess::start(&big))?;
        let ask = proofs::asker(&rt, srv.url.clone(), size, args.callers(), span);
        let inc = ask(proofs::ProofKind::Inclusion)?;
        let con = ask(proofs::ProofKind::Consistency)?;
        let floor = ask(proofs::ProofKind::Floor)?;
        let (rss, peak) = srv.rss_mib()?;
        srv.stop()?;
        let (i50, i99, _) = latency_ms(inc.latencies.clone());
        let (c50, c99, _) = latency_ms(con.latencies.clone());
        let disk = proofs::disk_bytes(&big)? as f64 / size as f64;
        let chain = match pg.as_mut() {
            Some(pg) => {
                pg.fill_to(size)?;
                let proof = pg.prove_first_row()?;
                format!("{:.3} | {:.0}", proof.seconds, proof.seconds / (i50 / 1e3))
            }
            None => "skipped | –".to_string(),
        };
        println!(
            "| {size} | {load:.1} | {:.2} | {:.0} | {i50:.2} | {i99:.2} | {:.0} | {c50:.2} | {c99:.2} | {:.0} | {:.2} | {rss:.0} ({peak:.0}) | {disk:.0} | {chain} |",
            restart.as_secs_f64(),
            inc.rate(),
            con.rate(),
            floor.rate(),
            inc.rate() / floor.rate()
        );
    }

    println!("\n## Lineage queries\n");
    let lineage_dir = tmp.path().join("lineage");
    let (entries, load) = lineage::load(&lineage_dir, args.lineage_records, args.trace_depth)?;
    let (srv, _) = rt.block_on(ServerProcess::start(&lineage_dir))?;
    let trace = rt.block_on(lineage::trace(&srv.url, args.trace_depth, 500))?;
    let blast = rt.block_on(lineage::descendants(
        &srv.url,
        args.lineage_records + args.trace_depth,
        20,
    ))?;
    srv.stop()?;
    println!(
        "A log of {entries} entries ({} synthetic Leads of one generator, and a chain of {} Contacts each derived from the previous one and a Lead), loaded and indexed in {load:.1} s; queries over gRPC, one caller.\n",
        args.lineage_records, args.trace_depth
    );
    println!(
        "| query | answer | first call after the start ms | calls after it | p50 ms | p99 ms |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (t50, t99, _) = latency_ms(trace.then.latencies.clone());
    println!(
        "| Trace of the last Contact, depth {} | {} records | {:.2} | {} | {t50:.2} | {t99:.2} |",
        args.trace_depth,
        2 * args.trace_depth,
        ms(trace.first),
        trace.then.events
    );
    let (d50, d99, _) = latency_ms(blast.then.latencies.clone());
    println!(
        "| Descendants of the generator (first page of 1,000, counts over all) | {} records | {:.1} | {} | {d50:.1} | {d99:.1} |",
        args.lineage_records + args.trace_depth,
        ms(blast.first),
        blast.then.events
    );

    println!("\n## rs_merkle's in-memory tree: append + commit of 1,000 leaves\n");
    println!("| tree size | rs_merkle ms per commit |");
    println!("|---:|---:|");
    for &size in &args.sizes {
        let leaves: Vec<Hash> = (0..size)
            .map(|i| Blake3::hash_leaf(&i.to_be_bytes()))
            .collect();
        let mut tree = rs_merkle::MerkleTree::<RsMerkleBlake3>::from_leaves(&leaves);
        drop(leaves);
        let mut extra: Vec<Hash> = (0..1000u64)
            .map(|i| Blake3::hash_leaf(&(u64::MAX - i).to_be_bytes()))
            .collect();
        let t = Instant::now();
        tree.append(&mut extra);
        tree.commit();
        println!("| {size} | {:.1} |", t.elapsed().as_secs_f64() * 1e3);
    }
    drop(pg);
    println!("\nbench: done");
    Ok(())
}

//! `bench soak`: a long run at a fraction (half, by default) of the measured maximum rate, to
//! show the server holds up: no errors, resident memory flat, latency flat, every acknowledged
//! event durable.
//!
//! Steps: start the server (the bench's server process) on a fresh data directory and register
//! the generator keys; measure the maximum rate with closed-loop unary `Append`s from many
//! callers; pre-sign every event of the soak on all cores; run the open-loop paced load
//! ([`load`]) sampling the server each window; scrape `/metrics` ([`scrape`]) and compare its
//! append counter with the acknowledgements; restart the server on the same directory and
//! compare the log size with them; print the windows, the summary and the verdict
//! ([`report`]).

mod buckets;
mod load;
mod nice;
mod pressure;
mod report;
mod scrape;
mod threads;

use crate::server::{ChildOptions, ServerProcess};
use crate::{events, ingest, lineage};
use anyhow::{Context, Result};
use clap::Args;
use prost::Message;
use provledger::proto::GetCheckpointRequest;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The load generator's nice value unless `--load-nice` says otherwise: under contention a
/// thread at nice 10 gets about a tenth of the share of one at 0, so the server, at its own
/// value, is served first.
const DEFAULT_LOAD_NICE: i32 = 10;

#[derive(Args, Debug)]
pub struct SoakArgs {
    /// Length of the paced run.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Fraction of the measured maximum rate the soak runs at.
    #[arg(long, default_value_t = 0.5)]
    fraction: f64,
    /// A fixed soak rate in events/s instead of `fraction` × the measured maximum (the maximum
    /// is still measured and printed), so runs on a machine whose speed varies are comparable.
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds per sampling window.
    #[arg(long, default_value_t = 10.0)]
    window_seconds: f64,
    /// Seconds at the start left out of the RSS and latency stability criteria: long enough
    /// for the caches to fill (the lineage block cache reaches its bound after about 90 s at
    /// 4,600 events/s), so what is judged is the steady state.
    #[arg(long, default_value_t = 120.0)]
    warmup_seconds: f64,
    /// Length of the full-load phase that measures the maximum rate.
    #[arg(long, default_value_t = 20.0)]
    max_seconds: f64,
    /// Events signed for the full-load phase (it stops early if it uses them all).
    #[arg(long, default_value_t = 150_000)]
    max_events: u64,
    /// Closed-loop unary callers in the full-load phase.
    #[arg(long, default_value_t = 64)]
    callers: usize,
    /// gRPC connections the paced appends are spread over.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Most paced appends outstanding at once.
    #[arg(long, default_value_t = 1024)]
    max_outstanding: usize,
    /// Generator keys signing the workload.
    #[arg(long, default_value_t = 8)]
    keys: usize,
    /// The server's least interval between commits under load, in microseconds (its
    /// `batch.min_interval_us`; the server's default when absent).
    #[arg(long)]
    commit_interval_us: Option<u64>,
    /// The nice value the load generator (this process, not the server) takes once the
    /// server has started: above 0, where the two want the same core the server goes first,
    /// as when its clients run on other machines (the latency criterion is judged on the
    /// server's acknowledgements). 0 leaves it as started.
    #[arg(long, default_value_t = DEFAULT_LOAD_NICE)]
    load_nice: i32,
    /// About 30 s in all, to check the tool works (CI runs it); the verdict's thresholds are
    /// reported but only errors and lost acknowledgements fail it.
    #[arg(long)]
    quick: bool,
}

pub fn run(mut args: SoakArgs) -> Result<()> {
    if args.quick {
        args.minutes = 0.25;
        args.window_seconds = 3.0;
        args.warmup_seconds = 3.0;
        args.max_seconds = 5.0;
        args.max_events = 30_000;
    }
    if let Some(rate) = args.rate {
        anyhow::ensure!(
            rate.is_finite() && rate > 0.0,
            "--rate: must be a positive number of events/s, not {rate}"
        );
    }
    let rt = tokio::runtime::Runtime::new()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("# provledger soak\n");
    println!("machine: {}", crate::machine());
    println!(
        "command: `cargo run --release -p provledger-bench -- soak{}`\n",
        if args.quick {
            " --quick".to_string()
        } else {
            let rate = args
                .rate
                .map(|r| format!(" --rate {r}"))
                .unwrap_or_default();
            let interval = args
                .commit_interval_us
                .map(|us| format!(" --commit-interval-us {us}"))
                .unwrap_or_default();
            let nice = match args.load_nice {
                DEFAULT_LOAD_NICE => String::new(),
                n => format!(" --load-nice {n}"),
            };
            format!(" --minutes {}{rate}{interval}{nice}", args.minutes)
        }
    );

    let keys = events::presign(0, args.keys, 0)?.keys;
    let t = Instant::now();
    let pool = events::sign_events(&keys, 0, args.max_events, cores);
    println!(
        "Signed {} events for the full-load phase in {:.1} s.",
        pool.len(),
        t.elapsed().as_secs_f64()
    );

    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("soak");
    let child = ChildOptions {
        commit_interval_us: args.commit_interval_us,
    };
    let (srv, _) = rt.block_on(ServerProcess::start_with(&data, &child))?;
    if args.load_nice != 0 {
        let threads = nice::lower_this_process(args.load_nice)?;
        println!(
            "Load generator at nice {} ({threads} threads; the server at its own).",
            args.load_nice
        );
    }
    rt.block_on(ingest::register(&srv.url, &data, &keys))?;
    let setup = 1 + args.keys as u64;

    let full = rt.block_on(ingest::unary_closed(
        &srv.url,
        &pool,
        args.callers,
        Some(Duration::from_secs_f64(args.max_seconds)),
    ))?;
    drop(pool);
    let max_rate = full.rate();
    let target = args.rate.unwrap_or(max_rate * args.fraction);
    let (p50, p99, _) = crate::stats::latency_ms(full.latencies.clone());
    let how = match args.rate {
        Some(_) => format!("set by --rate, {:.2} × that", target / max_rate),
        None => format!("{} × that", args.fraction),
    };
    println!(
        "Maximum rate: unary `Append`, {} closed-loop callers, {:.1} s: {} events acknowledged, **{max_rate:.0} events/s** (p50 {p50:.2} ms, p99 {p99:.2} ms). Soak target: {how} = **{target:.0} events/s**.",
        args.callers, full.seconds, full.events
    );

    let windows = ((args.minutes * 60.0 / args.window_seconds).round() as usize).max(1);
    let plan = load::Plan {
        rate: target,
        windows,
        window: Duration::from_secs_f64(args.window_seconds),
        connections: args.connections,
        max_outstanding: args.max_outstanding,
        timeout: Duration::from_secs(30),
    };
    let t = Instant::now();
    let soak_events = events::sign_events(&keys, args.max_events, plan.events(), cores);
    let bytes: usize = soak_events.iter().map(|e| e.encoded_len()).sum();
    println!(
        "Signed {} events for the soak in {:.1} s on {cores} threads ({:.0} MiB encoded), before it starts.",
        soak_events.len(),
        t.elapsed().as_secs_f64(),
        bytes as f64 / (1 << 20) as f64
    );
    // Let the lineage indexer finish the full-load phase's entries before the soak starts.
    rt.block_on(lineage::catch_up(&srv.url, setup + full.events))?;

    println!(
        "Soak: unary `Append` paced at {target:.0}/s (open loop, latency from each append's scheduled time) over {} connections, at most {} outstanding, {} windows of {} s.\n",
        plan.connections, plan.max_outstanding, plan.windows, args.window_seconds
    );
    let outcome = rt.block_on(load::run(&srv.url, &srv, Arc::new(soak_events), &plan))?;
    let metrics = rt.block_on(scrape::appends(&srv.url))?;
    srv.stop()?;

    // Durability: a restarted server must hold every acknowledged append.
    let (srv, restart) = rt.block_on(ServerProcess::start_with(&data, &child))?;
    let size = rt.block_on(async {
        let mut c = ingest::client(&srv.url).await?;
        let checkpoint = c
            .get_checkpoint(GetCheckpointRequest { size: 0 })
            .await
            .context("GetCheckpoint after the restart")?
            .into_inner();
        anyhow::Ok(checkpoint.size)
    })?;
    srv.stop()?;

    let found = report::Found {
        plan: &plan,
        outcome: &outcome,
        warmup: Duration::from_secs_f64(args.warmup_seconds),
        setup,
        full_acked: full.events,
        metrics,
        size_after_restart: size,
        restart,
    };
    let verdict = report::print(&found);
    if args.quick && verdict.correct && !verdict.stable {
        println!(
            "(--quick: only errors and lost acknowledgements fail the run; the stability thresholds need the full run's warm-up and length)"
        );
    }
    // The verdict line says why; exit nonzero without more. In --quick only correctness counts.
    if !verdict.correct || (!args.quick && !verdict.stable) {
        std::process::exit(1);
    }
    Ok(())
}

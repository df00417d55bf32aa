//! `crashtest`: the crash-kill harness. It starts the real `provledger serve` on a fresh data
//! directory, drives concurrent appends (unary `Append` and `AppendStream` callers, events
//! signed by a registered generator key), sends SIGKILL at a random moment, and then checks:
//! (b) `provledger audit` passes on the store the kill left; then, after a restart, (a) every
//! acknowledged event is at its acknowledged index with identical bytes and (c) the new
//! checkpoint is consistent with every checkpoint handed out (see `check`). It repeats for
//! `--cycles` cycles on the same directory and prints
//! `crash cycles: N, acknowledged: A, lost: L, inconsistent: I`, exiting non-zero unless both L
//! and I are 0 (or when a caller was refused before the kill, which no healthy run does).
//!
//! The seed (printed first) fixes every choice the harness makes: kill moments, kills during
//! start-up, resent events, the generator key. Thread scheduling is not reproduced.

mod check;
mod held;
mod load;
mod rng;
mod server;

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use held::Held;
use load::{Shape, Shared, lock};
use provledger::ledger::key_action_envelope;
use provledger::note::{NoteSigner, NoteVerifier};
use provledger::proto::log_service_client::LogServiceClient;
use provledger::proto::{AppendRequest, KeyRegistration, Role, key_action};
use rng::Rng;
use server::Binary;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ORIGIN: &str = "crashtest.provledger/log";
const GENERATOR: &str = "crashtest-gen.example/v1";
/// How long callers may take to notice the dead server.
const CALLER_GRACE: Duration = Duration::from_secs(30);

#[derive(Parser, Debug)]
#[command(
    about = "SIGKILL a real provledger server under load, restart it, and check nothing \
                   acknowledged was lost and every checkpoint stays consistent"
)]
struct Args {
    /// Kill-restart cycles.
    #[arg(long, default_value_t = 10)]
    cycles: u64,
    /// Seed for every random choice (default: from the clock); printed at the start.
    #[arg(long)]
    seed: Option<u64>,
    /// A CI run: 3 cycles with short kill delays (overrides --cycles and the delays).
    #[arg(long)]
    quick: bool,
    /// The provledger binary (default: $PROVLEDGER_BIN, else `provledger` beside this binary).
    #[arg(long)]
    provledger: Option<PathBuf>,
    /// Shortest time from the start of the load to the kill, in ms.
    #[arg(long, default_value_t = 50)]
    kill_min_ms: u64,
    /// Longest time from the start of the load to the kill, in ms.
    #[arg(long, default_value_t = 1500)]
    kill_max_ms: u64,
    /// Concurrent unary `Append` callers.
    #[arg(long, default_value_t = 4)]
    unary: usize,
    /// Concurrent `AppendStream` callers.
    #[arg(long, default_value_t = 2)]
    streams: usize,
    /// Requests each stream keeps unanswered.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Keep the data directory (it is always kept when a check fails).
    #[arg(long)]
    keep: bool,
}

/// Totals over the run.
#[derive(Debug, Default)]
struct Totals {
    lost: BTreeSet<u64>,
    inconsistent: u64,
    /// Callers refused before the kill.
    early_errors: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn provledger_binary(given: Option<PathBuf>) -> Result<PathBuf> {
    let path = match given.or_else(|| std::env::var_os("PROVLEDGER_BIN").map(PathBuf::from)) {
        Some(path) => path,
        None => std::env::current_exe()?
            .parent()
            .ok_or_else(|| anyhow!("this binary has no directory"))?
            .join("provledger"),
    };
    if !path.is_file() {
        bail!(
            "no provledger binary at {} (build it with `cargo build --release --bin provledger`, \
             or pass --provledger PATH)",
            path.display()
        );
    }
    Ok(path)
}

/// Runs every cycle; Ok(true) when nothing was lost or inconsistent.
async fn run(mut args: Args) -> Result<bool> {
    if args.quick {
        args.cycles = 3;
        args.kill_min_ms = 50;
        args.kill_max_ms = 600;
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    println!(
        "crashtest: seed {seed}, {} cycles, kill after {}..{} ms, {} unary + {} stream callers",
        args.cycles, args.kill_min_ms, args.kill_max_ms, args.unary, args.streams
    );
    let mut rng = Rng::new(seed);
    let work = tempfile::Builder::new()
        .prefix("provledger-crashtest-")
        .tempdir()
        .context("creating a work directory")?;
    let data = work.path().join("data");
    let binary = Binary {
        path: provledger_binary(args.provledger.clone())?,
        log: work.path().join("server.log"),
    };
    let started = Instant::now();
    binary.init(&data, ORIGIN)?;
    let outcome = cycles(&args, &binary, &data, seed, &mut rng).await;
    let keep = args.keep || !matches!(outcome, Ok(true));
    if keep {
        let kept = work.keep();
        println!("data directory kept: {}", kept.join("data").display());
    }
    println!("wall time: {:.1} s", started.elapsed().as_secs_f64());
    outcome
}

async fn cycles(
    args: &Args,
    binary: &Binary,
    data: &Path,
    seed: u64,
    rng: &mut Rng,
) -> Result<bool> {
    let vkey = std::fs::read_to_string(data.join("log.vkey")).context("reading log.vkey")?;
    let log_key = NoteVerifier::from_vkey(vkey.trim()).context("log.vkey")?;
    let admin = provledger::keyfile::read(&data.join("admin.key")).context("admin.key")?;
    let key_seed = blake3::derive_key("provledger crashtest generator key", &seed.to_le_bytes());
    let generator = Arc::new(NoteSigner::from_seed(GENERATOR, &key_seed)?);
    let held = Arc::new(Mutex::new(Held::new(log_key)));

    let mut server = binary.start(data).await?;
    register(&server.url, &admin, &generator, &held).await?;
    let next_event = Arc::new(AtomicU64::new(0));
    let shape = Shape {
        unary: args.unary,
        streams: args.streams,
        window: args.window,
    };
    let mut totals = Totals::default();
    let mut previous_restart = None;
    for cycle in 1..=args.cycles {
        let shared = Shared {
            url: server.url.clone(),
            signer: generator.clone(),
            next_event: next_event.clone(),
            held: held.clone(),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let acked_before = lock(&held).acks.len();
        let callers = load::start(&shared, shape);
        let kill_after = Duration::from_millis(rng.between(args.kill_min_ms, args.kill_max_ms));
        tokio::time::sleep(kill_after).await;
        let killed_at = Instant::now();
        server.kill()?;
        shared.stop.store(true, Ordering::Relaxed);
        for caller in callers {
            let ended = tokio::time::timeout(CALLER_GRACE, caller)
                .await
                .map_err(|_| anyhow!("a caller did not notice the dead server"))??;
            if let Some((at, error)) = ended.error
                && at < killed_at
            {
                totals.early_errors += 1;
                println!("  {} was refused before the kill: {error}", ended.caller);
            }
        }

        // (b) The offline audit, on exactly what the kill left.
        let audit = match binary.audit(data)? {
            None => "audit passed".to_string(),
            Some(report) => {
                totals.inconsistent += 1;
                println!("  audit FAILED after the kill:\n{report}");
                "audit FAILED".to_string()
            }
        };
        // Sometimes a second crash, during the recovery itself.
        let mut recovery_kill = String::new();
        if rng.one_in(4) {
            let after = Duration::from_millis(rng.between(0, 300));
            binary.kill_during_start(data, after).await?;
            recovery_kill = format!(", killed again {} ms into start-up", after.as_millis());
        }
        server = binary.start(data).await?;
        let (findings, new) = check::after_restart(
            &server.url,
            &held,
            previous_restart,
            cycle == args.cycles,
            rng,
        )
        .await?;
        previous_restart = Some(new.size);
        let acked = lock(&held).acks.len();
        println!(
            "cycle {cycle}/{}: killed after {} ms, {} acknowledged (total {acked}), log size {}, \
             {audit}{recovery_kill}, {} consistency proofs, lost {}, inconsistent {}",
            args.cycles,
            kill_after.as_millis(),
            acked - acked_before,
            findings.log_size,
            findings.proofs_checked,
            findings.lost.len(),
            findings.inconsistent,
        );
        for problem in &findings.problems {
            println!("  {problem}");
        }
        totals.lost.extend(findings.lost);
        totals.inconsistent += findings.inconsistent;
    }
    server.kill()?;
    let acknowledged = lock(&held).acks.len();
    println!(
        "crash cycles: {}, acknowledged: {acknowledged}, lost: {}, inconsistent: {}",
        args.cycles,
        totals.lost.len(),
        totals.inconsistent
    );
    if totals.early_errors > 0 {
        println!("callers refused before a kill: {}", totals.early_errors);
    }
    Ok(totals.lost.is_empty() && totals.inconsistent == 0 && totals.early_errors == 0)
}

/// Registers the run's generator key with an admin-signed entry (itself acknowledged and held).
async fn register(
    url: &str,
    admin: &NoteSigner,
    generator: &NoteSigner,
    held: &Mutex<Held>,
) -> Result<()> {
    let mut client = LogServiceClient::connect(url.to_string()).await?;
    let envelope = key_action_envelope(
        admin,
        key_action::Action::Register(KeyRegistration {
            vkey: generator.verifier().to_vkey(),
            role: Role::Generator as i32,
            description: "crashtest generator".into(),
            ..Default::default()
        }),
    );
    let response = client
        .append(AppendRequest {
            event: Some(envelope.clone()),
        })
        .await
        .context("registering the generator key")?
        .into_inner();
    lock(held).receipt(&response, &envelope);
    Ok(())
}

//! `init`, `serve` and `audit`.

use anyhow::{Context, Result, bail};
use clap::Args;
use provledger::api::{ServerConfig, serve as serve_api};
use provledger::datadir::{DataDir, DataDirError};
use provledger::ledger::{BatchPolicy, LedgerConfig};
use provledger::store::{LogStore, StoreError, audit as audit_store};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[arg(long, default_value = "./provledger-data")]
    data: PathBuf,
    #[arg(long, default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// Origin for a data directory created on first start.
    #[arg(long, default_value = "provledger.local/log")]
    origin: String,
    /// Most entries per durable batch.
    #[arg(long, default_value_t = 1024)]
    max_batch: usize,
    /// Microseconds to wait for more entries before committing a batch.
    #[arg(long, default_value_t = 0)]
    linger_us: u64,
    /// Appends that may wait for the sequencer before new ones are refused.
    #[arg(long, default_value_t = 8192)]
    queue: usize,
    /// Largest event payload, in bytes.
    #[arg(long, default_value_t = 256 * 1024)]
    max_payload: usize,
    #[command(flatten)]
    access: crate::serve_access::ServeAccessArgs,
}

pub fn init(data: &Path, origin: &str) -> Result<()> {
    let dir = DataDir::new(data);
    let created = dir
        .init(origin)
        .with_context(|| format!("initialising {}", data.display()))?;
    print_created(&dir, &created);
    Ok(())
}

fn print_created(dir: &DataDir, created: &provledger::datadir::Initialised) {
    println!("Created a provledger log in {}", dir.root.display());
    println!(
        "  log checkpoint key: {} (the server needs this)",
        dir.log_key().display()
    );
    println!("  log vkey:           {}", created.log_vkey);
    println!("  first admin key:    {}", dir.admin_key().display());
    println!("  admin vkey:         {}", created.admin_vkey);
    println!(
        "Move the admin key off this machine: the server never reads it; admin commands take --admin-key."
    );
}

pub fn serve(args: ServeArgs) -> Result<()> {
    let mut server_config = ServerConfig::default();
    args.access.apply(&mut server_config, args.listen)?;
    let dir = DataDir::new(&args.data);
    if !dir.is_initialised() {
        let created = dir
            .init(&args.origin)
            .with_context(|| format!("initialising {}", args.data.display()))?;
        print_created(&dir, &created);
    }
    if dir.admin_key().exists() {
        tracing::warn!(
            path = %dir.admin_key().display(),
            "an admin private key is in the data directory; move it off the server"
        );
    }
    let config = LedgerConfig {
        batch: BatchPolicy {
            max_batch: args.max_batch.max(1),
            linger: Duration::from_micros(args.linger_us),
        },
        queue_capacity: args.queue.max(1),
        limits: provledger::ledger::AdmissionLimits {
            max_payload_bytes: args.max_payload,
            ..Default::default()
        },
        ..Default::default()
    };
    let ledger = match dir.open_ledger(config) {
        Ok(ledger) => Arc::new(ledger),
        Err(DataDirError::Store(e @ StoreError::Corrupt { .. })) => bail!(
            "refusing to serve {}: the store failed its open-time check: {e} (`provledger audit \
             --data {}` locates the damage)",
            args.data.display(),
            args.data.display()
        ),
        Err(e) => {
            return Err(e).with_context(|| format!("opening the log in {}", args.data.display()));
        }
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let store = ledger.store();
        tracing::info!(
            listen = %listener.local_addr()?,
            size = store.size(),
            log_vkey = %store.verifier().to_vkey(),
            tls = server_config.tls.is_some(),
            read_access = ?server_config.read_access.policy,
            "serving"
        );
        println!("listening on {}", listener.local_addr()?);
        serve_api(listener, ledger.clone(), server_config, shutdown_signal())
            .await
            .context("serving")?;
        anyhow::Ok(())
    })?;
    tracing::info!("draining the append queue");
    ledger.shutdown();
    tracing::info!(size = ledger.store().size(), "stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutdown signal received");
}

pub fn audit(data: &Path) -> Result<()> {
    let dir = DataDir::new(data);
    // Opened even when it fails the open-time check, so the audit can locate the damage.
    let (store, refused) = LogStore::<provledger::merkle::Blake3>::open_for_audit(&dir.store())
        .with_context(|| format!("opening {}", dir.store().display()))?;
    let report = audit_store(&store)?;
    if let Some(e) = &refused {
        println!("the open-time check fails (the server refuses this store): {e}");
    }
    if report.is_clean() && refused.is_none() {
        println!(
            "audit passed: {} leaves recomputed, {} checkpoints verified",
            report.leaves, report.checkpoints
        );
        return Ok(());
    }
    for problem in &report.problems {
        println!("{problem}");
    }
    let first = match (report.problems.first(), &refused) {
        (Some(problem), _) => problem.to_string(),
        (None, Some(e)) => format!("the open-time check fails: {e}"),
        (None, None) => String::new(),
    };
    bail!(
        "audit failed: {} problem(s); first: {first}",
        report.problem_count.max(1)
    )
}

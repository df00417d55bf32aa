//! `init`, `serve` and `audit`.

use anyhow::{Context, Result, bail};
use clap::Args;
use provledger::api::serve as serve_api;
use provledger::config::{self, Layers};
use provledger::datadir::{DataDir, DataDirError};
use provledger::store::{LogStore, StoreError, audit as audit_store};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `serve`'s options. Each one is a setting of the configuration (README "Configuration");
/// flags override environment variables, which override the file, which overrides defaults.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// A TOML configuration file.
    #[arg(long, env = "PROVLEDGER_CONFIG")]
    config: Option<PathBuf>,
    /// The data directory (`server.data`).
    #[arg(long)]
    data: Option<String>,
    /// The listening address (`server.listen`).
    #[arg(long)]
    listen: Option<String>,
    /// Origin for a data directory created on first start (`server.origin`).
    #[arg(long)]
    origin: Option<String>,
    /// Most entries per durable batch (`batch.max_entries`).
    #[arg(long)]
    max_batch: Option<String>,
    /// Microseconds to wait for more entries before committing a batch (`batch.linger_us`).
    #[arg(long)]
    linger_us: Option<String>,
    /// Appends that may wait for the sequencer before new ones are refused
    /// (`limits.queue_appends`).
    #[arg(long)]
    queue: Option<String>,
    /// Largest event payload, in bytes (`limits.max_payload_bytes`).
    #[arg(long)]
    max_payload: Option<String>,
    /// Serve TLS with this certificate chain, PEM, leaf first (`tls.cert`; needs --tls-key).
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<String>,
    /// The TLS certificate's private key, PEM (`tls.key`).
    #[arg(long, value_name = "FILE")]
    tls_key: Option<String>,
    /// Accept client certificates issued by this CA, PEM, for mutual TLS (`tls.client_ca`).
    #[arg(long, value_name = "FILE")]
    tls_client_ca: Option<String>,
    /// Who may read — everything but appends, health checks and the OpenAPI document
    /// (`access.read`): open, token (a token from --read-tokens), mtls (a client certificate
    /// from --tls-client-ca) or token-or-mtls.
    #[arg(long)]
    read_access: Option<String>,
    /// The read tokens' hashes, one per line; `provledger token new` adds them (`access.tokens`).
    #[arg(long, value_name = "FILE")]
    read_tokens: Option<String>,
    /// Any setting, by its key path: `--set limits.key_rate_per_second=100` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

impl ServeArgs {
    /// The configuration layers these options, the environment and `log_format` make.
    fn layers(&self, log_format: Option<&str>) -> Result<Layers> {
        let mut flags = Vec::new();
        let named = [
            ("server.data", "--data", &self.data),
            ("server.listen", "--listen", &self.listen),
            ("server.origin", "--origin", &self.origin),
            ("batch.max_entries", "--max-batch", &self.max_batch),
            ("batch.linger_us", "--linger-us", &self.linger_us),
            ("limits.queue_appends", "--queue", &self.queue),
            (
                "limits.max_payload_bytes",
                "--max-payload",
                &self.max_payload,
            ),
            ("tls.cert", "--tls-cert", &self.tls_cert),
            ("tls.key", "--tls-key", &self.tls_key),
            ("tls.client_ca", "--tls-client-ca", &self.tls_client_ca),
            ("access.read", "--read-access", &self.read_access),
            ("access.tokens", "--read-tokens", &self.read_tokens),
        ];
        for (key, flag, value) in named {
            if let Some(value) = value {
                flags.push((key.to_string(), value.clone(), flag.to_string()));
            }
        }
        if let Some(format) = log_format {
            flags.push((
                "server.log_format".into(),
                format.to_string(),
                "--log-format".into(),
            ));
        }
        for pair in &self.set {
            let Some((key, value)) = pair.split_once('=') else {
                bail!("--set {pair:?}: expected KEY=VALUE, e.g. limits.max_parents=16");
            };
            flags.push((key.trim().to_string(), value.to_string(), "--set".into()));
        }
        Ok(Layers {
            file: self.config.clone(),
            env: std::env::vars().collect(),
            flags,
        })
    }
}

/// `config check FILE`: the file (and the environment) loaded, validated and printed as the
/// effective settings with where each came from.
pub fn config_check(file: &Path) -> Result<()> {
    let loaded = config::load(&Layers {
        file: Some(file.to_path_buf()),
        env: std::env::vars().collect(),
        flags: Vec::new(),
    })?;
    print!("{}", config::render(&loaded));
    eprintln!("{}: valid", file.display());
    Ok(())
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

pub fn serve(args: ServeArgs, log_format: Option<&str>) -> Result<()> {
    let loaded = config::load(&args.layers(log_format)?)?;
    crate::init_tracing(&loaded.settings.server.log_format);
    let settings = loaded.settings;
    let mut server_config = settings.server_config();
    crate::serve_access::apply(&settings, &mut server_config)?;
    let data = settings.server.data.clone();
    let dir = DataDir::new(&data);
    if !dir.is_initialised() {
        let created = dir
            .init(&settings.server.origin)
            .with_context(|| format!("initialising {}", data.display()))?;
        print_created(&dir, &created);
    }
    if dir.admin_key().exists() {
        tracing::warn!(
            path = %dir.admin_key().display(),
            "an admin private key is in the data directory; move it off the server"
        );
    }
    let ledger = match dir.open_ledger(settings.ledger_config()) {
        Ok(ledger) => Arc::new(ledger),
        Err(DataDirError::Store(e @ StoreError::Corrupt { .. })) => bail!(
            "refusing to serve {}: the store failed its open-time check: {e} (`provledger audit \
             --data {}` locates the damage)",
            data.display(),
            data.display()
        ),
        Err(e) => {
            return Err(e).with_context(|| format!("opening the log in {}", data.display()));
        }
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listen = settings.server.listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
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

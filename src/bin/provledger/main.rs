//! The `provledger` command line: thin wrappers over the library.
//!
//! Exit codes: 0 done and verified; 1 could not do it (usage, connection, server refusal);
//! 3 an answer did not verify; 4 the log forked or rolled back (both signed checkpoints are
//! printed as evidence).

#[cfg(not(target_env = "msvc"))]
mod allocator;
mod auditor;
mod bulk;
mod connect;
mod demo;
mod evidence;
mod import_csv;
mod keys;
mod producer;
mod responder;
mod serve;
mod serve_access;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "provledger: an append-only, verifiable provenance ledger"
)]
struct Cli {
    /// Log format: human-readable text (the default), or JSON lines. For `serve`, also the
    /// setting `server.log_format`.
    #[arg(long, global = true, value_parser = ["text", "json"])]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a data directory: the log's checkpoint key, a first admin key, and the log.
    Init {
        #[arg(long, default_value = "./provledger-data")]
        data: PathBuf,
        /// The log's origin line (also the checkpoint key's name), e.g. `ledger.example.com/prod`.
        #[arg(long, default_value = "provledger.local/log")]
        origin: String,
    },
    /// Run the server. Creates and initialises the data directory on first start. Settings come
    /// from defaults, `--config FILE`, `PROVLEDGER_<SECTION>_<KEY>` variables and flags, each
    /// overriding the one before.
    Serve(serve::ServeArgs),
    /// Check configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Write a new signing key (note format, mode 0600) and print its vkey.
    Keygen {
        /// The key's name: what events carry as key_id.
        #[arg(long)]
        name: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Read tokens for servers that restrict reads (`serve --read-access token`).
    #[command(subcommand)]
    Token(serve_access::TokenCommand),
    /// Register, revoke and list the log's signing keys.
    #[command(subcommand)]
    Key(keys::KeyCommand),
    /// Audit a log. Offline (`--data DIR`, server stopped): recompute it from its leaves and check
    /// every node and checkpoint. Remote (`--log-key`): replay every entry from the server —
    /// roots, signatures, key registrations, field rules, signed checkpoints.
    Audit(auditor::AuditArgs),
    /// A walkthrough against an embedded server on a temporary data directory.
    Demo,
    /// Fetch the latest checkpoint, verify its signature and its consistency with the trusted
    /// state, and print it.
    Checkpoint(auditor::LogArgs),
    /// Follow the log: verify each new checkpoint against the last trusted one (a fork or a
    /// rollback exits with code 4 and prints both signed checkpoints).
    Monitor {
        #[command(flatten)]
        log: auditor::LogArgs,
        /// Seconds between polls.
        #[arg(long, default_value_t = 5.0)]
        interval: f64,
        /// Stop after this many polls (default: run until stopped).
        #[arg(long)]
        polls: Option<u64>,
    },
    /// Verify entries or a consistency proof against the log key and the trusted state.
    #[command(subcommand)]
    Verify(auditor::VerifyCommand),
    /// Trace a record back to its origins: a tree of its ancestors with each one's effective
    /// origin, every event verified against the log key.
    Trace(responder::TraceArgs),
    /// Sign provenance events (JSON, NDJSON or arrays; the protobuf JSON mapping) with a key
    /// file: one DSSE JSON envelope per line on stdout.
    Sign(producer::SignArgs),
    /// Append events (signed here with --key) or DSSE envelopes from JSON input, streamed in
    /// order with a summary; a bad document stops the run with nothing after it sent.
    Append(producer::AppendArgs),
    /// Everything derived from a generator, a key or a record, each record verified by the
    /// entry that brought it in.
    BlastRadius(evidence::BlastRadiusArgs),
    /// The events of a record and its ancestors in log order, every one verified.
    Timeline(evidence::TimelineArgs),
    /// Write an evidence bundle (or PROV-JSON, or Graphviz DOT) for a record's trace or a blast
    /// radius.
    Export(evidence::ExportArgs),
    /// Verify an evidence bundle offline, trusting only the log key.
    VerifyBundle(evidence::VerifyBundleArgs),
    /// Append a Salesforce Data Loader export (CSV) to a server as signed provenance events,
    /// one per row (GENERATED for synthetic rows, CAPTURED for real ones).
    ImportCsv(import_csv::ImportCsvArgs),
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Validate a configuration file (with the environment's overrides) and print the
    /// effective settings, each with where it came from.
    Check { file: PathBuf },
}

fn main() -> ExitCode {
    #[cfg(not(target_env = "msvc"))]
    allocator::report();
    let cli = Cli::parse();
    // `serve` starts logging once its settings (which may choose the format) are loaded.
    if !matches!(cli.command, Command::Serve(_)) {
        init_tracing(cli.log_format.as_deref().unwrap_or("text"));
    }
    match dispatch(cli.command, cli.log_format.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the reason and its causes (evidence, when there is some, follows).
            eprintln!("error: {e:#}");
            exit_code(&e)
        }
    }
}

/// The exit code for an error: what kind of failure it was.
fn exit_code(e: &anyhow::Error) -> ExitCode {
    use provledger::client::ClientError;
    match e.downcast_ref::<ClientError>() {
        Some(ClientError::Fork { .. } | ClientError::Rollback { .. }) => ExitCode::from(4),
        Some(ClientError::Invalid(_)) => ExitCode::from(3),
        _ => ExitCode::FAILURE,
    }
}

fn block_on<F: std::future::Future<Output = Result<()>>>(future: F) -> Result<()> {
    tokio::runtime::Runtime::new()?.block_on(future)
}

fn dispatch(command: Command, log_format: Option<&str>) -> Result<()> {
    match command {
        Command::Init { data, origin } => serve::init(&data, &origin),
        Command::Serve(args) => serve::serve(args, log_format),
        Command::Config(ConfigCommand::Check { file }) => serve::config_check(&file),
        Command::Keygen { name, out } => keys::keygen(&name, &out),
        Command::Key(cmd) => keys::run(cmd),
        Command::Token(cmd) => serve_access::token(cmd),
        Command::Audit(args) => auditor::audit(args),
        Command::Demo => demo::run(),
        Command::Checkpoint(log) => block_on(auditor::checkpoint(log)),
        Command::Monitor {
            log,
            interval,
            polls,
        } => block_on(auditor::monitor(log, interval, polls)),
        Command::Verify(cmd) => block_on(auditor::verify(cmd)),
        Command::ImportCsv(args) => import_csv::run(args),
        Command::BlastRadius(args) => block_on(evidence::blast_radius(args)),
        Command::Timeline(args) => block_on(evidence::timeline(args)),
        Command::Export(args) => block_on(evidence::export(args)),
        Command::VerifyBundle(args) => evidence::verify_bundle(args),
        Command::Sign(args) => producer::sign_command(args),
        Command::Append(args) => producer::append_command(args),
        Command::Trace(args) => block_on(responder::trace(args)),
    }
}

pub(crate) fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

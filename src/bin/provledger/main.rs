//! The `provledger` command line: thin wrappers over the library.

mod demo;
mod import_csv;
mod keys;
mod serve;

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
    /// Log format: human-readable text, or JSON lines.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
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
    /// Run the gRPC server. Creates and initialises the data directory on first start.
    Serve(serve::ServeArgs),
    /// Write a new signing key (note format, mode 0600) and print its vkey.
    Keygen {
        /// The key's name: what events carry as key_id.
        #[arg(long)]
        name: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Register, revoke and list the log's signing keys.
    #[command(subcommand)]
    Key(keys::KeyCommand),
    /// Recompute the whole log from its leaves and check every node and checkpoint (offline;
    /// stop the server first).
    Audit {
        #[arg(long, default_value = "./provledger-data")]
        data: PathBuf,
    },
    /// A walkthrough against an embedded server on a temporary data directory.
    Demo,
    /// Append a Salesforce Data Loader export (CSV) to a server as signed provenance events,
    /// one per row (GENERATED for synthetic rows, CAPTURED for real ones).
    ImportCsv(import_csv::ImportCsvArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log_format);
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the reason and its causes.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Init { data, origin } => serve::init(&data, &origin),
        Command::Serve(args) => serve::serve(args),
        Command::Keygen { name, out } => keys::keygen(&name, &out),
        Command::Key(cmd) => keys::run(cmd),
        Command::Audit { data } => serve::audit(&data),
        Command::Demo => demo::run(),
        Command::ImportCsv(args) => import_csv::run(args),
    }
}

fn init_tracing(format: &str) {
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

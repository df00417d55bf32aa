//! `import-csv`: a Salesforce Data Loader export → one signed provenance event per row, streamed
//! to a server in file order by [`crate::bulk`] (a bad row stops the run with nothing of it or
//! after it sent). Every row's `external_id` is deterministic, so running the same file again
//! appends only what is missing.

use crate::bulk::{self, Counts, InputError, Source};
use anyhow::{Context, Result, anyhow};
use clap::Args;
use provledger::csvimport::{ImportError, ImportOptions, Importer, RowReader, Signers};
use provledger::keyfile;
use provledger::proto::{ListKeysRequest, SignedEvent};
use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct ImportCsvArgs {
    /// The export: CSV with a header row (Data Loader's format), or `-` for standard input.
    file: String,
    #[command(flatten)]
    server: crate::connect::ConnectArgs,
    /// A private key file to sign with. Repeat it to sign synthetic rows with a generator key
    /// and real rows with a sync_job key: each row is signed by the first key the log's
    /// registry lets sign it.
    #[arg(long = "key", value_name = "KEYFILE", required = true)]
    keys: Vec<PathBuf>,
    /// The object's API name, e.g. Lead.
    #[arg(long)]
    object: String,
    /// The Salesforce org id the records belong to (15 or 18 characters).
    #[arg(long)]
    tenant: String,
    /// The environment the records live in.
    #[arg(long, default_value = "sandbox")]
    environment: String,
    /// The generator model's name for synthetic rows, when the file has no AI_MODEL column (or
    /// leaves it empty).
    #[arg(long)]
    model: Option<String>,
    /// Copy this column into every event's attributes (for non-personal metadata only: the
    /// log is public to its auditors). Repeatable.
    #[arg(long = "attribute", value_name = "COLUMN")]
    attributes: Vec<String>,
    /// Most rows sent and not yet acknowledged.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch: u32,
    /// The log's vkey, or a file holding it (e.g. `DIR/log.vkey`): every receipt's checkpoint
    /// signature and inclusion proof is then verified, and the first that fails stops the
    /// import.
    #[arg(long)]
    log_key: Option<String>,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

type Stop = bulk::Stop<ImportError>;

impl InputError for ImportError {
    fn line(&self) -> Option<u64> {
        ImportError::line(self)
    }

    fn column(&self) -> Option<&str> {
        match self {
            ImportError::Row(e) => e.column.as_deref(),
            _ => None,
        }
    }
}

/// The importer as a bulk source: each row signed by the key the registry lets sign it.
struct Rows(Importer<Box<dyn Read + Send>>);

impl Source for Rows {
    type Error = ImportError;
    const ITEM: &'static str = "row";

    fn next(&mut self) -> Result<Option<(u64, SignedEvent)>, ImportError> {
        Ok(self.0.next_signed()?.map(|row| (row.line, row.envelope)))
    }

    fn bytes_read(&self) -> u64 {
        self.0.bytes_read()
    }

    fn items_read(&self) -> u64 {
        self.0.rows_read()
    }
}

pub fn run(args: ImportCsvArgs) -> Result<()> {
    let started = Instant::now();
    let mut counts = Counts::default();
    let outcome = import(&args, &mut counts);
    let seconds = started.elapsed().as_secs_f64();
    bulk::report(args.json, "row", &counts, seconds, outcome.as_ref().err())?;
    outcome.map_err(|stop| anyhow!(stop.message("rows")))
}

fn import(args: &ImportCsvArgs, counts: &mut Counts) -> Result<(), Stop> {
    let options = ImportOptions {
        tenant: args.tenant.clone(),
        object_type: args.object.clone(),
        environment: args.environment.clone(),
        model: args.model.clone(),
        attributes: args.attributes.clone(),
    }
    .normalised()?;
    let keys = args
        .keys
        .iter()
        .map(|path| keyfile::read(path))
        .collect::<Result<Vec<_>, _>>()?;
    let (input, size): (Box<dyn Read + Send>, Option<u64>) = if args.file == "-" {
        (Box::new(std::io::stdin()), None)
    } else {
        let file = std::fs::File::open(&args.file).with_context(|| args.file.clone())?;
        let size = file.metadata().ok().map(|m| m.len());
        (Box::new(file), size)
    };
    // The header is checked before connecting: a wrong file fails at once.
    let rows = RowReader::new(input, &options).map_err(Stop::Input)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(stream(args, rows, options, keys, size, counts))
}

async fn stream(
    args: &ImportCsvArgs,
    rows: RowReader<Box<dyn Read + Send>>,
    options: ImportOptions,
    keys: Vec<provledger::note::NoteSigner>,
    size: Option<u64>,
    counts: &mut Counts,
) -> Result<(), Stop> {
    let log_key = args
        .log_key
        .as_deref()
        .map(crate::auditor::log_key)
        .transpose()?;
    let mut client = bulk::connect_to(&args.server).await?;
    let registry = client
        .list_keys(ListKeysRequest {})
        .await
        .map_err(|s| anyhow!("ListKeys: {:?}: {}", s.code(), s.message()))?
        .into_inner()
        .keys;
    let signers = Signers::new(keys, &registry).map_err(anyhow::Error::from)?;
    let source = Rows(Importer::new(rows, options, signers));
    let window = args.batch as usize;
    bulk::send(&mut client, log_key.as_ref(), window, source, size, counts).await
}

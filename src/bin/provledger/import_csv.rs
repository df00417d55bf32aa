//! `import-csv`: a Salesforce Data Loader export → one signed provenance event per row, streamed
//! to a server over one `AppendStream`, in file order.
//!
//! Rows are read, validated and signed one at a time on a blocking thread and sent only once
//! whole, with at most `--batch` rows sent and not yet acknowledged. A bad row stops the reading:
//! nothing of it or after it is sent, the stream is closed, and every row sent before it is
//! acknowledged before the command exits non-zero. Every row's `external_id` is deterministic, so
//! running the same file again appends only what is missing.

use anyhow::{Context, Result, anyhow};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use provledger::client::{connect, verify_receipt};
use provledger::csvimport::{ImportError, ImportOptions, Importer, RowReader, Signers};
use provledger::keyfile;
use provledger::proto::{AppendRequest, ListKeysRequest};
use std::collections::VecDeque;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};

#[derive(Args, Debug)]
pub struct ImportCsvArgs {
    /// The export: CSV with a header row (Data Loader's format), or `-` for standard input.
    file: String,
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    server: String,
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

/// What the import did.
#[derive(Debug, Default)]
struct Summary {
    rows_read: u64,
    appended: u64,
    duplicates: u64,
    /// Log indexes of the first and last entries this run appended.
    first_index: Option<u64>,
    last_index: Option<u64>,
    elapsed: Duration,
}

/// Why the import stopped early.
#[derive(Debug)]
enum Stop {
    /// A bad header or row, or malformed input: nothing of it or after it was sent.
    Input(ImportError),
    /// The server refused or dropped the row at `line` (the first not acknowledged).
    Server { line: u64, reason: String },
    /// Anything else: options, key files, connection.
    Other(anyhow::Error),
}

impl Stop {
    fn line(&self) -> Option<u64> {
        match self {
            Stop::Input(e) => e.line(),
            Stop::Server { line, .. } => Some(*line),
            Stop::Other(_) => None,
        }
    }

    fn column(&self) -> Option<&str> {
        match self {
            Stop::Input(ImportError::Row(e)) => e.column.as_deref(),
            _ => None,
        }
    }

    fn message(&self) -> String {
        match self {
            Stop::Input(e) => e.to_string(),
            Stop::Server { line, reason } => format!(
                "line {line}: {reason}; rows after it that were already sent may be in the log: \
                 run the same import again to finish (rows already in the log are skipped)"
            ),
            Stop::Other(e) => format!("{e:#}"),
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Stop {
    fn from(e: E) -> Self {
        Stop::Other(e.into())
    }
}

pub fn run(args: ImportCsvArgs) -> Result<()> {
    let started = Instant::now();
    let mut summary = Summary::default();
    let outcome = import(&args, &mut summary);
    summary.elapsed = started.elapsed();
    report(&args, &summary, outcome.as_ref().err())?;
    outcome.map_err(|stop| anyhow!(stop.message()))
}

fn import(args: &ImportCsvArgs, summary: &mut Summary) -> Result<(), Stop> {
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
    runtime.block_on(stream(args, rows, options, keys, size, summary))
}

fn progress_bar(size: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (bar, template) = match size {
        Some(size) => (
            ProgressBar::new(size),
            "{spinner} {elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {msg}",
        ),
        None => (
            ProgressBar::new_spinner(),
            "{spinner} {elapsed_precise} {bytes} {msg}",
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

async fn stream(
    args: &ImportCsvArgs,
    rows: RowReader<Box<dyn Read + Send>>,
    options: ImportOptions,
    keys: Vec<provledger::note::NoteSigner>,
    size: Option<u64>,
    summary: &mut Summary,
) -> Result<(), Stop> {
    let log_key = args
        .log_key
        .as_deref()
        .map(crate::auditor::log_key)
        .transpose()?;
    let mut client = connect(&args.server).await?;
    let registry = client
        .list_keys(ListKeysRequest {})
        .await
        .map_err(|s| anyhow!("ListKeys: {:?}: {}", s.code(), s.message()))?
        .into_inner()
        .keys;
    let signers = Signers::new(keys, &registry)?;
    let mut importer = Importer::new(rows, options, signers);

    let batch = args.batch as usize;
    // A permit per row sent and not yet acknowledged. The channel holds at most that many, so
    // sending never waits: the only wait is for a permit, which closing the semaphore ends.
    let window = Arc::new(Semaphore::new(batch));
    let (tx, rx) = mpsc::channel::<AppendRequest>(batch);
    // Lines of the rows sent, in order, until acknowledged.
    let in_flight: Arc<Mutex<VecDeque<u64>>> = Arc::default();
    let bar = progress_bar(size);

    let producer = {
        let (window, in_flight, bar) = (window.clone(), in_flight.clone(), bar.clone());
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let outcome = loop {
                let Ok(permit) = handle.block_on(window.clone().acquire_owned()) else {
                    break Ok(()); // the stream failed; the consumer reports it
                };
                match importer.next_signed() {
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                    Ok(Some(row)) => {
                        lock(&in_flight).push_back(row.line);
                        permit.forget();
                        let request = AppendRequest {
                            event: Some(row.envelope),
                        };
                        if tx.blocking_send(request).is_err() {
                            break Ok(());
                        }
                        bar.set_position(importer.bytes_read());
                    }
                }
            };
            // Dropping `tx` here ends the request stream; the server answers what it has.
            (importer.rows_read(), outcome)
        })
    };

    let mut refused = None;
    // A receipt that did not verify, and the line of its row.
    let mut failed = None;
    match client
        .append_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
    {
        Err(status) => refused = Some(status),
        Ok(answers) => {
            let mut answers = answers.into_inner();
            loop {
                match answers.message().await {
                    Ok(Some(answer)) => {
                        if let Some(key) = &log_key
                            && let Err(e) = verify_receipt(&answer, key)
                        {
                            failed = Some((lock(&in_flight).front().copied(), e));
                            break;
                        }
                        lock(&in_flight).pop_front();
                        window.add_permits(1);
                        if answer.duplicate {
                            summary.duplicates += 1;
                        } else {
                            summary.appended += 1;
                            summary.first_index.get_or_insert(answer.index);
                            summary.last_index = Some(answer.index);
                        }
                        if !bar.is_hidden() {
                            bar.set_message(format!(
                                "{} rows acknowledged",
                                summary.appended + summary.duplicates
                            ));
                        }
                    }
                    Ok(None) => break,
                    Err(status) => {
                        refused = Some(status);
                        break;
                    }
                }
            }
        }
    }
    window.close();
    let (rows_read, produced) = producer.await.context("the row reader stopped")?;
    bar.finish_and_clear();
    summary.rows_read = rows_read;
    if let Some((line, e)) = failed {
        return Err(Stop::Server {
            line: line.unwrap_or(0),
            reason: format!("the receipt does not verify with the log key: {e}"),
        });
    }
    let unacknowledged = lock(&in_flight).front().copied();
    match (refused, unacknowledged) {
        (Some(status), Some(line)) => Err(Stop::Server {
            line,
            reason: format!(
                "the server refused the row: {:?}: {}",
                status.code(),
                status.message()
            ),
        }),
        (Some(status), None) => Err(Stop::Other(anyhow!(
            "AppendStream: {:?}: {}",
            status.code(),
            status.message()
        ))),
        (None, Some(line)) => Err(Stop::Server {
            line,
            reason: "the server closed the stream before acknowledging the row".into(),
        }),
        (None, None) => produced.map_err(Stop::Input),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn report(args: &ImportCsvArgs, s: &Summary, stop: Option<&Stop>) -> Result<()> {
    let seconds = s.elapsed.as_secs_f64();
    if args.json {
        let error = stop.map(|stop| {
            serde_json::json!({
                "line": stop.line(),
                "column": stop.column(),
                "message": stop.message(),
            })
        });
        let out = serde_json::json!({
            "ok": stop.is_none(),
            "rows_read": s.rows_read,
            "appended": s.appended,
            "duplicates": s.duplicates,
            "first_index": s.first_index,
            "last_index": s.last_index,
            "elapsed_seconds": seconds,
            "error": error,
        });
        println!("{}", serde_json::to_string(&out)?);
        return Ok(());
    }
    let indexes = match (s.first_index, s.last_index) {
        (Some(first), Some(last)) => format!(" (log indexes {first} to {last})"),
        _ => String::new(),
    };
    let rate = if seconds > 0.0 {
        format!(
            ", {:.0} rows/s",
            (s.appended + s.duplicates) as f64 / seconds
        )
    } else {
        String::new()
    };
    println!(
        "{} row{} read: {} appended{indexes}, {} already in the log; {seconds:.2} s{rate}",
        s.rows_read,
        if s.rows_read == 1 { "" } else { "s" },
        s.appended,
        s.duplicates
    );
    Ok(())
}

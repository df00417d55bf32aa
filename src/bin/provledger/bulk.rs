//! Bulk appends: envelopes from a source (CSV rows, JSON documents) streamed to a server over one
//! `AppendStream`, in input order, with a bounded window, a progress bar and a summary.
//!
//! The source is read and signed on a blocking thread; an item is sent only once whole, with at
//! most `window` items sent and not yet acknowledged. A bad item stops the reading: nothing of it
//! or after it is sent, the stream is closed, and every item sent before it is acknowledged
//! before the command exits non-zero. With a log key every receipt is verified (checkpoint
//! signature and inclusion proof), and the first that fails stops the run.

use anyhow::{Context, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use provledger::client::{Connection, connect, verify_receipt};
use provledger::note::NoteVerifier;
use provledger::proto::log_service_client::LogServiceClient;
use provledger::proto::{AppendRequest, SignedEvent};
use std::collections::VecDeque;
use std::fmt::Display;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};

/// Where the envelopes come from. `next` is called on a blocking thread.
pub trait Source: Send + 'static {
    type Error: InputError;
    /// What one item is called in messages ("row", "event").
    const ITEM: &'static str;
    /// The next envelope and the line it came from; `None` at the end.
    fn next(&mut self) -> Result<Option<(u64, SignedEvent)>, Self::Error>;
    /// Bytes of input consumed, for the progress bar.
    fn bytes_read(&self) -> u64;
    /// Items read (rows, documents), including a bad one.
    fn items_read(&self) -> u64;
}

/// A bad input item: its message, and where it is.
pub trait InputError: Display + Send + 'static {
    fn line(&self) -> Option<u64>;
    fn column(&self) -> Option<&str> {
        None
    }
}

/// What a bulk run did.
#[derive(Debug, Default)]
pub struct Counts {
    pub items_read: u64,
    pub appended: u64,
    pub duplicates: u64,
    /// Log indexes of the first and last entries this run appended.
    pub first_index: Option<u64>,
    pub last_index: Option<u64>,
}

/// Why a bulk run stopped early.
#[derive(Debug)]
pub enum Stop<E> {
    /// A bad item, or malformed input: nothing of it or after it was sent.
    Input(E),
    /// The server refused or dropped the item at `line` (the first not acknowledged).
    Server { line: u64, reason: String },
    /// Anything else: options, key files, connection.
    Other(anyhow::Error),
}

impl<E: InputError> Stop<E> {
    pub fn line(&self) -> Option<u64> {
        match self {
            Stop::Input(e) => e.line(),
            Stop::Server { line, .. } => Some(*line),
            Stop::Other(_) => None,
        }
    }

    pub fn column(&self) -> Option<&str> {
        match self {
            Stop::Input(e) => e.column(),
            _ => None,
        }
    }

    pub fn message(&self, items: &str) -> String {
        match self {
            Stop::Input(e) => e.to_string(),
            Stop::Server { line, reason } => format!(
                "line {line}: {reason}; {items} after it that were already sent may be in the \
                 log: run the same input again to finish ({items} already in the log are skipped)"
            ),
            Stop::Other(e) => format!("{e:#}"),
        }
    }
}

impl<E, T: Into<anyhow::Error>> From<T> for Stop<E> {
    fn from(e: T) -> Self {
        Stop::Other(e.into())
    }
}

/// Connects for a bulk run.
pub async fn connect_to<E>(
    server: &crate::connect::ConnectArgs,
) -> Result<LogServiceClient<Connection>, Stop<E>> {
    Ok(connect(server.options()?).await?)
}

/// A progress bar on stderr when it is a terminal (hidden otherwise).
pub fn progress_bar(size: Option<u64>) -> ProgressBar {
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

/// Streams every envelope of `source` to `client`; `size` is the input's length, if known.
pub async fn send<S: Source>(
    client: &mut LogServiceClient<Connection>,
    log_key: Option<&NoteVerifier>,
    window: usize,
    mut source: S,
    size: Option<u64>,
    counts: &mut Counts,
) -> Result<(), Stop<S::Error>> {
    // A permit per item sent and not yet acknowledged. The channel holds at most that many, so
    // sending never waits: the only wait is for a permit, which closing the semaphore ends.
    let permits = Arc::new(Semaphore::new(window));
    let (tx, rx) = mpsc::channel::<AppendRequest>(window);
    // Lines of the items sent, in order, until acknowledged.
    let in_flight: Arc<Mutex<VecDeque<u64>>> = Arc::default();
    let bar = progress_bar(size);

    let producer = {
        let (permits, in_flight, bar) = (permits.clone(), in_flight.clone(), bar.clone());
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let outcome = loop {
                let Ok(permit) = handle.block_on(permits.clone().acquire_owned()) else {
                    break Ok(()); // the stream failed; the consumer reports it
                };
                match source.next() {
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                    Ok(Some((line, envelope))) => {
                        lock(&in_flight).push_back(line);
                        permit.forget();
                        let request = AppendRequest {
                            event: Some(envelope),
                        };
                        if tx.blocking_send(request).is_err() {
                            break Ok(());
                        }
                        bar.set_position(source.bytes_read());
                    }
                }
            };
            // Dropping `tx` here ends the request stream; the server answers what it has.
            (source.items_read(), outcome)
        })
    };

    let mut refused = None;
    // A receipt that did not verify, and the line of its item.
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
                        if let Some(key) = log_key
                            && let Err(e) = verify_receipt(&answer, key)
                        {
                            failed = Some((lock(&in_flight).front().copied(), e));
                            break;
                        }
                        lock(&in_flight).pop_front();
                        permits.add_permits(1);
                        if answer.duplicate {
                            counts.duplicates += 1;
                        } else {
                            counts.appended += 1;
                            counts.first_index.get_or_insert(answer.index);
                            counts.last_index = Some(answer.index);
                        }
                        if !bar.is_hidden() {
                            bar.set_message(format!(
                                "{} acknowledged",
                                counts.appended + counts.duplicates
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
    permits.close();
    let (items_read, produced) = producer
        .await
        .context("the input reader stopped")
        .map_err(Stop::Other)?;
    bar.finish_and_clear();
    counts.items_read = items_read;
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
                "the server refused the {}: {:?}: {}",
                S::ITEM,
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
            reason: format!(
                "the server closed the stream before acknowledging the {}",
                S::ITEM
            ),
        }),
        (None, None) => produced.map_err(Stop::Input),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Prints the summary of a bulk run: one JSON object with `json`, else one line. `items` names
/// what was read ("row", "event").
pub fn report<E: InputError>(
    json: bool,
    items: &str,
    counts: &Counts,
    seconds: f64,
    stop: Option<&Stop<E>>,
) -> anyhow::Result<()> {
    let plural = format!("{items}s");
    if json {
        let error = stop.map(|stop| {
            serde_json::json!({
                "line": stop.line(),
                "column": stop.column(),
                "message": stop.message(&plural),
            })
        });
        let mut out = serde_json::json!({
            "ok": stop.is_none(),
            "appended": counts.appended,
            "duplicates": counts.duplicates,
            "first_index": counts.first_index,
            "last_index": counts.last_index,
            "elapsed_seconds": seconds,
            "error": error,
        });
        out[format!("{plural}_read")] = counts.items_read.into();
        println!("{}", serde_json::to_string(&out)?);
        return Ok(());
    }
    let indexes = match (counts.first_index, counts.last_index) {
        (Some(first), Some(last)) => format!(" (log indexes {first} to {last})"),
        _ => String::new(),
    };
    let done = counts.appended + counts.duplicates;
    let rate = if seconds > 0.0 {
        format!(", {:.0} {plural}/s", done as f64 / seconds)
    } else {
        String::new()
    };
    println!(
        "{} {} read: {} appended{indexes}, {} already in the log; {seconds:.2} s{rate}",
        counts.items_read,
        if counts.items_read == 1 {
            items
        } else {
            &plural
        },
        counts.appended,
        counts.duplicates
    );
    Ok(())
}

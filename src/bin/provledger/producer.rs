//! Generators' and sync jobs' commands: `sign` (events in JSON → DSSE JSON envelopes) and
//! `append` (events or envelopes in JSON → the log, streamed by [`crate::bulk`]).
//!
//! Input is JSON documents: one per line (NDJSON), pretty-printed ones one after another, or
//! arrays of them (see [`provledger::json::Documents`]). An event is a `ProvenanceEvent` in the
//! protobuf JSON mapping; an object with `payloadType` is a DSSE envelope signed elsewhere. Events
//! are checked against the log's field rules before they are signed, so a bad one is reported
//! with its line and field and nothing of it or after it is sent.

use crate::bulk::{self, Counts, InputError, Source};
use anyhow::{Context, Result, anyhow};
use clap::Args;
use prost::Message;
use provledger::envelope::{EVENT_PAYLOAD_TYPE, sign};
use provledger::json::{Documents, DsseEnvelope, Item, JsonError};
use provledger::keyfile;
use provledger::note::NoteSigner;
use provledger::proto::{ProvenanceEvent, SignedEvent};
use provledger::provenance::rules::{EventLimits, check_fields};
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct SignArgs {
    /// JSON events (NDJSON, pretty-printed, or arrays), or `-` for standard input.
    #[arg(default_value = "-")]
    file: String,
    /// The private key file to sign with; its name is the envelopes' key id.
    #[arg(long)]
    key: PathBuf,
}

#[derive(Args, Debug)]
pub struct AppendArgs {
    /// JSON events or DSSE envelopes (NDJSON, pretty-printed, or arrays), or `-` for standard
    /// input.
    #[arg(default_value = "-")]
    file: String,
    #[command(flatten)]
    server: crate::connect::ConnectArgs,
    /// The private key file to sign unsigned events with (not needed for envelopes).
    #[arg(long)]
    key: Option<PathBuf>,
    /// The log's vkey, or a file holding it: every receipt is then verified, and the first that
    /// fails stops the run.
    #[arg(long)]
    log_key: Option<String>,
    /// Most events sent and not yet acknowledged.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch: u32,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// Why an input document was not sent.
#[derive(Debug)]
pub enum ItemError {
    Json(JsonError),
    /// The event breaks the log's field rules (each problem names its field).
    Rules {
        line: u64,
        problems: Vec<String>,
    },
    Unsigned {
        line: u64,
    },
    AlreadySigned {
        line: u64,
    },
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemError::Json(e) => e.fmt(f),
            ItemError::Rules { line, problems } => {
                write!(f, "line {line}: {}", problems.join("; "))
            }
            ItemError::Unsigned { line } => {
                write!(f, "line {line}: an unsigned event needs --key to sign it")
            }
            ItemError::AlreadySigned { line } => write!(
                f,
                "line {line}: already a signed envelope (append it as it is)"
            ),
        }
    }
}

impl InputError for ItemError {
    fn line(&self) -> Option<u64> {
        match self {
            ItemError::Json(e) => e.line(),
            ItemError::Rules { line, .. }
            | ItemError::Unsigned { line }
            | ItemError::AlreadySigned { line } => Some(*line),
        }
    }
}

impl From<JsonError> for ItemError {
    fn from(e: JsonError) -> Self {
        ItemError::Json(e)
    }
}

/// JSON documents as signed envelopes, in input order.
struct Envelopes {
    documents: Documents<Box<dyn BufRead + Send>>,
    key: Option<NoteSigner>,
    /// Envelopes signed elsewhere are passed through when true, refused when false (`sign`).
    pass_envelopes: bool,
    limits: EventLimits,
}

impl Envelopes {
    fn sign_event(&self, line: u64, event: &ProvenanceEvent) -> Result<SignedEvent, ItemError> {
        check_fields(event, &self.limits)
            .map_err(|problems| ItemError::Rules { line, problems })?;
        let key = self.key.as_ref().ok_or(ItemError::Unsigned { line })?;
        Ok(sign(key, EVENT_PAYLOAD_TYPE, event.encode_to_vec()))
    }
}

impl Source for Envelopes {
    type Error = ItemError;
    const ITEM: &'static str = "event";

    fn next(&mut self) -> Result<Option<(u64, SignedEvent)>, ItemError> {
        let Some(doc) = self.documents.next_document()? else {
            return Ok(None);
        };
        let line = doc.line;
        let envelope = match doc.item()? {
            Item::Event(event) => self.sign_event(line, &event)?,
            Item::Envelope(envelope) if self.pass_envelopes => envelope,
            Item::Envelope(_) => return Err(ItemError::AlreadySigned { line }),
        };
        Ok(Some((line, envelope)))
    }

    fn bytes_read(&self) -> u64 {
        self.documents.bytes_read()
    }

    fn items_read(&self) -> u64 {
        self.documents.documents_read()
    }
}

/// Opens `file` (`-` = standard input), with its size when it has one.
fn open(file: &str) -> Result<(Box<dyn BufRead + Send>, Option<u64>)> {
    if file == "-" {
        return Ok((Box::new(BufReader::new(std::io::stdin())), None));
    }
    let f = std::fs::File::open(file).with_context(|| file.to_string())?;
    let size = f.metadata().ok().map(|m| m.len());
    Ok((
        Box::new(BufReader::new(Box::new(f) as Box<dyn Read + Send>)),
        size,
    ))
}

/// `sign`: every event signed, one DSSE JSON envelope per line on stdout. Stops at the first bad
/// document, after printing the envelopes of the ones before it.
pub fn sign_command(args: SignArgs) -> Result<()> {
    let (input, _) = open(&args.file)?;
    let mut source = Envelopes {
        documents: Documents::new(input),
        key: Some(keyfile::read(&args.key)?),
        pass_envelopes: false,
        limits: EventLimits::default(),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    while let Some((_, envelope)) = source.next().map_err(|e| anyhow!("{e}"))? {
        serde_json::to_writer(&mut out, &DsseEnvelope::from_signed(&envelope))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// `append`: every document signed (or passed through) and streamed to the server.
pub fn append_command(args: AppendArgs) -> Result<()> {
    let started = Instant::now();
    let mut counts = Counts::default();
    let outcome = append(&args, &mut counts);
    let seconds = started.elapsed().as_secs_f64();
    bulk::report(args.json, "event", &counts, seconds, outcome.as_ref().err())?;
    outcome.map_err(|stop| anyhow!(stop.message("events")))
}

fn append(args: &AppendArgs, counts: &mut Counts) -> Result<(), bulk::Stop<ItemError>> {
    let key = args.key.as_deref().map(keyfile::read).transpose()?;
    let log_key = args
        .log_key
        .as_deref()
        .map(crate::auditor::log_key)
        .transpose()?;
    let (input, size) = open(&args.file)?;
    let source = Envelopes {
        documents: Documents::new(input),
        key,
        pass_envelopes: true,
        limits: EventLimits::default(),
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut client = bulk::connect_to(&args.server).await?;
        let window = args.batch as usize;
        bulk::send(&mut client, log_key.as_ref(), window, source, size, counts).await
    })
}

//! Responders' evidence commands: `export` (an evidence bundle, PROV-JSON or DOT for a record's
//! trace or a blast radius), `verify-bundle` (offline, with the log key alone), `blast-radius`
//! and `timeline` (verified answers printed for people, or JSON).

use crate::auditor::{LogArgs, client, log_key};
use crate::responder::parse_record;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use provledger::bundle::graph::{Graph, record_name};
use provledger::bundle::{self, Bundle, Claim, Verified};
use provledger::client::ClientError;
use provledger::proto::descendants_request;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A self-contained evidence bundle (JSON), verifiable offline with `verify-bundle`.
    Bundle,
    /// W3C PROV-JSON.
    ProvJson,
    /// Graphviz DOT.
    Dot,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(subcommand)]
    what: ExportWhat,
}

#[derive(Subcommand, Debug)]
enum ExportWhat {
    /// A record's trace: its whole ancestry, with every event, key registration and proof.
    Record {
        #[command(flatten)]
        log: LogArgs,
        /// `system/tenant/object_type/record_id`.
        record: String,
        /// Levels of ancestors (default: the server's limit).
        #[arg(long, default_value_t = 0)]
        depth: u32,
        /// As of the checkpoint published at this tree size (default: the latest).
        #[arg(long, default_value_t = 0)]
        as_of: u64,
        #[command(flatten)]
        out: OutArgs,
    },
    /// Everything derived from a source: the entry that brought each record in, with proofs.
    BlastRadius {
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        out: OutArgs,
    },
}

#[derive(Args, Debug)]
struct OutArgs {
    /// Where to write it (`-` = standard output).
    #[arg(long)]
    out: String,
    #[arg(long, value_enum, default_value_t = Format::Bundle)]
    format: Format,
}

/// Where a blast radius starts.
#[derive(Args, Debug)]
#[group(required = true, multiple = false, id = "from")]
pub struct SourceArgs {
    /// Every record a generator (its `generator.source`) made, and all derived from them.
    #[arg(long, group = "from")]
    generator: Option<String>,
    /// Every record a key wrote events about, and all derived from them.
    #[arg(long, group = "from")]
    key: Option<String>,
    /// A record (`system/tenant/object_type/record_id`) and all derived from it.
    #[arg(long, group = "from")]
    record: Option<String>,
    /// As of the checkpoint published at this tree size (default: the latest).
    #[arg(long, default_value_t = 0)]
    as_of: u64,
}

impl SourceArgs {
    fn from(&self) -> Result<descendants_request::From> {
        let from = match (&self.generator, &self.key, &self.record) {
            (Some(g), _, _) => descendants_request::From::GeneratorSource(g.clone()),
            (_, Some(k), _) => descendants_request::From::KeyId(k.clone()),
            (_, _, Some(r)) => descendants_request::From::Record(parse_record(r)?),
            _ => bail!("one of --generator, --key or --record is needed"),
        };
        Ok(from)
    }
}

#[derive(Args, Debug)]
pub struct VerifyBundleArgs {
    /// The bundle file.
    file: PathBuf,
    /// The log's vkey, or a file holding it: the only thing trusted.
    #[arg(long)]
    log_key: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct BlastRadiusArgs {
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    source: SourceArgs,
    /// Show only records in these environments (the counts still cover all).
    #[arg(long = "environment")]
    environments: Vec<String>,
    /// Most records listed in text output (the counts cover all).
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

#[derive(Args, Debug)]
pub struct TimelineArgs {
    #[command(flatten)]
    log: LogArgs,
    /// `system/tenant/object_type/record_id`.
    record: String,
    /// Levels of ancestors whose events are included (default: the server's limit).
    #[arg(long, default_value_t = 0)]
    depth: u32,
}

fn write_out(path: &str, bytes: &[u8]) -> Result<()> {
    if path == "-" {
        use std::io::Write;
        std::io::stdout().write_all(bytes)?;
        return Ok(());
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {path}"))
}

fn render(bundle: &Bundle, verified: &Verified, format: Format) -> Vec<u8> {
    let graph = || Graph::new(&bundle.claim, verified);
    match format {
        Format::Bundle => bundle.to_json(),
        Format::ProvJson => {
            let doc = bundle::prov::render(&graph());
            let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
            bytes.push(b'\n');
            bytes
        }
        Format::Dot => bundle::dot::render(&graph()).into_bytes(),
    }
}

fn verify_collected(bundle: &Bundle, log: &LogArgs) -> Result<Verified> {
    // `collect` verified it already; this is the same check the reader will run.
    Ok(bundle::verify(bundle, &log_key(&log.log_key)?)
        .map_err(|e| ClientError::Invalid(e.to_string()))?)
}

/// `provledger export`.
pub async fn export(args: ExportArgs) -> Result<()> {
    let (log, out, bundle) = match args.what {
        ExportWhat::Record {
            log,
            record,
            depth,
            as_of,
            out,
        } => {
            let mut c = client(&log).await?;
            let b = bundle::collect::trace(&mut c, parse_record(&record)?, depth, as_of).await?;
            (log, out, b)
        }
        ExportWhat::BlastRadius { log, source, out } => {
            let mut c = client(&log).await?;
            let b = bundle::collect::blast_radius(&mut c, source.from()?, source.as_of).await?;
            (log, out, b)
        }
    };
    let verified = verify_collected(&bundle, &log)?;
    write_out(&out.out, &render(&bundle, &verified, out.format))?;
    if out.out == "-" {
        return Ok(());
    }
    if log.json {
        println!(
            "{}",
            json!({
                "verified": true,
                "out": out.out,
                "format": format!("{:?}", out.format).to_lowercase(),
                "entries": verified.entries.len(),
                "checkpoint_size": verified.checkpoint.size,
                "records": verified.claims.records,
            })
        );
    } else {
        println!(
            "wrote {} ({} entries, checkpoint size {}), verified",
            out.out,
            verified.entries.len(),
            verified.checkpoint.size
        );
    }
    Ok(())
}

/// `provledger verify-bundle`: offline, no server.
pub fn verify_bundle(args: VerifyBundleArgs) -> Result<()> {
    let key = log_key(&args.log_key)?;
    let bytes = read(&args.file)?;
    let checked = Bundle::from_json(&bytes).and_then(|b| Ok((bundle::verify(&b, &key)?, b)));
    let (verified, bundle) = match checked {
        Ok(v) => v,
        Err(e) => {
            if args.json {
                println!("{}", json!({"verified": false, "error": e.to_string()}));
            }
            return Err(ClientError::Invalid(format!("{}: {e}", args.file.display())).into());
        }
    };
    let kind = match &bundle.claim {
        Claim::Trace { .. } => "trace",
        Claim::BlastRadius { .. } => "blast radius",
    };
    let c = &verified.claims;
    if args.json {
        println!(
            "{}",
            json!({
                "verified": true,
                "claim": kind,
                "origin": verified.checkpoint.origin,
                "checkpoint_size": verified.checkpoint.size,
                "entries": verified.entries.len(),
                "key_entries": verified.key_entries,
                "records": c.records,
                "events_checked": c.events,
                "origins_recomputed": c.origins_recomputed,
                "origins_taken": c.origins_taken,
            })
        );
    } else {
        println!(
            "verified: {kind} of {} records at {} size {}: {} entries proven ({} key entries \
             chained to the genesis entry), {} events checked, {} origins recomputed, {} taken \
             from the server",
            c.records,
            verified.checkpoint.origin,
            verified.checkpoint.size,
            verified.entries.len(),
            verified.key_entries,
            c.events,
            c.origins_recomputed,
            c.origins_taken
        );
    }
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// `provledger blast-radius`: every record verified by the entry that brought it in.
pub async fn blast_radius(args: BlastRadiusArgs) -> Result<()> {
    let mut c = client(&args.log).await?;
    let bundle =
        bundle::collect::blast_radius(&mut c, args.source.from()?, args.source.as_of).await?;
    let Claim::BlastRadius { answer, .. } = &bundle.claim else {
        bail!("unexpected answer");
    };
    let shown: Vec<_> = answer
        .records
        .iter()
        .filter(|d| args.environments.is_empty() || args.environments.contains(&d.environment))
        .collect();
    let counts = |c: &[provledger::proto::Count]| {
        c.iter()
            .map(|c| (c.key.clone(), serde_json::Value::from(c.count)))
            .collect::<serde_json::Map<_, _>>()
    };
    if args.log.json {
        let records: Vec<_> = shown
            .iter()
            .map(|d| {
                json!({
                    "record": d.record.as_ref().map(record_name),
                    "depth": d.depth,
                    "index": d.index,
                    "environment": d.environment,
                    "origin": d.origin().as_str_name(),
                })
            })
            .collect();
        println!(
            "{}",
            json!({
                "verified": true,
                "tree_size": answer.tree_size,
                "total": answer.total,
                "truncated": answer.truncated,
                "by_object_type": counts(&answer.by_object_type),
                "by_environment": counts(&answer.by_environment),
                "records": records,
            })
        );
        return Ok(());
    }
    println!(
        "blast radius at tree size {}: {} records{} (each verified by the entry that brought it in)",
        answer.tree_size,
        answer.total,
        if answer.truncated {
            ", truncated by the server's limits"
        } else {
            ""
        }
    );
    let line = |c: &[provledger::proto::Count]| {
        c.iter()
            .map(|c| format!("{} {}", c.key, c.count))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("  by object type: {}", line(&answer.by_object_type));
    println!("  by environment: {}", line(&answer.by_environment));
    for d in shown.iter().take(args.limit) {
        println!(
            "  depth {} #{} {} in {} [{}]",
            d.depth,
            d.index,
            d.record.as_ref().map(record_name).unwrap_or_default(),
            d.environment,
            d.origin()
                .as_str_name()
                .trim_start_matches("EFFECTIVE_ORIGIN_")
        );
    }
    if shown.len() > args.limit {
        println!(
            "  … {} more (--limit, or --json for all)",
            shown.len() - args.limit
        );
    }
    Ok(())
}

/// `provledger timeline`: the events of a record and its ancestors, in log order.
pub async fn timeline(args: TimelineArgs) -> Result<()> {
    let mut c = client(&args.log).await?;
    let bundle = bundle::collect::trace(&mut c, parse_record(&args.record)?, args.depth, 0).await?;
    let verified = verify_collected(&bundle, &args.log)?;
    let graph = Graph::new(&bundle.claim, &verified);
    if args.log.json {
        let events: Vec<_> = graph
            .events
            .iter()
            .map(|e| {
                json!({
                    "index": e.index,
                    "logged_at": e.logged_at,
                    "action": e.action.as_str_name(),
                    "record": record_name(&e.subject),
                    "environment": e.environment,
                    "key_id": e.key_id,
                    "parents": e.parents.iter().map(record_name).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            json!({"verified": true, "checkpoint_size": verified.checkpoint.size, "events": events})
        );
        return Ok(());
    }
    println!(
        "timeline of {} and its ancestors (every event verified, checkpoint size {})",
        args.record, verified.checkpoint.size
    );
    for e in &graph.events {
        let parents = if e.parents.is_empty() {
            String::new()
        } else {
            format!(
                " from {}",
                e.parents
                    .iter()
                    .map(record_name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        println!(
            "  {} #{} {} {} in {} by {}{parents}",
            e.logged_at.as_deref().unwrap_or("-"),
            e.index,
            e.action.as_str_name(),
            record_name(&e.subject),
            e.environment,
            e.key_id
        );
    }
    Ok(())
}

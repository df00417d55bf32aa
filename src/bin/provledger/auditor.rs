//! Auditor commands: `checkpoint`, `monitor` and `verify`. Each checks what the server says
//! against the log key and the trusted state, and prints a line (or JSON with `--json`).

use crate::connect::ConnectArgs;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use provledger::client::trust::{Accepted, Trusted};
use provledger::client::verify::{check_consistency, verify_checkpoint};
use provledger::client::{TrustedState, VerifiedClient};
use provledger::merkle::{Blake3, TreeHasher};
use provledger::note::NoteVerifier;
use provledger::proto::GetCheckpointRequest;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// What every auditor command needs: where the log is and what to trust.
#[derive(Args, Debug, Clone)]
pub struct LogArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The log's vkey, or a file holding it (e.g. `DIR/log.vkey`).
    #[arg(long)]
    pub log_key: String,
    /// The trusted-state file: the last verified checkpoint, moved forward only with a
    /// consistency proof. Without it, the first checkpoint seen is trusted for this run.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum VerifyCommand {
    /// Verify entries by inclusion in the latest checkpoint (checked against the trusted state).
    Entry {
        #[command(flatten)]
        log: LogArgs,
        /// The first entry's index.
        index: u64,
        /// How many entries.
        #[arg(long, default_value_t = 1)]
        count: u64,
    },
    /// Verify that the checkpoint at `--from` is a prefix of the one at `--to` (default: the
    /// latest), both signed by the log key.
    Consistency {
        #[command(flatten)]
        log: LogArgs,
        #[arg(long)]
        from: u64,
        #[arg(long)]
        to: Option<u64>,
    },
}

/// Reads `--log-key`: a vkey, or the path of a file holding one.
pub fn log_key(arg: &str) -> Result<NoteVerifier> {
    let path = std::path::Path::new(arg);
    let text = if path.is_file() {
        std::fs::read_to_string(path).with_context(|| format!("reading {arg}"))?
    } else {
        arg.to_string()
    };
    NoteVerifier::from_vkey(text.trim()).context("--log-key is not a vkey or a file holding one")
}

pub async fn client(log: &LogArgs) -> Result<VerifiedClient> {
    let key = log_key(&log.log_key)?;
    let state = match &log.state {
        Some(path) => TrustedState::load(path, key)?,
        None => TrustedState::in_memory(key),
    };
    Ok(VerifiedClient::connect(log.connect.options()?, state).await?)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn describe(accepted: Accepted) -> (&'static str, Option<u64>) {
    match accepted {
        Accepted::First => ("trusted on first use", None),
        Accepted::Advanced { from } => ("advanced with a verified consistency proof", Some(from)),
        Accepted::Unchanged => ("unchanged", None),
    }
}

/// Prints a verified checkpoint and what the trusted state did with it; `full` adds the
/// origin and the signed note.
fn print_checkpoint(trusted: &Trusted, accepted: Accepted, json: bool, full: bool) {
    let (status, from) = describe(accepted);
    let (size, root) = (trusted.checkpoint.size, hex(&trusted.checkpoint.root));
    if json {
        let mut value = json!({"size": size, "root": root, "status": status, "from": from});
        if full {
            value["origin"] = json!(trusted.checkpoint.origin);
            value["note"] = json!(trusted.note);
        }
        println!("{value}");
    } else if full {
        println!(
            "verified checkpoint: size {size} root {root} ({status})\n{}",
            trusted.note.trim_end()
        );
    } else {
        println!("size {size} root {root} ({status})");
    }
}

/// `provledger checkpoint`: fetch, verify and print the latest checkpoint.
pub async fn checkpoint(log: LogArgs) -> Result<()> {
    let mut client = client(&log).await?;
    let (trusted, accepted) = client.checkpoint().await?;
    print_checkpoint(&trusted, accepted, log.json, true);
    Ok(())
}

/// `provledger monitor`: follow the log, checking each new checkpoint against the last.
pub async fn monitor(log: LogArgs, interval: f64, polls: Option<u64>) -> Result<()> {
    let mut client = client(&log).await?;
    let mut done = 0u64;
    loop {
        let (trusted, accepted) = client.checkpoint().await?;
        if accepted != Accepted::Unchanged {
            print_checkpoint(&trusted, accepted, log.json, false);
        }
        done += 1;
        if polls.is_some_and(|n| done >= n) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs_f64(interval)).await;
    }
}

/// `provledger verify …`.
pub async fn verify(command: VerifyCommand) -> Result<()> {
    match command {
        VerifyCommand::Entry { log, index, count } => {
            let mut client = client(&log).await?;
            let entries = client.entries(index, count).await?;
            let size = client.trusted().map_or(0, |t| t.checkpoint.size);
            if entries.len() as u64 != count {
                bail!(
                    "asked for {count} entries from {index}, the log (size {size}) has {}",
                    entries.len()
                );
            }
            for e in &entries {
                let leaf_hash = hex(&Blake3::hash_leaf(&e.leaf));
                if log.json {
                    println!(
                        "{}",
                        json!({"index": e.index, "leaf_hash": leaf_hash, "tree_size": size, "proof_hashes": e.proof.len()})
                    );
                } else {
                    println!(
                        "entry {} (leaf hash {leaf_hash}) is included in the checkpoint of size {size}",
                        e.index
                    );
                }
            }
            Ok(())
        }
        VerifyCommand::Consistency { log, from, to } => {
            let mut client = client(&log).await?;
            let (latest, _) = client.checkpoint().await?;
            let mut raw = provledger::client::connect(log.connect.options()?).await?;
            let to = to.unwrap_or(latest.checkpoint.size);
            let mut signed = Vec::new();
            for size in [from, to] {
                let cp = raw
                    .get_checkpoint(GetCheckpointRequest { size })
                    .await
                    .with_context(|| format!("the checkpoint at size {size}"))?
                    .into_inner();
                signed.push(verify_checkpoint(&cp, client.state().log_key())?);
            }
            let hashes = check_consistency(&mut raw, &signed[0], &signed[1]).await?;
            if log.json {
                println!(
                    "{}",
                    json!({"from": from, "to": to, "proof_hashes": hashes, "consistent": true})
                );
            } else {
                println!(
                    "the checkpoint of size {from} is a prefix of the checkpoint of size {to} ({hashes} proof hashes)"
                );
            }
            Ok(())
        }
    }
}

/// `provledger audit`: offline over a data directory, or remote over a server's entries.
#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Offline: the data directory to audit (stop the server first). The default without
    /// `--log-key`.
    #[arg(long, conflicts_with_all = ["log_key", "state", "checkpoint"])]
    pub data: Option<PathBuf>,
    /// Remote: the server whose log to replay.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Remote: the log's vkey, or a file holding it. Selects the remote audit.
    #[arg(long)]
    pub log_key: Option<String>,
    /// Remote: the trusted-state file (its checkpoint is checked too, and moved forward).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Remote: a signed checkpoint note to check against the leaves (e.g. one a receipt
    /// carried). Repeatable.
    #[arg(long)]
    pub checkpoint: Vec<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn audit(args: AuditArgs) -> Result<()> {
    let Some(key) = args.log_key.clone() else {
        let data = args
            .data
            .unwrap_or_else(|| PathBuf::from("./provledger-data"));
        return crate::serve::audit(&data);
    };
    let log = LogArgs {
        connect: args.connect.clone(),
        log_key: key,
        state: args.state.clone(),
        json: args.json,
    };
    let notes = args
        .checkpoint
        .iter()
        .map(|p| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let mut c = client(&log).await?;
        let bar = crate::bulk::progress_bar(None);
        let report = provledger::client::audit::audit_log(&mut c, &notes, |done, size| {
            bar.set_message(format!("{done}/{size} entries replayed"));
        })
        .await?;
        bar.finish_and_clear();
        if args.json {
            println!(
                "{}",
                json!({
                    "ok": report.is_clean(),
                    "size": report.size,
                    "key_entries": report.key_entries,
                    "events": report.events,
                    "checkpoints": report.checkpoints,
                    "problem_count": report.problem_count,
                    "problems": report.problems,
                })
            );
        } else {
            for problem in &report.problems {
                println!("{problem}");
            }
        }
        if !report.is_clean() {
            return Err(provledger::client::ClientError::Invalid(format!(
                "audit failed: {} problem(s); first: {}",
                report.problem_count,
                report.problems.first().cloned().unwrap_or_default()
            ))
            .into());
        }
        if !args.json {
            println!(
                "audit passed: {} entries replayed ({} key entries, {} events; every signature, \
                 key action and field rule checked), {} signed checkpoint(s) recomputed from the \
                 leaves",
                report.size, report.key_entries, report.events, report.checkpoints
            );
        }
        Ok(())
    })
}

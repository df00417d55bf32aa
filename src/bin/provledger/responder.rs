//! Responder commands: `trace` prints where a record came from, as a tree in the terminal with
//! each record's effective origin marked, every event verified against the log key first.

use crate::auditor::{LogArgs, client};
use anyhow::{Result, bail};
use clap::Args;
use provledger::proto::{EffectiveOrigin, RecordRef, TraceNode, TraceRequest};
use serde_json::json;
use std::collections::{HashMap, HashSet};

#[derive(Args, Debug)]
pub struct TraceArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// The record, as `system/tenant/object_type/record_id`, e.g.
    /// `salesforce/00D5g000004ABCD/Contact/0035g00000XyZab`.
    pub record: String,
    /// Levels of ancestors to follow (default: the server's limit).
    #[arg(long, default_value_t = 0)]
    pub depth: u32,
    /// Answer as of this tree size (default: the latest).
    #[arg(long, default_value_t = 0)]
    pub as_of: u64,
}

/// Parses `system/tenant/object_type/record_id`.
pub fn parse_record(text: &str) -> Result<RecordRef> {
    let parts: Vec<&str> = text.split('/').collect();
    let [system, tenant, object_type, record_id] = parts.as_slice() else {
        bail!("record must be system/tenant/object_type/record_id, got {text:?}");
    };
    Ok(RecordRef {
        system: system.to_string(),
        tenant: tenant.to_string(),
        object_type: object_type.to_string(),
        record_id: record_id.to_string(),
    })
}

fn name(r: &RecordRef) -> String {
    format!(
        "{}/{}/{}/{}",
        r.system, r.tenant, r.object_type, r.record_id
    )
}

fn origin(value: i32) -> &'static str {
    match EffectiveOrigin::try_from(value) {
        Ok(EffectiveOrigin::Synthetic) => "SYNTHETIC",
        Ok(EffectiveOrigin::Real) => "REAL",
        Ok(EffectiveOrigin::Mixed) => "MIXED",
        _ => "UNKNOWN",
    }
}

/// One line about a node: its origin, whether it is a root, and its events.
fn describe(node: &TraceNode) -> String {
    let record = node.record.as_ref().map(name).unwrap_or_default();
    let events: Vec<String> = node
        .events
        .iter()
        .map(|e| {
            let event = e.event.as_ref();
            let action = event.map(|v| v.action().as_str_name()).unwrap_or("?");
            let environment = event.map(|v| v.environment.as_str()).unwrap_or("");
            format!("#{} {action} in {environment} by {}", e.index, e.key_id)
        })
        .collect();
    format!(
        "{record} [{}]{} — {}",
        origin(node.origin),
        if node.root { " root" } else { "" },
        events.join("; ")
    )
}

/// `provledger trace`.
pub async fn trace(args: TraceArgs) -> Result<()> {
    let record = parse_record(&args.record)?;
    let mut client = client(&args.log).await?;
    let answer = client
        .trace(TraceRequest {
            record: Some(record),
            max_depth: args.depth,
            as_of: args.as_of,
            with_proofs: true,
            min_tree_size: 0,
        })
        .await?;
    if args.log.json {
        let nodes: Vec<_> = answer
            .nodes
            .iter()
            .map(|n| {
                json!({
                    "record": n.record.as_ref().map(name),
                    "depth": n.depth,
                    "origin": origin(n.origin),
                    "root": n.root,
                    "events": n.events.iter().map(|e| json!({
                        "index": e.index,
                        "action": e.event.as_ref().map(|v| v.action().as_str_name()),
                        "environment": e.event.as_ref().map(|v| v.environment.clone()),
                        "key_id": e.key_id,
                    })).collect::<Vec<_>>(),
                    "parents": n.parents.iter().map(|p| p.parent.as_ref().map(name)).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            json!({"tree_size": answer.tree_size, "truncated": answer.truncated, "verified": true, "nodes": nodes})
        );
        return Ok(());
    }
    let by_name: HashMap<String, &TraceNode> = answer
        .nodes
        .iter()
        .filter_map(|n| n.record.as_ref().map(|r| (name(r), n)))
        .collect();
    let Some(start) = answer.nodes.first() else {
        bail!("the answer holds no record");
    };
    println!(
        "trace at tree size {} (every event verified against the log key)",
        answer.tree_size
    );
    println!("{}", describe(start));
    let mut shown = HashSet::new();
    shown.insert(start.record.as_ref().map(name).unwrap_or_default());
    print_parents(start, &by_name, "", &mut shown);
    if answer.truncated {
        println!("(truncated: the depth limit stopped the walk before every root)");
    }
    Ok(())
}

/// Prints a node's parents below it, each subtree once (a record reached again says so).
fn print_parents(
    node: &TraceNode,
    by_name: &HashMap<String, &TraceNode>,
    indent: &str,
    shown: &mut HashSet<String>,
) {
    let mut parents: Vec<String> = node
        .parents
        .iter()
        .filter_map(|p| p.parent.as_ref().map(name))
        .collect();
    parents.dedup();
    for (i, parent) in parents.iter().enumerate() {
        let last = i + 1 == parents.len();
        let (branch, next) = if last {
            ("└─ ", "   ")
        } else {
            ("├─ ", "│  ")
        };
        match by_name.get(parent) {
            Some(p) if shown.insert(parent.clone()) => {
                println!("{indent}{branch}{}", describe(p));
                print_parents(p, by_name, &format!("{indent}{next}"), shown);
            }
            Some(_) => println!("{indent}{branch}{parent} (shown above)"),
            None => println!("{indent}{branch}{parent} (beyond the depth limit)"),
        }
    }
}

//! Graphviz DOT from a verified bundle's graph: one box per record, coloured by effective
//! origin, one arrow per derivation (parent → child, labelled with the action and log index).

use super::graph::{Graph, record_name};
use crate::proto::{Action, EffectiveOrigin};
use std::fmt::Write;

fn colour(origin: EffectiveOrigin) -> &'static str {
    match origin {
        EffectiveOrigin::Synthetic => "#f4b6b6",
        EffectiveOrigin::Real => "#b9e4b9",
        EffectiveOrigin::Mixed => "#f8d49a",
        EffectiveOrigin::Unknown => "#d9d9d9",
    }
}

/// A DOT string literal.
fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Renders `graph` as a DOT digraph.
pub fn render(graph: &Graph) -> String {
    let mut out = String::from(
        "digraph provenance {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n",
    );
    for r in &graph.records {
        let label = format!(
            "{} {}\n{}",
            r.record.object_type,
            r.record.record_id,
            r.origin
                .as_str_name()
                .trim_start_matches("EFFECTIVE_ORIGIN_")
        );
        let _ = writeln!(
            out,
            "  {} [label={}, fillcolor={}];",
            quote(&record_name(&r.record)),
            quote(&label),
            quote(colour(r.origin))
        );
    }
    for e in &graph.events {
        if !matches!(e.action, Action::Derived | Action::Synced) {
            continue;
        }
        for parent in e.parents.iter().filter(|p| graph.has(p)) {
            let _ = writeln!(
                out,
                "  {} -> {} [label={}];",
                quote(&record_name(parent)),
                quote(&record_name(&e.subject)),
                quote(&format!("{} #{}", e.action.as_str_name(), e.index))
            );
        }
    }
    out.push_str("}\n");
    out
}

//! A verified bundle as a provenance graph: its records (with effective origin and depth) and
//! the signed events that connect them, for rendering (PROV-JSON, Graphviz DOT, timelines).
//!
//! Built only from a bundle that [`super::verify`] accepted: events come from the verified
//! entries, never from the answer's copies.

use super::Claim;
use super::verify::Verified;
use crate::proto::{Action, EffectiveOrigin, Generator, RecordRef};
use crate::provenance::record::normalise;

/// A record in the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordNode {
    pub record: RecordRef,
    pub origin: EffectiveOrigin,
    pub depth: u32,
}

/// A signed event about a record of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct EventNode {
    pub index: u64,
    pub action: Action,
    pub subject: RecordRef,
    pub environment: String,
    pub key_id: String,
    /// RFC 3339, when the log sequenced it.
    pub logged_at: Option<String>,
    pub generator: Option<Generator>,
    /// Parents named by the event (normalised).
    pub parents: Vec<RecordRef>,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    pub records: Vec<RecordNode>,
    /// In log order.
    pub events: Vec<EventNode>,
}

impl Graph {
    pub fn new(claim: &Claim, verified: &Verified) -> Graph {
        let mut records = Vec::new();
        let mut indexes = Vec::new();
        match claim {
            Claim::Trace { answer } => {
                for node in &answer.nodes {
                    if let Some(record) = &node.record {
                        records.push(RecordNode {
                            record: record.clone(),
                            origin: node.origin(),
                            depth: node.depth,
                        });
                    }
                    indexes.extend(node.events.iter().map(|e| e.index));
                }
            }
            Claim::BlastRadius { answer, .. } => {
                for d in &answer.records {
                    if let Some(record) = &d.record {
                        records.push(RecordNode {
                            record: record.clone(),
                            origin: d.origin(),
                            depth: d.depth,
                        });
                    }
                    indexes.push(d.index);
                }
            }
        }
        indexes.sort_unstable();
        indexes.dedup();
        let events = indexes
            .into_iter()
            .filter_map(|index| {
                let entry = verified.entries.get(&index)?;
                let event = entry.event.as_ref()?;
                Some(EventNode {
                    index,
                    action: event.action(),
                    subject: normalise(event.subject.as_ref()?).ok()?,
                    environment: event.environment.clone(),
                    key_id: entry.envelope.key_id.clone(),
                    logged_at: entry.logged_at.as_ref().map(crate::timestamp::to_rfc3339),
                    generator: event.generator.clone(),
                    parents: event
                        .parents
                        .iter()
                        .filter_map(|p| normalise(p.record.as_ref()?).ok())
                        .collect(),
                    reason: event.reason.clone(),
                })
            })
            .collect();
        Graph { records, events }
    }

    /// Whether `record` is one of the graph's records.
    pub fn has(&self, record: &RecordRef) -> bool {
        self.records.iter().any(|r| &r.record == record)
    }
}

/// `system/tenant/object_type/record_id`.
pub fn record_name(r: &RecordRef) -> String {
    format!(
        "{}/{}/{}/{}",
        r.system, r.tenant, r.object_type, r.record_id
    )
}

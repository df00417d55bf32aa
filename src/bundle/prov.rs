//! W3C PROV-JSON (the PROV-JSON submission's serialisation of the PROV data model) from a
//! verified bundle's graph.
//!
//! - entities: records (`rec:`), with their effective origin;
//! - activities: log entries (`entry:<index>`), with the action, environment and log time;
//! - agents: signing keys (`key:`, software agents) and generators (`gen:`, with model and
//!   version);
//! - wasGeneratedBy: a record by its first event in the graph; wasDerivedFrom: child from each
//!   parent, by the DERIVED or SYNCED event; wasAttributedTo: a generated record to its
//!   generator; wasAssociatedWith: each event with its signing key; wasInvalidatedBy: a purged
//!   record by its PURGED event; used: a record by the events that update, quarantine or attest
//!   it.
//!
//! Local names percent-encode every byte outside `[A-Za-z0-9._]`, so they stay valid qualified
//! names; `prov:label` carries the readable form.

use super::graph::{Graph, record_name};
use crate::proto::{Action, RecordRef};
use serde_json::{Map, Value, json};
use std::collections::HashSet;

/// The namespace every provledger identifier lives under.
pub const NAMESPACE: &str = "urn:provledger:";

fn local(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The entity id of a record.
pub fn record_id(r: &RecordRef) -> String {
    format!(
        "rec:{}-{}-{}-{}",
        local(&r.system),
        local(&r.tenant),
        local(&r.object_type),
        local(&r.record_id)
    )
}

/// Renders `graph` as a PROV-JSON document.
pub fn render(graph: &Graph) -> Value {
    let mut entity = Map::new();
    let mut activity = Map::new();
    let mut agent = Map::new();
    let mut relations: Vec<(&str, Value)> = Vec::new();
    for r in &graph.records {
        entity.insert(
            record_id(&r.record),
            json!({
                "prov:label": record_name(&r.record),
                "pl:objectType": r.record.object_type,
                "pl:effectiveOrigin": r.origin.as_str_name(),
                "pl:depth": r.depth,
            }),
        );
    }
    let mut generated: HashSet<String> = HashSet::new();
    for e in &graph.events {
        let act = format!("entry:{}", e.index);
        let subject = record_id(&e.subject);
        let mut attrs = json!({
            "prov:type": format!("pl:{}", e.action.as_str_name()),
            "pl:environment": e.environment,
            "pl:logIndex": e.index,
        });
        if let Some(t) = &e.logged_at {
            attrs["prov:startTime"] = json!(t);
        }
        if !e.reason.is_empty() {
            attrs["pl:reason"] = json!(e.reason);
        }
        activity.insert(act.clone(), attrs);
        let key = format!("key:{}", local(&e.key_id));
        agent.insert(
            key.clone(),
            json!({"prov:type": "prov:SoftwareAgent", "prov:label": e.key_id}),
        );
        relations.push((
            "wasAssociatedWith",
            json!({"prov:activity": act, "prov:agent": key}),
        ));
        match e.action {
            Action::Generated | Action::Captured | Action::Derived | Action::Synced => {
                if generated.insert(subject.clone()) {
                    relations.push((
                        "wasGeneratedBy",
                        json!({"prov:entity": subject, "prov:activity": act}),
                    ));
                }
            }
            Action::Purged => relations.push((
                "wasInvalidatedBy",
                json!({"prov:entity": subject, "prov:activity": act}),
            )),
            _ => relations.push((
                "used",
                json!({"prov:activity": act, "prov:entity": subject}),
            )),
        }
        if let (Action::Generated, Some(g)) = (e.action, &e.generator) {
            let gen_id = format!("gen:{}", local(&g.source));
            agent.insert(
                gen_id.clone(),
                json!({
                    "prov:type": "prov:SoftwareAgent",
                    "prov:label": g.source,
                    "pl:model": g.model,
                    "pl:modelVersion": g.model_version,
                }),
            );
            relations.push((
                "wasAttributedTo",
                json!({"prov:entity": subject, "prov:agent": gen_id}),
            ));
        }
        if matches!(e.action, Action::Derived | Action::Synced) {
            for parent in e.parents.iter().filter(|p| graph.has(p)) {
                relations.push((
                    "wasDerivedFrom",
                    json!({
                        "prov:generatedEntity": subject,
                        "prov:usedEntity": record_id(parent),
                        "prov:activity": act,
                    }),
                ));
            }
        }
    }
    let mut doc = Map::new();
    doc.insert(
        "prefix".into(),
        json!({
            "pl": NAMESPACE,
            "rec": format!("{NAMESPACE}record:"),
            "entry": format!("{NAMESPACE}entry:"),
            "key": format!("{NAMESPACE}key:"),
            "gen": format!("{NAMESPACE}generator:"),
        }),
    );
    doc.insert("entity".into(), Value::Object(entity));
    doc.insert("activity".into(), Value::Object(activity));
    doc.insert("agent".into(), Value::Object(agent));
    for (n, (kind, relation)) in relations.into_iter().enumerate() {
        let map = doc.entry(kind).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(map) = map {
            map.insert(format!("_:r{n}"), relation);
        }
    }
    Value::Object(doc)
}

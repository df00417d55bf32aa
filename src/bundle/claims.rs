//! Re-deriving a lineage answer's claims from a bundle's verified entries.
//!
//! A trace: every event shown is the signed entry at its index, about the node's record; every
//! parent edge is named by the child's event; every node past the first is a parent of a node one
//! level up; `truncated` holds exactly when some named parent is not a node; `root` and every
//! effective origin (each node's, and each event's `origin_after`) are recomputed by replaying
//! the events in log order (README "Effective origin"). Origins that depend on a parent beyond a
//! truncated walk cannot be recomputed and are counted as taken on the server's word.
//!
//! A blast radius: every record is brought in by the signed entry at its index: at depth 0 an
//! event from the source asked for, at depth d a DERIVED or SYNCED event naming a record of depth
//! d − 1; records are distinct and in breadth-first order; the total and the counts by object
//! type and environment are recomputed. Origins and `truncated` are the server's word.
//!
//! Completeness — that the log holds no other relevant event — cannot be shown by inclusion
//! proofs and is not claimed.

use super::BundleError;
use super::format::Claim;
use super::verify::VerifiedEntry;
use crate::checkpoint::Checkpoint;
use crate::proto::{
    Action, DescendantsRequest, DescendantsResponse, EffectiveOrigin, ProvenanceEvent, RecordRef,
    TraceResponse, descendants_request,
};
use crate::provenance::origin::{Roots, after_event};
use crate::provenance::record::normalise;
use std::collections::{BTreeMap, HashMap};

/// How much of the answer the entries decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    /// Records in the answer.
    pub records: usize,
    /// Events (trace) or bringing-in entries (blast radius) checked against signed entries.
    pub events: usize,
    /// Effective origins recomputed from the entries and found equal.
    pub origins_recomputed: usize,
    /// Effective origins the entries cannot decide, taken as the server gave them.
    pub origins_taken: usize,
}

type Entries = BTreeMap<u64, VerifiedEntry>;

pub fn check(
    claim: &Claim,
    checkpoint: &Checkpoint,
    entries: &Entries,
) -> Result<Checked, BundleError> {
    match claim {
        Claim::Trace { answer } => check_trace(answer, checkpoint, entries),
        Claim::BlastRadius { request, answer } => {
            check_blast_radius(request, answer, checkpoint, entries)
        }
    }
}

fn norm(record: Option<&RecordRef>, path: &str) -> Result<RecordRef, BundleError> {
    let record = record.ok_or_else(|| BundleError::claim(path, "no record"))?;
    normalise(record).map_err(|e| BundleError::claim(path, e.to_string()))
}

/// The signed event at `index`, which the answer cites at `path`.
fn event_at<'a>(
    entries: &'a Entries,
    index: u64,
    tree_size: u64,
    path: &str,
) -> Result<(&'a VerifiedEntry, &'a ProvenanceEvent), BundleError> {
    if index >= tree_size {
        return Err(BundleError::claim(
            path,
            format!("cites entry {index}, beyond the answer's tree size {tree_size}"),
        ));
    }
    let entry = entries.get(&index).ok_or_else(|| {
        BundleError::claim(path, format!("cites entry {index}, which the bundle lacks"))
    })?;
    let event = entry
        .event
        .as_ref()
        .ok_or_else(|| BundleError::claim(path, format!("entry {index} is not an event")))?;
    Ok((entry, event))
}

fn subject_of(event: &ProvenanceEvent, path: &str) -> Result<RecordRef, BundleError> {
    norm(event.subject.as_ref(), &format!("{path} (signed subject)"))
}

/// A bundle's answer is as of its checkpoint, exactly.
fn check_tree_size(tree_size: u64, checkpoint: &Checkpoint) -> Result<(), BundleError> {
    if tree_size != checkpoint.size {
        return Err(BundleError::claim(
            "treeSize",
            format!(
                "is {tree_size}, but the checkpoint's size is {}",
                checkpoint.size
            ),
        ));
    }
    Ok(())
}

fn check_trace(
    answer: &TraceResponse,
    checkpoint: &Checkpoint,
    entries: &Entries,
) -> Result<Checked, BundleError> {
    check_tree_size(answer.tree_size, checkpoint)?;
    if answer.checkpoint.is_some() {
        return Err(BundleError::claim(
            "checkpoint",
            "must be absent: the bundle's checkpoint is the one",
        ));
    }
    if answer.nodes.is_empty() {
        return Err(BundleError::claim("nodes", "no nodes"));
    }
    let mut checked = Checked::default();
    let mut depth_of: HashMap<RecordRef, u32> = HashMap::new();
    // Each node's events, for the origin replay: index → node.
    let mut node_of_event: BTreeMap<u64, usize> = BTreeMap::new();
    for (i, node) in answer.nodes.iter().enumerate() {
        let path = format!("nodes[{i}]");
        let record = norm(node.record.as_ref(), &format!("{path}.record"))?;
        if node.record.as_ref() != Some(&record) {
            return Err(BundleError::claim(
                format!("{path}.record"),
                "not in normalised form",
            ));
        }
        let expected_depth = if i == 0 { 0 } else { node.depth.max(1) };
        if node.depth != expected_depth {
            return Err(BundleError::claim(
                format!("{path}.depth"),
                "the first node is the traced record, at depth 0; others are deeper",
            ));
        }
        if depth_of.insert(record.clone(), node.depth).is_some() {
            return Err(BundleError::claim(&path, "the record appears twice"));
        }
        let mut last = None;
        for (j, e) in node.events.iter().enumerate() {
            let epath = format!("{path}.events[{j}]");
            if !e.leaf.is_empty() || e.proof.is_some() {
                return Err(BundleError::claim(
                    &epath,
                    "leaf and proof belong in the bundle's entries",
                ));
            }
            if last.is_some_and(|l| e.index <= l) {
                return Err(BundleError::claim(&epath, "events are not in log order"));
            }
            last = Some(e.index);
            let (entry, event) = event_at(entries, e.index, answer.tree_size, &epath)?;
            if e.event.as_ref() != Some(event) {
                return Err(BundleError::claim(
                    format!("{epath}.event"),
                    format!("differs from the signed event at entry {}", e.index),
                ));
            }
            if e.key_id != entry.envelope.key_id || e.logged_at != entry.logged_at {
                return Err(BundleError::claim(
                    &epath,
                    format!("keyId or loggedAt differs from entry {}", e.index),
                ));
            }
            if subject_of(event, &epath)? != record {
                return Err(BundleError::claim(
                    &epath,
                    format!("entry {} is about another record", e.index),
                ));
            }
            node_of_event.insert(e.index, i);
            checked.events += 1;
        }
        for (k, edge) in node.parents.iter().enumerate() {
            let epath = format!("{path}.parents[{k}]");
            let parent = norm(edge.parent.as_ref(), &format!("{epath}.parent"))?;
            let named = node
                .events
                .iter()
                .find(|e| e.index == edge.child_index)
                .and_then(|e| e.event.as_ref())
                .is_some_and(|event| {
                    matches!(event.action(), Action::Derived | Action::Synced)
                        && event.parents.iter().any(|p| {
                            p.leaf_index == edge.pinned_index
                                && p.record.as_ref().and_then(|r| normalise(r).ok()).as_ref()
                                    == Some(&parent)
                        })
                });
            if !named {
                return Err(BundleError::claim(
                    &epath,
                    format!(
                        "the node's event at {} does not name this parent",
                        edge.child_index
                    ),
                ));
            }
        }
    }
    // Every parent named by the events is an edge, and each deeper node hangs from one level up.
    let mut missing_parent = false;
    for (i, node) in answer.nodes.iter().enumerate() {
        let named: usize = node
            .events
            .iter()
            .filter_map(|e| e.event.as_ref())
            .filter(|ev| matches!(ev.action(), Action::Derived | Action::Synced))
            .map(|ev| ev.parents.len())
            .sum();
        if named != node.parents.len() {
            return Err(BundleError::claim(
                format!("nodes[{i}].parents"),
                format!(
                    "the node's events name {named} parents, the answer lists {}",
                    node.parents.len()
                ),
            ));
        }
        for edge in &node.parents {
            let parent = norm(edge.parent.as_ref(), "parent")?;
            match depth_of.get(&parent) {
                None => missing_parent = true,
                Some(d) if *d == 0 || *d > node.depth + 1 => {
                    return Err(BundleError::claim(
                        format!("nodes[{i}].parents"),
                        "a parent is listed at the wrong depth",
                    ));
                }
                Some(_) => {}
            }
        }
        if i > 0 {
            let record = norm(node.record.as_ref(), "record")?;
            let hangs = answer.nodes.iter().any(|n| {
                n.depth + 1 == node.depth
                    && n.parents.iter().any(|e| {
                        e.parent.as_ref().and_then(|r| normalise(r).ok()) == Some(record.clone())
                    })
            });
            if !hangs {
                return Err(BundleError::claim(
                    format!("nodes[{i}]"),
                    "is not a parent of any node one level up",
                ));
            }
        }
    }
    if missing_parent && !answer.truncated {
        return Err(BundleError::claim(
            "truncated",
            "is false, but a named parent is missing from the nodes",
        ));
    }
    if answer.truncated && !missing_parent {
        // Cut short by the server's bound on events per record: a node's history may be
        // partial, so no origin can be recomputed.
        checked.origins_taken += answer
            .nodes
            .iter()
            .map(|n| 1 + n.events.len())
            .sum::<usize>();
    } else {
        replay_origins(answer, &node_of_event, entries, &mut checked)?;
    }
    checked.records = answer.nodes.len();
    Ok(checked)
}

/// A record's state after one of its events: its roots, `None` when they depend on a record the
/// trace does not hold; and whether they come from its own declaration.
#[derive(Clone, Copy)]
struct State {
    roots: Option<Roots>,
    declares: bool,
}

fn replay_origins(
    answer: &TraceResponse,
    node_of_event: &BTreeMap<u64, usize>,
    entries: &Entries,
    checked: &mut Checked,
) -> Result<(), BundleError> {
    let records: Vec<RecordRef> = answer
        .nodes
        .iter()
        .map(|n| norm(n.record.as_ref(), "record"))
        .collect::<Result<_, _>>()?;
    let node_by_record: HashMap<&RecordRef, usize> =
        records.iter().enumerate().map(|(i, r)| (r, i)).collect();
    // Per node, its states after each of its events, in log order.
    let mut history: Vec<Vec<(u64, State)>> = vec![Vec::new(); answer.nodes.len()];
    let mut claimed: HashMap<u64, i32> = HashMap::new();
    for node in &answer.nodes {
        for e in &node.events {
            claimed.insert(e.index, e.origin_after);
        }
    }
    for (&index, &node) in node_of_event {
        let event = entries
            .get(&index)
            .and_then(|e| e.event.as_ref())
            .ok_or_else(|| BundleError::claim("events", format!("entry {index} is missing")))?;
        let previous = history[node].last().map(|(_, s)| *s);
        let mut parent_roots = Vec::new();
        let mut decided = true;
        for p in &event.parents {
            let Some(parent) = p.record.as_ref().and_then(|r| normalise(r).ok()) else {
                continue;
            };
            let state = node_by_record.get(&parent).and_then(|&pn| {
                let states = &history[pn];
                match p.leaf_index {
                    Some(pin) => states.iter().find(|(i, _)| *i == pin).map(|(_, s)| *s),
                    None => states
                        .iter()
                        .rev()
                        .find(|(i, _)| *i < index)
                        .map(|(_, s)| *s),
                }
            });
            match state.map(|s| s.roots) {
                Some(Some(roots)) => parent_roots.push(roots),
                // A parent with no event yet is an unknown root, as the indexer counts it.
                None if node_by_record.contains_key(&parent) => parent_roots.push(Roots::UNKNOWN),
                _ => decided = false,
            }
        }
        let action = event.action();
        let roots = match action {
            Action::Generated | Action::Captured | Action::Attested => {
                Some(after_event(action, event.origin(), None, []))
            }
            Action::Derived | Action::Synced => {
                decided.then(|| after_event(action, event.origin(), None, parent_roots))
            }
            // Unchanged (unknown for a first event), or undecided if the previous state was.
            _ => match previous {
                None => Some(Roots::UNKNOWN),
                Some(s) => s.roots,
            },
        };
        let declares = match action {
            Action::Generated | Action::Captured | Action::Attested => true,
            Action::Derived | Action::Synced => false,
            _ => previous.is_some_and(|s| s.declares),
        };
        history[node].push((index, State { roots, declares }));
        let path = format!("event at entry {index}");
        compare(roots, claimed.get(&index).copied(), &path, checked)?;
    }
    for (i, node) in answer.nodes.iter().enumerate() {
        let last = history[i].last().map(|(_, s)| *s);
        let declares = last.is_some_and(|s| s.declares);
        if node.root != declares {
            return Err(BundleError::claim(
                format!("nodes[{i}].root"),
                format!("is {}, but the record's events say {declares}", node.root),
            ));
        }
        let roots = match last {
            Some(s) => s.roots,
            None => Some(Roots::NONE),
        };
        compare(
            roots,
            Some(node.origin),
            &format!("nodes[{i}].origin"),
            checked,
        )?;
    }
    Ok(())
}

fn compare(
    recomputed: Option<Roots>,
    claimed: Option<i32>,
    path: &str,
    checked: &mut Checked,
) -> Result<(), BundleError> {
    let Some(roots) = recomputed else {
        checked.origins_taken += 1;
        return Ok(());
    };
    let expected = roots.effective();
    let claimed = claimed.and_then(|c| EffectiveOrigin::try_from(c).ok());
    if claimed != Some(expected) {
        return Err(BundleError::claim(
            path,
            format!(
                "origin is {}, but the signed events give {}",
                claimed.map_or("invalid", |c| c.as_str_name()),
                expected.as_str_name()
            ),
        ));
    }
    checked.origins_recomputed += 1;
    Ok(())
}

fn check_blast_radius(
    request: &DescendantsRequest,
    answer: &DescendantsResponse,
    checkpoint: &Checkpoint,
    entries: &Entries,
) -> Result<Checked, BundleError> {
    check_tree_size(answer.tree_size, checkpoint)?;
    let plain = DescendantsRequest {
        from: request.from.clone(),
        as_of: answer.tree_size,
        ..Default::default()
    };
    if *request != plain {
        return Err(BundleError::claim(
            "request",
            "a bundle proves a whole, unfiltered answer at its checkpoint: only from and asOf \
             (the checkpoint's size) may be set",
        ));
    }
    if !answer.next_page_token.is_empty() {
        return Err(BundleError::claim(
            "nextPageToken",
            "a bundle holds every page",
        ));
    }
    if answer.total != answer.records.len() as u64 {
        return Err(BundleError::claim(
            "total",
            format!(
                "is {}, but {} records are listed",
                answer.total,
                answer.records.len()
            ),
        ));
    }
    let from = request
        .from
        .as_ref()
        .ok_or_else(|| BundleError::claim("request.from", "required"))?;
    let start = match from {
        descendants_request::From::Record(r) => Some(norm(Some(r), "request.from.record")?),
        _ => None,
    };
    let mut checked = Checked::default();
    let mut depth_of: HashMap<RecordRef, u32> = HashMap::new();
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_env: BTreeMap<String, u64> = BTreeMap::new();
    let mut last_depth = 0;
    for (i, d) in answer.records.iter().enumerate() {
        let path = format!("records[{i}]");
        let record = norm(d.record.as_ref(), &format!("{path}.record"))?;
        if d.record.as_ref() != Some(&record) {
            return Err(BundleError::claim(
                format!("{path}.record"),
                "not in normalised form",
            ));
        }
        if d.depth < last_depth {
            return Err(BundleError::claim(
                format!("{path}.depth"),
                "not in breadth-first order",
            ));
        }
        last_depth = d.depth;
        let (entry, event) = event_at(entries, d.index, answer.tree_size, &path)?;
        if subject_of(event, &path)? != record {
            return Err(BundleError::claim(
                &path,
                format!("entry {} is about another record", d.index),
            ));
        }
        if event.environment != d.environment {
            return Err(BundleError::claim(
                format!("{path}.environment"),
                format!("differs from the signed event at entry {}", d.index),
            ));
        }
        let brought_in = if d.depth == 0 {
            match from {
                descendants_request::From::Record(_) => start.as_ref() == Some(&record),
                descendants_request::From::GeneratorSource(source) => event
                    .generator
                    .as_ref()
                    .is_some_and(|g| &g.source == source),
                descendants_request::From::KeyId(key) => &entry.envelope.key_id == key,
            }
        } else {
            matches!(event.action(), Action::Derived | Action::Synced)
                && event.parents.iter().any(|p| {
                    p.record
                        .as_ref()
                        .and_then(|r| normalise(r).ok())
                        .and_then(|r| depth_of.get(&r).copied())
                        == Some(d.depth - 1)
                })
        };
        if !brought_in {
            return Err(BundleError::claim(
                &path,
                format!(
                    "the signed event at entry {} does not bring the record in at depth {}",
                    d.index, d.depth
                ),
            ));
        }
        if depth_of.insert(record.clone(), d.depth).is_some() {
            return Err(BundleError::claim(&path, "the record appears twice"));
        }
        *by_type.entry(record.object_type.clone()).or_default() += 1;
        *by_env.entry(d.environment.clone()).or_default() += 1;
        checked.events += 1;
        checked.origins_taken += 1;
    }
    let counts = |m: &BTreeMap<String, u64>| -> Vec<(String, u64)> {
        m.iter().map(|(k, v)| (k.clone(), *v)).collect()
    };
    let listed = |c: &[crate::proto::Count]| -> Vec<(String, u64)> {
        c.iter().map(|c| (c.key.clone(), c.count)).collect()
    };
    if listed(&answer.by_object_type) != counts(&by_type) {
        return Err(BundleError::claim(
            "byObjectType",
            "does not match the records listed",
        ));
    }
    if listed(&answer.by_environment) != counts(&by_env) {
        return Err(BundleError::claim(
            "byEnvironment",
            "does not match the records listed",
        ));
    }
    checked.records = answer.records.len();
    Ok(checked)
}

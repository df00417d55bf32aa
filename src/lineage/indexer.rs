//! The lineage indexer: follows the log and files every provenance event in the lineage
//! database ([`super::keys`]), computing each record's roots as it goes and raising
//! contamination alerts.
//!
//! Invariants:
//! - Entries are indexed in log order, a chunk at a time; each chunk's entries, its alerts and
//!   the new watermark are one database batch, so after a crash the database holds whole chunks and
//!   the indexer resumes exactly at its watermark: nothing missed, nothing filed twice, alert ids
//!   the same as before the crash.
//! - Only entries below the store's size (durable, acknowledged) are read; the watermark never
//!   passes the log.
//! - An entry that is not a decodable provenance event (key actions) is passed over.
//! - A record's state at an event depends only on earlier entries (parents precede children),
//!   so computing it once, at indexing time, is final.

use super::db::LineageDb;
use super::keys::{self, EventState, Latest, Link, Links, Watermark};
use super::{LineageConfig, LineageError};
use crate::envelope::EVENT_PAYLOAD_TYPE;
use crate::proto::{Action, ContaminationAlert, LogLeaf, ProvenanceEvent};
use crate::provenance::origin::{Roots, after_event};
use crate::provenance::record::{name_key, normalise, record_key};
use crate::store::LogStore;
use prost::Message;
use std::collections::HashMap;

/// Entries per database batch.
pub const CHUNK: u64 = 1000;

/// The states filed in the chunk being built, not yet in the database.
type Overlay = HashMap<[u8; 16], Vec<(u64, EventState)>>;

/// A chunk's generator and signer entries, per (prefix, key): (index, encoded link).
type Groups = HashMap<(u8, [u8; 16]), Vec<(u64, Vec<u8>)>>;

/// The latest state of `record` strictly before `before`.
pub(crate) fn state_before(
    tree: &LineageDb,
    overlay: Option<&Overlay>,
    record: &[u8; 16],
    before: u64,
) -> Result<Option<(u64, EventState)>, LineageError> {
    if let Some(found) = overlay
        .and_then(|o| o.get(record))
        .and_then(|states| states.iter().rev().find(|(i, _)| *i < before))
    {
        return Ok(Some(*found));
    }
    match tree.get(keys::latest(record))? {
        // No event about the record has been filed at all.
        None => return Ok(None),
        Some(v) => {
            let latest = Latest::decode(&v).ok_or_else(|| LineageError::corrupt("latest state"))?;
            if latest.index < before {
                return Ok(Some((latest.index, latest.state)));
            }
        }
    }
    let range = keys::keyed(keys::EVENT, record, 0)..keys::keyed(keys::EVENT, record, before);
    match tree.range(range).next_back() {
        None => Ok(None),
        Some(item) => {
            let (k, v) = item?;
            let index = keys::index_of(&k).ok_or_else(|| LineageError::corrupt("event key"))?;
            let state =
                EventState::decode(&v).ok_or_else(|| LineageError::corrupt("event state"))?;
            Ok(Some((index, state)))
        }
    }
}

/// The state of `record` just after its event at `index`, if that entry is one of its events.
fn state_at(
    tree: &LineageDb,
    overlay: &Overlay,
    record: &[u8; 16],
    index: u64,
) -> Result<Option<EventState>, LineageError> {
    if let Some((_, s)) = overlay
        .get(record)
        .and_then(|states| states.iter().find(|(i, _)| *i == index))
    {
        return Ok(Some(*s));
    }
    match tree.get(keys::keyed(keys::EVENT, record, index))? {
        None => Ok(None),
        Some(v) => EventState::decode(&v)
            .map(Some)
            .ok_or_else(|| LineageError::corrupt("event state")),
    }
}

/// Indexes entries `[from.indexed, to)` as one batch; returns the new watermark and the alerts
/// raised (already in the batch).
pub(crate) fn index_chunk(
    store: &LogStore,
    tree: &LineageDb,
    config: &LineageConfig,
    from: Watermark,
    to: u64,
) -> Result<(Watermark, Vec<ContaminationAlert>), LineageError> {
    let mut batch = tree.batch();
    let mut overlay = Overlay::new();
    // Generator and signer entries of this chunk, grouped per (prefix, key), in log order.
    let mut groups = Groups::new();
    let mut alerts = Vec::new();
    let mut mark = from;
    while mark.indexed < to {
        let leaves = store.leaves(mark.indexed, to - mark.indexed)?;
        if leaves.is_empty() {
            break;
        }
        for leaf in &leaves {
            let index = mark.indexed;
            mark.indexed += 1;
            let Some((leaf, event)) = decode_event(leaf) else {
                continue;
            };
            let Some(subject) = event.subject.as_ref().and_then(|s| normalise(s).ok()) else {
                continue;
            };
            let record = record_key(&subject);
            let previous = state_before(tree, Some(&overlay), &record, index)?.map(|(_, s)| s);
            let mut parents = Vec::with_capacity(event.parents.len());
            let mut parent_roots = Vec::with_capacity(event.parents.len());
            for parent in &event.parents {
                let Some(p) = parent.record.as_ref().and_then(|r| normalise(r).ok()) else {
                    continue;
                };
                let key = record_key(&p);
                let state = match parent.leaf_index {
                    Some(pin) => state_at(tree, &overlay, &key, pin)?,
                    None => state_before(tree, Some(&overlay), &key, index)?.map(|(_, s)| s),
                };
                parent_roots.push(state.map_or(Roots::UNKNOWN, |s| s.roots));
                parents.push((key, p));
            }
            let action = event.action();
            let roots = after_event(
                action,
                event.origin(),
                previous.map(|s| s.roots),
                parent_roots,
            );
            let in_production = config.is_production(&event.environment);
            let was_tainted = previous.is_some_and(|s| s.tainted_in_production);
            let tainted = roots.has_synthetic() && (in_production || was_tainted);
            let state = EventState {
                roots,
                tainted_in_production: tainted,
                // Whether the roots come from the record's own declaration: set by an origin
                // event or an attestation, cleared by a derivation or sync, kept otherwise.
                declares_origin: match action {
                    Action::Generated | Action::Captured | Action::Attested => true,
                    Action::Derived | Action::Synced => false,
                    _ => previous.is_some_and(|s| s.declares_origin),
                },
            };
            batch.insert(keys::keyed(keys::EVENT, &record, index), state.encode());
            overlay.entry(record).or_default().push((index, state));
            let link = Link {
                record: subject.clone(),
                environment: event.environment.clone(),
            }
            .encode();
            if !parents.is_empty() {
                let one = Links::encode(&[(index, link.clone())]);
                for (key, _) in &parents {
                    batch.insert(keys::keyed(keys::CHILD, key, index), one.as_slice());
                }
            }
            if action == Action::Generated
                && let Some(g) = &event.generator
            {
                let key = name_key(keys::GENERATOR_CONTEXT, &g.source);
                groups
                    .entry((keys::GENERATOR, key))
                    .or_default()
                    .push((index, link.clone()));
            }
            let signer = leaf
                .envelope
                .as_ref()
                .map(|e| e.key_id.clone())
                .unwrap_or_default();
            let key = name_key(keys::SIGNER_CONTEXT, &signer);
            groups
                .entry((keys::SIGNER, key))
                .or_default()
                .push((index, link));
            if in_production && roots.has_synthetic() && !was_tainted {
                let alert = ContaminationAlert {
                    id: mark.next_alert,
                    index,
                    record: Some(subject),
                    environment: event.environment.clone(),
                    origin: roots.effective() as i32,
                    action: action as i32,
                    key_id: signer,
                    logged_at: leaf.logged_at,
                    parents: parents.into_iter().map(|(_, p)| p).collect(),
                };
                batch.insert(keys::alert(alert.id), alert.encode_to_vec());
                mark.next_alert += 1;
                alerts.push(alert);
            }
        }
    }
    for (record, states) in &overlay {
        if let Some((index, state)) = states.last() {
            let latest = Latest {
                index: *index,
                state: *state,
            };
            batch.insert(keys::latest(record), latest.encode());
        }
    }
    for ((prefix, key), entries) in groups {
        if let Some((first, _)) = entries.first() {
            batch.insert(keys::keyed(prefix, &key, *first), Links::encode(&entries));
        }
    }
    batch.insert(keys::WATERMARK, mark.encode());
    tree.apply(batch)?;
    Ok((mark, alerts))
}

/// The leaf and its provenance event, when the entry holds one.
pub(crate) fn decode_event(leaf: &[u8]) -> Option<(LogLeaf, ProvenanceEvent)> {
    let leaf = LogLeaf::decode(leaf).ok()?;
    let envelope = leaf.envelope.as_ref()?;
    if envelope.payload_type != EVENT_PAYLOAD_TYPE {
        return None;
    }
    let event = ProvenanceEvent::decode(envelope.payload.as_slice()).ok()?;
    Some((leaf, event))
}

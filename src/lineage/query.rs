//! Lineage queries over the indexes: History, Trace, Descendants and alert listing. Each runs
//! at a fixed tree size `as_of` (already indexed: the caller resolves and waits for it first),
//! walks index ranges below it, and reads only the leaves it returns.

use super::indexer::{decode_event, state_before};
use super::keys::{self, EventState, Link, Links};
use super::{Lineage, LineageError};
use crate::proto::{
    Action, ContaminationAlert, Count, Descendant, DescendantsResponse, EffectiveOrigin,
    HistoryResponse, InclusionProof, LogLeaf, ParentEdge, RecordEvent, RecordRef, TraceNode,
    TraceResponse,
};
use crate::provenance::record::{RecordError, name_key, normalise, record_key};
use crate::store::SignedCheckpoint;
use prost::Message;
use std::collections::{BTreeMap, HashSet, VecDeque};

/// Where a blast radius starts.
#[derive(Debug, Clone)]
pub enum DescendantsFrom {
    Record(RecordRef),
    GeneratorSource(String),
    KeyId(String),
}

/// A Descendants request, with `as_of` resolved.
#[derive(Debug, Clone)]
pub struct DescendantsQuery {
    pub from: DescendantsFrom,
    pub environments: Vec<String>,
    /// Sequencing time window, in seconds and nanos since the epoch: `[since, until)`.
    pub since: Option<crate::timestamp::Timestamp>,
    pub until: Option<crate::timestamp::Timestamp>,
    pub max_depth: u32,
    pub page_size: u32,
    pub page_token: String,
}

fn record_field(path: &str, e: RecordError) -> LineageError {
    LineageError::Invalid(format!("{path}.{}: {}", e.field, e.problem))
}

/// Normalises a request's record, naming the field on error.
pub fn request_record(record: Option<&RecordRef>) -> Result<RecordRef, LineageError> {
    let record = record.ok_or_else(|| LineageError::Invalid("record: required".into()))?;
    normalise(record).map_err(|e| record_field("record", e))
}

fn origin_of(state: Option<EventState>) -> EffectiveOrigin {
    state.map_or(EffectiveOrigin::Unknown, |s| s.roots.effective())
}

impl Lineage {
    /// The checkpoint proofs are made against: the latest, which covers every indexed size.
    fn proof_checkpoint(&self, with_proofs: bool) -> Option<std::sync::Arc<SignedCheckpoint>> {
        with_proofs.then(|| self.store.latest())
    }

    fn read_leaf(&self, index: u64) -> Result<Vec<u8>, LineageError> {
        self.store
            .leaves(index, 1)?
            .pop()
            .ok_or_else(|| LineageError::corrupt("leaf read"))
    }

    /// A record's events below `as_of`, oldest first, at most the configured number; and
    /// whether there were more.
    fn events_of(
        &self,
        record: &[u8; 16],
        as_of: u64,
        proofs_at: Option<&SignedCheckpoint>,
    ) -> Result<(Vec<RecordEvent>, bool), LineageError> {
        let range = keys::keyed(keys::EVENT, record, 0)..keys::keyed(keys::EVENT, record, as_of);
        let mut events = Vec::new();
        for item in self.tree()?.range(range) {
            if events.len() >= self.config.max_history {
                return Ok((events, true));
            }
            let (k, v) = item?;
            let index = keys::index_of(&k).ok_or_else(|| LineageError::corrupt("event key"))?;
            let state =
                EventState::decode(&v).ok_or_else(|| LineageError::corrupt("event state"))?;
            let leaf = self.read_leaf(index)?;
            let (decoded, event) =
                decode_event(&leaf).ok_or_else(|| LineageError::corrupt("indexed leaf"))?;
            let proof = match proofs_at {
                Some(cp) => Some(InclusionProof {
                    leaf_index: index,
                    tree_size: cp.checkpoint.size,
                    hashes: self
                        .store
                        .inclusion_proof(index, cp.checkpoint.size)?
                        .iter()
                        .map(|h| h.to_vec())
                        .collect(),
                }),
                None => None,
            };
            events.push(RecordEvent {
                index,
                leaf: if proofs_at.is_some() {
                    leaf
                } else {
                    Vec::new()
                },
                key_id: decoded
                    .envelope
                    .as_ref()
                    .map(|e| e.key_id.clone())
                    .unwrap_or_default(),
                logged_at: decoded.logged_at,
                event: Some(event),
                origin_after: state.roots.effective() as i32,
                proof,
            });
        }
        Ok((events, false))
    }

    /// History of `record` at `as_of`.
    pub fn history_at(
        &self,
        record: &RecordRef,
        as_of: u64,
        with_proofs: bool,
    ) -> Result<HistoryResponse, LineageError> {
        let key = record_key(record);
        let checkpoint = self.proof_checkpoint(with_proofs);
        let (events, truncated) = self.events_of(&key, as_of, checkpoint.as_deref())?;
        let latest = state_before(self.tree()?, None, &key, as_of)?.map(|(_, s)| s);
        Ok(HistoryResponse {
            tree_size: as_of,
            checkpoint: checkpoint.as_deref().map(SignedCheckpoint::to_proto),
            record: Some(record.clone()),
            origin: origin_of(latest) as i32,
            events,
            truncated,
        })
    }

    /// The ancestry of `record` at `as_of`, breadth-first, each record once.
    pub fn trace_at(
        &self,
        record: &RecordRef,
        max_depth: u32,
        as_of: u64,
        with_proofs: bool,
    ) -> Result<TraceResponse, LineageError> {
        let max_depth = self.depth_bound(max_depth);
        let checkpoint = self.proof_checkpoint(with_proofs);
        let first = record_key(record);
        if state_before(self.tree()?, None, &first, as_of)?.is_none() {
            return Err(not_found(record, as_of));
        }
        let mut seen: HashSet<[u8; 16]> = HashSet::from([first]);
        let mut queue = VecDeque::from([(record.clone(), first, 0u32)]);
        let mut nodes = Vec::new();
        let mut truncated = false;
        while let Some((record, key, depth)) = queue.pop_front() {
            let (events, more) = self.events_of(&key, as_of, checkpoint.as_deref())?;
            truncated |= more;
            let latest = state_before(self.tree()?, None, &key, as_of)?.map(|(_, s)| s);
            let mut parents = Vec::new();
            for e in &events {
                let Some(event) = &e.event else { continue };
                if !matches!(event.action(), Action::Derived | Action::Synced) {
                    continue;
                }
                for p in &event.parents {
                    let Some(parent) = p.record.as_ref().and_then(|r| normalise(r).ok()) else {
                        continue;
                    };
                    let pkey = record_key(&parent);
                    if depth >= max_depth {
                        truncated = true;
                    } else if nodes.len() + queue.len() >= self.config.max_trace_nodes {
                        truncated |= !seen.contains(&pkey);
                    } else if seen.insert(pkey) {
                        queue.push_back((parent.clone(), pkey, depth + 1));
                    }
                    parents.push(ParentEdge {
                        parent: Some(parent),
                        child_index: e.index,
                        pinned_index: p.leaf_index,
                    });
                }
            }
            nodes.push(TraceNode {
                record: Some(record),
                depth,
                origin: origin_of(latest) as i32,
                root: latest.is_some_and(|s| s.declares_origin),
                events,
                parents,
            });
        }
        Ok(TraceResponse {
            tree_size: as_of,
            checkpoint: checkpoint.as_deref().map(SignedCheckpoint::to_proto),
            nodes,
            truncated,
        })
    }

    fn depth_bound(&self, requested: u32) -> u32 {
        if requested == 0 {
            self.config.max_depth
        } else {
            requested.min(self.config.max_depth)
        }
    }

    /// Links under `prefix ‖ key` below `as_of`, in log order.
    fn links(
        &self,
        prefix: u8,
        key: &[u8; 16],
        as_of: u64,
    ) -> Result<impl Iterator<Item = Result<(u64, Link), LineageError>> + '_, LineageError> {
        Ok(self
            .tree()?
            .range(keys::keyed(prefix, key, 0)..keys::keyed(prefix, key, as_of))
            .flat_map(move |item| {
                let group = item.map_err(LineageError::from).and_then(|(_, v)| {
                    Links::decode(&v).ok_or_else(|| LineageError::corrupt("links"))
                });
                match group {
                    Ok(entries) => entries
                        .into_iter()
                        .filter(|(index, _)| *index < as_of)
                        .map(Ok)
                        .collect::<Vec<_>>(),
                    Err(e) => vec![Err(e)],
                }
            }))
    }

    /// The blast radius at `as_of`.
    pub fn descendants_at(
        &self,
        q: &DescendantsQuery,
        as_of: u64,
    ) -> Result<DescendantsResponse, LineageError> {
        let (token_as_of, offset) = parse_token(&q.page_token)?;
        let as_of = token_as_of.unwrap_or(as_of);
        let max_depth = self.depth_bound(q.max_depth);
        let mut found: Vec<Descendant> = Vec::new();
        let mut keys_of: Vec<[u8; 16]> = Vec::new();
        let mut seen: HashSet<[u8; 16]> = HashSet::new();
        let mut truncated = false;
        let mut start = |index: u64, link: Link, found: &mut Vec<Descendant>| {
            let key = record_key(&link.record);
            if seen.insert(key) {
                keys_of.push(key);
                found.push(Descendant {
                    record: Some(link.record),
                    depth: 0,
                    index,
                    environment: link.environment,
                    origin: 0,
                });
            }
        };
        match &q.from {
            DescendantsFrom::Record(r) => {
                let key = record_key(r);
                let range =
                    keys::keyed(keys::EVENT, &key, 0)..keys::keyed(keys::EVENT, &key, as_of);
                let Some(first) = self.tree()?.range(range).next() else {
                    return Err(not_found(r, as_of));
                };
                let index =
                    keys::index_of(&first?.0).ok_or_else(|| LineageError::corrupt("event key"))?;
                let (_, event) = decode_event(&self.read_leaf(index)?)
                    .ok_or_else(|| LineageError::corrupt("indexed leaf"))?;
                let link = Link {
                    record: r.clone(),
                    environment: event.environment,
                };
                start(index, link, &mut found);
            }
            DescendantsFrom::GeneratorSource(source) => {
                let key = name_key(keys::GENERATOR_CONTEXT, source);
                for item in self.links(keys::GENERATOR, &key, as_of)? {
                    let (index, link) = item?;
                    start(index, link, &mut found);
                }
            }
            DescendantsFrom::KeyId(name) => {
                let key = name_key(keys::SIGNER_CONTEXT, name);
                for item in self.links(keys::SIGNER, &key, as_of)? {
                    let (index, link) = item?;
                    start(index, link, &mut found);
                }
            }
        }
        let mut next = 0;
        while next < found.len() {
            let (key, depth) = (keys_of[next], found[next].depth);
            next += 1;
            for item in self.links(keys::CHILD, &key, as_of)? {
                let (index, link) = item?;
                let child = record_key(&link.record);
                if seen.contains(&child) {
                    continue;
                }
                if depth >= max_depth || found.len() >= self.config.max_descendants {
                    truncated = true;
                    break;
                }
                seen.insert(child);
                keys_of.push(child);
                found.push(Descendant {
                    record: Some(link.record),
                    depth: depth + 1,
                    index,
                    environment: link.environment,
                    origin: 0,
                });
            }
        }
        let window = self.index_window(q.since.as_ref(), q.until.as_ref(), as_of)?;
        let envs: Vec<&str> = q.environments.iter().map(|e| e.trim()).collect();
        let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
        let mut by_env: BTreeMap<String, u64> = BTreeMap::new();
        let kept: Vec<(Descendant, [u8; 16])> = found
            .into_iter()
            .zip(keys_of)
            .filter(|(d, _)| window.contains(&d.index))
            .filter(|(d, _)| envs.is_empty() || envs.contains(&d.environment.as_str()))
            .inspect(|(d, _)| {
                let object_type = d.record.as_ref().map(|r| r.object_type.clone());
                *by_type.entry(object_type.unwrap_or_default()).or_default() += 1;
                *by_env.entry(d.environment.clone()).or_default() += 1;
            })
            .collect();
        let page = self.page_size(q.page_size);
        let total = kept.len() as u64;
        let mut records = Vec::new();
        for (mut d, key) in kept.into_iter().skip(offset).take(page) {
            let latest = state_before(self.tree()?, None, &key, as_of)?.map(|(_, s)| s);
            d.origin = origin_of(latest) as i32;
            records.push(d);
        }
        let end = offset + records.len();
        let counts = |m: BTreeMap<String, u64>| {
            m.into_iter()
                .map(|(key, count)| Count { key, count })
                .collect()
        };
        Ok(DescendantsResponse {
            tree_size: as_of,
            records,
            next_page_token: if (end as u64) < total {
                format!("{as_of}:{end}")
            } else {
                String::new()
            },
            total,
            by_object_type: counts(by_type),
            by_environment: counts(by_env),
            truncated,
        })
    }

    fn page_size(&self, requested: u32) -> usize {
        match requested as usize {
            0 => self.config.default_page,
            n => n.min(self.config.max_page),
        }
    }

    /// The entries sequenced in `[since, until)`, as an index range below `as_of`: the log's
    /// sequencing times never decrease, so each bound is a binary search over leaves.
    fn index_window(
        &self,
        since: Option<&crate::timestamp::Timestamp>,
        until: Option<&crate::timestamp::Timestamp>,
        as_of: u64,
    ) -> Result<std::ops::Range<u64>, LineageError> {
        let lo = match since {
            Some(t) => self.first_at_or_after(t, as_of)?,
            None => 0,
        };
        let hi = match until {
            Some(t) => self.first_at_or_after(t, as_of)?,
            None => as_of,
        };
        Ok(lo..hi.max(lo))
    }

    fn first_at_or_after(
        &self,
        t: &crate::timestamp::Timestamp,
        as_of: u64,
    ) -> Result<u64, LineageError> {
        let (mut lo, mut hi) = (0, as_of);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let leaf = LogLeaf::decode(self.read_leaf(mid)?.as_slice())
                .map_err(|_| LineageError::corrupt("leaf"))?;
            let at = leaf.logged_at.unwrap_or_default();
            if (at.seconds, at.nanos) < (t.seconds, t.nanos) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Alerts from `from_id`, at most `page_size` (0 = the default page).
    pub fn alerts_from(
        &self,
        from_id: u64,
        page_size: u32,
    ) -> Result<Vec<ContaminationAlert>, LineageError> {
        let page = self.page_size(page_size);
        let mut alerts = Vec::new();
        for item in self
            .tree()?
            .range(keys::alert(from_id.max(1))..keys::alert(u64::MAX))
            .take(page)
        {
            let (_, v) = item?;
            alerts.push(
                ContaminationAlert::decode(v.as_ref())
                    .map_err(|_| LineageError::corrupt("alert"))?,
            );
        }
        Ok(alerts)
    }
}

fn not_found(record: &RecordRef, as_of: u64) -> LineageError {
    LineageError::NotFound(format!(
        "record: no event about {}/{}/{}/{} in the log at tree size {as_of}",
        record.system, record.tenant, record.object_type, record.record_id
    ))
}

/// `"<as_of>:<offset>"`, or empty for the first page.
fn parse_token(token: &str) -> Result<(Option<u64>, usize), LineageError> {
    if token.is_empty() {
        return Ok((None, 0));
    }
    let bad = || {
        LineageError::Invalid(format!(
            "page_token: {token:?} is not a token this server issued"
        ))
    };
    let (as_of, offset) = token.split_once(':').ok_or_else(bad)?;
    Ok((
        Some(as_of.parse().map_err(|_| bad())?),
        offset.parse().map_err(|_| bad())?,
    ))
}

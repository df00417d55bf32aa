//! The checks after a restart, against the restarted server:
//!
//! (a) every acknowledged event is at its acknowledged index with identical bytes: the whole log
//!     is read back with `GetEntries` and each acknowledged entry's leaf hash and envelope are
//!     compared with what was acknowledged and sent;
//! (c) the new checkpoint is consistent with the checkpoints handed out: each one first seen in
//!     this cycle, and the previous restart's, is proved consistent with it (consistency is
//!     transitive, so every earlier one is covered through the previous restart's); on the last
//!     cycle every checkpoint ever handed out is proved against the final one directly;
//! and resending a sample of this cycle's acknowledged events is answered as a duplicate at the
//! original index (the hash indexes came back from the crash).
//!
//! (b), the offline audit, runs before the restart: see `main`.

use crate::held::{Held, envelope_digest};
use crate::load::lock;
use crate::rng::Rng;
use anyhow::{Context, Result, anyhow};
use futures::StreamExt;
use prost::Message;
use provledger::api::MAX_ENTRIES_PER_REQUEST;
use provledger::checkpoint::Checkpoint;
use provledger::client::check_consistency;
use provledger::envelope::EVENT_PAYLOAD_TYPE;
use provledger::merkle::{Blake3, TreeHasher};
use provledger::proto::log_service_client::LogServiceClient;
use provledger::proto::{
    AppendRequest, GetCheckpointRequest, GetEntriesRequest, LogLeaf, SignedEvent,
};
use std::collections::BTreeSet;
use std::sync::Mutex;
use tonic::transport::Channel;

/// Requests in flight at once while reading entries or proofs.
const CONCURRENCY: usize = 8;
/// Acknowledged events of a cycle resent after its restart.
const RESENT: usize = 16;

/// What one restart's checks found.
#[derive(Debug, Default)]
pub struct Findings {
    /// Acknowledged indexes not found with their acknowledged bytes.
    pub lost: BTreeSet<u64>,
    pub inconsistent: u64,
    pub proofs_checked: u64,
    pub log_size: u64,
    /// The first few problems, for the report.
    pub problems: Vec<String>,
}

impl Findings {
    fn lost(&mut self, index: u64, what: String) {
        self.lost.insert(index);
        self.note(what);
    }

    fn inconsistent(&mut self, what: String) {
        self.inconsistent += 1;
        self.note(what);
    }

    fn note(&mut self, what: String) {
        if self.problems.len() < 20 {
            self.problems.push(what);
        }
    }
}

/// Runs the checks against the server at `url`, which must be the restarted one.
pub async fn after_restart(
    url: &str,
    held: &Mutex<Held>,
    previous_restart: Option<u64>,
    last_cycle: bool,
    rng: &mut Rng,
) -> Result<(Findings, Checkpoint)> {
    let mut client = LogServiceClient::connect(url.to_string())
        .await
        .context("connecting to the restarted server")?;
    let mut findings = Findings::default();
    let latest = client
        .get_checkpoint(GetCheckpointRequest { size: 0 })
        .await
        .context("GetCheckpoint")?
        .into_inner();
    let new = lock(held)
        .checkpoint_message(&latest)
        .ok_or_else(|| anyhow!("the restarted server's checkpoint does not verify"))?;
    findings.log_size = new.size;
    compare_entries(&client, held, new.size, &mut findings).await?;
    check_checkpoints(
        &client,
        held,
        &new,
        previous_restart,
        last_cycle,
        &mut findings,
    )
    .await;
    resend_some(&mut client, held, rng, &mut findings).await;
    let mut held = lock(held);
    for conflict in std::mem::take(&mut held.conflicts) {
        findings.inconsistent(conflict);
    }
    held.new_this_cycle.clear();
    held.recent.clear();
    Ok((findings, new))
}

/// (a): reads the log back and compares every acknowledged entry.
async fn compare_entries(
    client: &LogServiceClient<Channel>,
    held: &Mutex<Held>,
    size: u64,
    findings: &mut Findings,
) -> Result<()> {
    let acks = lock(held).acks.clone();
    let mut matched = BTreeSet::new();
    let pages = (0..size)
        .step_by(MAX_ENTRIES_PER_REQUEST as usize)
        .map(|start| {
            let mut client = client.clone();
            async move {
                let count = MAX_ENTRIES_PER_REQUEST.min(size - start);
                client
                    .get_entries(GetEntriesRequest { start, count })
                    .await
                    .map(|r| r.into_inner().entries)
            }
        });
    let mut pages = futures::stream::iter(pages).buffered(CONCURRENCY);
    while let Some(page) = pages.next().await {
        for entry in page.context("GetEntries")? {
            let Some(ack) = acks.get(&entry.index) else {
                continue;
            };
            if Blake3::hash_leaf(&entry.leaf) != ack.leaf_hash {
                findings.lost(
                    entry.index,
                    format!(
                        "index {}: the stored leaf's hash differs from the acknowledged one",
                        entry.index
                    ),
                );
                continue;
            }
            let same = LogLeaf::decode(entry.leaf.as_slice())
                .ok()
                .and_then(|leaf| leaf.envelope)
                .is_some_and(|envelope| envelope_digest(&envelope) == ack.envelope);
            if same {
                matched.insert(entry.index);
            } else {
                findings.lost(
                    entry.index,
                    format!(
                        "index {}: the stored envelope differs from the one sent",
                        entry.index
                    ),
                );
            }
        }
    }
    for &index in acks.keys() {
        if !matched.contains(&index) && !findings.lost.contains(&index) {
            findings.lost(
                index,
                format!("acknowledged index {index} is not in the restarted log (size {size})"),
            );
        }
    }
    Ok(())
}

/// (c): consistency proofs from held checkpoints to the new one.
async fn check_checkpoints(
    client: &LogServiceClient<Channel>,
    held: &Mutex<Held>,
    new: &Checkpoint,
    previous_restart: Option<u64>,
    last_cycle: bool,
    findings: &mut Findings,
) {
    let olds: Vec<Checkpoint> = {
        let held = lock(held);
        held.checkpoints
            .values()
            .filter(|c| {
                last_cycle
                    || held.new_this_cycle.contains(&c.size)
                    || Some(c.size) == previous_restart
            })
            .cloned()
            .collect()
    };
    let checks = olds.into_iter().map(|old| {
        let mut client = client.clone();
        let new = new.clone();
        async move {
            if old.size > new.size {
                return Err(format!(
                    "a checkpoint for size {} was handed out, but the restarted log has size {}",
                    old.size, new.size
                ));
            }
            check_consistency(&mut client, &old, &new)
                .await
                .map(|_| ())
                .map_err(|e| format!("size {} to {}: {e}", old.size, new.size))
        }
    });
    let mut checks = futures::stream::iter(checks).buffer_unordered(CONCURRENCY);
    while let Some(result) = checks.next().await {
        findings.proofs_checked += 1;
        if let Err(e) = result {
            findings.inconsistent(e);
        }
    }
}

/// Resends some of this cycle's acknowledged events: each must come back a duplicate at its
/// original index.
async fn resend_some(
    client: &mut LogServiceClient<Channel>,
    held: &Mutex<Held>,
    rng: &mut Rng,
    findings: &mut Findings,
) {
    // Events only: a resent key registration is refused by admission ("already registered")
    // before the duplicate check is reached, a known gap unrelated to crashes.
    let recent: Vec<(u64, SignedEvent)> = lock(held)
        .recent
        .iter()
        .filter(|(_, envelope)| envelope.payload_type == EVENT_PAYLOAD_TYPE)
        .cloned()
        .collect();
    if recent.is_empty() {
        return;
    }
    // The newest ones are the likeliest to have been only in the hash indexes' unsynced part.
    let mut picks: Vec<usize> = (recent.len().saturating_sub(RESENT / 2)..recent.len()).collect();
    for _ in 0..RESENT / 2 {
        picks.push(rng.between(0, recent.len() as u64 - 1) as usize);
    }
    for i in picks {
        let (index, envelope) = &recent[i];
        let answer = client
            .append(AppendRequest {
                event: Some(envelope.clone()),
            })
            .await;
        match answer {
            Ok(response) => {
                let response = response.into_inner();
                if lock(held).verified_receipt(&response).is_none() {
                    continue;
                }
                if !response.duplicate || response.index != *index {
                    findings.inconsistent(format!(
                        "resending the event acknowledged at {index} answered index {} (duplicate: {})",
                        response.index, response.duplicate
                    ));
                }
            }
            Err(status) => findings.inconsistent(format!(
                "resending the event acknowledged at {index}: {status}"
            )),
        }
    }
}

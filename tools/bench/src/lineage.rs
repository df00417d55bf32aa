//! Lineage queries: a log holding a generator's `records` synthetic Leads and a chain of
//! Contacts, each derived from the previous one and one of the Leads, `depth` deep. The key is
//! registered through the ledger; the events (signed, valid) are appended through the library in
//! big batches; the ledger is then started until its lineage indexes cover them. Queries go
//! through gRPC: Trace of the chain's last Contact at the chain's depth, and Descendants of the
//! generator (every Lead and Contact).

use crate::ingest::Run;
use anyhow::{Result, bail};
use prost::Message;
use provledger::datadir::DataDir;
use provledger::envelope::{EVENT_PAYLOAD_TYPE, sign};
use provledger::ledger::{LedgerConfig, key_action_envelope};
use provledger::note::NoteSigner;
use provledger::proto::lineage_service_client::LineageServiceClient;
use provledger::proto::{
    Action, DescendantsRequest, Generator, KeyRegistration, LogLeaf, Origin, Parent,
    ProvenanceEvent, RecordRef, Role, TraceRequest, descendants_request, key_action,
};
use provledger::provenance::rules::TRAINED_ALGORITHMIC_DATA;
use provledger::store::LogStore;
use std::path::Path;
use std::time::{Duration, Instant};

pub const GENERATOR_SOURCE: &str = "bench-lead-gen";

fn record(object_type: &str, id: String) -> RecordRef {
    RecordRef {
        system: "salesforce".into(),
        tenant: "00D5g000004ABCDEA4".into(),
        object_type: object_type.into(),
        record_id: id,
    }
}

fn lead(i: u64) -> RecordRef {
    record("Lead", format!("00Q5g{i:010}"))
}

/// The chain's Contact `i`.
pub fn contact(i: u64) -> RecordRef {
    record("Contact", format!("0035g{i:010}"))
}

/// Builds the lineage log in `data`; returns (entries, seconds to load and index).
pub fn load(data: &Path, records: u64, depth: u64) -> Result<(u64, f64)> {
    let start = Instant::now();
    let dir = DataDir::new(data);
    dir.init("bench.provledger/lineage")?;
    let generator = NoteSigner::generate("bench-lineage-gen.example/v3")?;
    let sync = NoteSigner::generate("bench-lineage-sync.example")?;
    register_keys(
        &dir,
        &[(&generator, Role::Generator), (&sync, Role::SyncJob)],
    )?;
    let store = LogStore::<provledger::merkle::Blake3>::open(
        &dir.store(),
        Some(provledger::keyfile::read(&dir.log_key())?),
    )?;
    let logged_at = Some(provledger::timestamp::now());
    let leaf = |signer: &NoteSigner, event: &ProvenanceEvent| {
        LogLeaf {
            envelope: Some(sign(signer, EVENT_PAYLOAD_TYPE, event.encode_to_vec())),
            logged_at,
        }
        .encode_to_vec()
    };
    let mut batch = Vec::new();
    for i in 0..records {
        let event = ProvenanceEvent {
            subject: Some(lead(i)),
            action: Action::Generated as i32,
            origin: Origin::Synthetic as i32,
            environment: "sandbox".into(),
            content_hash: blake3::hash(&i.to_be_bytes()).as_bytes().to_vec(),
            generator: Some(Generator {
                source: GENERATOR_SOURCE.into(),
                model: "crm-gen".into(),
                model_version: "3.2.1".into(),
                run_id: "bench".into(),
            }),
            digital_source_type: TRAINED_ALGORITHMIC_DATA.into(),
            ..Default::default()
        };
        batch.push(leaf(&generator, &event));
        if batch.len() == 10_000 {
            store.append(&batch)?;
            batch.clear();
        }
    }
    for c in 0..depth {
        let mut parents = vec![Parent {
            record: Some(lead(c % records.max(1))),
            leaf_index: None,
        }];
        if c > 0 {
            parents.push(Parent {
                record: Some(contact(c - 1)),
                leaf_index: None,
            });
        }
        let event = ProvenanceEvent {
            subject: Some(contact(c)),
            action: Action::Derived as i32,
            parents,
            environment: "production".into(),
            content_hash: blake3::hash(&c.to_le_bytes()).as_bytes().to_vec(),
            ..Default::default()
        };
        batch.push(leaf(&sync, &event));
    }
    store.append(&batch)?;
    let size = store.size();
    drop(store);
    index_fully(&dir, size)?;
    Ok((size, start.elapsed().as_secs_f64()))
}

/// Registers `keys` through the ledger, signed by the data directory's admin key.
pub fn register_keys(dir: &DataDir, keys: &[(&NoteSigner, Role)]) -> Result<()> {
    let admin = provledger::keyfile::read(&dir.admin_key())?;
    let ledger = dir.open_ledger(LedgerConfig::default())?;
    for (key, role) in keys {
        let action = key_action::Action::Register(KeyRegistration {
            vkey: key.verifier().to_vkey(),
            role: *role as i32,
            ..Default::default()
        });
        ledger
            .append_blocking(Some(key_action_envelope(&admin, action)))
            .map_err(|e| anyhow::anyhow!("registering a key: {e}"))?;
    }
    ledger.shutdown();
    Ok(())
}

/// Starts the ledger on `dir` until its hash and lineage indexes cover `size` entries, so a
/// later start measures a restart, not a first indexing.
pub fn index_fully(dir: &DataDir, size: u64) -> Result<()> {
    let ledger = dir.open_ledger(LedgerConfig::default())?;
    // Big logs take longer than one wait bound: keep waiting while the indexer progresses.
    loop {
        let before = ledger.lineage().indexed();
        match ledger.lineage().wait_for_blocking(size) {
            Ok(_) => break,
            Err(e) if ledger.lineage().indexed() == before => return Err(e.into()),
            Err(_) => continue,
        }
    }
    ledger.shutdown();
    // Let the kernel write back what loading left dirty, so the restart that follows measures
    // the server, not the page cache's backlog.
    let _ = std::process::Command::new("sync").status();
    Ok(())
}

pub async fn client(url: &str) -> Result<LineageServiceClient<tonic::transport::Channel>> {
    Ok(LineageServiceClient::connect(url.to_string())
        .await?
        .max_decoding_message_size(64 << 20))
}

/// A query's latency on its first call after the server starts (its tables not yet read) and
/// on the calls after it.
pub struct Timed {
    pub first: Duration,
    pub then: Run,
}

impl Timed {
    fn from(mut latencies: Vec<Duration>, seconds: f64) -> Result<Self> {
        if latencies.len() < 2 {
            bail!("a timed query needs at least two calls");
        }
        let first = latencies.remove(0);
        Ok(Timed {
            first,
            then: Run {
                events: latencies.len() as u64,
                seconds: seconds - first.as_secs_f64(),
                latencies,
            },
        })
    }
}

/// `1 + calls` sequential Trace calls of the chain's last Contact at depth `depth`.
pub async fn trace(url: &str, depth: u64, calls: usize) -> Result<Timed> {
    let mut c = client(url).await?;
    let start = Instant::now();
    let mut latencies = Vec::new();
    for _ in 0..=calls {
        let t = Instant::now();
        let answer = c
            .trace(TraceRequest {
                record: Some(contact(depth - 1)),
                max_depth: depth as u32,
                ..Default::default()
            })
            .await?
            .into_inner();
        latencies.push(t.elapsed());
        // The chain's Contacts plus one Lead per Contact.
        if answer.nodes.len() as u64 != 2 * depth {
            bail!(
                "trace returned {} nodes, expected {}",
                answer.nodes.len(),
                2 * depth
            );
        }
    }
    Timed::from(latencies, start.elapsed().as_secs_f64())
}

/// `1 + calls` sequential Descendants calls of the generator (first page; counts cover all).
pub async fn descendants(url: &str, expected: u64, calls: usize) -> Result<Timed> {
    let mut c = client(url).await?;
    let start = Instant::now();
    let mut latencies = Vec::new();
    for _ in 0..=calls {
        let t = Instant::now();
        let answer = c
            .descendants(DescendantsRequest {
                from: Some(descendants_request::From::GeneratorSource(
                    GENERATOR_SOURCE.into(),
                )),
                ..Default::default()
            })
            .await?
            .into_inner();
        latencies.push(t.elapsed());
        if answer.total != expected {
            bail!("descendants total {} , expected {expected}", answer.total);
        }
    }
    Timed::from(latencies, start.elapsed().as_secs_f64())
}

/// Time until the lineage indexes cover `size` (a ListAlerts that waits for it).
pub async fn catch_up(url: &str, size: u64) -> Result<Duration> {
    let mut c = client(url).await?;
    let t = Instant::now();
    c.list_alerts(provledger::proto::ListAlertsRequest {
        min_tree_size: size,
        page_size: 1,
        ..Default::default()
    })
    .await?;
    Ok(t.elapsed())
}

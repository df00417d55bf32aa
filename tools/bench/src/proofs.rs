//! Big logs and proof queries: the loader builds a log directly through the library (the
//! queries then go through gRPC), and closed-loop clients ask for random proofs — or, as the
//! floor they are measured against, for the latest checkpoint, which the server answers from
//! memory: what gRPC itself costs on this machine.

use crate::events;
use crate::ingest::{Run, client};
use anyhow::Result;
use prost::Message;
use provledger::datadir::DataDir;
use provledger::envelope::{EVENT_PAYLOAD_TYPE, sign};
use provledger::keyfile;
use provledger::note::NoteSigner;
use provledger::proto::{
    GetCheckpointRequest, GetConsistencyProofRequest, GetInclusionProofRequest, LogLeaf, Role,
};
use provledger::store::LogStore;
use std::path::Path;
use std::time::{Duration, Instant};

/// Grows the log in `data` (initialising it and registering `keys` if needed) to `size`
/// entries: distinct events (`events::event(i)` for entry `i`), signed round robin by `keys`
/// on every core, each wrapped in a `LogLeaf` with a non-decreasing sequencing time, appended
/// through the library 10,000 at a time. The ledger is then started until its hash and lineage
/// indexes cover the log. Returns the seconds spent.
pub fn load(data: &Path, size: u64, keys: &[NoteSigner]) -> Result<f64> {
    let start = Instant::now();
    let dir = DataDir::new(data);
    if !dir.is_initialised() {
        dir.init("bench.provledger/log")?;
        let keys: Vec<_> = keys.iter().map(|k| (k, Role::Generator)).collect();
        crate::lineage::register_keys(&dir, &keys)?;
    }
    let store = LogStore::<provledger::merkle::Blake3>::open(
        &dir.store(),
        Some(keyfile::read(&dir.log_key())?),
    )?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let mut next = store.size();
    while next < size {
        let end = (next + 10_000).min(size);
        let logged_at = Some(provledger::timestamp::now());
        let per = (end - next).div_ceil(threads);
        let leaves: Vec<Vec<u8>> = std::thread::scope(|s| {
            let parts: Vec<_> = (0..threads)
                .map(|t| {
                    let (from, to) = ((next + t * per).min(end), (next + (t + 1) * per).min(end));
                    s.spawn(move || {
                        (from..to)
                            .map(|i| {
                                let key = &keys[(i as usize) % keys.len()];
                                let payload = events::event(i).encode_to_vec();
                                LogLeaf {
                                    envelope: Some(sign(key, EVENT_PAYLOAD_TYPE, payload)),
                                    logged_at,
                                }
                                .encode_to_vec()
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            parts
                .into_iter()
                .flat_map(|p| p.join().unwrap_or_default())
                .collect()
        });
        if leaves.len() as u64 != end - next {
            anyhow::bail!("a signing thread failed");
        }
        store.append(&leaves)?;
        next = end;
    }
    drop(store);
    crate::lineage::index_fully(&dir, size)?;
    Ok(start.elapsed().as_secs_f64())
}

/// Bytes under `path`.
pub fn disk_bytes(path: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            disk_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// A small deterministic generator (SplitMix64).
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[derive(Clone, Copy)]
pub enum ProofKind {
    Inclusion,
    Consistency,
    /// The latest checkpoint, held in the server's memory: no storage read, no proof work.
    Floor,
}

/// How the proof clients reach the server: `clients` closed-loop callers sharing
/// `connections` HTTP/2 connections round robin (one each when equal).
#[derive(Clone, Copy, Debug)]
pub struct Callers {
    pub clients: usize,
    pub connections: usize,
}

/// [`query`] for one server and span, blocking on `rt`: call it once per proof kind.
pub fn asker<'a>(
    rt: &'a tokio::runtime::Runtime,
    url: String,
    size: u64,
    callers: Callers,
    duration: Duration,
) -> impl Fn(ProofKind) -> Result<Run> + 'a {
    move |kind| rt.block_on(query(&url, size, kind, callers, duration))
}

/// Closed-loop callers asking random proofs against a log of `size` for `duration`.
pub async fn query(
    url: &str,
    size: u64,
    kind: ProofKind,
    callers: Callers,
    duration: Duration,
) -> Result<Run> {
    let mut connections = Vec::new();
    for _ in 0..callers.connections.max(1) {
        connections.push(client(url).await?);
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..callers.clients {
        let mut cl = connections[c % connections.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = SplitMix(c as u64 + 1);
            let mut lat = Vec::new();
            while start.elapsed() < duration {
                let x = rng.next() % size;
                let t = Instant::now();
                match kind {
                    ProofKind::Inclusion => {
                        cl.get_inclusion_proof(GetInclusionProofRequest {
                            leaf_index: x,
                            tree_size: size,
                            leaf_hash: vec![],
                        })
                        .await?;
                    }
                    ProofKind::Consistency => {
                        cl.get_consistency_proof(GetConsistencyProofRequest {
                            first_size: x.max(1),
                            second_size: size,
                        })
                        .await?;
                    }
                    ProofKind::Floor => {
                        cl.get_checkpoint(GetCheckpointRequest { size: 0 }).await?;
                    }
                }
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    Ok(Run {
        events: latencies.len() as u64,
        seconds: start.elapsed().as_secs_f64(),
        latencies,
    })
}

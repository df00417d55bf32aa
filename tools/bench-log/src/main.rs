//! Benchmark of the log core (no network): durable appends and proof generation on a sled store,
//! each next to a baseline measured in the same run.
//!
//! - Appends: leaves/s of `LogStore::append` (one atomic batch per call, durable in the store's
//!   journal), against the naive layout on the same sled — one key per leaf, same batches, each
//!   made durable by sled's flush and an fsync — and
//!   against rs_merkle's in-memory `MerkleTree` (append + commit per batch) at growing sizes.
//! - Proofs: inclusion and consistency proofs/s read from the store, against the same proof code
//!   over an in-memory tree (no storage at all).
//! - Memory: peak and current RSS at each size step, to show it does not grow with the log.
//! - The lineage database's engine: random-key inserts and reads on sled and on the LSM tree
//!   lineage uses ([`lineage_kv`]).
//!
//! Run: `cargo run --release -p provledger-bench-log -- [--leaves N] [--batch B] [--quick]`.

mod lineage_kv;

use anyhow::{Context, Result};
use clap::Parser;
use provledger::merkle::{
    Blake3, Hash, MemoryTree, RsMerkleBlake3, TreeHasher, consistency_proof, inclusion_proof,
    verify_inclusion,
};
use provledger::note::NoteSigner;
use provledger::store::LogStore;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "Benchmark the provledger log core: durable appends and proofs")]
struct Args {
    /// Leaves to append in all.
    #[arg(long, default_value_t = 1_000_000)]
    leaves: u64,
    /// Leaves per append (one durable batch each).
    #[arg(long, default_value_t = 1000)]
    batch: u64,
    /// Bytes per leaf (about the size of a signed provenance event).
    #[arg(long, default_value_t = 400)]
    leaf_bytes: usize,
    /// Proof queries per measurement.
    #[arg(long, default_value_t = 20_000)]
    queries: u64,
    /// Random keys for the lineage engine comparison.
    #[arg(long, default_value_t = 1_000_000)]
    kv_keys: u64,
    /// A small run (50,000 leaves) that finishes in seconds, to check the tool works.
    #[arg(long)]
    quick: bool,
    /// Internal: run one engine of the lineage comparison in this process.
    #[arg(long, hide = true)]
    kv_child: Option<String>,
}

fn main() -> Result<()> {
    let mut args = Args::parse();
    if let Some(engine) = &args.kv_child {
        return lineage_kv::child(engine, args.kv_keys);
    }
    if args.quick {
        args.leaves = 50_000;
        args.queries = 2_000;
        args.kv_keys = 30_000;
    }
    println!(
        "# provledger log core benchmark: {} leaves of {} bytes, {} per durable batch",
        args.leaves, args.leaf_bytes, args.batch
    );
    println!(
        "machine: {} cores\n",
        std::thread::available_parallelism()?.get()
    );

    let dir = tempfile::tempdir()?;
    let signer = NoteSigner::generate("bench.provledger/log")?;
    let store =
        LogStore::<Blake3>::create(&dir.path().join("log"), "bench.provledger/log", signer)?;

    println!(
        "## Appends (durable per batch: provledger's journal record + fdatasync; the naive layout's sled flush + fsync)\n"
    );
    // Ours first and alone, so the RSS column is the store's own; the naive layout after.
    let steps = 10;
    let per_step = (args.leaves / steps).max(args.batch);
    let mut ours = Vec::new();
    let mut next = 0u64;
    while next < args.leaves {
        let step_end = (next + per_step).min(args.leaves);
        let mut spent = Duration::ZERO;
        while next < step_end {
            let end = (next + args.batch).min(step_end);
            let leaves: Vec<Vec<u8>> = (next..end).map(|i| make_leaf(i, args.leaf_bytes)).collect();
            let t = Instant::now();
            store.append(&leaves)?;
            spent += t.elapsed();
            next = end;
        }
        let (rss, peak) = rss_mib()?;
        ours.push((next, spent, rss, peak));
    }
    let naive = sled::Config::new()
        .path(dir.path().join("naive"))
        .cache_capacity(provledger::store::CACHE_CAPACITY)
        .open()?;
    let naive_file = std::fs::File::open(dir.path().join("naive").join("db"))?;
    println!(
        "| log size | provledger leaves/s | naive key-per-leaf leaves/s | ratio | provledger RSS MiB | peak RSS MiB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut next = 0u64;
    for &(size, spent_ours, rss, peak) in &ours {
        let mut spent = Duration::ZERO;
        let from = next;
        while next < size {
            let end = (next + args.batch).min(size);
            let leaves: Vec<Vec<u8>> = (next..end).map(|i| make_leaf(i, args.leaf_bytes)).collect();
            let t = Instant::now();
            let mut batch = sled::Batch::default();
            for (i, leaf) in (next..end).zip(&leaves) {
                batch.insert(&i.to_be_bytes(), leaf.as_slice());
            }
            naive.apply_batch(batch)?;
            naive.flush()?;
            naive_file.sync_all()?;
            spent += t.elapsed();
            next = end;
        }
        let n = (size - from) as f64;
        let (a, b) = (n / spent_ours.as_secs_f64(), n / spent.as_secs_f64());
        println!(
            "| {size} | {a:.0} | {b:.0} | {:.2} | {rss:.0} | {peak:.0} |",
            a / b
        );
    }
    drop(naive);

    // The ledger adds two index entries per event (envelope id and leaf hash, both random
    // 32-byte keys) in the same batch: what do they cost against the bare log?
    println!("\n## Per-event index entries (the ledger's duplicate and leaf-hash indexes)\n");
    let indexed_dir = dir.path().join("indexed");
    let indexed = LogStore::<Blake3>::create(
        &indexed_dir,
        "bench.provledger/log",
        NoteSigner::generate("bench.provledger/log")?,
    )?;
    // Same leaves, same batches as the bare log's first size step.
    let sample = ours.first().map(|s| s.0).unwrap_or(args.batch);
    let mut spent = Duration::ZERO;
    let mut next = 0u64;
    while next < sample {
        let end = (next + args.batch).min(sample);
        let leaves: Vec<Vec<u8>> = (next..end).map(|i| make_leaf(i, args.leaf_bytes)).collect();
        let t = Instant::now();
        let mut index = Vec::with_capacity(2 * leaves.len());
        for (i, leaf) in (next..end).zip(&leaves) {
            let id = blake3::hash(leaf);
            let mut k = vec![b'd'];
            k.extend_from_slice(id.as_bytes());
            index.push((k, i.to_be_bytes().to_vec()));
            let mut k = vec![b'h'];
            k.extend_from_slice(&Blake3::hash_leaf(leaf));
            index.push((k, i.to_be_bytes().to_vec()));
        }
        indexed.append_with_index(&leaves, index)?;
        spent += t.elapsed();
        next = end;
    }
    let with_index = sample as f64 / spent.as_secs_f64();
    let bare = ours
        .first()
        .map(|&(size, spent, _, _)| size as f64 / spent.as_secs_f64())
        .unwrap_or(0.0);
    println!("| first {sample} leaves | leaves/s | ratio to the bare log's first step |");
    println!("|---|---:|---:|");
    println!("| bare log | {bare:.0} | 1.00 |");
    println!(
        "| log + 2 index entries per leaf | {with_index:.0} | {:.2} |",
        with_index / bare
    );
    drop(indexed);

    println!("\n## Proofs at {} leaves\n", store.size());
    // The reference copy is built only now, so the RSS figures above are the store's alone.
    let leaf_hashes: Vec<Hash> = (0..args.leaves)
        .map(|i| Blake3::hash_leaf(&make_leaf(i, args.leaf_bytes)))
        .collect();
    let memory = MemoryTree::from_leaf_hashes::<Blake3>(&leaf_hashes);
    let size = store.size();
    let root = store.latest().checkpoint.root;
    let mut rng = SplitMix(0x5eed);
    let idx: Vec<u64> = (0..args.queries).map(|_| rng.next() % size).collect();
    let t = Instant::now();
    for &i in &idx {
        let proof = store.inclusion_proof(i, size)?;
        verify_inclusion::<Blake3>(i, size, &leaf_hashes[i as usize], &proof, &root)
            .context("inclusion proof failed to verify")?;
    }
    let store_incl = args.queries as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for &i in &idx {
        std::hint::black_box(inclusion_proof::<Blake3, _>(&memory, i, size)?);
    }
    let mem_incl = args.queries as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for &i in &idx {
        std::hint::black_box(store.consistency_proof(i.max(1), size)?);
    }
    let store_cons = args.queries as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for &i in &idx {
        std::hint::black_box(consistency_proof::<Blake3, _>(&memory, i.max(1), size)?);
    }
    let mem_cons = args.queries as f64 / t.elapsed().as_secs_f64();
    println!("| proof | from sled store /s | from in-memory tree /s | ratio |");
    println!("|---|---:|---:|---:|");
    println!(
        "| inclusion (+ verify on the store side) | {store_incl:.0} | {mem_incl:.0} | {:.2} |",
        store_incl / mem_incl
    );
    println!(
        "| consistency | {store_cons:.0} | {mem_cons:.0} | {:.2} |",
        store_cons / mem_cons
    );
    drop(memory);

    println!(
        "\n## rs_merkle in-memory MerkleTree: append + commit of {} leaves\n",
        args.batch
    );
    println!("| tree size | rs_merkle ms per commit | provledger ms per durable append | ratio |");
    println!("|---:|---:|---:|---:|");
    let checkpoints = [10_000u64, 100_000, args.leaves.min(1_000_000)];
    for &target in &checkpoints {
        if target > leaf_hashes.len() as u64 {
            continue;
        }
        // Built in one go (not timed); then one more batch appended and committed (timed).
        let mut tree =
            rs_merkle::MerkleTree::<RsMerkleBlake3>::from_leaves(&leaf_hashes[..target as usize]);
        let mut extra: Vec<Hash> = (0..args.batch)
            .map(|i| Blake3::hash_leaf(&make_leaf(u64::MAX - i, args.leaf_bytes)))
            .collect();
        let t = Instant::now();
        tree.append(&mut extra);
        tree.commit();
        let rs = t.elapsed().as_secs_f64() * 1e3;
        drop(tree);
        let leaves: Vec<Vec<u8>> = (0..args.batch)
            .map(|i| make_leaf(size + i, args.leaf_bytes))
            .collect();
        let t = Instant::now();
        store.append(&leaves)?;
        let ours = t.elapsed().as_secs_f64() * 1e3;
        println!("| {target} | {rs:.2} | {ours:.2} | {:.2} |", rs / ours);
    }
    let disk = dir_bytes(&dir.path().join("log"))?;
    println!(
        "\nstore on disk: {:.1} MiB, {:.0} bytes per leaf ({} bytes of leaf data each)",
        disk as f64 / (1 << 20) as f64,
        disk as f64 / store.size() as f64,
        args.leaf_bytes
    );
    lineage_kv::report(args.kv_keys)
}

fn make_leaf(i: u64, len: usize) -> Vec<u8> {
    let mut leaf = Vec::with_capacity(len);
    let mut x = SplitMix(i);
    while leaf.len() < len {
        leaf.extend_from_slice(&x.next().to_le_bytes());
    }
    leaf.truncate(len);
    leaf
}

/// A tiny deterministic generator (SplitMix64), so runs are repeatable.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// (current RSS, peak RSS) in MiB, from /proc/self/status.
fn rss_mib() -> Result<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let field = |name: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    Ok((field("VmRSS:"), field("VmHWM:")))
}

fn dir_bytes(path: &std::path::Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

//! The lineage database's storage engine: the same random-key workload on sled and on the LSM
//! tree the lineage indexer uses ([`provledger::lineage::db::LineageDb`]).
//!
//! Lineage keys are `prefix ‖ 16-byte record hash ‖ index`: random, not in log order. Each
//! engine runs in a child process of its own (this binary, with `--kv-child ENGINE`), so its
//! RSS and CPU are its own: inserts in batches of 3,000 (a chunk of 1,000 events files about
//! that many keys), then point reads of keys spread over the whole set.

use anyhow::{Context, Result, bail};
use provledger::lineage::db::LineageDb;
use std::time::Instant;

/// Keys per batch.
const BATCH: u64 = 3000;
/// Block cache / page cache given to each engine.
const CACHE_BYTES: u64 = 32 * 1024 * 1024;
/// Point reads measured after the inserts.
const READS: u64 = 20_000;

/// A point read: true when the key is found.
type Read = Box<dyn Fn(&[u8]) -> Result<bool>>;

/// One engine's figures.
struct Figures {
    inserts_per_s: f64,
    cpu_us_per_key: f64,
    rss_mib: f64,
    disk_mib: f64,
    read_us: f64,
}

fn key(i: u64) -> [u8; 25] {
    let hash = blake3::hash(&i.to_le_bytes());
    let mut k = [0u8; 25];
    k[0] = b'e';
    k[1..17].copy_from_slice(&hash.as_bytes()[..16]);
    k[17..].copy_from_slice(&i.to_be_bytes());
    k
}

/// User + system CPU seconds of this process, all threads.
fn cpu_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .context("/proc/self/stat")?
        .split_whitespace()
        .collect();
    let ticks = |i: usize| -> Result<f64> { Ok(fields.get(i).context("stat field")?.parse()?) };
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// Runs one engine in this process and prints its figures as one line for the parent.
pub fn child(engine: &str, keys: u64) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let value = [7u8; 20];
    let started = Instant::now();
    let cpu0 = cpu_seconds()?;
    let read: Read = match engine {
        "sled" => {
            let db = sled::Config::new()
                .path(dir.path())
                .cache_capacity(CACHE_BYTES)
                .open()?;
            for first in (0..keys).step_by(BATCH as usize) {
                let mut batch = sled::Batch::default();
                for i in first..(first + BATCH).min(keys) {
                    batch.insert(&key(i), &value);
                }
                db.apply_batch(batch)?;
            }
            Box::new(move |k| Ok(db.get(k)?.is_some()))
        }
        "lsm" => {
            let db = LineageDb::open(&dir.path().join("lineage"), CACHE_BYTES)?;
            for first in (0..keys).step_by(BATCH as usize) {
                let mut batch = db.batch();
                for i in first..(first + BATCH).min(keys) {
                    batch.insert(key(i), value);
                }
                db.apply(batch)?;
            }
            Box::new(move |k| Ok(db.get(k)?.is_some()))
        }
        other => bail!("unknown engine {other}"),
    };
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds()? - cpu0;
    let t = Instant::now();
    for q in 0..READS {
        if !read(&key(q.wrapping_mul(7919) % keys))? {
            bail!("{engine}: a stored key was not found");
        }
    }
    let read_us = t.elapsed().as_secs_f64() * 1e6 / READS as f64;
    let (rss, _) = super::rss_mib()?;
    let disk = super::dir_bytes(dir.path())? as f64 / (1 << 20) as f64;
    println!(
        "KV {} {} {} {} {}",
        keys as f64 / wall,
        cpu * 1e6 / keys as f64,
        rss,
        disk,
        read_us
    );
    Ok(())
}

fn run_child(engine: &str, keys: u64) -> Result<Figures> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .args(["--kv-child", engine, "--kv-keys", &keys.to_string()])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("KV "))
        .with_context(|| {
            format!(
                "{engine} child failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let v: Vec<f64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    match v.as_slice() {
        [inserts_per_s, cpu_us_per_key, rss_mib, disk_mib, read_us] => Ok(Figures {
            inserts_per_s: *inserts_per_s,
            cpu_us_per_key: *cpu_us_per_key,
            rss_mib: *rss_mib,
            disk_mib: *disk_mib,
            read_us: *read_us,
        }),
        _ => bail!("{engine} child printed {line}"),
    }
}

/// Runs both engines and prints the comparison table.
pub fn report(keys: u64) -> Result<()> {
    println!(
        "\n## Lineage database engine: {keys} random 25-byte keys, batches of {BATCH}, \
         {} MiB cache each\n",
        CACHE_BYTES >> 20
    );
    let sled = run_child("sled", keys)?;
    let lsm = run_child("lsm", keys)?;
    println!("| figure | sled | LSM tree (lineage) | LSM ÷ sled |");
    println!("|---|---:|---:|---:|");
    let row = |name: &str, s: f64, l: f64| {
        println!("| {name} | {s:.2} | {l:.2} | {:.2} |", l / s);
    };
    row("inserts/s", sled.inserts_per_s, lsm.inserts_per_s);
    row("CPU µs per key", sled.cpu_us_per_key, lsm.cpu_us_per_key);
    row("RSS MiB after", sled.rss_mib, lsm.rss_mib);
    row("disk MiB", sled.disk_mib, lsm.disk_mib);
    row("point read µs", sled.read_us, lsm.read_us);
    Ok(())
}

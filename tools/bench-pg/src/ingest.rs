//! Ingest: the two-stage verify-then-write pipeline and the probe that picks the write method.
//!
//! Owns [`PgConfig`], the [`PgIngest`] and [`PgProbe`] reports, and [`PgCluster::ingest`]: a
//! verifier thread one batch ahead of the writer on the calling thread, one transaction per
//! batch.
//!
//! Invariants: rejected events (unknown key, failed `verify_strict`) are counted, never written;
//! duplicates within a batch are dropped before numbering; rows are numbered and chained by the
//! client before the write, so a duplicate of the table aborts the whole batch (`unique_violation`)
//! and the batch is retried once without the rows the table already holds, re-chained — never
//! `ON CONFLICT DO NOTHING`, which would break the chain. The probe writes only to a scratch
//! table, dropped afterwards.

use crate::cluster::PgCluster;
use crate::schema::{GENESIS, Row, TABLE, chain_rows};
use crate::verify::{PgEvent, verify_batch};
use crate::write::WriteMethod;
use anyhow::{Context, Result, ensure};
use ed25519_dalek::VerifyingKey;
use postgres::error::SqlState;
use std::collections::{HashMap, HashSet};
use std::sync::mpsc;
use std::time::Instant;

const PROBE_TABLE: &str = "events_probe";

/// How ingest is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgConfig {
    /// Events per transaction.
    pub batch: usize,
    /// Threads verifying signatures.
    pub threads: usize,
}

/// What ingest measured.
#[derive(Debug, Clone, PartialEq)]
pub struct PgIngest {
    /// Events offered (all verified; `events_per_sec` is over these).
    pub events: u64,
    /// Rows written.
    pub appended: u64,
    /// Events dropped as duplicates (of the batch or of the table).
    pub duplicates: u64,
    /// Events rejected: unknown key or signature that fails `verify_strict`.
    pub rejected: u64,
    /// Wall time of the timed run, verification through the last commit.
    pub seconds: f64,
    pub events_per_sec: f64,
    /// The write method of the timed run: "COPY" or "INSERT".
    pub method: &'static str,
    /// Events/s of each method on the first sample (both timed the same way), if it was run.
    pub probe: Option<PgProbe>,
}

/// The sample run that picks the write method.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PgProbe {
    /// Events in the sample (each method writes it twice, in the order COPY, INSERT, INSERT, COPY).
    pub events: u64,
    pub copy_events_per_sec: f64,
    pub insert_events_per_sec: f64,
}

impl PgCluster {
    /// Ingest with verification (verify_strict over the DSSE PAE, on `threads` threads) + hash
    /// chain + unique index, one transaction per batch.
    pub fn ingest(
        &mut self,
        events: &[PgEvent],
        keys: &HashMap<String, VerifyingKey>,
        config: &PgConfig,
    ) -> Result<PgIngest> {
        ensure!(config.batch > 0, "batch must be at least 1");
        ensure!(config.threads > 0, "threads must be at least 1");
        let (method, probe) = match self.method {
            Some(m) => (m, None),
            None => {
                let probe = self.probe(events, keys, config)?;
                let m = if probe.copy_events_per_sec >= probe.insert_events_per_sec {
                    WriteMethod::Copy
                } else {
                    WriteMethod::Insert
                };
                (m, Some(probe))
            }
        };
        let start = Instant::now();
        let stats = self.pipeline(TABLE, events, keys, config, method)?;
        let seconds = start.elapsed().as_secs_f64();
        Ok(PgIngest {
            events: events.len() as u64,
            appended: stats.appended,
            duplicates: stats.duplicates,
            rejected: stats.rejected,
            seconds,
            events_per_sec: events.len() as f64 / seconds,
            method: method.as_str(),
            probe,
        })
    }

    /// Runs the whole pipeline on the first `min(len, 8 batches)` events into a fresh scratch
    /// table, twice per method (COPY, INSERT, INSERT, COPY).
    fn probe(
        &mut self,
        events: &[PgEvent],
        keys: &HashMap<String, VerifyingKey>,
        config: &PgConfig,
    ) -> Result<PgProbe> {
        let sample = &events[..events.len().min(8 * config.batch)];
        let mut seconds: HashMap<WriteMethod, f64> = HashMap::new();
        for method in [
            WriteMethod::Copy,
            WriteMethod::Insert,
            WriteMethod::Insert,
            WriteMethod::Copy,
        ] {
            self.client.batch_execute(&format!(
                "drop table if exists {PROBE_TABLE}; \
                 create table {PROBE_TABLE} (like {TABLE} including all)"
            ))?;
            self.statements.retain(|(t, _, _), _| t != PROBE_TABLE);
            let start = Instant::now();
            self.pipeline(PROBE_TABLE, sample, keys, config, method)?;
            *seconds.entry(method).or_default() += start.elapsed().as_secs_f64();
        }
        self.client
            .batch_execute(&format!("drop table {PROBE_TABLE}"))?;
        self.statements.retain(|(t, _, _), _| t != PROBE_TABLE);
        let rate = |m| 2.0 * sample.len() as f64 / seconds[&m];
        Ok(PgProbe {
            events: sample.len() as u64,
            copy_events_per_sec: rate(WriteMethod::Copy),
            insert_events_per_sec: rate(WriteMethod::Insert),
        })
    }

    /// Verifier thread (one batch ahead) feeding the writer on this thread.
    fn pipeline(
        &mut self,
        table: &str,
        events: &[PgEvent],
        keys: &HashMap<String, VerifyingKey>,
        config: &PgConfig,
        method: WriteMethod,
    ) -> Result<Stats> {
        let (mut seq, mut head) = self.head(table)?;
        let mut stats = Stats::default();
        let (batch, threads) = (config.batch, config.threads);
        std::thread::scope(|s| -> Result<()> {
            let (tx, rx) = mpsc::sync_channel::<(usize, Vec<Option<[u8; 32]>>)>(1);
            s.spawn(move || {
                for (i, part) in events.chunks(batch).enumerate() {
                    if tx
                        .send((i * batch, verify_batch(part, keys, threads)))
                        .is_err()
                    {
                        return; // the writer stopped
                    }
                }
            });
            for (offset, verdicts) in rx {
                let part = &events[offset..offset + verdicts.len()];
                let mut seen = HashSet::with_capacity(part.len());
                let mut rows = Vec::with_capacity(part.len());
                for (e, verdict) in part.iter().zip(verdicts) {
                    let Some(hash) = verdict else {
                        stats.rejected += 1;
                        continue;
                    };
                    if !seen.insert(hash) {
                        stats.duplicates += 1;
                        continue;
                    }
                    rows.push(Row {
                        seq: 0,
                        event_hash: hash,
                        signer: &e.key_id,
                        payload_type: &e.payload_type,
                        payload: &e.payload,
                        signature: &e.signature,
                        chain: GENESIS,
                    });
                }
                let mut next = chain_rows(&mut rows, seq, head);
                match self.write(table, &rows, method) {
                    Ok(()) => {}
                    Err(e) if e.downcast_ref().is_some_and(is_unique_violation) => {
                        let known = self.known_hashes(table, &rows)?;
                        if known.is_empty() {
                            return Err(e); // not a duplicate event: a concurrent writer?
                        }
                        let before = rows.len();
                        rows.retain(|r| !known.contains(&r.event_hash));
                        stats.duplicates += (before - rows.len()) as u64;
                        next = chain_rows(&mut rows, seq, head);
                        self.write(table, &rows, method)
                            .context("writing a batch again without the duplicates")?;
                    }
                    Err(e) => return Err(e),
                }
                (seq, head) = next;
                stats.appended += rows.len() as u64;
            }
            Ok(())
        })?;
        Ok(stats)
    }

    /// Which of the rows' event hashes the table already holds.
    fn known_hashes(&mut self, table: &str, rows: &[Row<'_>]) -> Result<HashSet<[u8; 32]>> {
        let hashes: Vec<&[u8]> = rows.iter().map(|r| &r.event_hash[..]).collect();
        let found = self.client.query(
            &format!("select event_hash from {table} where event_hash = any($1)"),
            &[&hashes],
        )?;
        found
            .iter()
            .map(|r| {
                let h: &[u8] = r.get(0);
                h.try_into().context("stored event hash is not 32 bytes")
            })
            .collect()
    }
}

fn is_unique_violation(e: &postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

#[derive(Debug, Default)]
struct Stats {
    appended: u64,
    duplicates: u64,
    rejected: u64,
}

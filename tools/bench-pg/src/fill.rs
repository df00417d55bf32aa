//! Filling the table with synthetic rows to reach 1M / 10M rows before timing the proof.
//!
//! Owns [`PgCluster::fill_to`] and the filler rows' parameters ([`FILL_SIGNER`], chunk size,
//! index-rebuild threshold, default payload length).
//!
//! Invariants: filler rows extend the existing chain correctly (numbered and chained after the
//! current head), so a proof over them is a real proof; each payload is unique by its `seq`; when
//! the unique index is dropped for a large fill it is built again afterwards, also when the fill
//! fails, so the table keeps its dedup.

use crate::cluster::PgCluster;
use crate::schema::{COPY_TYPES, GENESIS, Row, TABLE, chain_rows, event_hash, index_sql};
use crate::write::WriteMethod;
use anyhow::{Context, Result};
use postgres::binary_copy::BinaryCopyInWriter;
use provledger::envelope::EVENT_PAYLOAD_TYPE;

/// Rows per `COPY` transaction when filling.
const FILL_CHUNK: u64 = 50_000;
/// Fills adding at least this many rows drop the unique index and build it again at the end.
pub(crate) const FILL_REBUILD_INDEX_FROM: u64 = 100_000;
/// Payload length of filler rows when the table has no rows to take the mean from.
const FILL_DEFAULT_PAYLOAD: usize = 400;
/// Signer name of filler rows.
pub const FILL_SIGNER: &str = "filler.bench.invalid/synth";

impl PgCluster {
    /// Fills the table to `rows` rows quickly (bulk COPY of synthetic rows with a correct chain,
    /// no verification, not timed) — used to reach 1M / 10M rows.
    ///
    /// Filler rows have the benchmark's payload type, the signer [`FILL_SIGNER`], a payload as
    /// long as the mean payload already in the table (400 bytes if it is empty) made unique by
    /// its `seq`, and a 64-byte pseudo-random signature that is not a valid signature (nothing
    /// checks it after ingest). They are written with binary `COPY`, 50,000 rows per
    /// transaction. When at least 100,000 rows are added, the unique index on `event_hash` is
    /// dropped first and built again at the end (which also checks that every hash is unique);
    /// the primary key stays. Then the table is analysed.
    pub fn fill_to(&mut self, rows: u64) -> Result<()> {
        let have = self.head(TABLE)?.0;
        if have >= rows {
            return Ok(());
        }
        // Maintaining the unique index row by row costs more than building it once.
        let rebuild = rows - have >= FILL_REBUILD_INDEX_FROM;
        if rebuild {
            self.client
                .batch_execute(&format!("drop index {TABLE}_event_hash"))?;
        }
        let filled = self.fill_rows(rows);
        if rebuild {
            // Also after a failed fill: the table keeps its dedup.
            let built = self
                .client
                .batch_execute(&index_sql(TABLE))
                .context("rebuilding the unique index after filling");
            filled?;
            built?;
        } else {
            filled?;
        }
        self.client.batch_execute(&format!("analyze {TABLE}"))?;
        Ok(())
    }

    fn fill_rows(&mut self, rows: u64) -> Result<()> {
        let (mut seq, mut head) = self.head(TABLE)?;
        if seq >= rows {
            return Ok(());
        }
        let mean: Option<f64> = self
            .client
            .query_one(
                &format!("select avg(length(payload))::float8 from {TABLE}"),
                &[],
            )?
            .get(0);
        let payload_len = mean
            .map_or(FILL_DEFAULT_PAYLOAD, |m| m.round() as usize)
            .max(8);
        let mut template = vec![0u8; payload_len];
        blake3::Hasher::new()
            .update(b"provledger bench-pg filler payload")
            .finalize_xof()
            .fill(&mut template);
        let stmt = self.statement(TABLE, WriteMethod::Copy, 0)?;
        while seq < rows {
            let n = (rows - seq).min(FILL_CHUNK) as usize;
            let mut payloads = Vec::with_capacity(n);
            let mut signatures = Vec::with_capacity(n);
            for i in 0..n as u64 {
                let s = seq + 1 + i;
                let mut p = template.clone();
                p[..8].copy_from_slice(&s.to_be_bytes());
                payloads.push(p);
                let mut sig = [0u8; 64];
                blake3::Hasher::new()
                    .update(&s.to_be_bytes())
                    .finalize_xof()
                    .fill(&mut sig);
                signatures.push(sig);
            }
            let mut batch: Vec<Row<'_>> = payloads
                .iter()
                .zip(&signatures)
                .map(|(p, sig)| Row {
                    seq: 0,
                    event_hash: event_hash(EVENT_PAYLOAD_TYPE, p, FILL_SIGNER, sig),
                    signer: FILL_SIGNER,
                    payload_type: EVENT_PAYLOAD_TYPE,
                    payload: p,
                    signature: sig,
                    chain: GENESIS,
                })
                .collect();
            (seq, head) = chain_rows(&mut batch, seq, head);
            let mut w = BinaryCopyInWriter::new(self.client.copy_in(&stmt)?, &COPY_TYPES);
            for r in &batch {
                w.write(&r.values())?;
            }
            w.finish().context("filling the table")?;
        }
        Ok(())
    }
}

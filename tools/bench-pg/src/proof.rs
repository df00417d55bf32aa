//! The chain-proof measurement: what an auditor must do to show row 1 is under the latest head.
//!
//! Owns [`PgChainProof`] and [`PgCluster::prove_first_row`].
//!
//! Invariants: every row from 1 to the head is streamed in `seq` order (binary `COPY` out of an
//! index-ordered query) and re-hashed from [`GENESIS`]; the proof fails on a missing row, on a
//! chain that ends before the head, or on a re-hashed head that differs from the stored one.

use crate::cluster::PgCluster;
use crate::schema::{COPY_TYPES, GENESIS, RowRef, TABLE, chain_hash};
use anyhow::{Result, ensure};
use postgres::binary_copy::BinaryCopyOutIter;
use postgres::fallible_iterator::FallibleIterator;
use std::time::Instant;

/// What proving row 1 under the latest head cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PgChainProof {
    /// Rows read and re-hashed (row 1 through the head).
    pub rows: u64,
    pub seconds: f64,
}

impl PgCluster {
    /// Time to prove that row 1 is in the chain under the latest head: read every row from 1 to
    /// the head in order and re-hash the chain, checking it reproduces the stored head.
    pub fn prove_first_row(&mut self) -> Result<PgChainProof> {
        let start = Instant::now();
        let (head_seq, head) = self.head(TABLE)?;
        ensure!(head_seq > 0, "the table is empty");
        let reader = self.client.copy_out(&format!(
            "copy (select seq, event_hash, signer, payload_type, payload, signature \
             from {TABLE} where seq >= 1 order by seq) to stdout (format binary)"
        ))?;
        // Every column but the stored `chain`, which the proof recomputes.
        let mut rows = BinaryCopyOutIter::new(reader, &COPY_TYPES[..6]);
        let mut chain = GENESIS;
        let mut last = 0u64;
        while let Some(r) = rows.next()? {
            let seq: i64 = r.get(0);
            ensure!(
                seq as u64 == last + 1,
                "row {} missing (found {seq})",
                last + 1
            );
            last = seq as u64;
            chain = chain_hash(
                &chain,
                &RowRef {
                    seq: seq as u64,
                    event_hash: r.get(1),
                    signer: r.get(2),
                    payload_type: r.get(3),
                    payload: r.get(4),
                    signature: r.get(5),
                },
            );
        }
        ensure!(
            last == head_seq,
            "the chain ends at row {last}, the head is row {head_seq}"
        );
        ensure!(
            chain == head,
            "re-hashing rows 1..={head_seq} does not reproduce the stored head"
        );
        Ok(PgChainProof {
            rows: head_seq,
            seconds: start.elapsed().as_secs_f64(),
        })
    }
}

//! The `events` table's schema and the hash chain over its rows.
//!
//! Owns the table and index DDL, the column list and binary `COPY` types shared by every writer,
//! the dedup identity [`event_hash`], the chain link [`chain_hash`] and numbering a batch of rows
//! onto the chain ([`chain_rows`]).
//!
//! Invariants: `seq` counts from 1 with no gaps; `chain_0` is [`GENESIS`] (32 zero bytes) and
//! `chain_i = chain_hash(chain_{i-1}, row_i)`, so the last row's `chain` is the head; the column
//! order of [`COLUMNS`] and [`COPY_TYPES`] is the order every writer binds a [`Row`] in.

use postgres::types::{ToSql, Type};

pub(crate) const TABLE: &str = "events";
pub(crate) const GENESIS: [u8; 32] = [0; 32];
pub(crate) const COLUMNS: &str = "seq, event_hash, signer, payload_type, payload, signature, chain";
pub(crate) const COPY_TYPES: [Type; 7] = [
    Type::INT8,
    Type::BYTEA,
    Type::TEXT,
    Type::TEXT,
    Type::BYTEA,
    Type::BYTEA,
    Type::BYTEA,
];

/// The event's identity for dedup: BLAKE3 over the length-prefixed (u64 big-endian) payload
/// type, payload, key id and signature; equal to `provledger::envelope::envelope_id`.
pub fn event_hash(payload_type: &str, payload: &[u8], key_id: &str, signature: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    for part in [
        payload_type.as_bytes(),
        payload,
        key_id.as_bytes(),
        signature,
    ] {
        h.update(&(part.len() as u64).to_be_bytes());
        h.update(part);
    }
    *h.finalize().as_bytes()
}

/// One link of the hash chain: `BLAKE3(previous || seq || event_hash || signer || payload_type
/// || payload || signature)`, `seq` as u64 big-endian and the last four length-prefixed (u64
/// big-endian).
pub fn chain_hash(previous: &[u8; 32], row: &RowRef<'_>) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(previous);
    h.update(&row.seq.to_be_bytes());
    h.update(row.event_hash);
    for part in [
        row.signer.as_bytes(),
        row.payload_type.as_bytes(),
        row.payload,
        row.signature,
    ] {
        h.update(&(part.len() as u64).to_be_bytes());
        h.update(part);
    }
    *h.finalize().as_bytes()
}

/// The hashed columns of one row.
#[derive(Debug, Clone, Copy)]
pub struct RowRef<'a> {
    pub seq: u64,
    pub event_hash: &'a [u8],
    pub signer: &'a str,
    pub payload_type: &'a str,
    pub payload: &'a [u8],
    pub signature: &'a [u8],
}

/// A row ready to write.
pub(crate) struct Row<'a> {
    pub(crate) seq: i64,
    pub(crate) event_hash: [u8; 32],
    pub(crate) signer: &'a str,
    pub(crate) payload_type: &'a str,
    pub(crate) payload: &'a [u8],
    pub(crate) signature: &'a [u8],
    pub(crate) chain: [u8; 32],
}

impl Row<'_> {
    /// The row's values in [`COLUMNS`] order, as `COPY` and `INSERT` bind them.
    pub(crate) fn values(&self) -> [&(dyn ToSql + Sync); 7] {
        [
            &self.seq,
            &self.event_hash,
            &self.signer,
            &self.payload_type,
            &self.payload,
            &self.signature,
            &self.chain,
        ]
    }

    fn hashed(&self) -> RowRef<'_> {
        RowRef {
            seq: self.seq as u64,
            event_hash: &self.event_hash,
            signer: self.signer,
            payload_type: self.payload_type,
            payload: self.payload,
            signature: self.signature,
        }
    }
}

/// Numbers the rows after `(seq, head)` and chains them in order; returns the new head.
pub(crate) fn chain_rows(
    rows: &mut [Row<'_>],
    mut seq: u64,
    mut head: [u8; 32],
) -> (u64, [u8; 32]) {
    for r in rows {
        seq += 1;
        r.seq = seq as i64;
        head = chain_hash(&head, &r.hashed());
        r.chain = head;
    }
    (seq, head)
}

pub(crate) fn table_sql(table: &str) -> String {
    format!(
        "create table {table} (
             seq bigint primary key,
             event_hash bytea not null,
             signer text not null,
             payload_type text not null,
             payload bytea not null,
             signature bytea not null,
             chain bytea not null);
         {};",
        index_sql(table)
    )
}

pub(crate) fn index_sql(table: &str) -> String {
    format!("create unique index {table}_event_hash on {table} (event_hash)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::signer;
    use crate::verify::PgEvent;
    use provledger::envelope::{EVENT_PAYLOAD_TYPE, envelope_id, sign};

    #[test]
    fn event_hash_is_the_ledgers_envelope_id() {
        let env = sign(
            &signer("gen.example/synth", 7),
            EVENT_PAYLOAD_TYPE,
            b"payload".to_vec(),
        );
        let e = PgEvent::try_from(&env).unwrap();
        assert_eq!(
            event_hash(&e.payload_type, &e.payload, &e.key_id, &e.signature),
            envelope_id(&env)
        );
    }

    #[test]
    fn chain_depends_on_every_column_and_the_previous_link() {
        let row = RowRef {
            seq: 1,
            event_hash: &[1; 32],
            signer: "s",
            payload_type: "t",
            payload: b"p",
            signature: &[2; 64],
        };
        let base = chain_hash(&GENESIS, &row);
        let variants = [
            RowRef { seq: 2, ..row },
            RowRef {
                event_hash: &[3; 32],
                ..row
            },
            RowRef {
                signer: "st",
                payload_type: "",
                ..row
            },
            RowRef {
                payload: b"q",
                ..row
            },
            RowRef {
                signature: &[4; 64],
                ..row
            },
        ];
        for v in variants {
            assert_ne!(chain_hash(&GENESIS, &v), base);
        }
        assert_ne!(chain_hash(&[9; 32], &row), base);
    }
}

//! The PostgreSQL baseline of the provledger benchmark: what a team would build instead of the
//! ledger, measured on the same events.
//!
//! # The cluster
//!
//! [`PgCluster::start`] runs `initdb` and `pg_ctl start` on a throw-away cluster in a fresh
//! temporary directory (`$TMPDIR`, else `/tmp`), listening on 127.0.0.1 only, on a port picked
//! at run time, with its Unix socket inside the temporary directory. The client connects over
//! that Unix socket. Durability settings are forced on: `fsync=on`, `synchronous_commit=on`,
//! `full_page_writes=on`. Two settings a team would tune are raised from their defaults:
//! `shared_buffers=512MB` and `max_wal_size=4GB` (so that filling 10M rows does not checkpoint
//! every few seconds). PostgreSQL refuses to run as root: when run as root, the tool creates the
//! system user [`BENCH_USER`] if it is missing (`useradd --system --no-create-home`), hands the
//! temporary directory to it and runs `initdb`/`pg_ctl` through `runuser`. Dropping the
//! [`PgCluster`] stops the server (`pg_ctl stop -m fast`, `-m immediate` if that fails) and
//! deletes the directory, on error paths too.
//!
//! The server binaries are looked up in `$PG_BIN`, then the highest
//! `/usr/lib/postgresql/<version>/bin`, then `PATH`. If they are absent, `start` fails with a
//! [`NotInstalled`] error (`downcast_ref::<NotInstalled>()`), whose message says how to install
//! them; a caller can print it as "skipped".
//!
//! # The table
//!
//! ```sql
//! create table events (seq bigint primary key, event_hash bytea not null, signer text not null,
//!     payload_type text not null, payload bytea not null, signature bytea not null,
//!     chain bytea not null);
//! create unique index events_event_hash on events (event_hash);
//! ```
//!
//! plus triggers that reject `UPDATE`, `DELETE` and `TRUNCATE` (append-only; they cost nothing on
//! insert). `seq` counts from 1 with no gaps.
//!
//! * `event_hash` is [`event_hash`]: BLAKE3 over the length-prefixed (u64 big-endian) payload
//!   type, payload, key id and signature — the same identity the ledger deduplicates on
//!   (`provledger::envelope::envelope_id`), so the unique index is the same dedup.
//! * `chain` is [`chain_hash`]: `chain_i = BLAKE3(chain_{i-1} || row_i)` with `chain_0` 32 zero
//!   bytes and `row_i` the row's columns (`seq` as u64 big-endian, `event_hash`, then signer,
//!   payload type, payload and signature, each length-prefixed). BLAKE3 for parity with the
//!   ledger's hashing. The last row's `chain` is the head.
//!
//! # Ingest
//!
//! [`PgCluster::ingest`] is a two-stage pipeline, one transaction per batch. A verifier thread
//! takes the events a batch at a time and checks every signature with `verify_strict` over the
//! DSSE PAE on `threads` threads (computing the event hash too); the calling thread meanwhile
//! writes the previous batch: it drops duplicates within the batch, numbers the rows, computes
//! the chain in order and writes the batch in one transaction. The stages overlap by one batch,
//! as the ledger's admission overlaps its sequencer. Events whose key is unknown or whose
//! signature fails are rejected (counted, not written).
//!
//! Two ways to write a batch are measured on a first sample (into scratch tables of the same
//! shape, dropped afterwards) and the faster is used for the timed run, unless one is forced
//! with [`PgCluster::force_method`]: binary `COPY` (one statement, so one transaction by itself)
//! and multi-row `INSERT ... VALUES` (at most [`INSERT_ROWS_PER_STATEMENT`] rows per statement,
//! because of PostgreSQL's 65535 bind parameters; larger batches use several statements inside
//! `BEGIN`/`COMMIT`).
//!
//! Duplicates against the table: the chain is computed by the client before the write, so
//! `INSERT ... ON CONFLICT DO NOTHING` would silently skip a row whose successor's `chain`
//! already includes it, and break the chain. Both methods therefore write plainly, and the unique
//! index turns a duplicate into a `unique_violation` that aborts the whole batch; the batch is
//! then retried once without the rows whose hash the table already holds, re-chained. The
//! benchmark's events are distinct, so that path costs nothing there. There is one writer; the
//! primary key on `seq` turns a concurrent writer into an error rather than a fork.
//!
//! # Proof
//!
//! [`PgCluster::prove_first_row`] is what an auditor must do to show that row 1 is in the chain
//! under the latest head: stream every row from 1 to the head in order (binary `COPY` out of an
//! index-ordered query), re-hash the chain from genesis and check it reproduces the stored head.
//!
//! # Modules
//!
//! * `install`: locating the server binaries ([`find_postgres`], [`NotInstalled`]) and the
//!   unprivileged user [`BENCH_USER`].
//! * `cluster`: the throw-away cluster's lifecycle ([`PgCluster::start`], stop and delete on drop).
//! * `schema`: the table, [`event_hash`], [`chain_hash`] and numbering rows onto the chain.
//! * `verify`: [`PgEvent`], the batch verifier and [`verify_limit`].
//! * `ingest`: the verify-then-write pipeline and the write-method probe ([`PgCluster::ingest`]).
//! * `write`: writing one batch with [`WriteMethod`] `COPY` or `INSERT`.
//! * `fill`: synthetic filler rows ([`PgCluster::fill_to`]).
//! * `proof`: the chain-proof measurement ([`PgCluster::prove_first_row`]).
//!
//! The modules are private; everything public is re-exported here, at the paths other crates use.

mod cluster;
mod fill;
mod ingest;
mod install;
mod proof;
mod schema;
mod verify;
mod write;

#[cfg(test)]
mod tests;

pub use cluster::PgCluster;
pub use fill::FILL_SIGNER;
pub use ingest::{PgConfig, PgIngest, PgProbe};
pub use install::{BENCH_USER, INSTALL_HINT, NotInstalled, find_postgres};
pub use proof::PgChainProof;
pub use schema::{RowRef, chain_hash, event_hash};
pub use verify::{PgEvent, verify_limit};
pub use write::{INSERT_ROWS_PER_STATEMENT, WriteMethod};

//! End-to-end tests on a throw-away cluster (ingest, dedup, append-only triggers, fill, proof,
//! teardown) and the fixtures shared with the unit tests of the other modules.
//!
//! The cluster tests are skipped (with a message) when the server is not installed.

use crate::fill::FILL_REBUILD_INDEX_FROM;
use crate::{INSERT_ROWS_PER_STATEMENT, NotInstalled, PgCluster, PgConfig, PgEvent, WriteMethod};
use ed25519_dalek::VerifyingKey;
use provledger::envelope::{EVENT_PAYLOAD_TYPE, sign};
use provledger::note::NoteSigner;
use std::collections::HashMap;

pub(crate) fn signer(name: &str, seed: u8) -> NoteSigner {
    NoteSigner::from_seed(name, &[seed; 32]).unwrap()
}

pub(crate) fn events(n: usize, from: usize) -> (Vec<PgEvent>, HashMap<String, VerifyingKey>) {
    let signers = [
        signer("gen-a.example/synth", 1),
        signer("gen-b.example/synth", 2),
    ];
    let keys = signers
        .iter()
        .map(|s| (s.id().name.clone(), *s.verifier().verifying_key()))
        .collect();
    let events = (from..from + n)
        .map(|i| {
            let env = sign(
                &signers[i % 2],
                EVENT_PAYLOAD_TYPE,
                format!("event {i}").into_bytes(),
            );
            PgEvent::try_from(&env).unwrap()
        })
        .collect();
    (events, keys)
}

/// A cluster, or `None` (test skipped) when the server is not installed.
fn cluster() -> Option<PgCluster> {
    match PgCluster::start() {
        Ok(c) => Some(c),
        Err(e) if e.downcast_ref::<NotInstalled>().is_some() => {
            eprintln!("skipped: {e:#}");
            None
        }
        Err(e) => panic!("{e:#}"),
    }
}

#[test]
fn cluster_ingest_dedup_fill_and_proof() {
    let Some(mut pg) = cluster() else { return };
    let dir = pg.dir().to_path_buf();
    let (evs, keys) = events(300, 0);
    let config = PgConfig {
        batch: 64,
        threads: 2,
    };

    // Auto: both methods probed, the table gets every event once.
    let r = pg.ingest(&evs[..200], &keys, &config).unwrap();
    assert_eq!(
        (r.events, r.appended, r.duplicates, r.rejected),
        (200, 200, 0, 0)
    );
    assert!(r.probe.is_some());
    assert_eq!(pg.row_count().unwrap(), 200);

    // Duplicates of the table and of the batch, and a forged event, with each method.
    for method in [WriteMethod::Copy, WriteMethod::Insert] {
        pg.force_method(Some(method));
        let mut batch: Vec<PgEvent> = evs[150..220].to_vec(); // 50 known, 20 new
        batch.push(evs[210].clone()); // duplicate within the batch
        let mut forged = evs[299].clone();
        forged.payload[0] ^= 1;
        batch.push(forged);
        let r = pg.ingest(&batch, &keys, &config).unwrap();
        assert_eq!(r.method, method.as_str());
        let new = if method == WriteMethod::Copy { 20 } else { 0 };
        assert_eq!((r.appended, r.duplicates, r.rejected), (new, 71 - new, 1));
    }
    assert_eq!(pg.row_count().unwrap(), 220);
    pg.force_method(Some(WriteMethod::Insert));
    pg.ingest(&evs[220..], &keys, &config).unwrap();
    assert_eq!(pg.row_count().unwrap(), 300);

    // Append-only.
    assert!(
        pg.client
            .execute("delete from events where seq = 1", &[])
            .is_err()
    );
    assert!(
        pg.client
            .execute("update events set signer = 'x' where seq = 1", &[])
            .is_err()
    );

    let p = pg.prove_first_row().unwrap();
    assert_eq!(p.rows, 300);
    pg.fill_to(5_000).unwrap();
    pg.fill_to(4_000).unwrap(); // no-op
    assert_eq!(pg.row_count().unwrap(), 5_000);
    assert_eq!(pg.prove_first_row().unwrap().rows, 5_000);
    pg.ingest(&events(10, 1000).0, &keys, &config).unwrap();
    assert_eq!(pg.prove_first_row().unwrap().rows, 5_010);

    // A changed row no longer reproduces the head.
    pg.client
        .batch_execute(
            "alter table events disable trigger events_no_update;
                 update events set payload = 'tampered' where seq = 2;",
        )
        .unwrap();
    assert!(pg.prove_first_row().is_err());

    drop(pg);
    assert!(!dir.exists(), "the cluster's directory is removed");
}

#[test]
fn insert_batches_larger_than_one_statement() {
    let Some(mut pg) = cluster() else { return };
    let (evs, keys) = events(INSERT_ROWS_PER_STATEMENT + 100, 0);
    pg.force_method(Some(WriteMethod::Insert));
    let config = PgConfig {
        batch: evs.len(),
        threads: 2,
    };
    let r = pg.ingest(&evs, &keys, &config).unwrap();
    assert_eq!(r.appended, evs.len() as u64);
    // Again: every row is a duplicate, the whole multi-statement transaction rolls back.
    let r = pg
        .ingest(&evs[..INSERT_ROWS_PER_STATEMENT + 50], &keys, &config)
        .unwrap();
    assert_eq!(r.appended, 0);
    assert_eq!(pg.prove_first_row().unwrap().rows, evs.len() as u64);

    // A large fill drops and rebuilds the unique index: dedup still works after it.
    pg.fill_to(FILL_REBUILD_INDEX_FROM + 10_000).unwrap();
    let r = pg.ingest(&evs[..10], &keys, &config).unwrap();
    assert_eq!((r.appended, r.duplicates), (0, 10));
    let indexes: i64 = pg
        .client
        .query_one(
            "select count(*) from pg_indexes where tablename = 'events'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(indexes, 2);
    assert_eq!(
        pg.prove_first_row().unwrap().rows,
        FILL_REBUILD_INDEX_FROM + 10_000
    );
}

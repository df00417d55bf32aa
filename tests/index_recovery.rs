//! The ledger's hash indexes are derived data: losing or damaging them loses no duplicate
//! detection and no lookup, because they are rebuilt from the log.

mod common;

use common::*;
use provledger::ledger::LedgerConfig;
use provledger::proto::{GetInclusionProofRequest, Role};

async fn log_with_events(
    n: u64,
) -> (
    TestServer,
    Vec<provledger::proto::AppendResponse>,
    Vec<provledger::proto::SignedEvent>,
) {
    let server = TestServer::start(LedgerConfig::default()).await;
    let generator = server.register("gen.test/idx", Role::Generator).await;
    let mut client = server.client().await;
    let mut answers = Vec::new();
    let mut envelopes = Vec::new();
    for i in 0..n {
        let e = signed(&generator, &generated_event(i));
        answers.push(
            client
                .append(request(e.clone()))
                .await
                .unwrap()
                .into_inner(),
        );
        envelopes.push(e);
    }
    (server, answers, envelopes)
}

async fn assert_lookups_work(
    server: &TestServer,
    answers: &[provledger::proto::AppendResponse],
    envelopes: &[provledger::proto::SignedEvent],
) {
    let mut client = server.client().await;
    let size = server.ledger.store().size();
    for (a, e) in answers.iter().zip(envelopes) {
        let again = client
            .append(request(e.clone()))
            .await
            .unwrap()
            .into_inner();
        assert!(
            again.duplicate,
            "resubmission of entry {} not seen as duplicate",
            a.index
        );
        assert_eq!(again.index, a.index);
        let proof = client
            .get_inclusion_proof(GetInclusionProofRequest {
                leaf_hash: a.leaf_hash.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(proof.leaf_index, a.index);
    }
    assert_eq!(
        server.ledger.store().size(),
        size,
        "duplicates must not append"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_index_is_rebuilt_from_the_log() {
    let (server, answers, envelopes) = log_with_events(40).await;
    let (dir, _tmp) = server.stop().await;
    std::fs::remove_dir_all(dir.index()).unwrap();
    let server = TestServer::open(dir, LedgerConfig::default()).await;
    assert_lookups_work(&server, &answers, &envelopes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_index_is_rebuilt_from_the_log() {
    let (server, answers, envelopes) = log_with_events(40).await;
    let (dir, _tmp) = server.stop().await;
    // Damage every shard header of one index.
    for entry in std::fs::read_dir(dir.index().join("envelopes")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "idx") {
            continue;
        }
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
    }
    let server = TestServer::open(dir, LedgerConfig::default()).await;
    assert_lookups_work(&server, &answers, &envelopes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_behind_the_log_catches_up_at_start() {
    let (server, answers, envelopes) = log_with_events(40).await;
    let (dir, _tmp) = server.stop().await;
    // As after a crash before the index's last sync: the watermark says only the first 20
    // entries are durably indexed, and the index lost the rest.
    std::fs::remove_dir_all(dir.index()).unwrap();
    {
        let store =
            provledger::store::LogStore::<provledger::merkle::Blake3>::open(&dir.store(), None)
                .unwrap();
        let envelopes =
            provledger::hashindex::HashIndex::open(&dir.index().join("envelopes")).unwrap();
        let by_leaf = provledger::hashindex::HashIndex::open(&dir.index().join("leaves")).unwrap();
        let leaves = store.leaves(0, 20).unwrap();
        for (i, leaf) in leaves.iter().enumerate() {
            let decoded =
                <provledger::proto::LogLeaf as prost::Message>::decode(leaf.as_slice()).unwrap();
            envelopes
                .insert(
                    &provledger::envelope::envelope_id(decoded.envelope.as_ref().unwrap()),
                    i as u64,
                )
                .unwrap();
            by_leaf
                .insert(&store.leaf_hash(i as u64).unwrap(), i as u64)
                .unwrap();
        }
        envelopes.sync().unwrap();
        by_leaf.sync().unwrap();
        provledger::hashindex::HashIndex::open(&dir.index().join("externals")).unwrap();
        for sub in ["envelopes", "leaves", "externals"] {
            std::fs::write(dir.index().join(sub).join("watermark"), 20u64.to_be_bytes()).unwrap();
        }
    }
    let server = TestServer::open(dir, LedgerConfig::default()).await;
    assert_lookups_work(&server, &answers, &envelopes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_lost_index_under_a_recorded_watermark_is_rebuilt() {
    let (server, answers, envelopes) = log_with_events(40).await;
    let (dir, _tmp) = server.stop().await;
    // The watermark still says 40, but the leaf-hash index is gone.
    std::fs::remove_dir_all(dir.index().join("leaves")).unwrap();
    let server = TestServer::open(dir, LedgerConfig::default()).await;
    assert_lookups_work(&server, &answers, &envelopes).await;
}

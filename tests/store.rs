//! The sled log store: appends, reopen, proofs against stored checkpoints, the open-time check,
//! the audit and tamper detection.

mod common;

use common::damage::flip_leaf_byte;
use provledger::checkpoint::open_checkpoint;
use provledger::merkle::{
    Blake3, Hash, MemoryTree, Sha256, TreeHasher, root, verify_consistency, verify_inclusion,
};
use provledger::note::NoteSigner;
use provledger::store::{AuditProblem, LogStore, StoreError};
use std::path::Path;

fn signer() -> NoteSigner {
    NoteSigner::from_seed("test.provledger/log", &[7u8; 32]).unwrap()
}

fn leaf(i: u64) -> Vec<u8> {
    format!("event number {i} with some padding to look like a real entry").into_bytes()
}

fn create(dir: &Path) -> LogStore {
    LogStore::create(dir, "test.provledger/log", signer()).unwrap()
}

fn append_range(store: &LogStore, from: u64, to: u64) {
    let leaves: Vec<Vec<u8>> = (from..to).map(leaf).collect();
    let appended = store.append(&leaves).unwrap();
    assert_eq!(appended.first_index, from);
    assert_eq!(appended.checkpoint.checkpoint.size, to);
}

fn reference(n: u64) -> (Vec<Hash>, MemoryTree) {
    let hashes: Vec<Hash> = (0..n).map(|i| Blake3::hash_leaf(&leaf(i))).collect();
    let tree = MemoryTree::from_leaf_hashes::<Blake3>(&hashes);
    (hashes, tree)
}

#[test]
fn appends_match_reference_tree_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = create(dir.path());
    assert_eq!(store.size(), 0);
    assert_eq!(store.latest().checkpoint.root, Blake3::empty_root());
    // Batch sizes that cross chunk and tile boundaries.
    let mut at = 0;
    for batch in [1u64, 2, 5, 250, 7, 300, 1, 600] {
        append_range(&store, at, at + batch);
        at += batch;
    }
    drop(store);
    let store = LogStore::<Blake3>::open(dir.path(), Some(signer())).unwrap();
    assert_eq!(store.size(), at);
    append_range(&store, at, at + 100);
    at += 100;
    let (hashes, tree) = reference(at);
    for size in [0, 1, 2, 3, 255, 256, 257, 1000, at] {
        assert_eq!(
            store.root_at(size).unwrap(),
            root::<Blake3, _>(&tree, size).unwrap()
        );
    }
    let latest = store.latest();
    assert_eq!(
        latest.checkpoint.root,
        root::<Blake3, _>(&tree, at).unwrap()
    );
    let opened = open_checkpoint(&latest.note, &signer().verifier()).unwrap();
    assert_eq!(opened, latest.checkpoint);
    for index in [0, 1, 255, 256, 511, 512, at - 1] {
        let proof = store.inclusion_proof(index, at).unwrap();
        verify_inclusion::<Blake3>(
            index,
            at,
            &hashes[index as usize],
            &proof,
            &latest.checkpoint.root,
        )
        .unwrap();
        assert_eq!(store.leaf_hash(index).unwrap(), hashes[index as usize]);
    }
    assert_eq!(
        store.leaves(250, 10).unwrap(),
        (250..260).map(leaf).collect::<Vec<_>>()
    );
    assert_eq!(store.leaves(at - 2, 10).unwrap().len(), 2);
}

#[test]
fn every_published_checkpoint_is_served_again_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let store = create(dir.path());
    let mut published = vec![store.latest()];
    let mut at = 0;
    for batch in [3u64, 1, 17, 64, 200] {
        append_range(&store, at, at + batch);
        at += batch;
        published.push(store.latest());
    }
    for old in &published {
        let again = store.checkpoint_at(old.checkpoint.size).unwrap();
        assert_eq!(again.note, old.note);
        for new in &published {
            if new.checkpoint.size < old.checkpoint.size {
                continue;
            }
            let proof = store
                .consistency_proof(old.checkpoint.size, new.checkpoint.size)
                .unwrap();
            verify_consistency::<Blake3>(
                old.checkpoint.size,
                new.checkpoint.size,
                &old.checkpoint.root,
                &new.checkpoint.root,
                &proof,
            )
            .unwrap();
        }
    }
    // A size no append ended at is answered too, with the root of that prefix.
    let two = store.checkpoint_at(2).unwrap();
    let opened = open_checkpoint(&two.note, &signer().verifier()).unwrap();
    assert_eq!((opened.size, opened.root), (2, store.root_at(2).unwrap()));
    drop(store);

    // Only the latest checkpoint is stored.
    let db = sled::open(dir.path()).unwrap();
    let stored: Vec<Vec<u8>> = db
        .scan_prefix([b'c'])
        .keys()
        .map(|k| k.unwrap().to_vec())
        .collect();
    assert_eq!(stored, vec![key(b'c', 285)]);
    drop(db);

    // Without the log key, only the latest can be answered.
    let read_only = LogStore::<Blake3>::open(dir.path(), None).unwrap();
    assert_eq!(
        read_only.checkpoint_at(285).unwrap().note,
        published.last().unwrap().note
    );
    assert!(matches!(
        read_only.checkpoint_at(2),
        Err(StoreError::NoCheckpointAt { size: 2 })
    ));
}

#[test]
fn out_of_range_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = create(dir.path());
    append_range(&store, 0, 10);
    assert!(matches!(
        store.inclusion_proof(3, 11),
        Err(StoreError::SizeBeyondLog {
            size: 11,
            log_size: 10
        })
    ));
    assert!(matches!(
        store.inclusion_proof(10, 10),
        Err(StoreError::IndexBeyondSize {
            index: 10,
            size: 10
        })
    ));
    assert!(matches!(
        store.consistency_proof(5, 4),
        Err(StoreError::FirstAfterSecond {
            first: 5,
            second: 4
        })
    ));
    assert!(matches!(
        store.leaves(10, 1),
        Err(StoreError::IndexBeyondSize { .. })
    ));
    assert!(matches!(
        store.checkpoint_at(11),
        Err(StoreError::SizeBeyondLog { .. })
    ));
}

#[test]
fn opening_needs_an_initialised_store_and_the_right_key() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        LogStore::<Blake3>::open(dir.path(), None),
        Err(StoreError::NotInitialised { .. })
    ));
    drop(create(dir.path()));
    assert!(matches!(
        LogStore::<Blake3>::create(dir.path(), "x", signer()),
        Err(StoreError::AlreadyInitialised { .. })
    ));
    let other = NoteSigner::from_seed("test.provledger/log", &[8u8; 32]).unwrap();
    assert!(matches!(
        LogStore::<Blake3>::open(dir.path(), Some(other)),
        Err(StoreError::WrongSigner { .. })
    ));
    let read_only = LogStore::<Blake3>::open(dir.path(), None).unwrap();
    assert!(matches!(
        read_only.append(&[b"x"]),
        Err(StoreError::ReadOnly)
    ));
}

#[test]
fn sha256_store_reproduces_the_published_rfc6962_root() {
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("vectors/rfc6962-sha256.json")).unwrap();
    let leaves: Vec<&str> = vectors["leaves_utf8"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let store =
        LogStore::<Sha256>::create(dir.path(), "example.com/log/testdata", signer()).unwrap();
    store.append(&leaves[..4]).unwrap();
    store.append(&leaves[4..]).unwrap();
    let published = provledger::checkpoint::Checkpoint::parse_body(
        vectors["published"]["tessera_testdata_checkpoint"]
            .as_str()
            .unwrap()
            .split("\n\n")
            .next()
            .map(|b| format!("{b}\n"))
            .unwrap()
            .as_str(),
    )
    .unwrap();
    assert_eq!(published.size, 15);
    assert_eq!(store.latest().checkpoint.root, published.root);
}

#[test]
fn audit_is_clean_on_an_untouched_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = create(dir.path());
    let mut at = 0;
    for batch in [1u64, 300, 20, 700] {
        append_range(&store, at, at + batch);
        at += batch;
    }
    let report = provledger::store::audit(&store).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.leaves, at);
    // The latest checkpoint is the one stored.
    assert_eq!(report.checkpoints, 1);
}

/// Builds a store of 1,000 leaves, closes it, lets `damage` change the raw sled data, and
/// returns the directory.
fn damaged_store(damage: impl FnOnce(&sled::Db)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = create(dir.path());
    append_range(&store, 0, 600);
    append_range(&store, 600, 1000);
    drop(store);
    let db = sled::open(dir.path()).unwrap();
    damage(&db);
    db.flush().unwrap();
    drop(db);
    dir
}

fn flip_byte(db: &sled::Db, key: &[u8], at_from_end: usize) {
    let mut value = db.get(key).unwrap().unwrap().to_vec();
    let i = value.len() - at_from_end;
    value[i] ^= 0x01;
    db.insert(key, value).unwrap();
}

fn key(prefix: u8, n: u64) -> Vec<u8> {
    let mut k = vec![prefix];
    k.extend(n.to_be_bytes());
    k
}

#[test]
fn a_flipped_leaf_byte_is_located_by_the_audit() {
    let dir = damaged_store(|_| {});
    flip_leaf_byte(dir.path(), 641);
    let store = LogStore::<Blake3>::open(dir.path(), None).unwrap();
    // The leaf read back is the damaged one: nothing checks leaves against the tree on reads.
    assert_ne!(store.leaves(641, 1).unwrap()[0], leaf(641));
    let report = provledger::store::audit(&store).unwrap();
    assert_eq!(report.problems[0], AuditProblem::LeafHash { index: 641 });
    assert_eq!(report.problems[0].leaf_index(), Some(641));
    assert!(
        report
            .problems
            .contains(&AuditProblem::CheckpointRoot { size: 1000 })
    );
}

#[test]
fn malformed_leaf_offsets_are_located_by_the_audit() {
    let dir = damaged_store(|_| {});
    // Leaf 900's end offset now runs past the data file.
    let path = dir.path().join("leaves").join("offsets");
    let mut offsets = std::fs::read(&path).unwrap();
    offsets[900 * 8..901 * 8].copy_from_slice(&u64::MAX.to_be_bytes());
    std::fs::write(&path, offsets).unwrap();
    let store = LogStore::<Blake3>::open(dir.path(), None).unwrap();
    assert!(matches!(
        store.leaves(899, 2),
        Err(StoreError::Corrupt { .. })
    ));
    let report = provledger::store::audit(&store).unwrap();
    assert!(
        matches!(&report.problems[0], AuditProblem::LeafFile { index: 900, reason } if reason.contains("past the data file")),
        "{:?}",
        report.problems
    );
    // Every leaf before it is still checked.
    assert_eq!(report.leaves, 900);
}

#[test]
fn leaf_files_shorter_than_the_checkpoint_are_refused_at_open() {
    let dir = damaged_store(|_| {});
    let path = dir.path().join("leaves").join("offsets");
    let offsets = std::fs::read(&path).unwrap();
    std::fs::write(&path, &offsets[..999 * 8]).unwrap();
    let err = LogStore::<Blake3>::open(dir.path(), None).unwrap_err();
    assert!(
        err.to_string()
            .contains("the stored leaves end at 999 but the latest checkpoint is for size 1000"),
        "{err}"
    );
}

/// Node `index` of `level` in the store's node files: `tree/level-NN`, 32 bytes per node.
fn node_file(dir: &Path, level: u8) -> std::path::PathBuf {
    dir.join("tree").join(format!("level-{level:02}"))
}

fn flip_node_byte(dir: &Path, level: u8, index: u64) {
    let path = node_file(dir, level);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[index as usize * 32 + 5] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn a_flipped_frontier_node_is_caught_at_open() {
    // 1000 = 512 + 256 + 128 + 64 + 32 + 8: node 124 of level 3 (leaves 992..999) is the last
    // node of the right edge, and the open-time check recomputes the root from it.
    let dir = damaged_store(|_| {});
    flip_node_byte(dir.path(), 3, 124);
    match LogStore::<Blake3>::open(dir.path(), None) {
        Err(e @ StoreError::RootMismatch { size: 1000, .. }) => {
            assert!(e.to_string().contains("refusing to serve"), "{e}")
        }
        other => panic!("open should refuse the store, got {other:?}"),
    }
}

#[test]
fn a_flipped_inner_node_is_located_by_the_audit() {
    // Node 3 of level 2 covers leaves 12..15; it is not on the right edge, so open accepts the
    // store and only the audit, recomputing every node, finds it.
    let dir = damaged_store(|_| {});
    flip_node_byte(dir.path(), 2, 3);
    flip_node_byte(dir.path(), 0, 700);
    let store = LogStore::<Blake3>::open(dir.path(), None).unwrap();
    let report = provledger::store::audit(&store).unwrap();
    assert_eq!(
        report.problems,
        vec![
            AuditProblem::Node {
                level: 2,
                index: 3,
                first_leaf: 12
            },
            AuditProblem::LeafHash { index: 700 },
        ]
    );
    // A proof that carries the damaged node (leaf 8's path has it as a sibling) no longer
    // verifies against the signed root.
    let signed = store.latest().checkpoint.clone();
    let proof = store.inclusion_proof(8, 1000).unwrap();
    let (hashes, _) = reference(1000);
    assert!(verify_inclusion::<Blake3>(8, 1000, &hashes[8], &proof, &signed.root).is_err());
}

#[test]
fn node_files_are_recomputed_past_their_durable_watermark() {
    let dir = damaged_store(|_| {});
    let tree = dir.path().join("tree");
    // As after a crash: the files were last synced at 600; the nodes of later leaves are lost
    // or were half written, and an uncommitted append left nodes past the log's end.
    provledger::watermark::write(&tree, "synced", 600).unwrap();
    for level in 0..10u8 {
        let path = node_file(dir.path(), level);
        let mut bytes = std::fs::read(&path).unwrap();
        let keep = ((600u64 >> level) * 32) as usize;
        bytes.truncate(keep);
        bytes.extend(vec![0xAB; 40 * 32]);
        std::fs::write(&path, bytes).unwrap();
    }
    let store = LogStore::<Blake3>::open(dir.path(), Some(signer())).unwrap();
    assert_eq!(store.size(), 1000);
    assert_eq!(
        std::fs::metadata(node_file(dir.path(), 0)).unwrap().len(),
        1000 * 32
    );
    let report = provledger::store::audit(&store).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    append_range(&store, 1000, 1010);
    drop(store);
    assert_eq!(provledger::watermark::read(&tree, "synced"), 1010);
}

#[test]
fn lost_node_files_are_rebuilt_from_the_leaves() {
    let dir = damaged_store(|_| {});
    std::fs::remove_dir_all(dir.path().join("tree")).unwrap();
    let store = LogStore::<Blake3>::open(dir.path(), None).unwrap();
    let (hashes, tree) = reference(1000);
    assert_eq!(
        store.root_at(1000).unwrap(),
        root::<Blake3, _>(&tree, 1000).unwrap()
    );
    let proof = store.inclusion_proof(321, 1000).unwrap();
    let signed = store.latest().checkpoint.clone();
    verify_inclusion::<Blake3>(321, 1000, &hashes[321], &proof, &signed.root).unwrap();
    assert!(provledger::store::audit(&store).unwrap().is_clean());
}

#[test]
fn a_flipped_checkpoint_byte_is_caught() {
    // Only the latest checkpoint is stored, and the open-time check reads it.
    let dir = damaged_store(|db| flip_byte(db, &key(b'c', 1000), 10));
    assert!(matches!(
        LogStore::<Blake3>::open(dir.path(), None),
        Err(StoreError::Corrupt { .. })
    ));
    // The audit still opens the store, and names the checkpoint.
    let (store, damage) = LogStore::<Blake3>::open_for_audit(dir.path()).unwrap();
    assert!(matches!(damage, Some(StoreError::Corrupt { .. })));
    let report = provledger::store::audit(&store).unwrap();
    assert_eq!(report.problem_count, 1, "{:?}", report.problems);
    assert!(matches!(
        report.problems[0],
        AuditProblem::Checkpoint { size: 1000, .. }
    ));
}

#[test]
fn a_store_in_use_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let _open = create(dir.path());
    match LogStore::<Blake3>::open(dir.path(), None) {
        Err(e @ StoreError::Locked { .. }) => {
            assert!(e.to_string().contains("in use by another process"))
        }
        other => panic!("expected Locked, got {other:?}"),
    }
}

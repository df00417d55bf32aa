//! Unit tests: a model-based proptest, reopen, fingerprint collisions, corruption, locking,
//! concurrency.

use super::format::file_len;
use super::*;
use proptest::prelude::*;
use std::collections::{BTreeSet, HashMap};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A deterministic, well-spread test key.
pub(super) fn key(seed: u64, i: u64) -> [u8; 32] {
    let mut input = [0u8; 16];
    input[..8].copy_from_slice(&seed.to_le_bytes());
    input[8..].copy_from_slice(&i.to_le_bytes());
    *blake3::hash(&input).as_bytes()
}

/// A key in `shard` with fingerprint bytes `fp` and the rest from `rest`.
pub(super) fn key_with(shard: u8, fp: u64, rest: u64) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[0] = shard;
    k[1..9].copy_from_slice(&rest.to_le_bytes()[..8]);
    k[8..16].copy_from_slice(&fp.to_le_bytes());
    k[16..24].copy_from_slice(&rest.rotate_left(17).to_le_bytes());
    k[24..32].copy_from_slice(&(!rest).to_le_bytes());
    k
}

pub(super) fn shard_path(dir: &Path, shard: usize) -> PathBuf {
    dir.join(format!("shard-{shard:02}.idx"))
}

#[test]
fn hash_index_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<HashIndex>();
}

#[derive(Debug, Clone)]
enum Op {
    Insert(usize, u64),
    Get(usize),
    /// Drop and reopen, after a sync or not.
    Reopen(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (any::<usize>(), prop_oneof![0u64..4, any::<u64>()]).prop_map(|(k, v)| Op::Insert(k, v)),
        6 => any::<usize>().prop_map(Op::Get),
        1 => any::<bool>().prop_map(Op::Reopen),
    ]
}

/// Keys in 3 shards; about a quarter have fingerprint bytes 0..4 (0 and 1 collide, and all
/// share home slot 0), the rest random fingerprints.
fn key_pool() -> impl Strategy<Value = Vec<[u8; 32]>> {
    prop::collection::vec(
        (0u8..3, any::<bool>(), 0u64..4, any::<u64>(), any::<u64>()),
        1..120,
    )
    .prop_map(|specs| {
        specs
            .into_iter()
            .map(|(s, small, small_fp, fp, rest)| {
                key_with(
                    s + 64 * (rest % 4) as u8,
                    if small { small_fp } else { fp },
                    rest,
                )
            })
            .collect()
    })
}

fn shard_and_fp(k: &[u8; 32]) -> (u8, u64) {
    (k[0] & 63, fingerprint(k))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn behaves_like_a_multimap_of_candidates(keys in key_pool(), ops in prop::collection::vec(op(), 1..1500)) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("idx");
        let mut index = Some(HashIndex::open_with_capacity(&dir, MIN_CAPACITY).unwrap());
        let mut model: HashMap<[u8; 32], BTreeSet<u64>> = HashMap::new();
        // Values per (shard, fingerprint): what get may legitimately return.
        let mut by_fp: HashMap<(u8, u64), BTreeSet<u64>> = HashMap::new();
        let mut exact_len = true;
        let check = |index: &HashIndex, k: &[u8; 32], model: &HashMap<[u8; 32], BTreeSet<u64>>,
                     by_fp: &HashMap<(u8, u64), BTreeSet<u64>>| -> Result<(), TestCaseError> {
            let got = index.get(k).unwrap();
            let got_set: BTreeSet<u64> = got.iter().copied().collect();
            prop_assert_eq!(got.len(), got_set.len(), "duplicate values returned");
            if let Some(want) = model.get(k) {
                prop_assert!(want.is_subset(&got_set), "missing values: want {:?} got {:?}", want, got_set);
            }
            let allowed = by_fp.get(&shard_and_fp(k)).cloned().unwrap_or_default();
            prop_assert!(got_set.is_subset(&allowed), "unexpected values: got {:?} allowed {:?}", got_set, allowed);
            Ok(())
        };
        for op in ops {
            match op {
                Op::Insert(i, v) => {
                    let k = keys[i % keys.len()];
                    index.as_ref().unwrap().insert(&k, v).unwrap();
                    model.entry(k).or_default().insert(v);
                    by_fp.entry(shard_and_fp(&k)).or_default().insert(v);
                }
                Op::Get(i) => check(index.as_ref().unwrap(), &keys[i % keys.len()], &model, &by_fp)?,
                Op::Reopen(sync) => {
                    let old = index.take().unwrap();
                    if sync {
                        old.sync().unwrap();
                    } else {
                        exact_len = false;
                    }
                    drop(old);
                    index = Some(HashIndex::open_with_capacity(&dir, MIN_CAPACITY).unwrap());
                }
            }
        }
        let index = index.unwrap();
        for k in &keys {
            check(&index, k, &model, &by_fp)?;
        }
        let distinct: u64 = by_fp.values().map(|v| v.len() as u64).sum();
        if exact_len {
            prop_assert_eq!(index.len(), distinct);
        } else {
            prop_assert!(index.len() <= distinct);
        }
        index.sync().unwrap();
    }
}

#[test]
fn grows_many_times_and_keeps_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let index = HashIndex::open_with_capacity(tmp.path(), MIN_CAPACITY).unwrap();
    for i in 0..20_000u64 {
        index.insert(&key(1, i), i).unwrap();
    }
    for i in 0..20_000u64 {
        assert_eq!(index.get(&key(1, i)).unwrap(), vec![i]);
    }
    assert_eq!(index.len(), 20_000);
    for s in 0..SHARDS {
        let cap = index.shard_capacity(s);
        assert!(cap >= 256, "shard {s} has capacity {cap}");
    }
}

#[test]
fn reopen_after_sync_finds_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    let n = 50_000u64;
    {
        let index = HashIndex::open(&dir).unwrap();
        assert!(index.is_empty());
        for i in 0..n {
            index.insert(&key(2, i), i * 3).unwrap();
        }
        // Repeats change nothing.
        for i in 0..1000 {
            index.insert(&key(2, i), i * 3).unwrap();
        }
        assert_eq!(index.len(), n);
        index.sync().unwrap();
    }
    let index = HashIndex::open(&dir).unwrap();
    assert_eq!(index.len(), n);
    for i in 0..n {
        assert_eq!(index.get(&key(2, i)).unwrap(), vec![i * 3], "key {i}");
    }
    for i in 0..10_000 {
        assert!(index.get(&key(3, i)).unwrap().is_empty());
    }
}

#[test]
fn one_key_can_hold_several_values() {
    let tmp = tempfile::tempdir().unwrap();
    let index = HashIndex::open(tmp.path()).unwrap();
    let k = key(4, 0);
    for v in [7, 0, u64::MAX, 7, 0] {
        index.insert(&k, v).unwrap();
    }
    let mut got = index.get(&k).unwrap();
    got.sort_unstable();
    assert_eq!(got, vec![0, 7, u64::MAX]);
    assert_eq!(index.len(), 3);
}

#[test]
fn fingerprint_collisions_return_both_candidates() {
    let tmp = tempfile::tempdir().unwrap();
    let index = HashIndex::open_with_capacity(tmp.path(), MIN_CAPACITY).unwrap();
    let fp = 0x0123_4567_89ab_cdef;
    // Same key[0] & 63 and key[8..16], different everywhere else.
    let a = key_with(5, fp, 1);
    let b = key_with(5 + 64, fp, 2);
    assert_ne!(a, b);
    index.insert(&a, 10).unwrap();
    index.insert(&b, 20).unwrap();
    // Fingerprint bytes 0 and 1 collide too (0 is stored as 1).
    let c = key_with(9, 0, 3);
    let d = key_with(9, 1, 4);
    index.insert(&c, 30).unwrap();
    index.insert(&d, 40).unwrap();
    let sorted = |k: &[u8; 32], index: &HashIndex| {
        let mut v = index.get(k).unwrap();
        v.sort_unstable();
        v
    };
    assert_eq!(sorted(&a, &index), vec![10, 20]);
    assert_eq!(sorted(&b, &index), vec![10, 20]);
    assert_eq!(sorted(&c, &index), vec![30, 40]);
    assert_eq!(sorted(&d, &index), vec![30, 40]);
    // A colliding key with the same value is one slot: the caller sees one candidate.
    index.insert(&key_with(5, fp, 9), 10).unwrap();
    assert_eq!(sorted(&a, &index), vec![10, 20]);
    // Still so after the shard grows.
    for i in 0..200 {
        index
            .insert(&key_with(5, i * 0x0100_0000_0000_0001, i), i)
            .unwrap();
    }
    assert!(index.shard_capacity(5) > MIN_CAPACITY);
    assert_eq!(sorted(&b, &index), vec![10, 20]);
    // Other shards are not affected.
    assert!(index.get(&key_with(6, fp, 1)).unwrap().is_empty());
}

/// Creates an index in `dir` holding a few entries, synced and closed.
fn make_index(dir: &Path) {
    let index = HashIndex::open(dir).unwrap();
    for i in 0..1000 {
        index.insert(&key(5, i), i).unwrap();
    }
    index.sync().unwrap();
}

fn assert_corrupt_naming(dir: &Path, file: &str) {
    match HashIndex::open(dir) {
        Err(e @ HashIndexError::Corrupt { .. }) => {
            assert!(e.to_string().contains(file), "{e} does not name {file}");
        }
        other => panic!("expected Corrupt naming {file}, got {other:?}"),
    }
}

#[test]
fn a_flipped_header_byte_is_reported_with_the_file_name() {
    for pos in [0u64, 7, 8, 12, 15, 16, 23, 24, 31, 32, 47, 63] {
        let tmp = tempfile::tempdir().unwrap();
        make_index(tmp.path());
        let path = shard_path(tmp.path(), 7);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let mut b = [0u8; 1];
        file.read_exact_at(&mut b, pos).unwrap();
        file.write_all_at(&[b[0] ^ 0x10], pos).unwrap();
        drop(file);
        assert_corrupt_naming(tmp.path(), "shard-07.idx");
    }
}

#[test]
fn a_wrong_file_length_is_reported_with_the_file_name() {
    let header_len = super::format::HEADER_LEN;
    let full = file_len(DEFAULT_INITIAL_CAPACITY);
    for len in [full - 16, full + 16, full - 1, header_len, 10, 0] {
        let tmp = tempfile::tempdir().unwrap();
        make_index(tmp.path());
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(shard_path(tmp.path(), 42))
            .unwrap();
        file.set_len(len).unwrap();
        drop(file);
        assert_corrupt_naming(tmp.path(), "shard-42.idx");
    }
}

#[test]
fn a_leftover_tmp_file_is_removed_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    make_index(tmp.path());
    let leftover = tmp.path().join("shard-03.idx.tmp");
    std::fs::write(&leftover, b"half a growth").unwrap();
    let unrelated = tmp.path().join("notes.txt");
    std::fs::write(&unrelated, b"keep me").unwrap();
    let index = HashIndex::open(tmp.path()).unwrap();
    assert!(!leftover.exists());
    assert!(unrelated.exists());
    for i in 0..1000 {
        assert_eq!(index.get(&key(5, i)).unwrap(), vec![i]);
    }
}

#[test]
fn bad_initial_capacity_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for cap in [0, 8, 1000, MAX_CAPACITY * 2] {
        assert!(matches!(
            HashIndex::open_with_capacity(tmp.path(), cap),
            Err(HashIndexError::InvalidCapacity(c)) if c == cap
        ));
    }
}

#[test]
fn one_open_index_per_directory_and_destroy() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let index = HashIndex::open(&dir).unwrap();
    index.insert(&key(6, 1), 1).unwrap();
    assert!(matches!(
        HashIndex::open(&dir),
        Err(HashIndexError::Locked { .. })
    ));
    assert!(matches!(
        HashIndex::destroy(&dir),
        Err(HashIndexError::Locked { .. })
    ));
    drop(index);
    HashIndex::destroy(&dir).unwrap();
    assert!(!dir.exists());
    HashIndex::destroy(&dir).unwrap();
    let index = HashIndex::open(&dir).unwrap();
    assert!(index.get(&key(6, 1)).unwrap().is_empty());
    assert_eq!(index.len(), 0);
}

#[test]
fn readers_always_find_what_the_writer_inserted() {
    let tmp = tempfile::tempdir().unwrap();
    let index = HashIndex::open_with_capacity(tmp.path(), MIN_CAPACITY).unwrap();
    let n = 100_000usize;
    let keys: Vec<[u8; 32]> = (0..n as u64).map(|i| key(7, i)).collect();
    let published = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let lookups = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for r in 0..2u64 {
            let (index, keys, published, done, lookups) =
                (&index, &keys, &published, &done, &lookups);
            s.spawn(move || {
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ r;
                let mut count = 0;
                while !done.load(Ordering::Acquire) {
                    let upto = published.load(Ordering::Acquire);
                    if upto == 0 {
                        continue;
                    }
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let i = (x % upto as u64) as usize;
                    assert_eq!(index.get(&keys[i]).unwrap(), vec![i as u64], "key {i}");
                    count += 1;
                }
                lookups.fetch_add(count, Ordering::Relaxed);
            });
        }
        for (i, k) in keys.iter().enumerate() {
            index.insert(k, i as u64).unwrap();
            published.store(i + 1, Ordering::Release);
        }
        done.store(true, Ordering::Release);
    });
    assert!(lookups.load(Ordering::Relaxed) > 1000);
    assert_eq!(index.len(), n as u64);
}

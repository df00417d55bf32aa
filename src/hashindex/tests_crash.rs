//! Crash tests: closing without a sync; crash images that mix, page by page, the files as of
//! the last sync with the files as last written (what a power cut can leave on disk); and
//! growth over hand-made tables with wrapped runs, orphans, a wrong count and no free slot.

use super::format::{encode_header, encode_slot, slot_offset};
use super::tests::{key, key_with, shard_path};
use super::*;
use std::collections::HashSet;
use std::os::unix::fs::FileExt;

/// Checks that every candidate `get` returns for keys `seed, 0..n` is that key's value (the
/// only value inserted under its fingerprint; random keys do not collide), and returns how
/// many keys were found.
fn found(index: &HashIndex, seed: u64, range: std::ops::Range<u64>) -> u64 {
    let mut hits = 0;
    for i in range {
        let got = index.get(&key(seed, i)).unwrap();
        assert!(got.is_empty() || got == vec![i], "key {seed}/{i}: {got:?}");
        hits += u64::from(!got.is_empty());
    }
    hits
}

#[test]
fn unsynced_inserts_and_drop_then_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    {
        let index = HashIndex::open_with_capacity(dir, 64).unwrap();
        for i in 0..20_000 {
            index.insert(&key(10, i), i).unwrap();
        }
        index.sync().unwrap();
        // These grow most shards again, then stay unsynced.
        for i in 20_000..40_000 {
            index.insert(&key(10, i), i).unwrap();
        }
    }
    let index = HashIndex::open_with_capacity(dir, 64).unwrap();
    assert_eq!(found(&index, 10, 0..20_000), 20_000);
    // Nothing was lost without a crash, but the counts of unsynced shards may lag.
    assert_eq!(found(&index, 10, 20_000..40_000), 20_000);
    assert!(index.len() >= 20_000 && index.len() <= 40_000);
    assert_eq!(found(&index, 11, 0..5_000), 0);
    // Re-inserting changes nothing, and the index keeps working through more growth.
    for i in 0..80_000 {
        index.insert(&key(10, i), i).unwrap();
    }
    assert_eq!(found(&index, 10, 0..80_000), 80_000);
    index.sync().unwrap();
}

/// A small deterministic generator for the crash images.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

const PAGE: usize = 4096;

/// Builds in `out` a crash image of the index: each 4 KiB page of each shard comes either from
/// `synced` (the files as of the last sync) or from `written` (the files as last written).
fn crash_image(synced: &Path, written: &Path, out: &Path, rng: &mut SplitMix) {
    std::fs::create_dir_all(out).unwrap();
    for s in 0..SHARDS {
        let name = format!("shard-{s:02}.idx");
        let old = std::fs::read(synced.join(&name)).unwrap();
        let new = std::fs::read(written.join(&name)).unwrap();
        assert_eq!(
            old.len(),
            new.len(),
            "no growth may happen after the snapshot"
        );
        let mut image = old.clone();
        for (page, chunk) in image.chunks_mut(PAGE).enumerate() {
            if rng.next().is_multiple_of(2) {
                chunk.copy_from_slice(&new[page * PAGE..page * PAGE + chunk.len()]);
            }
        }
        std::fs::write(out.join(&name), image).unwrap();
    }
}

fn copy_shards(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for s in 0..SHARDS {
        let name = format!("shard-{s:02}.idx");
        std::fs::copy(from.join(&name), to.join(&name)).unwrap();
    }
}

#[test]
fn crash_images_keep_synced_entries_and_give_only_valid_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    let synced = tmp.path().join("synced");
    // 1024 slots per shard: 12,000 entries (about 190 a shard) never make a shard grow.
    let (n_synced, n_unsynced) = (6_000u64, 6_000u64);
    {
        let index = HashIndex::open(&live).unwrap();
        for i in 0..n_synced {
            index.insert(&key(20, i), i).unwrap();
        }
        index.sync().unwrap();
        copy_shards(&live, &synced);
        for i in n_synced..n_synced + n_unsynced {
            index.insert(&key(20, i), i).unwrap();
        }
        for s in 0..SHARDS {
            assert_eq!(index.shard_capacity(s), DEFAULT_INITIAL_CAPACITY);
        }
        // The power cut comes during this second sync: any page may or may not have reached
        // the disk, headers (with the new counts) included.
        index.sync().unwrap();
    }
    let mut rng = SplitMix(42);
    let mut counts = HashSet::new();
    for round in 0..4 {
        let image = tmp.path().join(format!("image-{round}"));
        crash_image(&synced, &live, &image, &mut rng);
        let index = HashIndex::open(&image).unwrap();
        counts.insert(index.len());
        assert_eq!(found(&index, 20, 0..n_synced), n_synced, "round {round}");
        let survivors = found(&index, 20, n_synced..n_synced + n_unsynced);
        assert!(
            survivors < n_unsynced,
            "round {round}: every page can't be new"
        );
        assert_eq!(found(&index, 21, 0..5_000), 0);
        // The caller re-inserts everything past its durable watermark.
        for i in n_synced..n_synced + n_unsynced {
            index.insert(&key(20, i), i).unwrap();
        }
        let total = n_synced + n_unsynced;
        assert_eq!(found(&index, 20, 0..total), total, "round {round}");
        // Enough new entries to grow every shard at least twice (rebuilding any orphans).
        for i in total..total + 100_000 {
            index.insert(&key(20, i), i).unwrap();
        }
        let total = total + 100_000;
        assert_eq!(found(&index, 20, 0..total), total, "round {round}");
        for s in 0..SHARDS {
            assert!(index.shard_capacity(s) >= 4 * DEFAULT_INITIAL_CAPACITY);
        }
        // Every shard has grown since the crash, so the count is exact again.
        assert_eq!(index.len(), total);
        index.sync().unwrap();
        drop(index);
        let index = HashIndex::open(&image).unwrap();
        assert_eq!(index.len(), total);
        assert_eq!(
            found(&index, 20, 0..total),
            total,
            "round {round} after reopen"
        );
    }
    // Headers came from both sides of the second sync in different rounds (so counts that
    // lagged and counts that ran ahead were both exercised).
    assert!(counts.len() > 1, "{counts:?}");
}

/// Writes `entries` (position, fingerprint, value) and a header into shard 0 of a closed index
/// of capacity 16.
fn craft_shard0(dir: &Path, count: u64, entries: &[(u64, u64, u64)]) {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(shard_path(dir, 0))
        .unwrap();
    file.write_all_at(&encode_header(MIN_CAPACITY, count), 0)
        .unwrap();
    for &(pos, fp, v) in entries {
        file.write_all_at(&encode_slot(fp, v), slot_offset(pos))
            .unwrap();
    }
}

#[test]
fn growth_handles_wrapped_runs_and_repairs_orphans() {
    let tmp = tempfile::tempdir().unwrap();
    drop(HashIndex::open_with_capacity(tmp.path(), MIN_CAPACITY).unwrap());
    // Capacity 16: the home is the fingerprint's top 4 bits.
    let fp = |home: u64, low: u64| (home << 60) | low;
    let entries = [
        // A run from home 15 wrapping into slots 0 and 1, then a home-0 entry displaced to 2.
        (15, fp(15, 1), 100),
        (0, fp(15, 2), 101),
        (1, fp(15, 3), 102),
        (2, fp(0, 4), 103),
        // Orphan: home 5, sits at 7 with slots 5 and 6 empty (as if the slots before it had
        // been lost in a crash).
        (7, fp(5, 5), 104),
        // Orphan that had wrapped: home 14, sits at 4 behind the empty slot 3.
        (4, fp(14, 6), 105),
        // An ordinary entry at its home.
        (10, fp(10, 7), 106),
    ];
    // The count says 8 (ahead of the 7 slots, as after a crash inside sync).
    craft_shard0(tmp.path(), 8, &entries);
    let k = |f: u64| key_with(0, f, f);
    let index = HashIndex::open_with_capacity(tmp.path(), MIN_CAPACITY).unwrap();
    for &(pos, f, v) in &entries {
        let got = index.get(&k(f)).unwrap();
        if pos == 7 || pos == 4 {
            assert!(got.is_empty() || got == vec![v]);
        } else {
            assert_eq!(got, vec![v], "entry at {pos}");
        }
    }
    // The next new entry passes half full: the shard grows and every entry is findable.
    index.insert(&k(fp(3, 8)), 107).unwrap();
    assert_eq!(index.shard_capacity(0), 2 * MIN_CAPACITY);
    assert_eq!(index.len(), 8);
    for &(_, f, v) in &entries {
        assert_eq!(index.get(&k(f)).unwrap(), vec![v]);
    }
    assert_eq!(index.get(&k(fp(3, 8))).unwrap(), vec![107]);
}

#[test]
fn a_full_shard_grows_whatever_its_count_says() {
    let tmp = tempfile::tempdir().unwrap();
    drop(HashIndex::open_with_capacity(tmp.path(), MIN_CAPACITY).unwrap());
    // Every slot occupied, all from home 0; the header claims 0 entries.
    let entries: Vec<(u64, u64, u64)> = (0..MIN_CAPACITY).map(|i| (i, i + 1, i)).collect();
    craft_shard0(tmp.path(), 0, &entries);
    let index = HashIndex::open_with_capacity(tmp.path(), MIN_CAPACITY).unwrap();
    let k = |f: u64| key_with(0, f, f);
    assert!(index.get(&k(99)).unwrap().is_empty());
    index.insert(&k(99), 99).unwrap();
    assert_eq!(index.shard_capacity(0), 4 * MIN_CAPACITY);
    assert_eq!(index.len(), MIN_CAPACITY + 1);
    for &(_, f, v) in &entries {
        assert_eq!(index.get(&k(f)).unwrap(), vec![v]);
    }
    assert_eq!(index.get(&k(99)).unwrap(), vec![99]);
}

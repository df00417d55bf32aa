//! The hash index's shard files as `HashIndex::open` finds them on disk: a fuzzed
//! `shard-00.idx` next to 63 valid shards in a directory under /dev/shm (or the temp dir),
//! opened, then looked up, inserted into (which may grow the shard) and synced.
//!
//! Input: a flag byte, then either the whole file (flag bit 0 clear: header checks are
//! fuzzed), or a capacity byte, a count and the slots (bit 0 set: the header is written
//! valid, with its checksum, so the fuzzer explores damaged tables: full runs, orphans,
//! duplicates).
//!
//! Properties: a file that does not open is refused as corrupt naming `shard-00.idx`, never a
//! panic; in one that opens, a value inserted under a key is among the key's candidates right
//! away, still after `sync`, and after reopening; inserting it again changes nothing.

use crate::input::Input;
use provledger::hashindex::{HashIndex, HashIndexError};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

const HEADER_CONTEXT: &str = "provledger hashindex shard header v1";
const SHARD: &str = "shard-00.idx";

/// This process's index directory; the other 63 shards are created once and never written
/// (every key used here has `key[0] == 0`, so it lives in shard 0).
fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = ["/dev/shm", ""]
            .iter()
            .map(|b| {
                if b.is_empty() {
                    std::env::temp_dir()
                } else {
                    PathBuf::from(b)
                }
            })
            .find(|b| b.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        remove_stale_dirs(&base);
        let dir = base.join(format!("{DIR_PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        HashIndex::open_with_capacity(&dir, 16).expect("a fresh index opens");
        dir
    })
}

const DIR_PREFIX: &str = "provledger-fuzz-hashindex-";

/// Removes the directories of earlier processes that are gone (a process cannot remove its own
/// on exit: libFuzzer ends it with `exit`).
fn remove_stale_dirs(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX));
        if pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A valid header: magic, capacity, count, the BLAKE3 checksum of those, zeros.
pub fn header(capacity: u64, count: u64) -> [u8; 64] {
    let mut h = [0u8; 64];
    h[..8].copy_from_slice(b"PLHIDX01");
    h[8..16].copy_from_slice(&capacity.to_le_bytes());
    h[16..24].copy_from_slice(&count.to_le_bytes());
    let sum = blake3::Hasher::new_derive_key(HEADER_CONTEXT)
        .update(&h[..24])
        .finalize();
    h[24..32].copy_from_slice(&sum.as_bytes()[..8]);
    h
}

/// The shard file the input describes.
fn shard_file(data: &[u8]) -> Vec<u8> {
    let mut input = Input::new(data);
    if input.u8() & 1 == 0 {
        return input.rest().to_vec();
    }
    let capacity = 16u64 << (input.u8() % 6);
    let count = input.u64();
    let mut file = header(capacity, count).to_vec();
    let slots = input.rest();
    let len = (capacity * 16) as usize;
    file.extend_from_slice(&slots[..slots.len().min(len)]);
    file.resize(64 + len, 0);
    file
}

/// A shard-0 key whose fingerprint is `fp` (bytes 8..16, little-endian).
fn key(fp: u64, tag: u8) -> [u8; 32] {
    let mut k = [tag; 32];
    k[0] = 0;
    k[8..16].copy_from_slice(&fp.to_le_bytes());
    k
}

pub fn run(data: &[u8]) {
    // One run at a time per process: the stable harness runs tests on several threads, and
    // they share the directory (libFuzzer itself calls this from one thread).
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = dir();
    let file = shard_file(data);
    let path = dir.join(SHARD);
    std::fs::write(&path, &file).expect("writing the shard file");
    let _ = std::fs::remove_file(dir.join(format!("{SHARD}.tmp")));
    let index = match HashIndex::open(dir) {
        Ok(index) => index,
        Err(HashIndexError::Corrupt { path: named, .. }) => {
            assert_eq!(named, path, "corruption blamed on the wrong file");
            return;
        }
        Err(e) => panic!("a damaged shard gives {e}, not Corrupt"),
    };
    // Keys whose fingerprints are those stored in the first slots, so inserts land in the
    // damaged runs, plus one fresh key.
    let mut keys: Vec<([u8; 32], u64)> = file
        .get(64..64 + 16 * 4)
        .unwrap_or_default()
        .chunks_exact(16)
        .enumerate()
        .map(|(i, slot)| {
            let fp = u64::from_le_bytes(slot[..8].try_into().expect("8 bytes"));
            (key(fp, i as u8 + 1), 1_000_000 + i as u64)
        })
        .collect();
    keys.push((key(0x5eed, 0xee), 42));
    let mut inserted = Vec::new();
    for (k, v) in keys {
        match index.insert(&k, v) {
            Ok(()) => {
                assert!(index.get(&k).expect("get after insert").contains(&v));
                index.insert(&k, v).expect("inserting again");
                inserted.push((k, v));
            }
            Err(HashIndexError::Corrupt { path: named, .. }) => {
                assert_eq!(named, path);
                return;
            }
            Err(HashIndexError::CapacityExceeded { .. }) => return,
            Err(e) => panic!("insert into a damaged shard gives {e}"),
        }
    }
    index.sync().expect("sync");
    for (k, v) in &inserted {
        assert!(index.get(k).expect("get after sync").contains(v));
    }
    drop(index);
    let reopened = HashIndex::open(dir).expect("a shard this index wrote reopens");
    for (k, v) in &inserted {
        assert!(
            reopened.get(k).expect("get after reopen").contains(v),
            "lost after sync"
        );
    }
}

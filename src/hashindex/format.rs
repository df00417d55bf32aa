//! The shard file format: the header, the slots, where a fingerprint lives, and the probe-run
//! scan that `get`, `insert` and growth share.

use super::error::HashIndexError;
use std::fs::File;
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The first 8 bytes of every shard file.
pub(super) const MAGIC: &[u8; 8] = b"PLHIDX01";
/// Header size in bytes; slot `i` starts at `HEADER_LEN + i * SLOT_LEN`.
pub(super) const HEADER_LEN: u64 = 64;
/// Slot size in bytes: fingerprint (u64 LE) then value (u64 LE).
pub(super) const SLOT_LEN: u64 = 16;
/// Smallest capacity the format accepts (slots per shard).
pub const MIN_CAPACITY: u64 = 16;
/// Largest capacity the format accepts (slots per shard, 16 TiB of file).
pub const MAX_CAPACITY: u64 = 1 << 40;
/// Capacity of a shard created by [`super::HashIndex::open`].
pub const DEFAULT_INITIAL_CAPACITY: u64 = 1024;
/// Slots read per `read_at` while walking a probe run.
pub(super) const PROBE_CHUNK: usize = 16;
/// BLAKE3 key-derivation context for the header checksum.
const CHECKSUM_CONTEXT: &str = "provledger hashindex shard header v1";

/// True when `capacity` is one the format accepts.
pub(super) fn valid_capacity(capacity: u64) -> bool {
    capacity.is_power_of_two() && (MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity)
}

/// The length a shard file of `capacity` slots must have.
pub(super) fn file_len(capacity: u64) -> u64 {
    HEADER_LEN + capacity * SLOT_LEN
}

/// Byte offset of slot `pos`.
pub(super) fn slot_offset(pos: u64) -> u64 {
    HEADER_LEN + pos * SLOT_LEN
}

/// A key's fingerprint: `key[8..16]` as u64 LE, with 0 (the empty-slot marker) mapped to 1.
pub(super) fn fingerprint(key: &[u8; 32]) -> u64 {
    match le_u64(&key[8..16]) {
        0 => 1,
        fp => fp,
    }
}

/// A fingerprint's home slot in a table of `capacity` slots: its top `log2(capacity)` bits.
///
/// Taken from the fingerprint (not from other key bytes) because a slot stores only the
/// fingerprint, and growth must re-place every slot from what it stores. Top bits keep the
/// table ordered by fingerprint across a doubling, which lets growth stream (see `rebuild`).
pub(super) fn home(fp: u64, capacity: u64) -> u64 {
    fp >> (64 - capacity.trailing_zeros())
}

/// Reads a u64 LE from the first 8 bytes of `bytes` (callers pass slices of known length).
pub(super) fn le_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(b)
}

pub(super) fn encode_slot(fp: u64, value: u64) -> [u8; 16] {
    let mut s = [0u8; 16];
    s[..8].copy_from_slice(&fp.to_le_bytes());
    s[8..].copy_from_slice(&value.to_le_bytes());
    s
}

/// (fingerprint, value) of a 16-byte slot; fingerprint 0 means empty.
pub(super) fn decode_slot(slot: &[u8]) -> (u64, u64) {
    (le_u64(&slot[..8]), le_u64(&slot[8..16]))
}

fn checksum(prefix: &[u8]) -> [u8; 8] {
    let hash = blake3::Hasher::new_derive_key(CHECKSUM_CONTEXT)
        .update(prefix)
        .finalize();
    let mut c = [0u8; 8];
    c.copy_from_slice(&hash.as_bytes()[..8]);
    c
}

/// The 64-byte header: magic, capacity, count, checksum of those 24 bytes, 32 zero bytes.
pub(super) fn encode_header(capacity: u64, count: u64) -> [u8; 64] {
    let mut h = [0u8; 64];
    h[..8].copy_from_slice(MAGIC);
    h[8..16].copy_from_slice(&capacity.to_le_bytes());
    h[16..24].copy_from_slice(&count.to_le_bytes());
    let c = checksum(&h[..24]);
    h[24..32].copy_from_slice(&c);
    h
}

/// What a valid header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    pub capacity: u64,
    pub count: u64,
}

/// Reads and checks the header of the shard file at `path` (already open as `file`): magic,
/// checksum, zero reserved bytes, a valid capacity, count ≤ capacity, and a file length that
/// matches the capacity exactly.
pub(super) fn read_header(file: &File, path: &Path) -> Result<Header, HashIndexError> {
    let len = file.metadata().map_err(HashIndexError::io(path))?.len();
    if len < HEADER_LEN {
        return Err(HashIndexError::corrupt(
            path,
            format!("file is {len} bytes, shorter than the {HEADER_LEN}-byte header"),
        ));
    }
    let mut h = [0u8; 64];
    file.read_exact_at(&mut h, 0)
        .map_err(HashIndexError::io(path))?;
    if &h[..8] != MAGIC {
        return Err(HashIndexError::corrupt(
            path,
            "bad magic (not a hash index shard)",
        ));
    }
    if h[24..32] != checksum(&h[..24]) {
        return Err(HashIndexError::corrupt(path, "header checksum mismatch"));
    }
    if h[32..].iter().any(|&b| b != 0) {
        return Err(HashIndexError::corrupt(
            path,
            "reserved header bytes are not zero",
        ));
    }
    let capacity = le_u64(&h[8..16]);
    let count = le_u64(&h[16..24]);
    if !valid_capacity(capacity) {
        return Err(HashIndexError::corrupt(
            path,
            format!("capacity {capacity} is not a power of two in {MIN_CAPACITY}..={MAX_CAPACITY}"),
        ));
    }
    if count > capacity {
        return Err(HashIndexError::corrupt(
            path,
            format!("count {count} exceeds capacity {capacity}"),
        ));
    }
    if len != file_len(capacity) {
        return Err(HashIndexError::corrupt(
            path,
            format!(
                "file is {len} bytes but capacity {capacity} needs {}",
                file_len(capacity)
            ),
        ));
    }
    Ok(Header { capacity, count })
}

/// How a probe-run walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RunEnd {
    /// The visitor asked to stop.
    Stopped,
    /// The run ended at this empty slot.
    Empty(u64),
    /// Every slot was visited and none is empty.
    Full,
}

/// Walks the probe run that starts at slot `start`: visits each occupied slot in order
/// (wrapping at the end of the table) until an empty slot, the visitor's `Break`, or a full
/// lap. Reads [`PROBE_CHUNK`] slots per `read_at`.
pub(super) fn walk_run(
    file: &File,
    path: &Path,
    capacity: u64,
    start: u64,
    mut visit: impl FnMut(u64, u64) -> ControlFlow<()>,
) -> Result<RunEnd, HashIndexError> {
    let mut buf = [0u8; PROBE_CHUNK * SLOT_LEN as usize];
    let mut pos = start;
    let mut left = capacity;
    while left > 0 {
        let n = (PROBE_CHUNK as u64).min(capacity - pos).min(left);
        let bytes = &mut buf[..(n * SLOT_LEN) as usize];
        file.read_exact_at(bytes, slot_offset(pos))
            .map_err(HashIndexError::io(path))?;
        for (i, slot) in bytes.chunks_exact(SLOT_LEN as usize).enumerate() {
            let (fp, value) = decode_slot(slot);
            if fp == 0 {
                return Ok(RunEnd::Empty(pos + i as u64));
            }
            if visit(fp, value).is_break() {
                return Ok(RunEnd::Stopped);
            }
        }
        left -= n;
        pos = (pos + n) & (capacity - 1);
    }
    Ok(RunEnd::Full)
}

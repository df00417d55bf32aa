//! Damaging a stored log offline, the way the tamper tests do.

use std::path::Path;

/// Flips the last byte of leaf `index` in the leaf files of the store in `store`:
/// `leaves/offsets` holds each leaf's end offset in `leaves/data` (a `u64` big-endian per leaf).
pub fn flip_leaf_byte(store: &Path, index: u64) {
    let offsets = std::fs::read(store.join("leaves").join("offsets")).unwrap();
    let at = index as usize * 8;
    let end = u64::from_be_bytes(offsets[at..at + 8].try_into().unwrap()) as usize;
    let path = store.join("leaves").join("data");
    let mut data = std::fs::read(&path).unwrap();
    data[end - 1] ^= 0x01;
    std::fs::write(&path, data).unwrap();
}

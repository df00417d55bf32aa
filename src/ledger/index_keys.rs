//! The ledger's index entries in the store's index namespace.
//!
//! | key                        | value                         |
//! |----------------------------|-------------------------------|
//! | `b'd'` ‖ envelope id (32)  | log index `u64 BE`            |
//! | `b'h'` ‖ leaf hash (32)     | log index `u64 BE`            |
//! | `b'k'` ‖ key name (UTF-8)  | `KeyRecord` (protobuf)        |

/// Duplicate index: envelope id → index.
pub fn dedup(id: &[u8; 32]) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(b'd');
    k.extend_from_slice(id);
    k
}

/// Leaf hash index: leaf hash → index.
pub fn leaf(hash: &[u8; 32]) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(b'h');
    k.extend_from_slice(hash);
    k
}

/// Prefix of key registry records.
pub const KEY_RECORD_PREFIX: &[u8] = b"k";

/// Key registry record of one key.
pub fn key_record(name: &str) -> Vec<u8> {
    let mut k = KEY_RECORD_PREFIX.to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

/// A stored `u64 BE`.
pub fn decode_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

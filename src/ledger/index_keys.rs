//! The ledger's index entries in the store's index namespace.
//!
//! | key                        | value                         |
//! |----------------------------|-------------------------------|
//! | `b'k'` ‖ key name (UTF-8)  | `KeyRecord` (protobuf)        |

/// Prefix of key registry records.
pub const KEY_RECORD_PREFIX: &[u8] = b"k";

/// Key registry record of one key.
pub fn key_record(name: &str) -> Vec<u8> {
    let mut k = KEY_RECORD_PREFIX.to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

//! Every sled key the log uses, in one place. All integers are big-endian, so sled's byte order
//! is numeric order within each prefix.
//!
//! | key                                   | value                                     |
//! |---------------------------------------|-------------------------------------------|
//! | `b'l'` ‖ first leaf index `u64`       | a leaf chunk ([`super::leaves`]): in journal records only; stores written before the leaf files held their leaves so, and [`super::upgrade`] moves them out |
//! | `b'c'` ‖ tree size `u64`              | the latest signed checkpoint note (UTF-8) |
//! | `b'm'` ‖ name                         | log metadata (origin, log vkey, the size up to which the leaf files are durable) |
//! | `b'x'` ‖ index key                    | indexes kept by layers above the store    |

pub const LEAF_PREFIX: u8 = b'l';
pub const CHECKPOINT_PREFIX: u8 = b'c';
pub const INDEX_PREFIX: u8 = b'x';

/// Metadata: the log's origin line.
pub const META_ORIGIN: &[u8] = b"m/origin";
/// Metadata: the vkey of the checkpoint signer.
pub const META_LOG_VKEY: &[u8] = b"m/log_vkey";
/// Metadata: the log size up to which the leaf files are known to be durable (`u64` BE).
pub const META_LEAVES_DURABLE: &[u8] = b"m/leaves_durable";

/// The value of [`META_LEAVES_DURABLE`] for `size`.
pub fn leaves_durable_value(size: u64) -> [u8; 8] {
    size.to_be_bytes()
}

/// The log size up to which the leaf files are durable, as recorded in `db` (0 if not).
pub fn leaves_durable(db: &sled::Db) -> Result<u64, sled::Error> {
    Ok(db
        .get(META_LEAVES_DURABLE)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, u64::from_be_bytes))
}

/// Key of the leaf chunk starting at `first`.
pub fn leaf_chunk(first: u64) -> [u8; 9] {
    prefixed(LEAF_PREFIX, first)
}

/// Key of the checkpoint for `size`.
pub fn checkpoint(size: u64) -> [u8; 9] {
    prefixed(CHECKPOINT_PREFIX, size)
}

/// The `u64` after a one-byte prefix, or `None` if the key is not of that shape.
pub fn decode_prefixed(prefix: u8, key: &[u8]) -> Option<u64> {
    let (&p, rest) = key.split_first()?;
    if p != prefix {
        return None;
    }
    Some(u64::from_be_bytes(rest.try_into().ok()?))
}

/// The sled key of an index entry.
pub fn index(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + key.len());
    k.push(INDEX_PREFIX);
    k.extend_from_slice(key);
    k
}

fn prefixed(prefix: u8, n: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = prefix;
    k[1..].copy_from_slice(&n.to_be_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_numerically_and_decode() {
        assert!(leaf_chunk(255) < leaf_chunk(256));
        assert!(checkpoint(1 << 32) > checkpoint(7));
        assert_eq!(
            decode_prefixed(CHECKPOINT_PREFIX, &checkpoint(42)),
            Some(42)
        );
        assert_eq!(decode_prefixed(LEAF_PREFIX, &checkpoint(42)), None);
        assert_eq!(decode_prefixed(LEAF_PREFIX, b"l123"), None);
    }
}

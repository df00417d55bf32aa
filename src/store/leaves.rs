//! Leaf chunks: an append's leaves in groups of consecutive entries, as its journal record
//! carries them ([`super::journal`]), and as stores written before the leaf files kept them in
//! sled, one key per chunk ([`super::upgrade`] moves those out).
//!
//! A chunk is keyed by the index of its first leaf and holds `count: u32 BE`, then `count` lengths
//! (`u32 BE`), then the leaf bytes back to back. An append's chunks never overlap and leave no
//! gaps.

/// Leaves per chunk at most.
pub const MAX_CHUNK_LEAVES: usize = 256;
/// Encoded bytes per chunk at most, leaf lengths included (a single larger leaf gets a chunk of
/// its own). The bound dates from when chunks were sled values, which it kept inside sled's log
/// (sled writes a node larger than a quarter of its 512 KiB segment to a separate blob file);
/// journal records keep the same shape, so a journal written then replays now.
pub const MAX_CHUNK_BYTES: usize = 7 * 1024;

/// Why stored chunk bytes could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("leaf chunk encoding is malformed: {0}")]
pub struct ChunkDecodeError(&'static str);

/// Splits leaves into chunk-sized groups: (offset of the group's first leaf, group).
pub fn split_into_chunks<L: AsRef<[u8]>>(leaves: &[L]) -> Vec<&[L]> {
    let mut groups = Vec::new();
    let mut start = 0;
    // The chunk's count header.
    let mut bytes = 4;
    for (i, leaf) in leaves.iter().enumerate() {
        let len = 4 + leaf.as_ref().len();
        let full = i - start == MAX_CHUNK_LEAVES || (i > start && bytes + len > MAX_CHUNK_BYTES);
        if full {
            groups.push(&leaves[start..i]);
            start = i;
            bytes = 4;
        }
        bytes += len;
    }
    if start < leaves.len() {
        groups.push(&leaves[start..]);
    }
    groups
}

/// Encodes one chunk.
pub fn encode_chunk<L: AsRef<[u8]>>(leaves: &[L]) -> Vec<u8> {
    let data: usize = leaves.iter().map(|l| l.as_ref().len()).sum();
    let mut out = Vec::with_capacity(4 + 4 * leaves.len() + data);
    out.extend_from_slice(&(leaves.len() as u32).to_be_bytes());
    for leaf in leaves {
        out.extend_from_slice(&(leaf.as_ref().len() as u32).to_be_bytes());
    }
    for leaf in leaves {
        out.extend_from_slice(leaf.as_ref());
    }
    out
}

/// A decoded view of a chunk.
#[derive(Debug)]
pub struct Chunk<'a> {
    lengths: &'a [u8],
    data: &'a [u8],
}

impl<'a> Chunk<'a> {
    /// Parses a stored chunk, checking that lengths and data agree exactly.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, ChunkDecodeError> {
        let (head, rest) = bytes
            .split_first_chunk::<4>()
            .ok_or(ChunkDecodeError("shorter than its header"))?;
        let count = u32::from_be_bytes(*head) as usize;
        if count == 0 {
            return Err(ChunkDecodeError("holds no leaves"));
        }
        if rest.len() < count * 4 {
            return Err(ChunkDecodeError("shorter than its length table"));
        }
        let (lengths, data) = rest.split_at(count * 4);
        let total: usize = lengths
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
            .sum();
        if total != data.len() {
            return Err(ChunkDecodeError("lengths do not add up to its data"));
        }
        Ok(Chunk { lengths, data })
    }

    /// The number of leaves.
    pub fn len(&self) -> usize {
        self.lengths.len() / 4
    }

    /// Never true for a decoded chunk: decoding refuses a chunk without leaves.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// The leaves in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut at = 0;
        let data = self.data;
        self.lengths.chunks_exact(4).map(move |c| {
            let len = u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize;
            let leaf = &data[at..at + len];
            at += len;
            leaf
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let leaves: Vec<Vec<u8>> = vec![b"a".to_vec(), vec![], b"ccc".to_vec()];
        let bytes = encode_chunk(&leaves);
        let chunk = Chunk::decode(&bytes).unwrap();
        assert_eq!(chunk.len(), 3);
        assert_eq!(
            chunk.iter().collect::<Vec<_>>(),
            vec![&b"a"[..], b"", b"ccc"]
        );
    }

    #[test]
    fn decode_rejects_inconsistent_lengths() {
        let mut bytes = encode_chunk(&[b"abc"]);
        bytes.push(0);
        assert!(Chunk::decode(&bytes).is_err());
        bytes.truncate(bytes.len() - 2);
        assert!(Chunk::decode(&bytes).is_err());
        assert!(Chunk::decode(&[0, 0, 0, 0]).is_err());
        assert!(Chunk::decode(&[0, 0, 0, 9, 1]).is_err());
    }

    #[test]
    fn split_respects_both_bounds() {
        let small: Vec<Vec<u8>> = (0..600).map(|_| vec![0u8; 10]).collect();
        let sizes: Vec<usize> = split_into_chunks(&small).iter().map(|g| g.len()).collect();
        assert_eq!(sizes, vec![256, 256, 88]);
        // Events of about 400 bytes: 17 × 404 encoded bytes fit in 7 KiB, 18 do not.
        let events: Vec<Vec<u8>> = (0..40).map(|_| vec![0u8; 400]).collect();
        let sizes: Vec<usize> = split_into_chunks(&events).iter().map(|g| g.len()).collect();
        assert_eq!(sizes, vec![17, 17, 6]);
        let big: Vec<Vec<u8>> = (0..5).map(|_| vec![0u8; 20_000]).collect();
        let sizes: Vec<usize> = split_into_chunks(&big).iter().map(|g| g.len()).collect();
        assert_eq!(sizes, vec![1, 1, 1, 1, 1]);
        let none: Vec<Vec<u8>> = vec![];
        assert!(split_into_chunks(&none).is_empty());
    }
}

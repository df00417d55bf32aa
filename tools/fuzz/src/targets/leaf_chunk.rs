//! Leaf chunks as the store reads them back (`store::Chunk::decode`): the leaves of a journal
//! record replayed at open, and those of a store written before the leaf files, moved out of sled.
//!
//! Properties: a chunk that decodes holds at least one leaf, as many as its count says, and
//! re-encodes (`encode_chunk`) to exactly the bytes read; splitting its leaves into chunks the
//! way appends do gives chunks within the bounds that decode back to the same leaves in order.

use provledger::store::{
    Chunk, MAX_CHUNK_BYTES, MAX_CHUNK_LEAVES, encode_chunk, split_into_chunks,
};

pub fn run(data: &[u8]) {
    let Ok(chunk) = Chunk::decode(data) else {
        return;
    };
    let leaves: Vec<&[u8]> = chunk.iter().collect();
    assert!(!leaves.is_empty());
    assert_eq!(leaves.len(), chunk.len());
    let count = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
    assert_eq!(leaves.len(), count as usize);
    assert_eq!(
        encode_chunk(&leaves),
        data,
        "does not re-encode to the bytes read"
    );
    let mut again: Vec<Vec<u8>> = Vec::with_capacity(leaves.len());
    for group in split_into_chunks(&leaves) {
        let bytes = encode_chunk(group);
        assert!(group.len() <= MAX_CHUNK_LEAVES);
        assert!(
            group.len() == 1 || bytes.len() <= MAX_CHUNK_BYTES,
            "chunk over its bound"
        );
        let decoded = Chunk::decode(&bytes).expect("an encoded chunk decodes");
        again.extend(decoded.iter().map(<[u8]>::to_vec));
    }
    assert_eq!(again, leaves);
}

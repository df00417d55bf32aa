//! Seeds for the decoders of what the store and the ledger read back from disk: leaf chunks,
//! journal files, hash index shards and the leaf offsets file.

use super::{Seed, seed, tree};
use crate::targets::{hash_index, leaf_offsets};
use provledger::store::encode_chunk;
use provledger::store::journal::{Op, Record, frame};

pub(super) fn leaf_chunks() -> Vec<Seed> {
    let (_, leaves) = tree(5);
    vec![
        seed("leaf_chunk", "five_event_leaves", encode_chunk(&leaves)),
        seed("leaf_chunk", "one_leaf", encode_chunk(&leaves[..1])),
        seed(
            "leaf_chunk",
            "small_and_empty",
            encode_chunk(&[&b"a"[..], b"", b"ccc"]),
        ),
    ]
}

pub(super) fn journal_files() -> Vec<Seed> {
    let (_, leaves) = tree(5);
    let append = |first: u64, leaves: &[Vec<u8>]| Record {
        first,
        end: first + leaves.len() as u64,
        ops: vec![
            Op::Insert(
                [&b"l"[..], &first.to_be_bytes()].concat(),
                encode_chunk(leaves),
            ),
            Op::Remove([&b"c"[..], &first.to_be_bytes()].concat()),
            Op::Insert(
                [&b"c"[..], &(first + leaves.len() as u64).to_be_bytes()].concat(),
                b"checkpoint note".to_vec(),
            ),
        ],
    };
    let first = append(0, &leaves[..2]);
    let second = append(2, &leaves[2..]);
    let mut two = frame(7, &first.encode());
    two.extend(frame(7, &second.encode()));
    // A record of a newer generation over the start of the file: the old one after it is ignored.
    let mut reused = frame(8, &second.encode());
    reused.extend(frame(7, &second.encode()));
    let mut torn = two.clone();
    torn.truncate(two.len() - 3);
    vec![
        seed("journal", "two_appends", two),
        seed("journal", "reused_file", reused),
        seed("journal", "torn_second", torn),
        seed("journal", "zeroed", vec![0u8; 256]),
        seed("journal", "lone_payload", first.encode()),
    ]
}

pub(super) fn hash_index_files() -> Vec<Seed> {
    let slot = |fp: u64, value: u64| {
        let mut s = fp.to_le_bytes().to_vec();
        s.extend(value.to_le_bytes());
        s
    };
    // Fingerprints whose home (top 4 bits, capacity 16) is slot 0, 1 and 15 (wrapping run).
    let mut table: Vec<u8> = Vec::new();
    table.extend(slot(0x0123_4567_89ab_cdef, 1));
    table.extend(slot(0x0fed_cba9_8765_4321, 2));
    table.extend(slot(0x1111_1111_1111_1111, 3));
    let mut valid = hash_index::header(16, 3).to_vec();
    valid.extend(&table);
    valid.resize(64 + 16 * 16, 0);
    let mut raw = vec![0u8];
    raw.extend(&valid);
    let mut fixed_up = vec![1u8, 0];
    fixed_up.extend(3u64.to_be_bytes());
    fixed_up.extend(&table);
    let mut full = vec![1u8, 0];
    full.extend(16u64.to_be_bytes());
    for i in 0..16u64 {
        full.extend(slot(0xf000_0000_0000_0000 | i, i));
    }
    vec![
        seed("hash_index", "valid_raw", raw),
        seed("hash_index", "valid_with_header_fixup", fixed_up),
        seed("hash_index", "full_table", full),
        seed("hash_index", "empty_file", vec![0u8]),
    ]
}

/// A `leaf_offsets` input: the first leaf asked for, the data file's length, the stored end
/// offsets (those of leaves `start - 1, start, …`, or `0, 1, …` when `start` is 0).
fn leaf_offsets_input(start: u64, data_len: u64, ends: &[u64]) -> Vec<u8> {
    let mut bytes = start.to_be_bytes().to_vec();
    bytes.extend(data_len.to_be_bytes());
    ends.iter().for_each(|e| bytes.extend(e.to_be_bytes()));
    bytes
}

pub(super) fn leaf_offsets_files() -> Vec<Seed> {
    // The end offsets of 8 real log leaves and an empty one, back to back as the store writes them.
    let (_, leaves) = tree(8);
    let mut sizes: Vec<u64> = leaves.iter().map(|l| l.len() as u64).collect();
    sizes.insert(3, 0);
    let ends: Vec<u64> = sizes
        .iter()
        .scan(0, |at, size| {
            *at += size;
            Some(*at)
        })
        .collect();
    let total = ends[ends.len() - 1];
    let mut backwards = ends.clone();
    backwards[5] = backwards[3] - 1;
    let mut past_end = ends[..4].to_vec();
    past_end[3] = total + 1;
    let mut torn = leaf_offsets_input(0, total, &ends);
    torn.truncate(torn.len() - 3);
    let high = leaf_offsets::MAX_START - 2;
    vec![
        seed(
            "leaf_offsets",
            "all_from_zero",
            leaf_offsets_input(0, total, &ends),
        ),
        // Leaves 4..9, after leaf 3's end; the data file also holds an uncommitted append.
        seed(
            "leaf_offsets",
            "run_from_four",
            leaf_offsets_input(4, total + 500, &ends[3..]),
        ),
        seed(
            "leaf_offsets",
            "one_leaf",
            leaf_offsets_input(6, total, &ends[5..7]),
        ),
        seed(
            "leaf_offsets",
            "near_the_top",
            leaf_offsets_input(high, total, &ends[..3]),
        ),
        seed("leaf_offsets", "empty", leaf_offsets_input(0, 0, &[])),
        seed(
            "leaf_offsets",
            "previous_missing",
            leaf_offsets_input(5, total, &[]),
        ),
        seed(
            "leaf_offsets",
            "backwards",
            leaf_offsets_input(0, total, &backwards),
        ),
        seed(
            "leaf_offsets",
            "past_data_file",
            leaf_offsets_input(1, total, &past_end),
        ),
        seed("leaf_offsets", "torn_entry", torn),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_offsets_seeds_are_read_or_refused_as_intended() {
        use provledger::store::{LeafFileError, leaf_bounds};
        for s in leaf_offsets_files() {
            let start = u64::from_be_bytes(s.bytes[..8].try_into().expect("8 bytes"));
            let data_len = u64::from_be_bytes(s.bytes[8..16].try_into().expect("8 bytes"));
            let got = match leaf_bounds(start, &s.bytes[16..], data_len) {
                Ok(bounds) => Ok(bounds.len()),
                Err(LeafFileError::Malformed { index, .. }) => Err(index),
                Err(e) => panic!("{}: {e}", s.name),
            };
            let expected = match s.name.as_str() {
                "all_from_zero" => Ok(9),
                "run_from_four" => Ok(5),
                "one_leaf" => Ok(1),
                "near_the_top" => Ok(2),
                "empty" => Ok(0),
                "previous_missing" => Err(4),
                "backwards" => Err(5),
                "past_data_file" => Err(3),
                "torn_entry" => Err(0),
                other => panic!("no expectation for seed {other}"),
            };
            assert_eq!(got, expected, "{}", s.name);
        }
    }
}

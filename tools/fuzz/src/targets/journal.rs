//! The store's journal files as read back at open (`store::journal::read_frames` and
//! `Record::decode`).
//!
//! Properties: the frames read from a file are a prefix of it — framing each payload again with
//! the generation read gives exactly the bytes they came from — so nothing torn, zeroed or of
//! another generation is ever taken; a payload that decodes re-encodes to exactly its bytes and
//! covers a non-empty range of leaves; the input taken as a lone payload obeys the same rule.

use provledger::store::journal::{Record, frame, read_frames};

pub fn run(data: &[u8]) {
    let (generation, frames) = read_frames(data);
    let mut again = Vec::new();
    for payload in &frames {
        again.extend(frame(generation, payload));
        check_payload(payload);
    }
    assert_eq!(
        &data[..again.len()],
        again.as_slice(),
        "the frames read are not the file's first bytes"
    );
    check_payload(data);
}

fn check_payload(payload: &[u8]) {
    if let Ok(record) = Record::decode(payload) {
        assert!(record.first < record.end, "an empty range decoded");
        assert_eq!(
            record.encode(),
            payload,
            "does not re-encode to the bytes read"
        );
    }
}

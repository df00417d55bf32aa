//! The lineage database's value encodings as read back from disk (`lineage::keys`): the
//! watermark, a record's state after an event, its latest filed event, a link and a group of
//! links. The first input byte picks the decoder.
//!
//! Properties: whatever decodes re-encodes to bytes that decode to the same value, and for the
//! fixed-size encodings (watermark, latest index) to exactly the bytes read; `index_of`
//! reads the index `keyed` wrote.

use provledger::lineage::keys::{EventState, Latest, Link, Links, Watermark, index_of, keyed};

pub fn run(data: &[u8]) {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    match mode % 6 {
        0 => {
            if let Some(w) = Watermark::decode(bytes) {
                assert_eq!(w.encode().as_slice(), bytes);
            }
        }
        1 => {
            if let Some(s) = EventState::decode(bytes) {
                assert_eq!(EventState::decode(&s.encode()), Some(s));
                assert_eq!(s.encode()[0], bytes[0], "roots change on the way through");
            }
        }
        2 => {
            if let Some(l) = Latest::decode(bytes) {
                assert_eq!(Latest::decode(&l.encode()), Some(l));
                assert_eq!(&l.encode()[..8], &bytes[..8]);
            }
        }
        3 => {
            if let Some(link) = Link::decode(bytes) {
                assert_eq!(Link::decode(&link.encode()), Some(link));
            }
        }
        4 => {
            if let Some(group) = Links::decode(bytes) {
                let entries: Vec<(u64, Vec<u8>)> =
                    group.iter().map(|(i, l)| (*i, l.encode())).collect();
                assert_eq!(Links::decode(&Links::encode(&entries)), Some(group));
            }
        }
        _ => {
            let mut key = [0u8; 16];
            let n = bytes.len().min(16);
            key[..n].copy_from_slice(&bytes[..n]);
            let index = bytes
                .iter()
                .fold(0u64, |a, b| a.rotate_left(8) ^ u64::from(*b));
            let k = keyed(mode, &key, index);
            assert_eq!(index_of(&k), Some(index));
            assert_eq!(
                index_of(bytes),
                bytes
                    .get(17..25)
                    .map(|t| { u64::from_be_bytes(t.try_into().expect("8 bytes")) })
            );
        }
    }
}

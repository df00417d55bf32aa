//! Every key of the lineage database, in one place, and the encodings of its values. Integers
//! are big-endian, so the database's byte order is log order within each prefix.
//!
//! | key                                    | value                                        |
//! |----------------------------------------|----------------------------------------------|
//! | `b'w'`                                 | watermark `u64` ‖ next alert id `u64`        |
//! | `b'v'`                                 | layout version `u8` ([`LAYOUT`])             |
//! | `b'e'` ‖ record key (16) ‖ index `u64` | [`EventState`]: the record's state after it  |
//! | `b'l'` ‖ record key (16)               | [`Latest`]: the record's last filed event    |
//! | `b'c'` ‖ parent key (16) ‖ index `u64` | [`Links`]: the child that event made         |
//! | `b'g'` ‖ generator key (16) ‖ first    | [`Links`]: records GENERATED events made     |
//! | `b's'` ‖ signer key (16) ‖ first       | [`Links`]: records the signer's events are about |
//! | `b'a'` ‖ alert id `u64`                | `ContaminationAlert` (protobuf)              |
//!
//! Generator and signer entries are grouped: the indexer writes one key per generator (signer)
//! per chunk, under the index of the group's first entry, holding every entry of that chunk in
//! log order; so a generator's thousands of records cost a handful of keys, not thousands.
//! Child links are written one per key, in the same format.
//!
//! `l` duplicates the last `e` entry of each record so that the indexer's most frequent
//! question, "the record's state before this event", is a point read (which the database
//! answers from its filters when the record is new) instead of a reverse range scan; a reader
//! uses it only when its index is below the size asked about, and scans `e` otherwise.
//!
//! Record keys are [`crate::provenance::record::record_key`] of the normalised record;
//! generator and signer keys are [`crate::provenance::record::name_key`] in the contexts below.

use crate::proto::RecordRef;
use crate::provenance::origin::Roots;
use prost::Message;

pub const WATERMARK: &[u8] = b"w";
/// The key holding the layout version; a database with another is rebuilt.
pub const VERSION: &[u8] = b"v";
/// This layout's version.
pub const LAYOUT: u8 = 3;
pub const LATEST: u8 = b'l';
pub const EVENT: u8 = b'e';
pub const CHILD: u8 = b'c';
pub const GENERATOR: u8 = b'g';
pub const SIGNER: u8 = b's';
pub const ALERT: u8 = b'a';

/// Context of generator-source keys.
pub const GENERATOR_CONTEXT: &str = "provledger generator source v1";
/// Context of signer (key name) keys.
pub const SIGNER_CONTEXT: &str = "provledger signer v1";

/// `prefix ‖ key16 ‖ index`.
pub fn keyed(prefix: u8, key: &[u8; 16], index: u64) -> [u8; 25] {
    let mut k = [0u8; 25];
    k[0] = prefix;
    k[1..17].copy_from_slice(key);
    k[17..].copy_from_slice(&index.to_be_bytes());
    k
}

/// The log index at the end of a [`keyed`] key.
pub fn index_of(key: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = key.get(17..25)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}

/// `l ‖ record`.
pub fn latest(record: &[u8; 16]) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = LATEST;
    k[1..].copy_from_slice(record);
    k
}

/// A record's last filed event: its index and the state after it. Encoded as
/// `index u64 ‖ EventState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latest {
    pub index: u64,
    pub state: EventState,
}

impl Latest {
    pub fn encode(&self) -> [u8; 10] {
        let mut v = [0u8; 10];
        v[..8].copy_from_slice(&self.index.to_be_bytes());
        v[8..].copy_from_slice(&self.state.encode());
        v
    }

    pub fn decode(bytes: &[u8]) -> Option<Latest> {
        let index = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let state = EventState::decode(bytes.get(8..)?)?;
        Some(Latest { index, state })
    }
}

pub fn alert(id: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = ALERT;
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

/// The indexer's progress: every entry below `indexed` is indexed; the next alert gets
/// `next_alert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermark {
    pub indexed: u64,
    pub next_alert: u64,
}

impl Watermark {
    pub const START: Watermark = Watermark {
        indexed: 0,
        next_alert: 1,
    };

    pub fn encode(&self) -> [u8; 16] {
        let mut v = [0u8; 16];
        v[..8].copy_from_slice(&self.indexed.to_be_bytes());
        v[8..].copy_from_slice(&self.next_alert.to_be_bytes());
        v
    }

    pub fn decode(bytes: &[u8]) -> Option<Watermark> {
        let indexed = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let next_alert = u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
        (bytes.len() == 16).then_some(Watermark {
            indexed,
            next_alert,
        })
    }
}

/// A record's state just after one of its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventState {
    pub roots: Roots,
    /// The event put the record in a production environment while its roots held synthetic
    /// data (an alert was raised for this record at or before it).
    pub tainted_in_production: bool,
    /// The event was GENERATED, CAPTURED or ATTESTED: the record's origin is its own.
    pub declares_origin: bool,
}

impl EventState {
    pub fn encode(&self) -> [u8; 2] {
        [
            self.roots.bits(),
            u8::from(self.tainted_in_production) | (u8::from(self.declares_origin) << 1),
        ]
    }

    pub fn decode(bytes: &[u8]) -> Option<EventState> {
        let [roots, flags] = <[u8; 2]>::try_from(bytes).ok()?;
        Some(EventState {
            roots: Roots::from_bits(roots)?,
            tainted_in_production: flags & 1 != 0,
            declares_origin: flags & 2 != 0,
        })
    }
}

/// A record reached through an index: the normalised record and the environment of the event
/// that filed it. Encoded as `len(env) u16 ‖ env ‖ RecordRef (protobuf)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub record: RecordRef,
    pub environment: String,
}

impl Link {
    pub fn encode(&self) -> Vec<u8> {
        let env = self.environment.as_bytes();
        let len = u16::try_from(env.len()).unwrap_or(u16::MAX);
        let env = &env[..usize::from(len)];
        let mut v = Vec::with_capacity(2 + env.len() + self.record.encoded_len());
        v.extend_from_slice(&len.to_be_bytes());
        v.extend_from_slice(env);
        self.record.encode(&mut v).unwrap_or_default();
        v
    }

    pub fn decode(bytes: &[u8]) -> Option<Link> {
        let len = usize::from(u16::from_be_bytes(bytes.get(..2)?.try_into().ok()?));
        let environment = String::from_utf8(bytes.get(2..2 + len)?.to_vec()).ok()?;
        let record = RecordRef::decode(bytes.get(2 + len..)?).ok()?;
        Some(Link {
            record,
            environment,
        })
    }
}

/// A group of (index, link) entries in log order: each is `index u64 ‖ len u32 ‖ Link`.
pub struct Links;

impl Links {
    pub fn encode(entries: &[(u64, Vec<u8>)]) -> Vec<u8> {
        let mut v = Vec::with_capacity(entries.iter().map(|(_, l)| 12 + l.len()).sum());
        for (index, link) in entries {
            v.extend_from_slice(&index.to_be_bytes());
            v.extend_from_slice(&(link.len() as u32).to_be_bytes());
            v.extend_from_slice(link);
        }
        v
    }

    pub fn decode(mut bytes: &[u8]) -> Option<Vec<(u64, Link)>> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let index = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
            let len = u32::from_be_bytes(bytes.get(8..12)?.try_into().ok()?) as usize;
            out.push((index, Link::decode(bytes.get(12..12 + len)?)?));
            bytes = &bytes[12 + len..];
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip() {
        let w = Watermark {
            indexed: 7,
            next_alert: 3,
        };
        assert_eq!(Watermark::decode(&w.encode()), Some(w));
        assert_eq!(Watermark::decode(&[0; 15]), None);
        let s = EventState {
            roots: Roots::SYNTHETIC.union(Roots::REAL),
            tainted_in_production: true,
            declares_origin: false,
        };
        assert_eq!(EventState::decode(&s.encode()), Some(s));
        assert_eq!(EventState::decode(&[8, 0]), None);
        let l = Link {
            record: RecordRef {
                system: "salesforce".into(),
                tenant: "t".into(),
                object_type: "Lead".into(),
                record_id: "1".into(),
            },
            environment: "production".into(),
        };
        assert_eq!(Link::decode(&l.encode()), Some(l.clone()));
        assert_eq!(Link::decode(&[0, 9, b'x']), None);
        let group = Links::encode(&[(4, l.encode()), (9, l.encode())]);
        assert_eq!(
            Links::decode(&group),
            Some(vec![(4, l.clone()), (9, l.clone())])
        );
        assert_eq!(Links::decode(&group[..group.len() - 1]), None);
        let k = keyed(EVENT, &[3; 16], 42);
        assert_eq!(index_of(&k), Some(42));
        assert_eq!((k[0], &k[1..17]), (EVENT, &[3u8; 16][..]));
    }
}

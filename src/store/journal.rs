//! The append journal: an append is durable once its record is in the journal, so its
//! acknowledgement waits for one write and one `fdatasync` of a file that is overwritten in
//! place, not for sled's flush of a file that grows.
//!
//! Why: a sync of a growing file allocates blocks, and on a journaling filesystem that waits on
//! the filesystem's own journal, which every other writer on the disk (the lineage database's
//! compactions, the hash index, the tree's node files) also fills. Overwriting blocks already
//! written changes no metadata the data depends on, so `fdatasync` writes the data and flushes
//! the disk's cache, and nothing else.
//!
//! # Layout
//! Two files, `journal-0` and `journal-1`, each growing in zero-filled steps of
//! [`JournalLimits::extend_bytes`] up to [`JournalLimits::file_bytes`], and overwritten from their
//! start once full. One is active; records follow one another from its start. A record is
//!
//! ```text
//! len u32 LE | generation u64 LE | payload (len bytes) | BLAKE3(len | generation | payload)
//! ```
//!
//! and its payload is one append ([`Record`]): its leaves, as leaf chunks ([`super::leaves`])
//! under `b'l'` keys, and the rest of its sled batch:
//!
//! ```text
//! first u64 LE | end u64 LE | count u32 LE | count × (1 u8 | key | value  or  0 u8 | key)
//! ```
//!
//! with each key and value written as `len u32 LE | bytes`.
//!
//! # Invariants
//! - A file is written from its start with a generation larger than every earlier one, and
//!   [`FrameReader`] takes a file's records from its start while each is whole (its checksum
//!   matches) and carries the first record's generation: the tail of an earlier use of the file,
//!   or a torn record, ends it.
//! - A record is written only after the previous one's `fdatasync` returned, so among the
//!   records that matter no whole one follows a torn one.
//! - The writer moves to the other file only once every record in it is durable in the leaf
//!   files and sled (its `end` at most [`Journal::switch_needs`] has been covered by their
//!   background sync), so overwriting it loses nothing.
//! - Replay ([`super::replay`]) writes every record's leaves to the leaf files again, in
//!   generation order, and applies to sled the records that end beyond sled's latest
//!   checkpoint; each of those must start exactly where it ends.

use super::keys;
use crate::fault::{Faults, Step};
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The journal files' names inside the store's directory.
const FILE_NAMES: [&str; 2] = ["journal-0", "journal-1"];
/// Bytes before a record's payload: its length and generation.
const HEADER: usize = 4 + 8;
/// Bytes after it: the checksum.
const CHECKSUM: usize = 32;

/// How large the journal's files grow, and in what steps.
#[derive(Debug, Clone, Copy)]
pub struct JournalLimits {
    /// The size at which a file is full and the writer moves to the other one.
    pub file_bytes: u64,
    /// Zero-filled bytes added (and synced) at a time while a file grows to `file_bytes`.
    pub extend_bytes: u64,
    /// The largest record journalled (header and checksum included; `file_bytes` if smaller).
    /// A larger append is a bulk write: journalling it would write it to the disk twice, and
    /// its own size, not a sync's fixed wait, dominates how long it takes, so it bypasses the
    /// journal and waits for sled's sync instead.
    pub record_bytes: u64,
}

impl Default for JournalLimits {
    fn default() -> Self {
        JournalLimits {
            file_bytes: 32 << 20,
            extend_bytes: 1 << 20,
            record_bytes: 4 << 20,
        }
    }
}

/// One sled operation of an append's batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Insert(Vec<u8>, Vec<u8>),
    Remove(Vec<u8>),
}

/// One append, as journalled: the leaves `first..end`, as inserts of leaf chunks under
/// [`keys::leaf_chunk`] keys (they go to the leaf files, not sled), and the sled batch it
/// writes (its checkpoint and index entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub first: u64,
    pub end: u64,
    pub ops: Vec<Op>,
}

/// Why a payload did not decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordDecodeError {
    #[error("journal record ends early")]
    Truncated,
    #[error("journal record has trailing bytes")]
    Trailing,
    #[error("journal record has unknown operation {0}")]
    UnknownOp(u8),
    #[error("journal record's range {first}..{end} is empty or reversed")]
    BadRange { first: u64, end: u64 },
}

impl Record {
    /// The sled batch this record stands for: every operation but its leaf chunks.
    pub fn batch(&self) -> sled::Batch {
        let mut batch = sled::Batch::default();
        for op in &self.ops {
            match op {
                Op::Insert(key, _) if Self::leaf_chunk_at(key).is_some() => {}
                Op::Insert(key, value) => batch.insert(key.as_slice(), value.as_slice()),
                Op::Remove(key) => batch.remove(key.as_slice()),
            }
        }
        batch
    }

    /// The record's leaf chunks, as (index of the chunk's first leaf, encoded chunk), in order.
    pub fn leaf_chunks(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.ops.iter().filter_map(|op| match op {
            Op::Insert(key, value) => Self::leaf_chunk_at(key).map(|first| (first, &value[..])),
            Op::Remove(_) => None,
        })
    }

    fn leaf_chunk_at(key: &[u8]) -> Option<u64> {
        keys::decode_prefixed(keys::LEAF_PREFIX, key)
    }

    /// The payload bytes (see the module documentation).
    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self
            .ops
            .iter()
            .map(|op| match op {
                Op::Insert(k, v) => 9 + k.len() + v.len(),
                Op::Remove(k) => 5 + k.len(),
            })
            .sum();
        let mut out = Vec::with_capacity(20 + size);
        out.extend_from_slice(&self.first.to_le_bytes());
        out.extend_from_slice(&self.end.to_le_bytes());
        out.extend_from_slice(&(self.ops.len() as u32).to_le_bytes());
        for op in &self.ops {
            match op {
                Op::Insert(key, value) => {
                    out.push(1);
                    put_bytes(&mut out, key);
                    put_bytes(&mut out, value);
                }
                Op::Remove(key) => {
                    out.push(0);
                    put_bytes(&mut out, key);
                }
            }
        }
        out
    }

    /// The leaves `first..end` a payload covers, read without decoding the rest.
    pub fn range(bytes: &[u8]) -> Result<(u64, u64), RecordDecodeError> {
        let mut r = Reader(bytes);
        let first = r.u64()?;
        let end = r.u64()?;
        if end <= first {
            return Err(RecordDecodeError::BadRange { first, end });
        }
        Ok((first, end))
    }

    /// Decodes a payload; any byte string gets a result or an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordDecodeError> {
        let mut r = Reader(bytes);
        let first = r.u64()?;
        let end = r.u64()?;
        if end <= first {
            return Err(RecordDecodeError::BadRange { first, end });
        }
        let count = r.u32()?;
        // Each operation takes at least five bytes: no allocation beyond what the input holds.
        let mut ops = Vec::with_capacity((count as usize).min(bytes.len() / 5));
        for _ in 0..count {
            let op = match r.u8()? {
                1 => {
                    let key = r.bytes()?.to_vec();
                    Op::Insert(key, r.bytes()?.to_vec())
                }
                0 => Op::Remove(r.bytes()?.to_vec()),
                other => return Err(RecordDecodeError::UnknownOp(other)),
            };
            ops.push(op);
        }
        if !r.0.is_empty() {
            return Err(RecordDecodeError::Trailing);
        }
        Ok(Record { first, end, ops })
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordDecodeError> {
        if self.0.len() < n {
            return Err(RecordDecodeError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, RecordDecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, RecordDecodeError> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }
    fn u64(&mut self) -> Result<u64, RecordDecodeError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }
    fn bytes(&mut self) -> Result<&'a [u8], RecordDecodeError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// A record as it is written to a file: header, payload, checksum.
pub fn frame(generation: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len() + CHECKSUM);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(payload);
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    out
}

/// Reads one journal file's records in order, one at a time (so replaying a full file holds one
/// record in memory, not the file): whole frames carrying the first frame's generation, up to
/// the first torn, foreign or zeroed one.
#[derive(Debug)]
pub struct FrameReader<R> {
    input: R,
    /// Bytes of the file not yet read.
    remaining: u64,
    generation: Option<u64>,
    ended: bool,
}

impl<R: Read> FrameReader<R> {
    /// Reads the `len` bytes of `input`.
    pub fn new(input: R, len: u64) -> Self {
        FrameReader {
            input,
            remaining: len,
            generation: None,
            ended: false,
        }
    }

    /// The generation of the frames read (that of the first one), once one has been read.
    pub fn generation(&self) -> Option<u64> {
        self.generation
    }

    /// The next frame's payload, or `None` where the file's records end.
    pub fn next_payload(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.ended || self.remaining < (HEADER + CHECKSUM) as u64 {
            self.ended = true;
            return Ok(None);
        }
        let mut header = [0u8; HEADER];
        self.input.read_exact(&mut header)?;
        self.remaining -= HEADER as u64;
        let mut len = [0u8; 4];
        len.copy_from_slice(&header[..4]);
        let len = u32::from_le_bytes(len) as u64;
        let mut generation = [0u8; 8];
        generation.copy_from_slice(&header[4..]);
        let generation = u64::from_le_bytes(generation);
        // A length running past the file is a torn or foreign frame: nothing is allocated for it.
        if len + CHECKSUM as u64 > self.remaining {
            self.ended = true;
            return Ok(None);
        }
        let len = len as usize;
        let mut body = vec![0u8; len + CHECKSUM];
        self.input.read_exact(&mut body)?;
        self.remaining -= body.len() as u64;
        let mut hasher = blake3::Hasher::new();
        hasher.update(&header);
        hasher.update(&body[..len]);
        if hasher.finalize().as_bytes() != &body[len..] {
            self.ended = true;
            return Ok(None);
        }
        if *self.generation.get_or_insert(generation) != generation {
            self.ended = true;
            return Ok(None);
        }
        body.truncate(len);
        Ok(Some(body))
    }
}

/// The whole framed records at the start of `bytes` that share the first one's generation,
/// with that generation (0 if none); what [`FrameReader`] reads from a file holding `bytes`.
pub fn read_frames(bytes: &[u8]) -> (u64, Vec<Vec<u8>>) {
    let mut reader = FrameReader::new(bytes, bytes.len() as u64);
    let mut frames = Vec::new();
    // Reading from a slice of the stated length cannot fail.
    while let Ok(Some(payload)) = reader.next_payload() {
        frames.push(payload);
    }
    (reader.generation().unwrap_or(0), frames)
}

/// Hands every whole record payload in the journal files of `dir` to `apply`, oldest generation
/// first, one at a time; returns the newest generation seen (0 if none).
pub fn replay(
    dir: &Path,
    mut apply: impl FnMut(Vec<u8>) -> Result<(), super::StoreError>,
) -> Result<u64, super::StoreError> {
    let mut files = Vec::new();
    for name in FILE_NAMES {
        let file = match File::open(dir.join(name)) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        let len = file.metadata()?.len();
        let mut reader = FrameReader::new(BufReader::new(file), len);
        if let Some(first) = reader.next_payload()? {
            files.push((reader.generation().unwrap_or(0), first, reader));
        }
    }
    files.sort_by_key(|(generation, _, _)| *generation);
    let newest = files.last().map(|(g, _, _)| *g).unwrap_or(0);
    for (_, first, mut reader) in files {
        apply(first)?;
        while let Some(payload) = reader.next_payload()? {
            apply(payload)?;
        }
    }
    Ok(newest)
}

/// The writing side: appends framed records to the active file and syncs them.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    files: [File; 2],
    /// Each file's length.
    lengths: [u64; 2],
    /// The largest `end` among each file's records of its current generation (0 when none).
    ends: [u64; 2],
    active: usize,
    offset: u64,
    generation: u64,
    limits: JournalLimits,
    faults: Faults,
}

impl Journal {
    /// Opens (creating them if needed) the journal files in `dir` for writing, starting a
    /// generation after `newest`. Every record already in them must be durable in sled: they are
    /// overwritten.
    pub fn open(
        dir: &Path,
        newest: u64,
        limits: JournalLimits,
        faults: Faults,
    ) -> io::Result<Self> {
        let open = |name: &str| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(dir.join(name))
        };
        let files = [open(FILE_NAMES[0])?, open(FILE_NAMES[1])?];
        File::open(dir)?.sync_all()?;
        let lengths = [files[0].metadata()?.len(), files[1].metadata()?.len()];
        Ok(Journal {
            dir: dir.to_path_buf(),
            files,
            lengths,
            ends: [0, 0],
            active: 0,
            offset: 0,
            generation: newest + 1,
            limits,
            faults,
        })
    }

    /// Whether a payload of `len` bytes is journalled (see [`JournalLimits::record_bytes`]).
    pub fn fits(&self, len: usize) -> bool {
        let bound = self.limits.file_bytes.min(self.limits.record_bytes);
        (HEADER + len + CHECKSUM) as u64 <= bound
    }

    /// When the next record (of payload `len`) must go to the other file: the log size sled must
    /// be durable up to before it may be overwritten (its records' largest end), else `None`.
    pub fn switch_needs(&self, len: usize) -> Option<u64> {
        let framed = (HEADER + len + CHECKSUM) as u64;
        (self.offset + framed > self.limits.file_bytes).then(|| self.ends[1 - self.active])
    }

    /// Moves to the other file, from its start, with a new generation. The caller has made its
    /// records durable in sled ([`Journal::switch_needs`]).
    pub fn switch(&mut self) {
        self.active = 1 - self.active;
        self.ends[self.active] = 0;
        self.offset = 0;
        self.generation += 1;
    }

    /// Writes `record`'s payload as the next record and syncs it; returns once it is durable.
    pub fn append(&mut self, end: u64, payload: &[u8]) -> io::Result<()> {
        let framed = frame(self.generation, payload);
        let needed = self.offset + framed.len() as u64;
        while self.lengths[self.active] < needed {
            self.extend()?;
        }
        let file = &self.files[self.active];
        self.faults.run(Step::JournalWrite, || {
            file.write_all_at(&framed, self.offset)
        })?;
        self.faults.run(Step::JournalSync, || file.sync_data())?;
        self.offset = needed;
        self.ends[self.active] = self.ends[self.active].max(end);
        Ok(())
    }

    /// Grows the active file by one zero-filled step and syncs it, so later records overwrite
    /// blocks already written.
    fn extend(&mut self) -> io::Result<()> {
        let file = &self.files[self.active];
        let at = self.lengths[self.active];
        let step = self
            .limits
            .extend_bytes
            .min(self.limits.file_bytes.saturating_sub(at))
            .max(1);
        let zeros = vec![0u8; step as usize];
        self.faults
            .run(Step::JournalWrite, || file.write_all_at(&zeros, at))?;
        self.faults.run(Step::JournalSync, || file.sync_all())?;
        self.lengths[self.active] = at + step;
        Ok(())
    }

    /// The directory holding the journal.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every record [`replay`] hands over, decoded, and the newest generation.
    fn read_records(dir: &Path) -> Result<(Vec<Record>, u64), crate::store::StoreError> {
        let mut records = Vec::new();
        let newest = replay(dir, |payload| {
            records.push(Record::decode(&payload).unwrap());
            Ok(())
        })?;
        Ok((records, newest))
    }

    fn record(first: u64, end: u64) -> Record {
        Record {
            first,
            end,
            ops: vec![
                Op::Insert(format!("k{first}").into_bytes(), vec![first as u8; 40]),
                Op::Remove(b"gone".to_vec()),
            ],
        }
    }

    fn limits(file_bytes: u64) -> JournalLimits {
        JournalLimits {
            file_bytes,
            extend_bytes: 256,
            record_bytes: u64::MAX,
        }
    }

    #[test]
    fn records_round_trip_in_generation_order_across_a_switch() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), 0, limits(400), Faults::none()).unwrap();
        let mut written = Vec::new();
        for i in 0..10u64 {
            let r = record(i * 2, i * 2 + 2);
            let payload = r.encode();
            if j.switch_needs(payload.len()).is_some() {
                j.switch();
            }
            j.append(r.end, &payload).unwrap();
            written.push(r);
        }
        let (read, newest) = read_records(dir.path()).unwrap();
        assert!(newest > 2, "the writer never came back to the first file");
        // What is still in the files: the newest records, oldest first, ending with the last.
        assert!(!read.is_empty());
        assert_eq!(read.last(), written.last());
        let tail = &written[written.len() - read.len()..];
        assert_eq!(read, tail);
    }

    #[test]
    fn a_torn_record_ends_the_file_and_the_previous_use_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), 0, limits(1 << 16), Faults::none()).unwrap();
        for i in 0..3u64 {
            j.append(i + 1, &record(i, i + 1).encode()).unwrap();
        }
        drop(j);
        // Reopened: a new generation overwrites from the start; one record, then a torn one.
        let (_, newest) = read_records(dir.path()).unwrap();
        let mut j = Journal::open(dir.path(), newest, limits(1 << 16), Faults::none()).unwrap();
        j.append(4, &record(3, 4).encode()).unwrap();
        let second = frame(j.generation, &record(4, 5).encode());
        j.files[0]
            .write_all_at(&second[..second.len() - 1], j.offset)
            .unwrap();
        let (read, _) = read_records(dir.path()).unwrap();
        assert_eq!(read, vec![record(3, 4)]);
    }

    #[test]
    fn a_record_larger_than_a_file_does_not_fit() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), 0, limits(100), Faults::none()).unwrap();
        assert!(j.fits(100 - HEADER - CHECKSUM));
        assert!(!j.fits(101 - HEADER - CHECKSUM));
    }

    #[test]
    fn a_record_over_the_record_bound_does_not_fit_in_a_larger_file() {
        let dir = tempfile::tempdir().unwrap();
        let bounded = JournalLimits {
            record_bytes: 100,
            ..limits(1000)
        };
        let j = Journal::open(dir.path(), 0, bounded, Faults::none()).unwrap();
        assert!(j.fits(100 - HEADER - CHECKSUM));
        assert!(!j.fits(101 - HEADER - CHECKSUM));
    }

    #[test]
    fn files_grow_in_zeroed_steps_and_stop_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), 0, limits(1000), Faults::none()).unwrap();
        j.append(1, &record(0, 1).encode()).unwrap();
        assert_eq!(j.lengths[0], 256);
        while j.switch_needs(record(0, 1).encode().len()).is_none() {
            j.append(1, &record(0, 1).encode()).unwrap();
        }
        assert!(j.lengths[0] <= 1000);
        assert_eq!(
            std::fs::metadata(dir.path().join(FILE_NAMES[0]))
                .unwrap()
                .len(),
            j.lengths[0]
        );
    }

    proptest! {
        #[test]
        fn payloads_round_trip(first in 0u64..1 << 40, n in 1u64..1000,
                               ops in prop::collection::vec(
                                   (any::<bool>(), prop::collection::vec(any::<u8>(), 0..20),
                                    prop::collection::vec(any::<u8>(), 0..40)), 0..8)) {
            let r = Record {
                first,
                end: first + n,
                ops: ops.into_iter().map(|(ins, k, v)| if ins { Op::Insert(k, v) } else { Op::Remove(k) }).collect(),
            };
            prop_assert_eq!(Record::decode(&r.encode()), Ok(r));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = Record::decode(&bytes);
            let _ = read_frames(&bytes);
        }

        #[test]
        fn a_flipped_byte_ends_the_frames_there(i in 0usize..3, at in 0usize..100, bit in 0u8..8) {
            let mut bytes = Vec::new();
            let payloads: Vec<Vec<u8>> = (0..3u64).map(|k| record(k, k + 1).encode()).collect();
            for p in &payloads {
                bytes.extend(frame(7, p));
            }
            let len = frame(7, &payloads[0]).len();
            let pos = i * len + at % len;
            bytes[pos] ^= 1 << bit;
            let (_, frames) = read_frames(&bytes);
            prop_assert_eq!(frames.len(), i);
        }
    }
}

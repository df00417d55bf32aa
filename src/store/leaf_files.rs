//! The log's leaves in two flat files beside the tree's node files, outside sled.
//!
//! `leaves/offsets` holds, for leaf `i`, the offset in `leaves/data` at which its bytes end, a
//! `u64` big-endian at byte `8·i`; leaf `i` starts where leaf `i − 1` ends (leaf 0 at 0).
//! `leaves/data` holds the leaves' bytes back to back, nothing else. Reading leaves `a..b` is
//! one `pread` of their offsets and one of their bytes.
//!
//! Why not sled: sled keeps state in memory for every page of its tree whether the page is
//! cached or not, so a key per chunk of leaves made the server's memory grow with the log.
//! These files cost no memory beyond their two handles, whatever their size.
//!
//! Invariants:
//! - Leaf `i` is written at the place its index and leaf `i − 1`'s end offset give, with
//!   positioned writes, before its append commits. Writing the same leaves again at the same
//!   index writes the same bytes, so replaying an append is idempotent, and leaves written by
//!   an append that did not commit lie past the log's size, where the next append overwrites
//!   them; opening the store to append cuts their offsets off ([`LeafFiles::truncate`]).
//! - The files are made durable in the background, with sled ([`super::sled_syncer`]); until a
//!   sync covers an append, its journal record holds its leaves, and the journal's replay at
//!   open writes them again ([`super::replay`]).
//! - Nothing read is trusted: offsets that run backwards or past the data file are reported as
//!   [`LeafFileError::Malformed`], never allocated for.

use super::error::StoreError;
use super::leaves::Chunk;
use crate::fault::{Faults, Step};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The offsets file's name inside the leaves' directory.
const OFFSETS: &str = "offsets";
/// The data file's name inside the leaves' directory.
const DATA: &str = "data";
/// Bytes per entry of the offsets file.
const OFFSET_BYTES: u64 = 8;

/// Why leaves could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum LeafFileError {
    #[error("leaf files I/O: {0}")]
    Io(#[from] io::Error),
    #[error("leaf {index}: {reason}")]
    Malformed { index: u64, reason: String },
}

/// The two leaf files of one log.
#[derive(Debug)]
pub struct LeafFiles {
    offsets: File,
    data: File,
    faults: Faults,
}

impl LeafFiles {
    /// Opens the leaf files in `dir`, creating the directory and empty files if needed (and
    /// making their names durable). Writes and syncs go through `faults`.
    pub fn open(dir: &Path, faults: Faults) -> io::Result<Self> {
        let created = !dir.exists();
        std::fs::create_dir_all(dir)?;
        let open = |name: &str| {
            crate::noatime::open(
                OpenOptions::new().read(true).write(true).create(true),
                &dir.join(name),
            )
        };
        let files = LeafFiles {
            offsets: open(OFFSETS)?,
            data: open(DATA)?,
            faults,
        };
        if created {
            File::open(dir)?.sync_all()?;
            if let Some(parent) = dir.parent() {
                File::open(parent)?.sync_all()?;
            }
        }
        Ok(files)
    }

    /// How many leaves the offsets file holds entries for (a torn last entry not counted).
    pub fn count(&self) -> io::Result<u64> {
        Ok(self.offsets.metadata()?.len() / OFFSET_BYTES)
    }

    /// The data offset at which leaf `index` starts: where leaf `index − 1` ends.
    fn start_of(&self, index: u64) -> Result<u64, LeafFileError> {
        if index == 0 {
            return Ok(0);
        }
        let mut bytes = [0u8; OFFSET_BYTES as usize];
        match self
            .offsets
            .read_exact_at(&mut bytes, (index - 1) * OFFSET_BYTES)
        {
            Ok(()) => Ok(u64::from_be_bytes(bytes)),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(LeafFileError::Malformed {
                index: index - 1,
                reason: "is not stored".into(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes `leaves` as leaves `first..`, after the stored leaf `first − 1`. Only the store's
    /// one writer (or the replay at open, before it exists) calls this.
    pub fn write<L: AsRef<[u8]>>(&self, first: u64, leaves: &[L]) -> Result<(), LeafFileError> {
        if leaves.is_empty() {
            return Ok(());
        }
        let start = self.start_of(first)?;
        let total: usize = leaves.iter().map(|l| l.as_ref().len()).sum();
        let mut data = Vec::with_capacity(total);
        let mut ends = Vec::with_capacity(leaves.len() * OFFSET_BYTES as usize);
        for leaf in leaves {
            data.extend_from_slice(leaf.as_ref());
            ends.extend_from_slice(&(start + data.len() as u64).to_be_bytes());
        }
        let at = first
            .checked_mul(OFFSET_BYTES)
            .ok_or_else(|| io::Error::other("leaf offset overflows"))?;
        self.faults
            .run(Step::LeafWrite, || self.data.write_all_at(&data, start))?;
        self.faults
            .run(Step::LeafWrite, || self.offsets.write_all_at(&ends, at))?;
        Ok(())
    }

    /// Writes the leaves of an encoded leaf chunk ([`super::leaves`]) as leaves `first..`;
    /// returns how many it held. `what` names where the chunk came from, for the error.
    pub fn write_chunk(&self, first: u64, chunk: &[u8], what: &str) -> Result<u64, StoreError> {
        let chunk = Chunk::decode(chunk)
            .map_err(|e| StoreError::corrupt(format!("{what}, leaf chunk at {first}: {e}")))?;
        let leaves: Vec<&[u8]> = chunk.iter().collect();
        self.write(first, &leaves)?;
        Ok(leaves.len() as u64)
    }

    /// Leaves `start..end`, which the files must hold.
    pub fn read(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, LeafFileError> {
        if end <= start {
            return Ok(Vec::new());
        }
        let stored = self.count()?;
        if end > stored {
            return Err(LeafFileError::Malformed {
                index: stored,
                reason: "is not stored".into(),
            });
        }
        // The end offsets of leaves start − 1 (when there is one) to end − 1.
        let from = start.saturating_sub(1);
        let mut raw = vec![0u8; ((end - from) * OFFSET_BYTES) as usize];
        self.offsets.read_exact_at(&mut raw, from * OFFSET_BYTES)?;
        let bounds = leaf_bounds(start, &raw, self.data.metadata()?.len())?;
        let (Some(&(data_start, _)), Some(&(_, data_end))) = (bounds.first(), bounds.last()) else {
            return Ok(Vec::new());
        };
        let mut bytes = vec![0u8; (data_end - data_start) as usize];
        self.data.read_exact_at(&mut bytes, data_start)?;
        Ok(bounds
            .into_iter()
            .map(|(from, to)| {
                bytes[(from - data_start) as usize..(to - data_start) as usize].to_vec()
            })
            .collect())
    }

    /// Cuts the offsets file down to the first `size` leaves, forgetting leaves written by an
    /// append that never committed. Their bytes in the data file stay until the next append
    /// overwrites them: no offset points at them, and cutting the data file at an offset read
    /// from the files would, were that offset damaged, destroy leaves the audit should see.
    pub fn truncate(&self, size: u64) -> Result<(), LeafFileError> {
        let stored = self.count()?;
        if stored < size {
            return Err(LeafFileError::Malformed {
                index: stored,
                reason: "is not stored".into(),
            });
        }
        if stored > size {
            self.offsets.set_len(size * OFFSET_BYTES)?;
        }
        Ok(())
    }

    /// Makes every write so far durable.
    pub fn sync(&self) -> io::Result<()> {
        self.faults.run(Step::LeafSync, || self.data.sync_data())?;
        self.faults.run(Step::LeafSync, || self.offsets.sync_data())
    }
}

/// Where leaves `start..` lie in a data file of `data_len` bytes, as `(from, to)` byte ranges,
/// from their stored end offsets `raw` (8 bytes each, big-endian): those of leaves
/// `start − 1, start, …` when `start > 0`, of `0, 1, …` when it is 0. This is everything
/// [`LeafFiles::read`] takes from the offsets file; any bytes get ranges that lie inside the
/// data file and follow one another, or an error naming the first leaf that does not.
pub fn leaf_bounds(
    start: u64,
    raw: &[u8],
    data_len: u64,
) -> Result<Vec<(u64, u64)>, LeafFileError> {
    if !raw.len().is_multiple_of(OFFSET_BYTES as usize) {
        return Err(LeafFileError::Malformed {
            index: start,
            reason: format!("offsets of {} bytes are not whole entries", raw.len()),
        });
    }
    let leaves = (raw.len() as u64 / OFFSET_BYTES).saturating_sub(u64::from(start > 0));
    if start.checked_add(leaves).is_none() {
        return Err(LeafFileError::Malformed {
            index: start,
            reason: format!("and the {leaves} leaves from it run past leaf 2^64 − 1"),
        });
    }
    let mut ends = raw
        .chunks_exact(OFFSET_BYTES as usize)
        .map(|b| u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]));
    let mut at = if start == 0 {
        0
    } else {
        ends.next().ok_or(LeafFileError::Malformed {
            index: start - 1,
            reason: "is not stored".into(),
        })?
    };
    let mut bounds = Vec::with_capacity(ends.len());
    for (i, end) in ends.enumerate() {
        let index = start + i as u64;
        if end < at {
            return Err(LeafFileError::Malformed {
                index,
                reason: format!("ends at byte {end}, before it starts at {at}"),
            });
        }
        if end > data_len {
            return Err(LeafFileError::Malformed {
                index,
                reason: format!("ends at byte {end}, past the data file's {data_len}"),
            });
        }
        bounds.push((at, end));
        at = end;
    }
    Ok(bounds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(from: u64, to: u64) -> Vec<Vec<u8>> {
        (from..to)
            .map(|i| vec![i as u8; (i % 7) as usize])
            .collect()
    }

    fn open(dir: &Path) -> LeafFiles {
        LeafFiles::open(&dir.join("leaves"), Faults::none()).unwrap()
    }

    #[test]
    fn leaves_read_back_across_writes_and_reopens() {
        let tmp = tempfile::tempdir().unwrap();
        let files = open(tmp.path());
        assert_eq!(files.count().unwrap(), 0);
        files.write(0, &leaves(0, 10)).unwrap();
        files.write(10, &leaves(10, 25)).unwrap();
        files.sync().unwrap();
        drop(files);
        let files = open(tmp.path());
        assert_eq!(files.count().unwrap(), 25);
        assert_eq!(files.read(0, 25).unwrap(), leaves(0, 25));
        assert_eq!(files.read(7, 13).unwrap(), leaves(7, 13));
        assert_eq!(files.read(24, 25).unwrap(), leaves(24, 25));
        assert!(files.read(5, 5).unwrap().is_empty());
    }

    #[test]
    fn writing_again_is_idempotent_and_truncate_cuts_uncommitted_leaves() {
        let tmp = tempfile::tempdir().unwrap();
        let files = open(tmp.path());
        files.write(0, &leaves(0, 20)).unwrap();
        // An append that never committed, then the retry of fewer leaves at the same place.
        files.write(20, &vec![vec![0xEEu8; 100]; 5]).unwrap();
        files.write(20, &leaves(20, 22)).unwrap();
        files.write(0, &leaves(0, 20)).unwrap();
        files.truncate(22).unwrap();
        assert_eq!(files.count().unwrap(), 22);
        assert_eq!(files.read(0, 22).unwrap(), leaves(0, 22));
        // The next append goes where leaf 21 ends, over the uncommitted bytes.
        files.write(22, &leaves(22, 24)).unwrap();
        assert_eq!(files.read(20, 24).unwrap(), leaves(20, 24));
        assert!(matches!(
            files.truncate(25),
            Err(LeafFileError::Malformed { index: 24, .. })
        ));
    }

    #[test]
    fn leaf_numbers_past_the_last_u64_are_refused() {
        let raw: Vec<u8> = [3u64, 5, 9].iter().flat_map(|e| e.to_be_bytes()).collect();
        assert_eq!(
            leaf_bounds(u64::MAX - 2, &raw, 9).unwrap(),
            [(3, 5), (5, 9)]
        );
        assert!(matches!(
            leaf_bounds(u64::MAX - 1, &raw, 9),
            Err(LeafFileError::Malformed { index, .. }) if index == u64::MAX - 1
        ));
    }

    #[test]
    fn missing_and_malformed_leaves_are_errors_not_allocations() {
        let tmp = tempfile::tempdir().unwrap();
        let files = open(tmp.path());
        files.write(0, &leaves(0, 10)).unwrap();
        assert!(matches!(
            files.read(5, 11),
            Err(LeafFileError::Malformed { index: 10, .. })
        ));
        assert!(matches!(
            files.write(12, &leaves(12, 13)),
            Err(LeafFileError::Malformed { index: 11, .. })
        ));
        // Leaf 6's end offset points far past the data file.
        files
            .offsets
            .write_all_at(&u64::MAX.to_be_bytes(), 6 * OFFSET_BYTES)
            .unwrap();
        match files.read(0, 10) {
            Err(LeafFileError::Malformed { index: 6, reason }) => {
                assert!(reason.contains("past the data file"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        // Leaf 8's end runs backwards.
        files
            .offsets
            .write_all_at(&1u64.to_be_bytes(), 8 * OFFSET_BYTES)
            .unwrap();
        assert!(matches!(
            files.read(8, 10),
            Err(LeafFileError::Malformed { index: 8, .. })
        ));
    }
}

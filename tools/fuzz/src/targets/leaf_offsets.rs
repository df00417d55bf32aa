//! The leaves' offsets file as the store reads it back (`store::leaf_bounds`: everything
//! `LeafFiles::read` takes from `leaves/offsets` before it reads `leaves/data`).
//!
//! Input: the first leaf asked for, `start` (8 bytes big-endian, its top 3 bits dropped: see
//! [`MAX_START`]), the data file's length (8 bytes big-endian), then the raw end offsets.
//!
//! Properties: an accepted input has whole 8-byte entries and gives one range per leaf asked
//! for (every entry but the first when `start > 0`); each range lies inside the data file, ends
//! at the leaf's stored offset, and starts where the previous one ends (the first at 0 for
//! leaf 0, at the stored end of leaf `start − 1` otherwise), so nothing past the file is ever
//! allocated for; reading the same leaves as two runs gives the same ranges. Anything else is
//! refused as `Malformed` (never `Io`), naming a leaf the input covers, and for whole entries
//! exactly the first leaf that runs backwards or past the file (or `start − 1` when its entry is
//! missing). A plain reference loop decides independently which inputs must be accepted.

use crate::input::Input;
use provledger::store::{LeafFileError, leaf_bounds};

/// Bytes per entry of the offsets file.
const ENTRY: usize = 8;

/// The largest `start` the target passes. `LeafFiles::read(start, end)` only runs for
/// `start < end <= count()`, and `count()` is the offsets file's length over 8, so a start at or
/// past 2^61 never reaches `leaf_bounds` from the store; the cap also keeps this target's own
/// leaf arithmetic from overflowing. (`leaf_bounds` refuses leaf numbers past `u64::MAX`
/// itself: a unit test in `src/store/leaf_files.rs`.)
pub const MAX_START: u64 = u64::MAX / ENTRY as u64;

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let start = input.u64() & MAX_START;
    let data_len = input.u64();
    let raw = input.rest();
    let expected = reference(start, raw, data_len);
    match leaf_bounds(start, raw, data_len) {
        Ok(bounds) => {
            let stored = match expected {
                Ok(stored) => stored,
                Err(bad) => {
                    panic!("accepted what the reference refuses (at leaf {bad:?}): {bounds:?}")
                }
            };
            assert!(raw.len().is_multiple_of(ENTRY), "a torn entry was accepted");
            assert_eq!(stored.len(), raw.len() / ENTRY);
            check_bounds(start, &stored, data_len, &bounds);
            check_split(start, raw, data_len, &bounds);
        }
        Err(err) => {
            let text = err.to_string();
            let LeafFileError::Malformed { index, reason } = err else {
                panic!("an I/O error from bytes in memory: {text}");
            };
            assert!(!reason.is_empty(), "{text}");
            assert!(
                text.starts_with(&format!("leaf {index}: ")),
                "the message does not name its leaf: {text}"
            );
            let entries = (raw.len() / ENTRY) as u64;
            assert!(
                (start.saturating_sub(1)..=start + entries).contains(&index),
                "names leaf {index}, outside the input's leaves from {start}: {text}"
            );
            match expected {
                Ok(_) => panic!("refused what the reference accepts: {text}"),
                Err(Some(bad)) => assert_eq!(index, bad, "not the first bad leaf: {text}"),
                Err(None) => assert!(!raw.len().is_multiple_of(ENTRY)),
            }
        }
    }
}

/// What `leaf_bounds` must answer, worked out the plain way: every stored end offset when each
/// leaf asked for ends after the entry before it and inside the data file; otherwise the first
/// leaf that does not (`None` for a torn last entry).
fn reference(start: u64, raw: &[u8], data_len: u64) -> Result<Vec<u64>, Option<u64>> {
    if !raw.len().is_multiple_of(ENTRY) {
        return Err(None);
    }
    let mut stored = Vec::new();
    let mut at = 0;
    while at < raw.len() {
        let mut end = 0u64;
        for &b in &raw[at..at + ENTRY] {
            end = (end << 8) | u64::from(b);
        }
        stored.push(end);
        at += ENTRY;
    }
    // Leaf `start + k` ends at `stored[k + skip]` and starts where the entry before it ends.
    let skip = usize::from(start > 0);
    if stored.len() < skip {
        return Err(Some(start - 1));
    }
    for k in 0..stored.len() - skip {
        let begin = if k + skip == 0 {
            0
        } else {
            stored[k + skip - 1]
        };
        let end = stored[k + skip];
        if end < begin || end > data_len {
            return Err(Some(start + k as u64));
        }
    }
    Ok(stored)
}

fn check_bounds(start: u64, stored: &[u64], data_len: u64, bounds: &[(u64, u64)]) {
    let skip = usize::from(start > 0);
    assert_eq!(
        bounds.len(),
        stored.len() - skip,
        "not one range per leaf asked for"
    );
    for (k, &(from, to)) in bounds.iter().enumerate() {
        let leaf = start + k as u64;
        assert!(
            from <= to && to <= data_len,
            "leaf {leaf}: {from}..{to} is not inside a data file of {data_len} bytes"
        );
        assert_eq!(
            to,
            stored[k + skip],
            "leaf {leaf} does not end at its offset"
        );
    }
    for pair in bounds.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "ranges do not follow one another");
    }
    if let Some(&(from, _)) = bounds.first() {
        let begin = if start == 0 { 0 } else { stored[0] };
        assert_eq!(
            from, begin,
            "leaf {start} does not start where its predecessor ends"
        );
    }
}

/// Reading the same leaves as two runs, split in the middle, gives the same ranges: the second
/// run starts from the stored end of the first run's last leaf.
fn check_split(start: u64, raw: &[u8], data_len: u64, bounds: &[(u64, u64)]) {
    if bounds.len() < 2 {
        return;
    }
    let skip = usize::from(start > 0);
    let k = bounds.len() / 2;
    let head = leaf_bounds(start, &raw[..(skip + k) * ENTRY], data_len);
    assert_eq!(
        head.ok().as_deref(),
        Some(&bounds[..k]),
        "first half differs"
    );
    let tail = leaf_bounds(start + k as u64, &raw[(skip + k - 1) * ENTRY..], data_len);
    assert_eq!(
        tail.ok().as_deref(),
        Some(&bounds[k..]),
        "second half differs"
    );
}

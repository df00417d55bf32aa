//! Watermark files: one durable `u64` recording how far a piece of derived data (a hash index,
//! the tree's node files) is known to be on disk.
//!
//! A watermark is written atomically (a temporary file is written and fsynced, renamed over the
//! old one, and the directory fsynced), so after a crash it reads as either the old or the new
//! value. A missing or malformed file reads as 0: the owner rebuilds from the start.

use std::io::Write;
use std::path::Path;

/// The recorded value of the watermark `name` in `dir`, or 0 when there is none.
pub fn read(dir: &Path, name: &str) -> u64 {
    std::fs::read(dir.join(name))
        .ok()
        .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
        .map_or(0, u64::from_be_bytes)
}

/// Records `value` as the watermark `name` in `dir`, durably and atomically.
pub fn write(dir: &Path, name: &str, value: u64) -> std::io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&value.to_be_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_missing_or_malformed_as_zero() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path(), "w"), 0);
        write(dir.path(), "w", 42).unwrap();
        assert_eq!(read(dir.path(), "w"), 42);
        write(dir.path(), "w", 1 << 40).unwrap();
        assert_eq!(read(dir.path(), "w"), 1 << 40);
        std::fs::write(dir.path().join("w"), b"short").unwrap();
        assert_eq!(read(dir.path(), "w"), 0);
        assert!(!dir.path().join("w.tmp").exists());
    }
}

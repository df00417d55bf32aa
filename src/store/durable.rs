//! Making sled writes durable.
//!
//! sled 0.34's `flush()` writes its log with `sync_file_range`, which neither syncs the file's
//! metadata (a grown file's size) nor survives power loss; and values above its blob threshold
//! go to separate files under `blobs/` that it never fsyncs. [`Durability::sync`] therefore calls
//! `flush()`, then `fsync` on the database file, then on every blob file not synced before and on
//! the blob directory. Only after it returns is a write durable in sled (appends are durable
//! before that, in the [`super::journal`]).

use crate::fault::{Faults, Step};
use crate::metrics::AtomicHistogram;
use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Histograms a store records its syncs into.
#[derive(Debug, Clone)]
pub struct SyncTimers {
    /// Each batch's sync before its acknowledgement: its journal record written and
    /// `fdatasync`ed (or, for a batch too large for the journal, a whole sled sync).
    pub sync: AtomicHistogram,
    /// Each background sync: the leaf files' `fdatasync`s, then sled's flush and fsyncs.
    pub sled_sync: AtomicHistogram,
    /// sled's flush alone within those (its buffers written to its file and waited for on the
    /// disk).
    pub flush: AtomicHistogram,
    /// Each batch's writes of its leaves to the leaf files and of its new tree nodes to the
    /// node files, in the commit.
    pub nodes: AtomicHistogram,
    /// Each batch's application to sled (its checkpoint and index entries, in memory; it waits
    /// when sled's buffers are full), in the commit.
    pub apply: AtomicHistogram,
}

/// Flush-and-fsync for one sled database directory.
#[derive(Debug)]
pub struct Durability {
    dir: PathBuf,
    db_file: File,
    synced_blobs: HashSet<std::ffi::OsString>,
    faults: Faults,
}

impl Durability {
    /// Opens the handles needed to sync the database in `dir`; each step goes through `faults`.
    pub fn new(dir: &Path, faults: Faults) -> io::Result<Self> {
        let db_file = File::open(dir.join("db"))?;
        Ok(Durability {
            dir: dir.to_path_buf(),
            db_file,
            synced_blobs: HashSet::new(),
            faults,
        })
    }

    /// Makes everything written to `db` so far durable; returns how long sled's own flush took
    /// (its buffers written to its file and that range waited for with `sync_file_range`), the
    /// rest being fsyncs.
    pub fn sync(&mut self, db: &sled::Db) -> Result<Duration, sled::Error> {
        let started = Instant::now();
        self.faults.run(Step::SledFlush, || db.flush())?;
        let flushed = started.elapsed();
        self.faults.run(Step::DbFsync, || self.db_file.sync_all())?;
        self.sync_blobs()?;
        Ok(flushed)
    }

    fn sync_blobs(&mut self) -> io::Result<()> {
        let blob_dir = self.dir.join("blobs");
        let entries = match std::fs::read_dir(&blob_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut any = false;
        let mut present = HashSet::with_capacity(self.synced_blobs.len());
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if self.synced_blobs.contains(&name) {
                present.insert(name);
                continue;
            }
            match File::open(entry.path()) {
                Ok(f) => self.faults.run(Step::BlobSync, || f.sync_all())?,
                // sled may remove a blob it no longer needs while we look.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            present.insert(name);
            any = true;
        }
        // Forget blobs sled has removed, so the set tracks the directory, not its history.
        self.synced_blobs = present;
        if any {
            let dir = File::open(&blob_dir)?;
            self.faults.run(Step::BlobSync, || dir.sync_all())?;
        }
        Ok(())
    }
}

//! One shard: its file, its locks, and get / insert / grow / sync on it.

use super::error::HashIndexError;
use super::format::{
    Header, MAX_CAPACITY, RunEnd, encode_header, encode_slot, file_len, home, read_header,
    slot_offset, walk_run,
};
use super::rebuild::rebuild;
use crate::fault::{Faults, Step};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

pub(super) fn shard_file_name(index: usize) -> String {
    format!("shard-{index:02}.idx")
}

pub(super) fn tmp_file_name(index: usize) -> String {
    format!("shard-{index:02}.idx.tmp")
}

/// Fsyncs a directory, so that creations and renames in it are durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), HashIndexError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(HashIndexError::io(dir))
}

/// Removes `path`; a missing file is fine. Returns whether it existed.
pub(super) fn remove_if_exists(path: &Path) -> Result<bool, HashIndexError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(HashIndexError::io(path)(e)),
    }
}

#[derive(Debug)]
pub(super) struct Shard {
    index: usize,
    path: PathBuf,
    tmp_path: PathBuf,
    /// Held by insert, grow and sync: one writer per shard at a time.
    writer: Mutex<WriterState>,
    /// Readers share it; the writer takes it exclusively only to write a slot (so no reader
    /// sees half a slot) and to swap in a grown file.
    table: RwLock<Table>,
    /// Occupied slots as far as this process knows (see the module docs on crashes).
    count: AtomicU64,
    /// The fault-injection hook on writes, growths and syncs (a no-op in production builds).
    faults: Faults,
}

#[derive(Debug)]
struct WriterState {
    /// The header or slots were written since the file was last fsynced.
    dirty: bool,
    /// A growth renamed a file here but fsyncing the directory failed.
    dir_unsynced: bool,
}

#[derive(Debug)]
struct Table {
    /// Shared so that growth and sync can use it without holding the lock.
    file: Arc<File>,
    capacity: u64,
}

fn matches(fp: u64, value: u64) -> impl FnMut(u64, u64) -> ControlFlow<()> {
    move |f, v| {
        if f == fp && v == value {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

impl Shard {
    /// Opens shard `index` in `dir`, creating it with `initial_capacity` slots when absent, and
    /// deletes a leftover `.tmp` from an interrupted growth. Returns whether the shard was
    /// created (the caller then fsyncs the directory).
    pub(super) fn open(
        dir: &Path,
        index: usize,
        initial_capacity: u64,
        faults: Faults,
    ) -> Result<(Shard, bool), HashIndexError> {
        let path = dir.join(shard_file_name(index));
        let tmp_path = dir.join(tmp_file_name(index));
        remove_if_exists(&tmp_path)?;
        let opened = crate::noatime::open(OpenOptions::new().read(true).write(true), &path);
        let (file, header, created) = match opened {
            Ok(file) => {
                let header = read_header(&file, &path)?;
                (file, header, false)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let file = create_empty(&tmp_path, initial_capacity)?;
                fs::rename(&tmp_path, &path).map_err(HashIndexError::io(&path))?;
                let header = Header {
                    capacity: initial_capacity,
                    count: 0,
                };
                (file, header, true)
            }
            Err(e) => return Err(HashIndexError::io(&path)(e)),
        };
        let shard = Shard {
            index,
            path,
            tmp_path,
            writer: Mutex::new(WriterState {
                dirty: false,
                dir_unsynced: false,
            }),
            table: RwLock::new(Table {
                file: Arc::new(file),
                capacity: header.capacity,
            }),
            count: AtomicU64::new(header.count),
            faults,
        };
        Ok((shard, created))
    }

    fn poisoned(&self) -> HashIndexError {
        HashIndexError::Poisoned { shard: self.index }
    }

    /// The current file and capacity. Stable while the caller holds `writer`.
    fn current(&self) -> Result<(Arc<File>, u64), HashIndexError> {
        let table = self.table.read().map_err(|_| self.poisoned())?;
        Ok((Arc::clone(&table.file), table.capacity))
    }

    pub(super) fn len(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(super) fn capacity(&self) -> u64 {
        self.current().map(|(_, c)| c).unwrap_or(0)
    }

    /// Every value in `fp`'s probe run stored under `fp`, each once.
    pub(super) fn get(&self, fp: u64) -> Result<Vec<u64>, HashIndexError> {
        let table = self.table.read().map_err(|_| self.poisoned())?;
        let mut values = Vec::new();
        let start = home(fp, table.capacity);
        walk_run(&table.file, &self.path, table.capacity, start, |f, v| {
            if f == fp && !values.contains(&v) {
                values.push(v);
            }
            ControlFlow::Continue(())
        })?;
        Ok(values)
    }

    /// Stores (fp, value) unless its probe run already holds that pair; grows first when the
    /// shard would pass half full, or is full whatever its count says.
    pub(super) fn insert(&self, dir: &Path, fp: u64, value: u64) -> Result<(), HashIndexError> {
        let mut ws = self.writer.lock().map_err(|_| self.poisoned())?;
        let (file, capacity) = self.current()?;
        let end = walk_run(
            &file,
            &self.path,
            capacity,
            home(fp, capacity),
            matches(fp, value),
        )?;
        let pos = match end {
            RunEnd::Stopped => return Ok(()),
            RunEnd::Empty(pos) if self.count.load(Ordering::Relaxed) < capacity / 2 => pos,
            RunEnd::Empty(_) | RunEnd::Full => {
                self.grow(dir, &mut ws, end == RunEnd::Full)?;
                let (file, capacity) = self.current()?;
                let start = home(fp, capacity);
                match walk_run(&file, &self.path, capacity, start, matches(fp, value))? {
                    // Growth re-placed an orphan holding this very pair.
                    RunEnd::Stopped => return Ok(()),
                    RunEnd::Empty(pos) => pos,
                    RunEnd::Full => {
                        return Err(HashIndexError::corrupt(
                            &self.path,
                            "full right after growing",
                        ));
                    }
                }
            }
        };
        ws.dirty = true;
        {
            let table = self.table.write().map_err(|_| self.poisoned())?;
            self.faults
                .run(Step::IndexWrite, || {
                    table
                        .file
                        .write_all_at(&encode_slot(fp, value), slot_offset(pos))
                })
                .map_err(HashIndexError::io(&self.path))?;
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Rebuilds the shard at 2× its capacity (4× when it is full) into the `.tmp` file, fsyncs
    /// it, renames it over the shard and fsyncs the directory. Readers keep using the old file
    /// until the swap. The new header carries the exact count, so the shard is then clean.
    fn grow(&self, dir: &Path, ws: &mut WriterState, full: bool) -> Result<(), HashIndexError> {
        let (src, src_cap) = self.current()?;
        let factor = if full { 4 } else { 2 };
        let new_cap = src_cap
            .checked_mul(factor)
            .filter(|&c| c <= MAX_CAPACITY)
            .ok_or_else(|| HashIndexError::CapacityExceeded {
                path: self.path.clone(),
            })?;
        let (tmp, count) = match self.build_tmp(&src, src_cap, new_cap) {
            Ok(built) => built,
            Err(e) => {
                let _ = fs::remove_file(&self.tmp_path);
                return Err(e);
            }
        };
        let renamed = self
            .faults
            .run(Step::IndexGrow, || fs::rename(&self.tmp_path, &self.path));
        if let Err(e) = renamed {
            let _ = fs::remove_file(&self.tmp_path);
            return Err(HashIndexError::io(&self.path)(e));
        }
        // The shard's name now points at the new file: switch to it whatever happens next.
        {
            let mut table = self.table.write().map_err(|_| self.poisoned())?;
            *table = Table {
                file: Arc::new(tmp),
                capacity: new_cap,
            };
        }
        self.count.store(count, Ordering::Relaxed);
        ws.dirty = false;
        if let Err(e) = self.sync_dir_as(dir, Step::IndexGrow) {
            ws.dir_unsynced = true;
            return Err(e);
        }
        Ok(())
    }

    fn build_tmp(
        &self,
        src: &File,
        src_cap: u64,
        new_cap: u64,
    ) -> Result<(File, u64), HashIndexError> {
        let tmp_io = HashIndexError::io(&self.tmp_path);
        let tmp = crate::noatime::open(
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true),
            &self.tmp_path,
        )
        .map_err(tmp_io)?;
        let count = rebuild(src, &self.path, src_cap, &tmp, &self.tmp_path, new_cap)?;
        self.faults
            .run(Step::IndexGrow, || {
                tmp.write_all_at(&encode_header(new_cap, count), 0)
                    .and_then(|()| tmp.sync_all())
            })
            .map_err(HashIndexError::io(&self.tmp_path))?;
        Ok((tmp, count))
    }

    /// Writes the header with the current count and fsyncs the file, if anything was written
    /// since the last sync; first fsyncs the directory if a growth's rename is not yet durable.
    pub(super) fn sync(&self, dir: &Path) -> Result<(), HashIndexError> {
        let mut ws = self.writer.lock().map_err(|_| self.poisoned())?;
        if ws.dir_unsynced {
            self.sync_dir_as(dir, Step::IndexSync)?;
            ws.dir_unsynced = false;
        }
        if !ws.dirty {
            return Ok(());
        }
        let (file, capacity) = self.current()?;
        let header = encode_header(capacity, self.count.load(Ordering::Relaxed));
        self.faults
            .run(Step::IndexSync, || file.write_all_at(&header, 0))
            .map_err(HashIndexError::io(&self.path))?;
        ws.dirty = false;
        // Inserts may go on while the file is fsynced; they mark the shard dirty again.
        drop(ws);
        if let Err(e) = self.faults.run(Step::IndexSync, || file.sync_data()) {
            if let Ok(mut ws) = self.writer.lock() {
                ws.dirty = true;
            }
            return Err(HashIndexError::io(&self.path)(e));
        }
        Ok(())
    }
}

impl Shard {
    /// Fsyncs the index directory as `step`.
    fn sync_dir_as(&self, dir: &Path, step: Step) -> Result<(), HashIndexError> {
        self.faults
            .run(step, || File::open(dir).and_then(|d| d.sync_all()))
            .map_err(HashIndexError::io(dir))
    }
}

/// Creates a fsynced, empty shard file of `capacity` slots at `path` (sparse: empty slots are
/// holes until written).
fn create_empty(path: &Path, capacity: u64) -> Result<File, HashIndexError> {
    let file = crate::noatime::open(
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true),
        path,
    )
    .map_err(HashIndexError::io(path))?;
    file.write_all_at(&encode_header(capacity, 0), 0)
        .and_then(|()| file.set_len(file_len(capacity)))
        .and_then(|()| file.sync_all())
        .map_err(HashIndexError::io(path))?;
    Ok(file)
}

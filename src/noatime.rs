//! Opening the files the server reads at random many times a second (hash-index shards, the
//! tree's node files) without access-time updates.
//!
//! Under the usual `relatime` mount option, the first read after a write updates the file's
//! access time, which dirties the inode: a hash-index insert reads its probe run and then
//! writes a slot, so without this every insert paid for an inode update as well. Nothing in
//! provledger uses access times. `O_NOATIME` is allowed only to the file's owner (or a process
//! with `CAP_FOWNER`); where it is refused, the file is opened without it, which changes
//! nothing but speed. Elsewhere than Linux this is a plain open.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Opens `path` as `options` says, with `O_NOATIME` when the kernel allows it.
pub fn open(options: &OpenOptions, path: &Path) -> io::Result<File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut quiet = options.clone();
        quiet.custom_flags(libc::O_NOATIME);
        match quiet.open(path) {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
            opened => return opened,
        }
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn opens_reads_and_creates_like_a_plain_open() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("f");
        let mut created = open(
            OpenOptions::new().write(true).create(true).truncate(true),
            &path,
        )
        .expect("create");
        created.write_all(b"abc").expect("write");
        drop(created);
        let read = std::fs::read(&path).expect("read back");
        assert_eq!(read, b"abc");
        let missing = open(OpenOptions::new().read(true), &dir.path().join("missing"));
        assert_eq!(
            missing.map(|_| ()).map_err(|e| e.kind()),
            Err(io::ErrorKind::NotFound)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_leave_the_access_time_alone() {
        use std::os::unix::fs::{FileExt, MetadataExt};
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").expect("write");
        // An access time well in the past: under relatime a plain read would now update it.
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_times(std::fs::FileTimes::new().set_accessed(old)))
            .expect("set the access time");
        let before = std::fs::metadata(&path).expect("stat").atime();
        let file = open(OpenOptions::new().read(true), &path).expect("open");
        let mut buf = [0u8; 4];
        file.read_exact_at(&mut buf, 2).expect("read");
        drop(file);
        let after = std::fs::metadata(&path).expect("stat").atime();
        assert_eq!(before, after, "the read moved the access time");
    }
}

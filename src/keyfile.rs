//! Key files: note-format private keys on disk, written 0600 and checked for looser modes.
//!
//! A key file holds one line, `PRIVATE+KEY+<name>+<hex8>+<base64(0x01 || seed)>`, the signed-note
//! private key format. Reading warns (via `tracing`) when group or others can read the file;
//! [`warn_if_loose`] does the same for other secret files (TLS keys, read tokens).

use crate::note::{NoteError, NoteSigner};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a private key: {source}")]
    Parse { path: PathBuf, source: NoteError },
}

/// Writes a new key file (mode 0600); refuses to overwrite an existing file.
pub fn write(path: &Path, signer: &NoteSigner) -> Result<(), KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(format!("{}\n", signer.to_private_key_string()).as_bytes())
        .map_err(io)?;
    file.sync_all().map_err(io)
}

/// Reads a key file, warning when its permissions let others read it.
pub fn read(path: &Path) -> Result<NoteSigner, KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    warn_if_loose(path, "private key file").map_err(io)?;
    let text = std::fs::read_to_string(path).map_err(io)?;
    NoteSigner::from_private_key_str(text.trim()).map_err(|source| KeyFileError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

/// Warns (naming the file, its mode and `what` it is) when group or others can read `path`.
pub fn warn_if_loose(path: &Path, what: &str) -> std::io::Result<()> {
    if let Some(mode) = loose_mode(path)? {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{mode:o}"),
            "{what} is readable by group or others; chmod 600 it"
        );
    }
    Ok(())
}

/// The file's mode when group or others have any access to it.
pub fn loose_mode(path: &Path) -> std::io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        Ok((mode & 0o077 != 0).then_some(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_keys_are_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        let signer = NoteSigner::generate("someone").unwrap();
        write(&path, &signer).unwrap();
        assert_eq!(loose_mode(&path).unwrap(), None);
        let back = read(&path).unwrap();
        assert_eq!(back.verifier().to_vkey(), signer.verifier().to_vkey());
        assert!(matches!(
            write(&path, &signer),
            Err(KeyFileError::Io { .. })
        ));
        std::fs::write(dir.path().join("bad.key"), "nope").unwrap();
        assert!(matches!(
            read(&dir.path().join("bad.key")),
            Err(KeyFileError::Parse { .. })
        ));
    }
}

//! Read tokens: bearer credentials for the read side of the API, of which the server keeps only
//! BLAKE3 hashes.
//!
//! A token is `plr_` followed by 64 hex digits (32 random bytes). The tokens file holds one hash
//! per line: 64 hex digits, optionally followed by whitespace and a label (`# name`); blank
//! lines and lines starting with `#` are comments. The server reads hashes only, so it holds no
//! secret; a presented token is hashed and compared with every stored hash in constant time
//! (`blake3::Hash` equality is constant-time), and the scan does not stop at the first match.

use rand_core::{OsRng, RngCore};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The prefix every token carries, so a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "plr_";

/// Why a tokens file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a token hash (64 hex digits, then an optional label)")]
    Parse { path: PathBuf, line: usize },
    #[error("a token label must be one line, got {0:?}")]
    Label(String),
}

/// The hashes of the tokens that may read.
#[derive(Clone, Default)]
pub struct TokenSet {
    hashes: Vec<blake3::Hash>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenSet({} hashes)", self.hashes.len())
    }
}

impl TokenSet {
    /// Reads a tokens file.
    pub fn load(path: &Path) -> Result<TokenSet, TokenFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|line| TokenFileError::Parse {
            path: path.to_path_buf(),
            line,
        })
    }

    /// Parses a tokens file's text; the error is the 1-based number of the first bad line.
    pub fn parse(text: &str) -> Result<TokenSet, usize> {
        let mut hashes = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let hex = line.split_whitespace().next().unwrap_or_default();
            hashes.push(blake3::Hash::from_hex(hex).map_err(|_| n + 1)?);
        }
        Ok(TokenSet { hashes })
    }

    /// How many token hashes there are.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Whether `token` is one of the set's tokens.
    pub fn accepts(&self, token: &str) -> bool {
        let presented = hash(token);
        // Every stored hash is compared, each in constant time.
        self.hashes
            .iter()
            .fold(false, |found, stored| found | (*stored == presented))
    }
}

/// The hash the tokens file keeps for `token`.
pub fn hash(token: &str) -> blake3::Hash {
    blake3::hash(token.as_bytes())
}

/// A fresh random token.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{TOKEN_PREFIX}{hex}")
}

/// Appends `token`'s hash line (with `label`, when given) to the tokens file, creating it with
/// mode 0600 if it does not exist.
pub fn append_hash(path: &Path, token: &str, label: Option<&str>) -> Result<(), TokenFileError> {
    let line = match label {
        Some(label) if label.contains(['\n', '\r']) => {
            return Err(TokenFileError::Label(label.to_string()));
        }
        Some(label) => format!("{} # {label}\n", hash(token).to_hex()),
        None => format!("{}\n", hash(token).to_hex()),
    };
    let io = |source| TokenFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(line.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_their_own_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("read-tokens");
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 64);
        append_hash(&path, &a, Some("auditor")).unwrap();
        let set = TokenSet::load(&path).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.accepts(&a));
        assert!(!set.accepts(&b));
        assert!(!set.accepts(""));
        assert_eq!(crate::keyfile::loose_mode(&path).unwrap(), None);
        assert!(append_hash(&path, &b, Some("two\nlines")).is_err());
    }

    #[test]
    fn comments_and_labels_are_allowed_and_bad_lines_named() {
        let h = hash("plr_x").to_hex();
        let set = TokenSet::parse(&format!("# readers\n\n{h} # ci\n  {h}\n")).unwrap();
        assert_eq!(set.len(), 2);
        assert!(set.accepts("plr_x"));
        assert_eq!(
            TokenSet::parse(&format!("{h}\nnot-a-hash\n")).unwrap_err(),
            2
        );
    }
}

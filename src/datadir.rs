//! The data directory: where the store and the log's own key live.
//!
//! ```text
//! <data>/log/        the sled store
//! <data>/index/      hash indexes and the lineage database, derived from the log (rebuilt from it when missing)
//! <data>/log.key     the checkpoint signing key (the only secret the server needs)
//! <data>/log.vkey    its public half, for auditors
//! <data>/admin.key   the first admin key, written by `init` for convenience: move it off the
//!                    server (the server never reads it)
//! ```

use crate::keyfile::{self, KeyFileError};
use crate::ledger::{AppendError, Ledger, LedgerConfig};
use crate::note::NoteSigner;
use crate::store::{LogStore, StoreError};
use std::path::{Path, PathBuf};

/// Why a data directory could not be created or opened.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("initialising the log: {0}")]
    Genesis(#[from] AppendError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} already holds a provledger log")]
    Exists(PathBuf),
    #[error("invalid origin: {0}")]
    Origin(crate::note::NoteError),
}

/// Paths inside a data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    pub root: PathBuf,
}

/// What `init` created.
#[derive(Debug, Clone)]
pub struct Initialised {
    pub log_vkey: String,
    pub admin_vkey: String,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    pub fn store(&self) -> PathBuf {
        self.root.join("log")
    }
    pub fn index(&self) -> PathBuf {
        self.root.join("index")
    }
    pub fn log_key(&self) -> PathBuf {
        self.root.join("log.key")
    }
    pub fn log_vkey(&self) -> PathBuf {
        self.root.join("log.vkey")
    }
    pub fn admin_key(&self) -> PathBuf {
        self.root.join("admin.key")
    }

    /// True when the directory holds a log.
    pub fn is_initialised(&self) -> bool {
        self.log_key().exists() && self.store().join("db").exists()
    }

    /// Creates the directory, the log key, the first admin key and the log with its genesis
    /// entry. The checkpoint key's name is the origin.
    pub fn init(&self, origin: &str) -> Result<Initialised, DataDirError> {
        if self.log_key().exists() || self.store().exists() {
            return Err(DataDirError::Exists(self.root.clone()));
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| DataDirError::Io { path, source }
        };
        std::fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let log_signer = NoteSigner::generate(origin).map_err(DataDirError::Origin)?;
        let admin_name = format!("{origin}/admin");
        let admin = NoteSigner::generate(&admin_name).map_err(DataDirError::Origin)?;
        keyfile::write(&self.log_key(), &log_signer)?;
        keyfile::write(&self.admin_key(), &admin)?;
        let log_vkey = log_signer.verifier().to_vkey();
        std::fs::write(self.log_vkey(), format!("{log_vkey}\n")).map_err(io(&self.log_vkey()))?;
        Ledger::init(&self.store(), &self.index(), origin, log_signer, &admin)?;
        Ok(Initialised {
            log_vkey,
            admin_vkey: admin.verifier().to_vkey(),
        })
    }

    /// Opens the log for serving, with the checkpoint key only.
    pub fn open_ledger(&self, config: LedgerConfig) -> Result<Ledger, DataDirError> {
        let signer = keyfile::read(&self.log_key())?;
        let started = std::time::Instant::now();
        let store = LogStore::open(&self.store(), Some(signer))?;
        let opened = started.elapsed();
        let ledger = Ledger::start(store, &self.index(), config)?;
        tracing::info!(
            size = ledger.store().size(),
            store_ms = opened.as_millis() as u64,
            indexes_ms = (started.elapsed() - opened).as_millis() as u64,
            "log opened and checked; hash indexes ready (lineage opens in the background)"
        );
        Ok(ledger)
    }
}

//! The trusted state: the newest checkpoint a client has verified, and the only ways to move it.
//!
//! Rules (all checkpoints must first verify with the log key):
//! - With no state yet, the first checkpoint is trusted as given (trust on first use); a
//!   client that must not do that starts from a state file someone gave it.
//! - A larger checkpoint replaces the state only with a consistency proof from the trusted one.
//! - A smaller checkpoint is accepted (the state stays) only with a consistency proof to the
//!   trusted one — unless it is the server's *latest*, which then claims the log shrank: a
//!   rollback.
//! - The same size with another root, or a consistency proof that fails, is a fork: the log
//!   signed two histories.
//!
//! Rollback and fork errors carry both signed notes: they are the evidence.
//!
//! The state file holds exactly the trusted checkpoint's signed note (text, as the server sent
//! it), replaced atomically; loading it verifies it again with the log key.

use super::ClientError;
use crate::checkpoint::{Checkpoint, open_checkpoint};
use crate::merkle::{Blake3, Hash, TreeHasher, verify_consistency};
use crate::note::NoteVerifier;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A verified checkpoint with the signed note it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trusted {
    pub checkpoint: Checkpoint,
    pub note: String,
}

/// What [`TrustedState::accept`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// There was no state; this checkpoint is now trusted.
    First,
    /// The state moved forward to this checkpoint.
    Advanced { from: u64 },
    /// The checkpoint is the trusted one, or an older one consistent with it; nothing changed.
    Unchanged,
}

/// The trusted checkpoint of one log, optionally kept in a file.
#[derive(Debug)]
pub struct TrustedState {
    path: Option<PathBuf>,
    log_key: NoteVerifier,
    current: Option<Trusted>,
}

impl TrustedState {
    /// A state kept in memory only, starting empty.
    pub fn in_memory(log_key: NoteVerifier) -> Self {
        TrustedState {
            path: None,
            log_key,
            current: None,
        }
    }

    /// The state kept in `path`: empty if the file does not exist yet, else its checkpoint,
    /// verified with the log key.
    pub fn load(path: &Path, log_key: NoteVerifier) -> Result<Self, ClientError> {
        let state_error = |reason: String| ClientError::State {
            path: path.to_path_buf(),
            reason,
        };
        let current = match std::fs::read_to_string(path) {
            Ok(note) => {
                let checkpoint = open_checkpoint(&note, &log_key)
                    .map_err(|e| state_error(format!("does not verify with the log key: {e}")))?;
                Some(Trusted { checkpoint, note })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(state_error(e.to_string())),
        };
        Ok(TrustedState {
            path: Some(path.to_path_buf()),
            log_key,
            current,
        })
    }

    /// The trusted checkpoint, if any.
    pub fn current(&self) -> Option<&Trusted> {
        self.current.as_ref()
    }

    /// The log key checkpoints must verify with.
    pub fn log_key(&self) -> &NoteVerifier {
        &self.log_key
    }

    /// Verifies a signed note as a checkpoint of this log.
    pub fn open(&self, note: &str) -> Result<Checkpoint, ClientError> {
        open_checkpoint(note, &self.log_key)
            .map_err(|e| ClientError::Invalid(format!("checkpoint note: {e}")))
    }

    /// The consistency proof `(first, second)` that [`TrustedState::accept`] needs for a
    /// checkpoint of `size` (offered as the server's `latest`, or not), or `None` when it needs
    /// none — including a latest checkpoint below the trusted size, which no proof can save.
    pub fn proof_needed(&self, size: u64, latest: bool) -> Option<(u64, u64)> {
        let trusted = self.current.as_ref()?.checkpoint.size;
        match size.cmp(&trusted) {
            std::cmp::Ordering::Equal => None,
            _ if size.min(trusted) == 0 => None,
            std::cmp::Ordering::Less if latest => None,
            std::cmp::Ordering::Greater => Some((trusted, size)),
            std::cmp::Ordering::Less => Some((size, trusted)),
        }
    }

    /// Checks the checkpoint in `note` against the state, with `proof` for the sizes
    /// [`TrustedState::proof_needed`] named, and moves the state forward if it is newer.
    /// `latest` says the server offered it as its newest checkpoint.
    pub fn accept(
        &mut self,
        note: &str,
        proof: &[Hash],
        latest: bool,
    ) -> Result<Accepted, ClientError> {
        let offered = self.open(note)?;
        let Some(trusted) = &self.current else {
            self.replace(offered, note)?;
            return Ok(Accepted::First);
        };
        let (t, o) = (&trusted.checkpoint, &offered);
        let fork = |reason: String| ClientError::Fork {
            reason,
            trusted: trusted.note.clone(),
            offered: note.to_string(),
        };
        if o.size < t.size && latest {
            return Err(ClientError::Rollback {
                trusted_size: t.size,
                offered_size: o.size,
                trusted: trusted.note.clone(),
                offered: note.to_string(),
            });
        }
        if o.size == t.size {
            return if o.root == t.root {
                Ok(Accepted::Unchanged)
            } else {
                Err(fork(format!("two different roots for size {}", o.size)))
            };
        }
        let (small, large) = if o.size < t.size { (o, t) } else { (t, o) };
        if small.size == 0 {
            if small.root != Blake3::empty_root() {
                return Err(fork("a size-0 checkpoint with a non-empty root".into()));
            }
        } else {
            verify_consistency::<Blake3>(small.size, large.size, &small.root, &large.root, proof)
                .map_err(|e| {
                fork(format!(
                    "no valid consistency proof from size {} to size {}: {e}",
                    small.size, large.size
                ))
            })?;
        }
        if o.size > t.size {
            let from = t.size;
            self.replace(offered, note)?;
            Ok(Accepted::Advanced { from })
        } else {
            Ok(Accepted::Unchanged)
        }
    }

    fn replace(&mut self, checkpoint: Checkpoint, note: &str) -> Result<(), ClientError> {
        if let Some(path) = &self.path {
            write_atomically(path, note.as_bytes()).map_err(|e| ClientError::State {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        }
        self.current = Some(Trusted {
            checkpoint,
            note: note.to_string(),
        });
        Ok(())
    }
}

/// Replaces `path` with `bytes`: a temporary file beside it, fsynced, renamed over it.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(&dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{MemoryTree, consistency_proof, root};
    use crate::note::NoteSigner;

    fn signer() -> NoteSigner {
        NoteSigner::from_seed("trust.test/log", &[3u8; 32]).unwrap()
    }

    fn note(tree: &MemoryTree, size: u64) -> String {
        Checkpoint {
            origin: "trust.test/log".into(),
            size,
            root: root::<Blake3, _>(tree, size).unwrap(),
            extensions: Vec::new(),
        }
        .sign(&signer())
        .unwrap()
    }

    fn tree(tag: u8, n: u64) -> MemoryTree {
        let hashes: Vec<Hash> = (0..n)
            .map(|i| Blake3::hash_leaf(&[tag, i as u8, (i >> 8) as u8]))
            .collect();
        MemoryTree::from_leaf_hashes::<Blake3>(&hashes)
    }

    fn proof(tree: &MemoryTree, a: u64, b: u64) -> Vec<Hash> {
        consistency_proof::<Blake3, _>(tree, a, b).unwrap()
    }

    #[test]
    fn advances_only_with_a_consistency_proof_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        let t = tree(1, 40);
        let mut state = TrustedState::load(&path, signer().verifier()).unwrap();
        assert_eq!(
            state.accept(&note(&t, 10), &[], true).unwrap(),
            Accepted::First
        );
        assert_eq!(state.proof_needed(25, true), Some((10, 25)));
        assert_eq!(state.proof_needed(5, true), None);
        assert_eq!(state.proof_needed(5, false), Some((5, 10)));
        // A wrong proof is a fork and changes nothing.
        let wrong = proof(&t, 11, 25);
        assert!(matches!(
            state.accept(&note(&t, 25), &wrong, true),
            Err(ClientError::Fork { .. })
        ));
        assert_eq!(state.current().unwrap().checkpoint.size, 10);
        assert_eq!(
            state
                .accept(&note(&t, 25), &proof(&t, 10, 25), true)
                .unwrap(),
            Accepted::Advanced { from: 10 }
        );
        // An older checkpoint with a proof to the trusted one is fine, unless offered as latest.
        assert_eq!(
            state
                .accept(&note(&t, 7), &proof(&t, 7, 25), false)
                .unwrap(),
            Accepted::Unchanged
        );
        match state.accept(&note(&t, 7), &proof(&t, 7, 25), true) {
            Err(e @ ClientError::Rollback { .. }) => {
                let text = e.to_string();
                assert!(text.contains("ROLLBACK") && text.contains(&note(&t, 25)));
                assert!(text.contains(&note(&t, 7)));
            }
            other => panic!("expected a rollback, got {other:?}"),
        }
        let reloaded = TrustedState::load(&path, signer().verifier()).unwrap();
        assert_eq!(reloaded.current().unwrap().checkpoint.size, 25);
    }

    #[test]
    fn a_second_history_is_a_fork_with_both_notes() {
        let (a, b) = (tree(1, 30), tree(2, 30));
        let mut state = TrustedState::in_memory(signer().verifier());
        state.accept(&note(&a, 20), &[], true).unwrap();
        match state.accept(&note(&b, 20), &[], true) {
            Err(e @ ClientError::Fork { .. }) => {
                let text = e.to_string();
                assert!(text.contains(&note(&a, 20)) && text.contains(&note(&b, 20)));
            }
            other => panic!("expected a fork, got {other:?}"),
        }
        // The other history's proof cannot connect the trusted root to its larger root.
        assert!(matches!(
            state.accept(&note(&b, 30), &proof(&b, 20, 30), true),
            Err(ClientError::Fork { .. })
        ));
    }

    #[test]
    fn a_state_file_that_does_not_verify_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        let other = NoteSigner::from_seed("trust.test/log", &[4u8; 32]).unwrap();
        let forged = Checkpoint {
            origin: "trust.test/log".into(),
            size: 1,
            root: [0; 32],
            extensions: Vec::new(),
        }
        .sign(&other)
        .unwrap();
        std::fs::write(&path, forged).unwrap();
        assert!(matches!(
            TrustedState::load(&path, signer().verifier()),
            Err(ClientError::State { .. })
        ));
        let mut state = TrustedState::in_memory(signer().verifier());
        assert!(matches!(
            state.accept("not a note", &[], true),
            Err(ClientError::Invalid(_))
        ));
    }
}

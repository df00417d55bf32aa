//! [`VerifiedClient`]: a client that returns only answers it has verified.
//!
//! Every checkpoint it sees goes through the [`TrustedState`] (signature, then consistency with
//! the trusted checkpoint, fetched from the server and checked here); every entry, receipt and
//! lineage event is checked by inclusion against a checkpoint that passed. An answer that fails
//! is an error, never a value.

use super::ClientError;
use super::transport::{ConnectOptions, Connection};
use super::trust::{Accepted, Trusted, TrustedState};
use super::verify::{hashes, verify_checkpoint, verify_events, verify_receipt};
use crate::checkpoint::Checkpoint;
use crate::merkle::{Blake3, TreeHasher, verify_inclusion};
use crate::proto::lineage_service_client::LineageServiceClient;
use crate::proto::log_service_client::LogServiceClient;
use crate::proto::{
    self, AppendRequest, AppendResponse, GetCheckpointRequest, GetConsistencyProofRequest,
    GetEntriesRequest, GetInclusionProofRequest, HistoryRequest, HistoryResponse, SignedEvent,
    TraceRequest, TraceResponse,
};

/// A log entry whose inclusion in a trusted checkpoint was verified.
#[derive(Debug, Clone)]
pub struct VerifiedEntry {
    pub index: u64,
    /// The exact leaf bytes.
    pub leaf: Vec<u8>,
    /// The inclusion proof that was checked, against `checkpoint`.
    pub proof: Vec<[u8; 32]>,
}

/// A connection to one log, and the trusted state its answers are checked against.
pub struct VerifiedClient {
    log: LogServiceClient<Connection>,
    lineage: LineageServiceClient<Connection>,
    state: TrustedState,
}

impl VerifiedClient {
    /// Connects to a server (a URL, or [`ConnectOptions`] for TLS and a read token); answers
    /// are checked against `state` (and move it forward).
    pub async fn connect(
        options: impl Into<ConnectOptions>,
        state: TrustedState,
    ) -> Result<Self, ClientError> {
        let connection = options.into().connect().await?;
        Ok(VerifiedClient {
            log: LogServiceClient::new(connection.clone()),
            lineage: LineageServiceClient::new(connection),
            state,
        })
    }

    /// The trusted state.
    pub fn state(&self) -> &TrustedState {
        &self.state
    }

    /// The trusted checkpoint (after [`VerifiedClient::checkpoint`] there always is one).
    pub fn trusted(&self) -> Option<&Trusted> {
        self.state.current()
    }

    /// Checks a checkpoint the server sent against the trusted state, fetching the consistency
    /// proof it needs, and moves the state forward if the checkpoint is newer.
    async fn accept(
        &mut self,
        checkpoint: &proto::Checkpoint,
        latest: bool,
    ) -> Result<(Checkpoint, Accepted), ClientError> {
        let opened = verify_checkpoint(checkpoint, self.state.log_key())?;
        let proof = match self.state.proof_needed(opened.size, latest) {
            None => Vec::new(),
            Some((first, second)) => {
                let answer = self
                    .log
                    .get_consistency_proof(GetConsistencyProofRequest {
                        first_size: first,
                        second_size: second,
                    })
                    .await?
                    .into_inner();
                if answer.first_size != first || answer.second_size != second {
                    return Err(ClientError::Invalid(format!(
                        "asked for a consistency proof {first} → {second}, got {} → {}",
                        answer.first_size, answer.second_size
                    )));
                }
                hashes(&answer.hashes, "consistency proof hash")?
            }
        };
        let accepted = self.state.accept(&checkpoint.note, &proof, latest)?;
        Ok((opened, accepted))
    }

    /// Fetches the server's latest checkpoint and checks it against the trusted state: a
    /// rollback or a fork is an error carrying both signed checkpoints.
    pub async fn checkpoint(&mut self) -> Result<(Trusted, Accepted), ClientError> {
        let answer = self
            .log
            .get_checkpoint(GetCheckpointRequest { size: 0 })
            .await?
            .into_inner();
        let (checkpoint, accepted) = self.accept(&answer, true).await?;
        Ok((
            Trusted {
                checkpoint,
                note: answer.note,
            },
            accepted,
        ))
    }

    /// The checkpoint the log published at exactly `size`, checked against the trusted state
    /// (an older one must be consistent with it, a newer one is accepted with a proof).
    pub async fn checkpoint_at(&mut self, size: u64) -> Result<Trusted, ClientError> {
        let answer = self
            .log
            .get_checkpoint(GetCheckpointRequest { size })
            .await?
            .into_inner();
        let (checkpoint, _) = self.accept(&answer, false).await?;
        if checkpoint.size != size {
            return Err(ClientError::Invalid(format!(
                "asked for the checkpoint at {size}, got one at {}",
                checkpoint.size
            )));
        }
        Ok(Trusted {
            checkpoint,
            note: answer.note,
        })
    }

    /// Appends a signed event and verifies the receipt: its checkpoint against the trusted
    /// state, its inclusion proof against that checkpoint.
    pub async fn append(&mut self, event: SignedEvent) -> Result<AppendResponse, ClientError> {
        let response = self
            .log
            .append(AppendRequest { event: Some(event) })
            .await?
            .into_inner();
        verify_receipt(&response, self.state.log_key())?;
        if let Some(checkpoint) = &response.checkpoint {
            self.accept(checkpoint, false).await?;
        }
        Ok(response)
    }

    /// Up to `count` entries from `start`, each verified by an inclusion proof against the
    /// server's latest checkpoint (itself checked against the trusted state first).
    pub async fn entries(
        &mut self,
        start: u64,
        count: u64,
    ) -> Result<Vec<VerifiedEntry>, ClientError> {
        let (trusted, _) = self.checkpoint().await?;
        let size = trusted.checkpoint.size;
        let answer = self
            .log
            .get_entries(GetEntriesRequest { start, count })
            .await?
            .into_inner();
        let mut out = Vec::with_capacity(answer.entries.len());
        for (i, entry) in answer.entries.into_iter().enumerate() {
            let expected = start + i as u64;
            if entry.index != expected {
                return Err(ClientError::Invalid(format!(
                    "entry {expected} came back as index {}",
                    entry.index
                )));
            }
            if entry.index >= size {
                break;
            }
            let proof = self.inclusion(entry.index, &entry.leaf, &trusted).await?;
            out.push(VerifiedEntry {
                index: entry.index,
                leaf: entry.leaf,
                proof,
            });
        }
        Ok(out)
    }

    /// The entry at `index`, verified by inclusion in `trusted` (a checkpoint this client has
    /// already accepted, e.g. one from a verified lineage answer).
    pub async fn entry_in(
        &mut self,
        index: u64,
        trusted: &Trusted,
    ) -> Result<VerifiedEntry, ClientError> {
        let answer = self
            .log
            .get_entries(GetEntriesRequest {
                start: index,
                count: 1,
            })
            .await?
            .into_inner();
        let entry = answer
            .entries
            .into_iter()
            .next()
            .filter(|e| e.index == index)
            .ok_or_else(|| ClientError::Invalid(format!("entry {index} was not returned")))?;
        let proof = self.inclusion(index, &entry.leaf, trusted).await?;
        Ok(VerifiedEntry {
            index,
            leaf: entry.leaf,
            proof,
        })
    }

    /// The key registry as the server reports it (each key's registration and revocation
    /// indexes; prove them with [`VerifiedClient::entry_in`]).
    pub async fn list_keys(&mut self) -> Result<proto::ListKeysResponse, ClientError> {
        Ok(self
            .log
            .list_keys(proto::ListKeysRequest {})
            .await?
            .into_inner())
    }

    /// Fetches and checks the inclusion proof of `leaf` at `index` in `trusted`.
    pub async fn inclusion(
        &mut self,
        index: u64,
        leaf: &[u8],
        trusted: &Trusted,
    ) -> Result<Vec<[u8; 32]>, ClientError> {
        let size = trusted.checkpoint.size;
        let answer = self
            .log
            .get_inclusion_proof(GetInclusionProofRequest {
                leaf_index: index,
                tree_size: size,
                leaf_hash: Vec::new(),
            })
            .await?
            .into_inner();
        if answer.leaf_index != index || answer.tree_size != size {
            return Err(ClientError::Invalid(format!(
                "asked for the inclusion of {index} in {size}, got {} in {}",
                answer.leaf_index, answer.tree_size
            )));
        }
        let proof = hashes(&answer.hashes, "inclusion proof hash")?;
        verify_inclusion::<Blake3>(
            index,
            size,
            &Blake3::hash_leaf(leaf),
            &proof,
            &trusted.checkpoint.root,
        )
        .map_err(|e| ClientError::Invalid(format!("entry {index}: inclusion proof: {e}")))?;
        Ok(proof)
    }

    /// A record's history, every event verified (proofs are always requested).
    pub async fn history(
        &mut self,
        mut request: HistoryRequest,
    ) -> Result<HistoryResponse, ClientError> {
        request.with_proofs = true;
        let answer = self.lineage.history(request).await?.into_inner();
        verify_events(
            &answer.events,
            answer.checkpoint.as_ref(),
            self.state.log_key(),
        )?;
        self.accept_answer(answer.checkpoint.as_ref()).await?;
        Ok(answer)
    }

    /// A record's ancestry, every event of every node verified (proofs are always requested).
    pub async fn trace(&mut self, mut request: TraceRequest) -> Result<TraceResponse, ClientError> {
        request.with_proofs = true;
        let answer = self.lineage.trace(request).await?.into_inner();
        let events: Vec<proto::RecordEvent> = answer
            .nodes
            .iter()
            .flat_map(|n| n.events.iter().cloned())
            .collect();
        verify_events(&events, answer.checkpoint.as_ref(), self.state.log_key())?;
        self.accept_answer(answer.checkpoint.as_ref()).await?;
        Ok(answer)
    }

    async fn accept_answer(
        &mut self,
        checkpoint: Option<&proto::Checkpoint>,
    ) -> Result<(), ClientError> {
        let checkpoint =
            checkpoint.ok_or_else(|| ClientError::Invalid("answer has no checkpoint".into()))?;
        self.accept(checkpoint, false).await?;
        Ok(())
    }

    /// The log service client, for reads whose checks the caller makes (the audit recomputes
    /// the tree from the raw entries).
    pub(crate) fn log_client(&mut self) -> &mut LogServiceClient<Connection> {
        &mut self.log
    }

    /// The lineage service client, for calls without proofs (Descendants, alerts).
    pub fn lineage(&mut self) -> &mut LineageServiceClient<Connection> {
        &mut self.lineage
    }
}

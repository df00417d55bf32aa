//! Checking what a server answers, offline: pure functions of the answer and the log key.
//!
//! [`verify_receipt`] checks an `AppendResponse` the way an auditor would: the checkpoint note is
//! signed by the log key, its size and root agree with the response, and the inclusion proof
//! leads from the entry's leaf hash to that root.

use super::ClientError;
use crate::checkpoint::{Checkpoint, open_checkpoint};
use crate::merkle::{Blake3, Hash, TreeHasher, verify_consistency, verify_inclusion};
use crate::note::NoteVerifier;
use crate::proto::log_service_client::LogServiceClient;
use crate::proto::{self, AppendResponse};

pub(crate) fn hash(bytes: &[u8], what: &str) -> Result<Hash, ClientError> {
    bytes
        .try_into()
        .map_err(|_| ClientError::Invalid(format!("{what} is not 32 bytes")))
}

pub(crate) fn hashes(list: &[Vec<u8>], what: &str) -> Result<Vec<Hash>, ClientError> {
    list.iter().map(|h| hash(h, what)).collect()
}

/// Checks a checkpoint message: the note verifies with the log key and agrees with its fields.
pub fn verify_checkpoint(
    checkpoint: &proto::Checkpoint,
    log_key: &NoteVerifier,
) -> Result<Checkpoint, ClientError> {
    let opened = open_checkpoint(&checkpoint.note, log_key)
        .map_err(|e| ClientError::Invalid(format!("checkpoint note: {e}")))?;
    if opened.size != checkpoint.size || opened.root.as_slice() != checkpoint.root_hash {
        return Err(ClientError::Invalid(
            "checkpoint fields disagree with its signed note".into(),
        ));
    }
    Ok(opened)
}

/// Checks an append's receipt against the log key; returns the verified checkpoint.
pub fn verify_receipt(
    response: &AppendResponse,
    log_key: &NoteVerifier,
) -> Result<Checkpoint, ClientError> {
    let cp = response
        .checkpoint
        .as_ref()
        .ok_or_else(|| ClientError::Invalid("no checkpoint".into()))?;
    let checkpoint = verify_checkpoint(cp, log_key)?;
    let proof = response
        .proof
        .as_ref()
        .ok_or_else(|| ClientError::Invalid("no inclusion proof".into()))?;
    if proof.leaf_index != response.index || proof.tree_size != checkpoint.size {
        return Err(ClientError::Invalid(
            "proof is not for this entry and checkpoint".into(),
        ));
    }
    verify_inclusion::<Blake3>(
        response.index,
        checkpoint.size,
        &hash(&response.leaf_hash, "leaf_hash")?,
        &hashes(&proof.hashes, "proof hash")?,
        &checkpoint.root,
    )
    .map_err(|e| ClientError::Invalid(format!("inclusion proof: {e}")))?;
    Ok(checkpoint)
}

/// Fetches and verifies a consistency proof between two verified checkpoints, over any
/// transport (a [`super::Connection`], or a bare channel).
pub async fn check_consistency<T>(
    client: &mut LogServiceClient<T>,
    old: &Checkpoint,
    new: &Checkpoint,
) -> Result<usize, ClientError>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let proof = client
        .get_consistency_proof(proto::GetConsistencyProofRequest {
            first_size: old.size,
            second_size: new.size,
        })
        .await?
        .into_inner();
    let path = hashes(&proof.hashes, "proof hash")?;
    verify_consistency::<Blake3>(old.size, new.size, &old.root, &new.root, &path)
        .map_err(|e| ClientError::Invalid(format!("consistency proof: {e}")))?;
    Ok(path.len())
}

/// Checks the events of a lineage answer offline: the checkpoint verifies with the log key, and
/// every event's leaf is included in it (by its inclusion proof) and holds the event shown,
/// signed by the key shown. Returns the verified checkpoint.
pub fn verify_events(
    events: &[proto::RecordEvent],
    checkpoint: Option<&proto::Checkpoint>,
    log_key: &NoteVerifier,
) -> Result<Checkpoint, ClientError> {
    let cp = checkpoint.ok_or_else(|| ClientError::Invalid("no checkpoint".into()))?;
    let checkpoint = verify_checkpoint(cp, log_key)?;
    for e in events {
        let proof = e.proof.as_ref().ok_or_else(|| {
            ClientError::Invalid(format!("event {}: no inclusion proof", e.index))
        })?;
        if proof.leaf_index != e.index || proof.tree_size != checkpoint.size {
            return Err(ClientError::Invalid(format!(
                "event {}: proof is not for this entry and checkpoint",
                e.index
            )));
        }
        verify_inclusion::<Blake3>(
            e.index,
            checkpoint.size,
            &Blake3::hash_leaf(&e.leaf),
            &hashes(&proof.hashes, "proof hash")?,
            &checkpoint.root,
        )
        .map_err(|err| {
            ClientError::Invalid(format!("event {}: inclusion proof: {err}", e.index))
        })?;
        let leaf = <proto::LogLeaf as prost::Message>::decode(e.leaf.as_slice())
            .map_err(|err| ClientError::Invalid(format!("event {}: leaf: {err}", e.index)))?;
        let envelope = leaf.envelope.unwrap_or_default();
        let signed =
            <proto::ProvenanceEvent as prost::Message>::decode(envelope.payload.as_slice())
                .map_err(|err| {
                    ClientError::Invalid(format!("event {}: payload: {err}", e.index))
                })?;
        if Some(&signed) != e.event.as_ref() || envelope.key_id != e.key_id {
            return Err(ClientError::Invalid(format!(
                "event {}: the answer's event or key differs from the signed leaf",
                e.index
            )));
        }
    }
    Ok(checkpoint)
}

"""Checks of what the log's gRPC API answers, on the generated protobuf messages.

Import this module only with the stubs generated from ``proto/`` on ``sys.path`` (``run.sh``
puts them there): it reads ``provledger.v1.log_pb2``.
"""

from . import envelope as env
from . import merkle
from .note import Checkpoint, NoteError, Verifier, open_checkpoint

from provledger.v1 import log_pb2


class ReceiptError(ValueError):
    """An answer from the log that does not verify."""


def to_signed_event(e: env.Envelope) -> "log_pb2.SignedEvent":
    return log_pb2.SignedEvent(
        payload=e.payload, payload_type=e.payload_type, key_id=e.key_id, signature=e.signature
    )


def verify_checkpoint(checkpoint: "log_pb2.Checkpoint", log_key: Verifier) -> Checkpoint:
    """The note verifies with the log key and agrees with the message's size and root."""
    try:
        cp = open_checkpoint(checkpoint.note, log_key)
    except NoteError as e:
        raise ReceiptError(f"checkpoint: {e}") from None
    if cp.size != checkpoint.size or cp.root != checkpoint.root_hash:
        raise ReceiptError("checkpoint: size or root differ from the signed note")
    return cp


def verify_inclusion(proof: "log_pb2.InclusionProof", leaf_hash: bytes, cp: Checkpoint) -> None:
    if proof.tree_size != cp.size:
        raise ReceiptError(f"proof is for size {proof.tree_size}, checkpoint is {cp.size}")
    try:
        merkle.verify_inclusion(proof.leaf_index, proof.tree_size, leaf_hash, list(proof.hashes), cp.root)
    except merkle.ProofError as e:
        raise ReceiptError(f"inclusion proof: {e}") from None


def verify_append(
    response: "log_pb2.AppendResponse", sent: "log_pb2.SignedEvent", leaf: bytes, log_key: Verifier
) -> Checkpoint:
    """Checks an Append answer offline: its checkpoint's signature, that ``leaf`` (the bytes
    GetEntries returns for the index) wraps exactly the envelope sent, that the leaf hash is
    H(0x00 || leaf), and the inclusion proof against the checkpoint. Returns the checkpoint."""
    cp = verify_checkpoint(response.checkpoint, log_key)
    logged = log_pb2.LogLeaf.FromString(leaf)
    if logged.envelope != sent:
        raise ReceiptError("the leaf does not hold the envelope sent")
    lh = merkle.leaf_hash(leaf)
    if lh != response.leaf_hash:
        raise ReceiptError("leaf_hash is not H(0x00 || leaf)")
    if response.proof.leaf_index != response.index:
        raise ReceiptError("proof is for another index")
    if response.index >= cp.size:
        raise ReceiptError("checkpoint does not cover the entry")
    verify_inclusion(response.proof, lh, cp)
    return cp


def verify_consistency(
    proof: "log_pb2.ConsistencyProof", first: Checkpoint, second: Checkpoint
) -> None:
    if (proof.first_size, proof.second_size) != (first.size, second.size):
        raise ReceiptError("consistency proof is for other sizes")
    try:
        merkle.verify_consistency(first.size, second.size, first.root, second.root, list(proof.hashes))
    except merkle.ProofError as e:
        raise ReceiptError(f"consistency proof: {e}") from None

"""DSSE envelopes as provledger uses them (README "Envelopes and leaves").

``PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``, SP one space, LEN the
decimal byte length; the signature is Ed25519 over the PAE bytes. The envelope is the protobuf
``SignedEvent``: payload, payload_type, key_id (the signer's key name as registered in the log)
and the 64-byte signature. Functions here take and return plain values so they work with or
without the generated stubs.
"""

from dataclasses import dataclass

from . import ed25519
from .note import Signer, Verifier

EVENT_PAYLOAD_TYPE = "application/vnd.provledger.event.v1+protobuf"
KEY_PAYLOAD_TYPE = "application/vnd.provledger.key.v1+protobuf"


def pae(payload_type: str, payload: bytes) -> bytes:
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), bytes(payload))


@dataclass
class Envelope:
    payload: bytes
    payload_type: str
    key_id: str
    signature: bytes


def sign(signer: Signer, payload_type: str, payload: bytes) -> Envelope:
    payload = bytes(payload)
    return Envelope(payload, payload_type, signer.name, signer.sign_bytes(pae(payload_type, payload)))


def verify(envelope, verifier: Verifier) -> None:
    """Raises ed25519.SignatureError unless ``envelope`` (an Envelope or a SignedEvent) is signed by
    ``verifier`` under its name."""
    if envelope.key_id != verifier.name:
        raise ed25519.SignatureError(f"envelope key_id {envelope.key_id!r} is not {verifier.name!r}")
    verifier.verify(pae(envelope.payload_type, envelope.payload), envelope.signature)

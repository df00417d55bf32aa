"""C2SP signed notes with Ed25519 keys, and C2SP tlog-checkpoint bodies.

From the README's "Checkpoints" section (and https://c2sp.org/signed-note):

- key ID = the first 4 bytes of SHA-256(key name || 0x0A || 0x01 || 32-byte public key);
- vkey = ``<name>+<key ID, 8 lowercase hex digits>+<base64(0x01 || public key)>``;
- private key = ``PRIVATE+KEY+<name>+<key ID hex>+<base64(0x01 || 32-byte seed)>``;
- note = text (ending in a newline), a blank line, then signature lines
  ``— <name> <base64(key ID || signature)>``, each ending in a newline; the text is everything up
  to the *last* blank line; the signature is Ed25519 over the text's bytes.
"""

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import ed25519

ALG_ED25519 = 0x01
SIG_PREFIX = "\u2014 "
PRIVATE_PREFIX = "PRIVATE+KEY+"


class NoteError(ValueError):
    """A malformed or unverifiable note, key string or checkpoint."""


def b64decode_strict(text: str) -> bytes:
    """Standard, padded, canonical base64 (re-encoding gives the same text)."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as e:
        raise NoteError(f"not valid base64: {e}") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteError("not canonical padded base64")
    return raw


def b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def validate_key_name(name: str) -> None:
    """A key name is non-empty, without whitespace, ``+`` or control characters."""
    if not name or any(c.isspace() or c == "+" or ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise NoteError(f"invalid key name {name!r}")


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def _parse_key_string(s: str):
    parts = s.split("+", 2)
    if len(parts) != 3:
        raise NoteError("expected <name>+<key ID>+<base64 key>")
    name, hex_id, b64 = parts
    validate_key_name(name)
    if len(hex_id) != 8 or any(c not in "0123456789abcdef" for c in hex_id):
        raise NoteError("key ID is not 8 lowercase hex digits")
    raw = b64decode_strict(b64)
    if not raw:
        raise NoteError("key is empty")
    if raw[0] != ALG_ED25519:
        raise NoteError(f"unsupported signature type {raw[0]:#04x} (only Ed25519 0x01)")
    if len(raw) != 33:
        raise NoteError(f"key is {len(raw) - 1} bytes, expected 32")
    return name, bytes.fromhex(hex_id), raw[1:]


@dataclass(frozen=True)
class Verifier:
    """A trusted public key: name, key ID and Ed25519 public key."""

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> "Verifier":
        validate_key_name(name)
        try:
            ed25519.check_public_key(public_key)
        except ed25519.SignatureError as e:
            raise NoteError(str(e)) from None
        return cls(name, key_id(name, public_key), bytes(public_key))

    @classmethod
    def from_vkey(cls, vkey: str) -> "Verifier":
        name, claimed, public_key = _parse_key_string(vkey.strip())
        v = cls.from_public_key(name, public_key)
        if v.key_id != claimed:
            raise NoteError(f"key ID {claimed.hex()} does not match {v.key_id.hex()} computed from name and key")
        return v

    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{b64encode(bytes([ALG_ED25519]) + self.public_key)}"

    def verify(self, message: bytes, signature: bytes) -> None:
        """Strict Ed25519 verification of raw bytes; raises ed25519.SignatureError."""
        ed25519.verify_strict(self.public_key, message, signature)


class Signer:
    """A named Ed25519 signing key."""

    def __init__(self, name: str, seed: bytes):
        validate_key_name(name)
        if len(seed) != 32:
            raise NoteError("an Ed25519 seed is 32 bytes")
        self.name = name
        self._seed = bytes(seed)
        self._key = Ed25519PrivateKey.from_private_bytes(self._seed)
        public_key = self._key.public_key().public_bytes_raw()
        self.verifier = Verifier(name, key_id(name, public_key), public_key)
        self.key_id = self.verifier.key_id

    def __repr__(self) -> str:
        return f"Signer({self.name}+{self.key_id.hex()})"

    @classmethod
    def generate(cls, name: str) -> "Signer":
        return cls(name, os.urandom(32))

    @classmethod
    def from_private_key(cls, text: str) -> "Signer":
        text = text.strip()
        if not text.startswith(PRIVATE_PREFIX):
            raise NoteError("private key does not start with PRIVATE+KEY+")
        name, claimed, seed = _parse_key_string(text[len(PRIVATE_PREFIX):])
        signer = cls(name, seed)
        if signer.key_id != claimed:
            raise NoteError("private key's key ID does not match its name and key")
        return signer

    def private_key(self) -> str:
        return f"{PRIVATE_PREFIX}{self.name}+{self.key_id.hex()}+{b64encode(bytes([ALG_ED25519]) + self._seed)}"

    def sign_bytes(self, message: bytes) -> bytes:
        return self._key.sign(bytes(message))

    def sign_note(self, text: str) -> str:
        """The whole note: text, blank line, one signature line."""
        if not text.endswith("\n"):
            raise NoteError("note text must end with a newline")
        _check_controls(text)
        sig = self.key_id + self.sign_bytes(text.encode("utf-8"))
        return f"{text}\n{SIG_PREFIX}{self.name} {b64encode(sig)}\n"


def _check_controls(text: str) -> None:
    for i, c in enumerate(text):
        if ord(c) < 0x20 and c != "\n":
            raise NoteError(f"control character {ord(c):#04x} at character {i}")


@dataclass
class SignatureLine:
    name: str
    key_id: bytes
    signature: bytes


@dataclass
class OpenedNote:
    text: str
    # The known verifiers whose signatures verified, each once, in order of appearance.
    signers: List[Verifier] = field(default_factory=list)
    # Every signature line, known or not.
    signatures: List[SignatureLine] = field(default_factory=list)


def _parse_signature_line(line: str, number: int) -> SignatureLine:
    def bad(reason):
        return NoteError(f"malformed signature on line {number} of the note: {reason}")

    if not line.startswith(SIG_PREFIX):
        raise bad("does not start with an em dash and a space")
    rest = line[len(SIG_PREFIX):]
    name, sep, b64 = rest.partition(" ")
    if not sep:
        raise bad("no space between name and signature")
    try:
        validate_key_name(name)
        raw = b64decode_strict(b64)
    except NoteError as e:
        raise bad(str(e)) from None
    if len(raw) < 5:
        raise bad("signature shorter than 5 bytes")
    return SignatureLine(name, raw[:4], raw[4:])


def open_note(note, verifiers: Sequence[Verifier]) -> OpenedNote:
    """Parses ``note`` (str or UTF-8 bytes) and verifies it against ``verifiers``.

    Signatures by unknown (name, key ID) pairs are ignored; every signature by a known key must
    verify strictly; at least one known key must have signed.
    """
    if isinstance(note, (bytes, bytearray)):
        try:
            note = bytes(note).decode("utf-8")
        except UnicodeDecodeError as e:
            raise NoteError(f"note is not UTF-8: {e}") from None
    _check_controls(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("no blank line separates the text from the signatures")
    text, block = note[: split + 1], note[split + 2:]
    if not block:
        raise NoteError("the signature block is empty")
    if not block.endswith("\n"):
        raise NoteError("the signature block does not end with a newline")
    first_line = text.count("\n") + 2
    opened = OpenedNote(text=text)
    for i, line in enumerate(block[:-1].split("\n")):
        sig = _parse_signature_line(line, first_line + i)
        opened.signatures.append(sig)
        known = [v for v in verifiers if v.name == sig.name and v.key_id == sig.key_id]
        if not known:
            continue
        if any(v.public_key != known[0].public_key for v in known):
            raise NoteError(f"several different known keys are named {sig.name}+{sig.key_id.hex()}")
        v = known[0]
        try:
            v.verify(text.encode("utf-8"), sig.signature)
        except ed25519.SignatureError as e:
            raise NoteError(f"signature by known key {v.name}+{v.key_id.hex()} does not verify: {e}") from None
        if v not in opened.signers:
            opened.signers.append(v)
    if not opened.signers:
        raise NoteError("no signature by a known key")
    return opened


@dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog-checkpoint body."""

    origin: str
    size: int
    root: bytes
    extensions: tuple = ()

    def body(self) -> str:
        lines = [self.origin, str(self.size), b64encode(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)


def parse_checkpoint_body(text: str) -> Checkpoint:
    if not text.endswith("\n"):
        raise NoteError("checkpoint body does not end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError(f"checkpoint body has {len(lines)} line(s); origin, size and root are required")
    origin, size, root_b64, *extensions = lines
    if not origin:
        raise NoteError("checkpoint origin is empty")
    if not size or not all(c in "0123456789" for c in size) or (len(size) > 1 and size[0] == "0"):
        raise NoteError(f"invalid tree size {size!r}")
    if int(size) >= 1 << 64:
        raise NoteError(f"tree size {size} does not fit in 64 bits")
    root_hash = b64decode_strict(root_b64)
    if len(root_hash) != 32:
        raise NoteError(f"root hash is {len(root_hash)} bytes, expected 32")
    for i, ext in enumerate(extensions):
        if not ext:
            raise NoteError(f"extension line {i + 4} is empty")
    return Checkpoint(origin, int(size), root_hash, tuple(extensions))


def open_checkpoint(note, log_key: Verifier, origin: Optional[str] = None) -> Checkpoint:
    """Verifies a checkpoint note's signature by ``log_key`` and parses its body.

    The origin must be ``origin`` when given, else the log key's name (the README: "the
    checkpoint key's name is the log's origin").
    """
    opened = open_note(note, [log_key])
    cp = parse_checkpoint_body(opened.text)
    expected = log_key.name if origin is None else origin
    if cp.origin != expected:
        raise NoteError(f"checkpoint origin {cp.origin!r} is not {expected!r}")
    return cp

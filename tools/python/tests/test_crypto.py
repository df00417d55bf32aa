"""Signatures, keys and envelopes: fixed vectors pinned by provledger's own tests (Ed25519 is
deterministic, so an independent signer must produce the same bytes), and strictness."""

import base64

import pytest

from provledger_client import ed25519, envelope
from provledger_client.note import NoteError, Signer, Verifier, key_id, open_note

SEED = bytes(range(32))


def test_dsse_pae_matches_the_spec_example():
    assert envelope.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert envelope.pae("", b"") == b"DSSEv1 0  0 "
    assert envelope.pae("t\u00e9", b"\x00") == b"DSSEv1 3 t\xc3\xa9 1 \x00"


def test_envelope_signature_vector():
    # Pinned in src/envelope.rs (fixed_vector): seed 0..31, this name and payload.
    s = Signer("generator.example/synth", SEED)
    e = envelope.sign(s, envelope.EVENT_PAYLOAD_TYPE, b"provledger test payload")
    assert e.key_id == "generator.example/synth"
    assert base64.b64encode(e.signature).decode() == (
        "bAL73OZaAwYGUJTIrR3XwU3h34b6gQS8daTuH6gK0liJBAYLnXq0S9t9xoPz0NGUe5Uz+7bR7NpgX0uRFiQ5CA=="
    )
    envelope.verify(e, s.verifier)
    for change in (
        dict(payload=b"provledger test payloaD"),
        dict(payload_type=envelope.KEY_PAYLOAD_TYPE),
        dict(signature=e.signature[:10] + bytes([e.signature[10] ^ 1]) + e.signature[11:]),
        dict(key_id="someone.else"),
    ):
        bad = envelope.Envelope(**{**e.__dict__, **change})
        with pytest.raises(ed25519.SignatureError):
            envelope.verify(bad, s.verifier)


def test_note_signature_and_vkey_vector():
    # Pinned in src/note.rs (fixed_vector_is_pinned): seed 0..31, name provledger.test/log.
    s = Signer("provledger.test/log", SEED)
    assert s.verifier.vkey() == "provledger.test/log+cdd6edad+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
    note = s.sign_note("hello\n")
    assert note == (
        "hello\n\n\u2014 provledger.test/log zdbtrbCB8qZ4IxEGL9BaMuh6upuVa6ngpVI4rJA32UgutelhwQq7kVTch1z0fF"
        "cvy569zJn9RWfo5C2apY591ftvWQY=\n"
    )
    assert open_note(note, [Verifier.from_vkey(s.verifier.vkey())]).text == "hello\n"


def test_key_id_is_the_sha256_prefix():
    import hashlib

    pub = Signer("a.example/k", SEED).verifier.public_key
    assert key_id("a.example/k", pub) == hashlib.sha256(b"a.example/k\n\x01" + pub).digest()[:4]


def test_vkey_and_private_key_parsing_is_strict():
    s = Signer("a.example/k", SEED)
    vkey = s.verifier.vkey()
    assert vkey == "a.example/k+aaca10fd+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
    name, hex_id, b64 = vkey.split("+", 2)
    assert Verifier.from_vkey(vkey) == s.verifier
    assert Signer.from_private_key(s.private_key()).verifier == s.verifier
    assert s.private_key().startswith(f"PRIVATE+KEY+{name}+{hex_id}+")
    wrong_id = f"{int(hex_id, 16) ^ 1:08x}"
    bad = [
        f"{name}+{hex_id.upper()}+{b64}",  # key IDs are lowercase hex
        f"{name}+{wrong_id}+{b64}",
        f"{name}+{hex_id}+{b64[:-4]}",  # 30 bytes
        f"{name}+{hex_id}+{b64[:-1]}",  # truncated base64
        f"a b+{hex_id}+{b64}",
        f"{name}+{hex_id}",
        f"{name}+{hex_id}+" + base64.b64encode(b"\x04" + s.verifier.public_key).decode(),
        f"{name}+{hex_id}+" + base64.b64encode(b"\x01" + s.verifier.public_key[:31]).decode(),
    ]
    for b in bad:
        with pytest.raises(NoteError):
            Verifier.from_vkey(b)
            pytest.fail(f"accepted {b}")
    with pytest.raises(NoteError):
        Signer.from_private_key(vkey)
    with pytest.raises(NoteError):
        Signer.from_private_key(s.private_key().replace(hex_id, wrong_id))


def test_strict_verification_rejects_what_verify_strict_rejects():
    s = Signer("a.example/k", SEED)
    msg = b"message"
    sig = s.sign_bytes(msg)
    ed25519.verify_strict(s.verifier.public_key, msg, sig)
    # S + L is the same signature to a lax verifier: not canonical.
    big_s = (int.from_bytes(sig[32:], "little") + ed25519.L).to_bytes(32, "little")
    with pytest.raises(ed25519.SignatureError, match="S"):
        ed25519.verify_strict(s.verifier.public_key, msg, sig[:32] + big_s)
    # The identity as key and R, S = 0: satisfies the cofactorless equation for every message.
    identity = (1).to_bytes(32, "little")
    with pytest.raises(ed25519.SignatureError, match="small order"):
        ed25519.verify_strict(identity, msg, identity + bytes(32))
    with pytest.raises(NoteError, match="small order"):
        Verifier.from_public_key("weak", identity)
    # Points of order 2, 4 and 8.
    for small in (
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    ):
        with pytest.raises(ed25519.SignatureError, match="small order"):
            ed25519.verify_strict(bytes.fromhex(small), msg, sig)
    # Small-order R with a valid key.
    with pytest.raises(ed25519.SignatureError, match="R has small order"):
        ed25519.verify_strict(s.verifier.public_key, msg, identity + sig[32:])
    # Non-canonical y (>= p) for the key.
    non_canonical = (ed25519.P + 1).to_bytes(32, "little")
    with pytest.raises(ed25519.SignatureError, match="canonical"):
        ed25519.verify_strict(non_canonical, msg, sig)
    with pytest.raises(ed25519.SignatureError):
        ed25519.verify_strict(s.verifier.public_key, msg + b"!", sig)


def _set_spare_bits(note: str) -> str:
    """The 68-byte signature's base64 ends in one padding character: the character before it
    carries 2 spare bits, which canonical base64 leaves zero."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    head, last = note[:-3], note[-3]
    assert note.endswith("=\n") and alphabet.index(last) % 4 == 0
    changed = head + alphabet[alphabet.index(last) + 1] + "=\n"
    assert base64.b64decode(changed.split(" ")[-1]) == base64.b64decode(note.split(" ")[-1])
    return changed


def test_note_parsing_rejects_malformed_notes():
    s = Signer("a.example/k", SEED)
    v = s.verifier
    note = s.sign_note("line one\nline two\n")
    assert open_note(note, [v]).text == "line one\nline two\n"
    assert open_note(note.encode(), [v]).text == "line one\nline two\n"
    malformed = [
        note.replace("line one", "line\tone"),  # control character
        note.replace("\n\n", "\n"),  # no blank line
        note.rstrip("\n"),  # unterminated signature block
        note.replace("\u2014", "-"),  # not an em dash
        note.replace("a.example/k ", "a.example/k"),  # no space before the signature
        note.replace("=\n", "\n"),  # base64 without its padding
        _set_spare_bits(note),  # base64 with non-zero spare bits: not canonical
    ]
    for bad in malformed:
        with pytest.raises(NoteError):
            open_note(bad, [v])
    # The text ends at the *last* blank line: a blank line inside the text is text.
    note2 = s.sign_note("a\n\nb\n")
    assert open_note(note2, [v]).text == "a\n\nb\n"
    # A second signature by an unknown key is ignored; a bad one by a known key rejects.
    other = Signer.generate("other.example/k")
    other_line = other.sign_note("line one\nline two\n").split("\n\n", 1)[1]
    both = note + other_line
    assert open_note(both, [v]).signers == [v]
    assert open_note(both, [v, other.verifier]).signers == [v, other.verifier]
    forged = other_line.replace("other.example/k", "a.example/k")  # unknown key ID: ignored
    assert open_note(note + forged, [v]).signers == [v]
    raw = base64.b64decode(note.split(" ")[-1])
    bad_sig = note.rsplit(" ", 1)[0] + " " + base64.b64encode(raw[:4] + bytes([raw[4] ^ 1]) + raw[5:]).decode() + "\n"
    with pytest.raises(NoteError, match="does not verify"):
        open_note(bad_sig + other_line, [v])

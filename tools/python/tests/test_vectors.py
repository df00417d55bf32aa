"""The repository's fixed vectors (tests/vectors/): a verifier written from the README must
reproduce provledger's BLAKE3 roots and proofs, the published SHA-256 ones, and open the
published signed notes."""

import base64
import json

import pytest

from provledger_client import merkle
from provledger_client.note import NoteError, Verifier, open_checkpoint, open_note

from conftest import VECTORS

HASHES = {"blake3": merkle.blake3_256, "sha256": merkle.sha256}
FILES = ["blake3-golden.json", "rfc6962-sha256.json"]


def load(name):
    return json.loads((VECTORS / name).read_text())


def b64(s):
    return base64.b64decode(s)


@pytest.fixture(params=FILES)
def vectors(request):
    v = load(request.param)
    return v, HASHES[v["hash"]]


def test_blake3_description_matches_the_readme():
    v = load("blake3-golden.json")
    assert v["hash"] == "blake3"
    assert v["leaves_utf8"] == [f"leaf-{i}" for i in range(64)]
    assert sorted(map(int, v["roots"])) == list(range(65))
    assert b64(v["roots"]["0"]) == merkle.blake3_256(b"")


def test_roots(vectors):
    v, h = vectors
    leaves = [s.encode() for s in v["leaves_utf8"]]
    for size, expected in v["roots"].items():
        assert merkle.root(leaves[: int(size)], h) == b64(expected), f"root of size {size}"
    print(f"{v['hash']}: {len(v['roots'])} roots reproduced")


def test_inclusion_proofs(vectors):
    v, h = vectors
    leaves = [s.encode() for s in v["leaves_utf8"]]
    hashes = [merkle.leaf_hash(d, h) for d in leaves]
    assert v["inclusion"]
    for case in v["inclusion"]:
        m, n, path = case["leaf_index"], case["tree_size"], [b64(p) for p in case["path"]]
        assert b64(case["leaf_hash"]) == hashes[m]
        root = b64(v["roots"][str(n)])
        merkle.verify_inclusion(m, n, hashes[m], path, root, h)
        assert merkle.inclusion_path(m, hashes[:n], h) == path, f"PATH({m}, {n})"
        if path:
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(m, n, hashes[m], path[:-1], root, h)
            bad = path[:]
            bad[-1] = bytes([bad[-1][0] ^ 0x80]) + bad[-1][1:]
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(m, n, hashes[m], bad, root, h)
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(m, n, hashes[m], path + [root], root, h)
    print(f"{v['hash']}: {len(v['inclusion'])} inclusion proofs verified and regenerated")


def test_consistency_proofs(vectors):
    v, h = vectors
    leaves = [s.encode() for s in v["leaves_utf8"]]
    hashes = [merkle.leaf_hash(d, h) for d in leaves]
    assert v["consistency"]
    for case in v["consistency"]:
        m, n, path = case["first_size"], case["second_size"], [b64(p) for p in case["path"]]
        r1, r2 = b64(v["roots"][str(m)]), b64(v["roots"][str(n)])
        merkle.verify_consistency(m, n, r1, r2, path, h)
        assert merkle.consistency_path(m, hashes[:n], h) == path, f"PROOF({m}, {n})"
        if m != n:
            with pytest.raises(merkle.ProofError):
                merkle.verify_consistency(m, n, r2, r2, path, h)
            with pytest.raises(merkle.ProofError):
                merkle.verify_consistency(m, n, r1, r2, path[:-1], h)
    print(f"{v['hash']}: {len(v['consistency'])} consistency proofs verified and regenerated")


def test_published_checkpoint_opens():
    v = load("rfc6962-sha256.json")["published"]
    key = Verifier.from_vkey(v["tessera_testdata_vkey"])
    assert key.vkey() == v["tessera_testdata_vkey"]
    cp = open_checkpoint(v["tessera_testdata_checkpoint"], key)
    assert (cp.origin, cp.size) == ("example.com/log/testdata", 15)
    assert cp.root == b64(load("rfc6962-sha256.json")["roots"]["15"])
    assert cp.root == merkle.root([s.encode() for s in load("rfc6962-sha256.json")["leaves_utf8"]], merkle.sha256)
    with pytest.raises(NoteError, match="does not verify"):
        open_checkpoint(v["tessera_testdata_checkpoint"].replace("\n15\n", "\n16\n"), key)


def test_published_signed_note_example_opens():
    v = load("rfc6962-sha256.json")["published"]
    key = Verifier.from_vkey(v["c2sp_note_example_vkey"])
    assert key.key_id.hex() == "530d903a"
    opened = open_note(v["c2sp_note_example"], [key])
    assert opened.text == "This is an example message.\n"
    assert opened.signers == [key]
    with pytest.raises(NoteError, match="does not verify"):
        open_note(v["c2sp_note_example"].replace("an example", "an exbmple"), [key])
    # An unknown key's signature is ignored, so the note has no known signer.
    other = Verifier.from_vkey(v["tessera_testdata_vkey"])
    with pytest.raises(NoteError, match="no signature by a known key"):
        open_note(v["c2sp_note_example"], [other])

"""The tree code on its own: proofs generated from RFC 9162's recursive definitions verify with
its iterative algorithms for every index and size up to 40, and any change makes them fail."""

import pytest

from provledger_client import merkle

N = 40
LEAVES = [f"entry {i}".encode() for i in range(N)]
HASHES = [merkle.leaf_hash(d) for d in LEAVES]
ROOTS = [merkle.root_from_hashes(HASHES[:n]) for n in range(N + 1)]


def flip(b: bytes, bit: int) -> bytes:
    out = bytearray(b)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def test_hashing_is_domain_separated_blake3():
    import blake3

    assert merkle.empty_root() == blake3.blake3(b"").digest()
    assert merkle.leaf_hash(b"x") == blake3.blake3(b"\x00x").digest()
    a, b = HASHES[0], HASHES[1]
    assert merkle.node_hash(a, b) == blake3.blake3(b"\x01" + a + b).digest()
    assert ROOTS[1] == HASHES[0] and ROOTS[2] == merkle.node_hash(a, b)
    # Size 3 = (0, 1), 2 - not ((0), (1, 2)).
    assert ROOTS[3] == merkle.node_hash(ROOTS[2], HASHES[2])
    assert merkle.root(LEAVES[:5]) == merkle.node_hash(ROOTS[4], HASHES[4])


def test_every_inclusion_proof_verifies_and_tampering_fails():
    checked = 0
    for n in range(1, N + 1):
        for m in range(n):
            path = merkle.inclusion_path(m, HASHES[:n])
            merkle.verify_inclusion(m, n, HASHES[m], path, ROOTS[n])
            checked += 1
            for i in range(len(path)):
                bad = path[:]
                bad[i] = flip(bad[i], (7 * i + m) % 256)
                with pytest.raises(merkle.ProofError):
                    merkle.verify_inclusion(m, n, HASHES[m], bad, ROOTS[n])
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(m, n, HASHES[m], path, flip(ROOTS[n], m % 256))
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(m, n, HASHES[(m + 1) % n] if n > 1 else flip(HASHES[m], 0), path, ROOTS[n])
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(m, n, HASHES[m], path + [HASHES[0]], ROOTS[n])
            if path:
                with pytest.raises(merkle.ProofError):
                    merkle.verify_inclusion(m, n, HASHES[m], path[1:], ROOTS[n])
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(5, 5, HASHES[4], [], ROOTS[5])
    # A proof in a smaller tree, with that tree's root, does not prove the leaf in a deeper one:
    # RFC 9162 requires sn to end at 0.
    for m, small, big in [(0, 2, 4), (1, 2, 3), (3, 4, 8), (5, 8, 20)]:
        path = merkle.inclusion_path(m, HASHES[:small])
        with pytest.raises(merkle.ProofError, match="shorter"):
            merkle.verify_inclusion(m, big, HASHES[m], path, ROOTS[small])
    print(f"{checked} inclusion proofs")


def test_every_consistency_proof_verifies_and_tampering_fails():
    checked = 0
    for n in range(0, N + 1):
        for m in range(0, n + 1):
            path = merkle.consistency_path(m, HASHES[:n])
            merkle.verify_consistency(m, n, ROOTS[m], ROOTS[n], path)
            checked += 1
            if m in (0, n):
                assert path == []
            for i in range(len(path)):
                bad = path[:]
                bad[i] = flip(bad[i], (5 * i + n) % 256)
                with pytest.raises(merkle.ProofError):
                    merkle.verify_consistency(m, n, ROOTS[m], ROOTS[n], bad)
            if m == 0:
                # The empty tree is a prefix of every tree: only its own root is checked.
                with pytest.raises(merkle.ProofError):
                    merkle.verify_consistency(0, n, flip(ROOTS[0], 2), ROOTS[n], path)
                continue
            with pytest.raises(merkle.ProofError):
                merkle.verify_consistency(m, n, ROOTS[m], flip(ROOTS[n], 1), path)
            with pytest.raises(merkle.ProofError):
                merkle.verify_consistency(m, n, flip(ROOTS[m], 2), ROOTS[n], path)
            with pytest.raises(merkle.ProofError):
                merkle.verify_consistency(m, n, ROOTS[m], ROOTS[n], path + [HASHES[0]])
            if path:
                with pytest.raises(merkle.ProofError):
                    merkle.verify_consistency(m, n, ROOTS[m], ROOTS[n], path[:-1])
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(3, 2, ROOTS[3], ROOTS[2], [])
    # A proof to a smaller tree, with its root, does not prove consistency with a larger size.
    for m, small, big in [(1, 2, 4), (3, 4, 7), (5, 8, 16), (6, 13, 40)]:
        path = merkle.consistency_path(m, HASHES[:small])
        with pytest.raises(merkle.ProofError, match="shorter"):
            merkle.verify_consistency(m, big, ROOTS[m], ROOTS[small], path)
    print(f"{checked} consistency proofs")


def test_right_edge_leaves_need_the_inner_loop():
    """Leaf 4 of 5, leaf 6 of 7 and the like: without RFC 9162's inner right-shift loop the
    verifier would pair them with the wrong siblings."""
    for m, n in [(4, 5), (6, 7), (8, 9), (12, 13), (32, 33), (38, 39)]:
        path = merkle.inclusion_path(m, HASHES[:n])
        merkle.verify_inclusion(m, n, HASHES[m], path, ROOTS[n])

"""The log's Merkle tree: RFC 6962 section 2.1 / RFC 9162 section 2.1, with BLAKE3-256.

- empty tree: ``MTH({}) = H(b"")``;
- one leaf: ``MTH({d}) = H(0x00 || d)``;
- ``n > 1`` leaves: ``MTH(D[0:n]) = H(0x01 || MTH(D[0:k]) || MTH(D[k:n]))``, with ``k`` the largest
  power of two smaller than ``n``.

Proofs are lists of hashes, bottom-up, as RFC 9162 sections 2.1.3.1 and 2.1.4.1 define them.
``inclusion_path`` and ``consistency_path`` follow those recursive definitions literally (they are
the reference an auditor recomputes from the leaves); ``verify_inclusion`` and
``verify_consistency`` follow the iterative algorithms of sections 2.1.3.2 and 2.1.4.2.

Every function takes the hash function as ``h`` (bytes -> digest), BLAKE3-256 by default, so the
same code runs the SHA-256 vectors.
"""

import hashlib
from typing import Callable, List, Sequence

import blake3

Hash = Callable[[bytes], bytes]


def blake3_256(data: bytes) -> bytes:
    return blake3.blake3(data).digest(length=32)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class ProofError(ValueError):
    """A proof that does not verify, or is malformed."""


def leaf_hash(leaf: bytes, h: Hash = blake3_256) -> bytes:
    return h(b"\x00" + leaf)


def node_hash(left: bytes, right: bytes, h: Hash = blake3_256) -> bytes:
    return h(b"\x01" + left + right)


def empty_root(h: Hash = blake3_256) -> bytes:
    return h(b"")


def split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``)."""
    if n < 2:
        raise ValueError("split needs at least 2 leaves")
    return 1 << ((n - 1).bit_length() - 1)


def root_from_hashes(hashes: Sequence[bytes], h: Hash = blake3_256) -> bytes:
    """MTH over leaves given by their leaf hashes."""
    n = len(hashes)
    if n == 0:
        return empty_root(h)
    if n == 1:
        return hashes[0]
    k = split(n)
    return node_hash(root_from_hashes(hashes[:k], h), root_from_hashes(hashes[k:], h), h)


def root(leaves: Sequence[bytes], h: Hash = blake3_256) -> bytes:
    """MTH over the exact leaf bytes."""
    return root_from_hashes([leaf_hash(d, h) for d in leaves], h)


def inclusion_path(m: int, hashes: Sequence[bytes], h: Hash = blake3_256) -> List[bytes]:
    """RFC 9162 2.1.3.1 PATH(m, D[n]) over leaf hashes, bottom-up."""
    n = len(hashes)
    if not 0 <= m < n:
        raise ValueError(f"leaf {m} is not in a tree of size {n}")
    if n == 1:
        return []
    k = split(n)
    if m < k:
        return inclusion_path(m, hashes[:k], h) + [root_from_hashes(hashes[k:], h)]
    return inclusion_path(m - k, hashes[k:], h) + [root_from_hashes(hashes[:k], h)]


def consistency_path(m: int, hashes: Sequence[bytes], h: Hash = blake3_256) -> List[bytes]:
    """RFC 9162 2.1.4.1 PROOF(m, D[n]) over leaf hashes, bottom-up; empty when m is 0 or n."""
    n = len(hashes)
    if not 0 <= m <= n:
        raise ValueError(f"size {m} is not a prefix of a tree of size {n}")
    if m == 0:
        return []
    return _subproof(m, hashes, True, h)


def _subproof(m: int, hashes: Sequence[bytes], complete: bool, h: Hash) -> List[bytes]:
    n = len(hashes)
    if m == n:
        return [] if complete else [root_from_hashes(hashes, h)]
    k = split(n)
    if m <= k:
        return _subproof(m, hashes[:k], complete, h) + [root_from_hashes(hashes[k:], h)]
    return _subproof(m - k, hashes[k:], False, h) + [root_from_hashes(hashes[:k], h)]


def _check_hashes(label: str, hashes: Sequence[bytes], size: int) -> None:
    for i, x in enumerate(hashes):
        if not isinstance(x, (bytes, bytearray)) or len(x) != size:
            raise ProofError(f"{label}[{i}] is not a {size}-byte hash")


def root_from_inclusion(
    leaf_index: int, tree_size: int, leaf_hash_: bytes, path: Sequence[bytes], h: Hash = blake3_256
) -> bytes:
    """RFC 9162 2.1.3.2 steps 1-4 and the ``sn == 0`` check of step 5: the root the proof implies."""
    size = len(h(b""))
    _check_hashes("proof", path, size)
    if len(leaf_hash_) != size:
        raise ProofError(f"leaf hash is not a {size}-byte hash")
    if leaf_index < 0 or leaf_index >= tree_size:
        raise ProofError(f"leaf index {leaf_index} is not below tree size {tree_size}")
    fn, sn = leaf_index, tree_size - 1
    r = bytes(leaf_hash_)
    for p in path:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r, h)
            # RFC 9162: right-shift until LSB(fn) is set *or fn is 0*.
            while fn != 0 and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p, h)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(
    leaf_index: int,
    tree_size: int,
    leaf_hash_: bytes,
    path: Sequence[bytes],
    root_hash: bytes,
    h: Hash = blake3_256,
) -> None:
    """Raises ProofError unless ``path`` proves leaf ``leaf_index`` in the tree with ``root_hash``."""
    if root_from_inclusion(leaf_index, tree_size, leaf_hash_, path, h) != bytes(root_hash):
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    first_size: int,
    second_size: int,
    first_root: bytes,
    second_root: bytes,
    path: Sequence[bytes],
    h: Hash = blake3_256,
) -> None:
    """RFC 9162 2.1.4.2. Raises ProofError unless the first tree is a prefix of the second.

    Equal sizes need an empty proof and equal roots; the empty tree (size 0, root ``H("")``) is
    a prefix of every tree, with an empty proof.
    """
    size = len(h(b""))
    _check_hashes("proof", path, size)
    if len(first_root) != size or len(second_root) != size:
        raise ProofError(f"roots must be {size}-byte hashes")
    first_root, second_root = bytes(first_root), bytes(second_root)
    if first_size < 0 or first_size > second_size:
        raise ProofError(f"first size {first_size} is beyond second size {second_size}")
    if first_size == second_size:
        if path:
            raise ProofError("a proof between equal sizes must be empty")
        if first_root != second_root:
            raise ProofError("equal sizes with different roots")
        return
    if first_size == 0:
        if path:
            raise ProofError("a proof from the empty tree must be empty")
        if first_root != empty_root(h):
            raise ProofError("the empty tree's root is not H('')")
        return
    # Step 1.
    if not path:
        raise ProofError("empty consistency proof between different sizes")
    path = list(path)
    # Step 2.
    if first_size & (first_size - 1) == 0:
        path.insert(0, first_root)
    # Steps 3-4.
    fn, sn = first_size - 1, second_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr, h)
            sr = node_hash(c, sr, h)
            while fn != 0 and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c, h)
        fn >>= 1
        sn >>= 1
    # Step 7.
    if sn != 0:
        raise ProofError("consistency proof is shorter than needed")
    if fr != first_root:
        raise ProofError("consistency proof does not lead to the first root")
    if sr != second_root:
        raise ProofError("consistency proof does not lead to the second root")

"""Ed25519 verification as strict as ed25519-dalek's ``verify_strict``.

The README asks verifiers to "reject non-canonical encodings and small-order keys". OpenSSL
(through ``cryptography``) already rejects a non-canonical ``S`` and a non-canonical ``R`` (it
compares encodings), but accepts small-order points; this module adds, per RFC 8032 section
5.1.3 and 5.1.7, the checks that the public key ``A`` and the signature's ``R`` decode
canonically and are not of small order (``[8]P`` is the identity), then lets OpenSSL check the
equation.
"""

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


class SignatureError(ValueError):
    """A signature or key that strict Ed25519 verification rejects."""


def decode_point(encoded: bytes):
    """RFC 8032 5.1.3, rejecting non-canonical y; returns affine (x, y) or None."""
    if len(encoded) != 32:
        return None
    n = int.from_bytes(encoded, "little")
    sign = n >> 255
    y = n & ((1 << 255) - 1)
    if y >= P:
        return None
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x = (u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P)) % P
    vx2 = (v * x * x) % P
    if vx2 == u:
        pass
    elif vx2 == (-u) % P:
        x = (x * SQRT_M1) % P
    else:
        return None
    if x == 0 and sign == 1:
        return None
    if x & 1 != sign:
        x = P - x
    return x, y


def _double(pt):
    x, y = pt
    xy = x * y % P
    den_x = (1 + D * xy * xy) % P
    den_y = (1 - D * xy * xy) % P
    x3 = (2 * xy) * pow(den_x, P - 2, P) % P
    y3 = (y * y + x * x) * pow(den_y, P - 2, P) % P
    return x3, y3


def is_small_order(pt) -> bool:
    """Whether ``[8]pt`` is the identity (0, 1)."""
    for _ in range(3):
        pt = _double(pt)
    return pt == (0, 1)


def check_public_key(public_key: bytes) -> None:
    """Raises SignatureError unless ``public_key`` is a canonical point of large order."""
    pt = decode_point(bytes(public_key))
    if pt is None:
        raise SignatureError("public key is not a canonical Ed25519 point")
    if is_small_order(pt):
        raise SignatureError("public key has small order")


def verify_strict(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Raises SignatureError unless ``signature`` is a strictly valid Ed25519 signature."""
    check_public_key(public_key)
    signature = bytes(signature)
    if len(signature) != 64:
        raise SignatureError(f"signature is {len(signature)} bytes, expected 64")
    if int.from_bytes(signature[32:], "little") >= L:
        raise SignatureError("signature scalar S is not canonical (S >= L)")
    r = decode_point(signature[:32])
    if r is None:
        raise SignatureError("signature point R is not a canonical Ed25519 point")
    if is_small_order(r):
        raise SignatureError("signature point R has small order")
    try:
        Ed25519PublicKey.from_public_bytes(bytes(public_key)).verify(signature, bytes(message))
    except InvalidSignature:
        raise SignatureError("signature does not verify") from None

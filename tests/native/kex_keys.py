"""Elliptic-curve keys made with ``cryptography`` for the ECDH tests: generation, PKCS#8,
the bare public value, cryptography's own exchange.

Imports nothing of keystead: the conformance scenarios use it too, and they reach the module
only through PKCS#11 (a sanitized run of them loads no cffi extension).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519

PrivateKey = ec.EllipticCurvePrivateKey | x25519.X25519PrivateKey | x448.X448PrivateKey

#: The prime curves, by the name CAVP gives them.
PRIME_CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}


def pkcs8(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def generate(curve: str) -> PrivateKey:
    if curve == "X25519":
        return x25519.X25519PrivateKey.generate()
    if curve == "X448":
        return x448.X448PrivateKey.generate()
    return ec.generate_private_key(PRIME_CURVES[curve])


def public_value(key: PrivateKey, compressed: bool = False) -> bytes:
    """The bare public value: an X9.62 point, or the u-coordinate of X25519/X448."""
    pub = key.public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        fmt = (serialization.PublicFormat.CompressedPoint if compressed
               else serialization.PublicFormat.UncompressedPoint)
        return pub.public_bytes(serialization.Encoding.X962, fmt)
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def exchange(key: PrivateKey, peer: PrivateKey) -> bytes:
    """cryptography's own shared secret between key and peer's public key."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.exchange(ec.ECDH(), peer.public_key())  # type: ignore[arg-type]
    return key.exchange(peer.public_key())  # type: ignore[arg-type]

"""Thin wrappers of crypto/ecdh.h and crypto/x963kdf.h, and keys made with ``cryptography``.

Each wrapper returns (status, output) so that the tests assert the exact ks_status.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519
from keystead.core import ffi, lib

PrivateKey = ec.EllipticCurvePrivateKey | x25519.X25519PrivateKey | x448.X448PrivateKey

#: The prime curves, by the name CAVP gives them.
PRIME_CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}
CURVE_IDS = {"P-256": lib.KS_ECDH_P256, "P-384": lib.KS_ECDH_P384, "P-521": lib.KS_ECDH_P521,
             "X25519": lib.KS_ECDH_X25519, "X448": lib.KS_ECDH_X448}
MD = {"SHA-1": lib.KS_MD_SHA1, "SHA-224": lib.KS_MD_SHA224, "SHA-256": lib.KS_MD_SHA256,
      "SHA-384": lib.KS_MD_SHA384, "SHA-512": lib.KS_MD_SHA512}


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


def ecdh(der: bytes, peer: bytes, cofactor: bool = False, max_out: int = 66) -> tuple[int, bytes]:
    out = ffi.new("uint8_t[]", max(max_out, 1))
    out_len = ffi.new("size_t *")
    st = lib.ks_ecdh_derive(out, out_len, max_out, ffi.NULL, der, len(der), int(cofactor),
                            peer, len(peer))
    return st, bytes(out[0 : out_len[0]])


def x963(md: int, z: bytes, info: bytes, length: int) -> tuple[int, bytes]:
    out = ffi.new("uint8_t[]", max(length, 1))
    st = lib.ks_x963_kdf(md, out, length, z, len(z), info if info else ffi.NULL, len(info))
    return st, bytes(out[0:length])

"""Thin wrappers of crypto/ecdh.h and crypto/x963kdf.h (the keys: tests/native/kex_keys.py).

Each wrapper returns (status, output) so that the tests assert the exact ks_status.
"""

from __future__ import annotations

from keystead.core import ffi, lib

from tests.native.kex_keys import (  # noqa: F401 - re-exported for the native tests
    PRIME_CURVES,
    PrivateKey,
    exchange,
    generate,
    pkcs8,
    public_value,
)

CURVE_IDS = {"P-256": lib.KS_ECDH_P256, "P-384": lib.KS_ECDH_P384, "P-521": lib.KS_ECDH_P521,
             "X25519": lib.KS_ECDH_X25519, "X448": lib.KS_ECDH_X448}
MD = {"SHA-1": lib.KS_MD_SHA1, "SHA-224": lib.KS_MD_SHA224, "SHA-256": lib.KS_MD_SHA256,
      "SHA-384": lib.KS_MD_SHA384, "SHA-512": lib.KS_MD_SHA512}


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

"""Helpers of the key-pair signature tests at the operation layer (token/ops.h with a
PKCS#8 or SubjectPublicKeyInfo DER as the key, as the token hands it over).

Keys are made with the ``cryptography`` package once per process (RSA generation is slow);
each helper returns the exact CK_RV with its output so that every failure is seen.
"""

from __future__ import annotations

import functools
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from keystead.core import ffi, lib

from tests.native.ops_support import SIGN, VERIFY, Mech, Op, mechanism

HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA1": hashes.SHA1, "SHA224": hashes.SHA224, "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384, "SHA512": hashes.SHA512,
}
DIGEST_MECH = {"SHA1": lib.CKM_SHA_1, "SHA224": lib.CKM_SHA224, "SHA256": lib.CKM_SHA256,
               "SHA384": lib.CKM_SHA384, "SHA512": lib.CKM_SHA512}
MGF = {"SHA1": lib.CKG_MGF1_SHA1, "SHA224": lib.CKG_MGF1_SHA224,
       "SHA256": lib.CKG_MGF1_SHA256, "SHA384": lib.CKG_MGF1_SHA384,
       "SHA512": lib.CKG_MGF1_SHA512}
RSA_PKCS = {"SHA1": lib.CKM_SHA1_RSA_PKCS, "SHA224": lib.CKM_SHA224_RSA_PKCS,
            "SHA256": lib.CKM_SHA256_RSA_PKCS, "SHA384": lib.CKM_SHA384_RSA_PKCS,
            "SHA512": lib.CKM_SHA512_RSA_PKCS}
RSA_PSS = {"SHA1": lib.CKM_SHA1_RSA_PKCS_PSS, "SHA224": lib.CKM_SHA224_RSA_PKCS_PSS,
           "SHA256": lib.CKM_SHA256_RSA_PKCS_PSS, "SHA384": lib.CKM_SHA384_RSA_PKCS_PSS,
           "SHA512": lib.CKM_SHA512_RSA_PKCS_PSS}
ECDSA = {"SHA1": lib.CKM_ECDSA_SHA1, "SHA224": lib.CKM_ECDSA_SHA224,
         "SHA256": lib.CKM_ECDSA_SHA256, "SHA384": lib.CKM_ECDSA_SHA384,
         "SHA512": lib.CKM_ECDSA_SHA512}
CURVES: dict[str, ec.EllipticCurve] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(),
                                       "P-521": ec.SECP521R1()}
#: The group orders (SEC 2), for the out-of-range signature cases.
ORDERS = {
    "P-256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "P-384": int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
                 "581A0DB248B0A77AECEC196ACCC52973", 16),
    "P-521": int("1" + "F" * 64
                 + "FA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409", 16),
}


def hash_of(name: str, data: bytes) -> bytes:
    h = hashes.Hash(HASHES[name]())
    h.update(data)
    return h.finalize()


@functools.cache
def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@functools.cache
def ec_key(curve: str) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(CURVES[curve])


@functools.cache
def ed_key(name: str) -> Any:
    return (ed25519.Ed25519PrivateKey if name == "Ed25519" else ed448.Ed448PrivateKey).generate()


def pkcs8(key: Any) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def spki(key: Any) -> bytes:
    pub = key.public_key() if hasattr(key, "public_key") else key
    return pub.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def key_type_of(key: Any) -> int:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return lib.CKK_RSA
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return lib.CKK_EC
    return lib.CKK_EC_EDWARDS


def pss_mech(mtype: int, hash_alg: int, mgf: int, salt: int) -> Mech:
    p = ffi.new("CK_RSA_PKCS_PSS_PARAMS *")
    p.hashAlg, p.mgf, p.sLen = hash_alg, mgf, salt
    return mechanism(mtype, p)


def eddsa_mech(ph: bool, context: bytes) -> Mech:
    p = ffi.new("CK_EDDSA_PARAMS *")
    buf = ffi.new("CK_BYTE[]", context if context else b"\0")
    p.phFlag = 1 if ph else 0
    p.ulContextDataLen = len(context)
    p.pContextData = buf if context else ffi.NULL
    m = mechanism(lib.CKM_EDDSA, p)
    m.keep.append(buf)
    return m


def signer(mech: Mech, key: Any) -> Op:
    """A sign operation with key's PKCS#8 (check ``.rv``)."""
    return Op(SIGN, mech, pkcs8(key), key_type_of(key))


def verifier(mech: Mech, key: Any) -> Op:
    """A verify operation with the SubjectPublicKeyInfo of key (or of its public key)."""
    return Op(VERIFY, mech, spki(key), key_type_of(key))


def sign(mech: Mech, key: Any, data: bytes, parts: list[bytes] | None = None) -> tuple[int, bytes]:
    """(rv, signature): single-part, or multi-part over ``parts``."""
    with signer(mech, key) as op:
        if op.rv != lib.CKR_OK:
            return op.rv, b""
        if parts is None:
            rv, sig, _ = op.oneshot(data, room=1024)
            return rv, sig
        for part in parts:
            rv = op.feed(part)
            if rv != lib.CKR_OK:
                return rv, b""
        rv, sig, _ = op.final(room=1024)
        return rv, sig


def verify(mech: Mech, key: Any, data: bytes, sig: bytes,
           parts: list[bytes] | None = None) -> int:
    """The CK_RV of a verification (single-part, or multi-part over ``parts``)."""
    with verifier(mech, key) as op:
        if op.rv != lib.CKR_OK:
            return op.rv
        if parts is None:
            return op.verify(data, sig)
        for part in parts:
            rv = op.feed(part)
            if rv != lib.CKR_OK:
                return rv
        return op.verify_final(sig)


def raw_ecdsa(der_sig: bytes, curve: str) -> bytes:
    """cryptography's DER ECDSA signature as PKCS#11's r || s."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(der_sig)
    n = (ORDERS[curve].bit_length() + 7) // 8
    return r.to_bytes(n, "big") + s.to_bytes(n, "big")


def der_ecdsa(raw: bytes) -> bytes:
    """PKCS#11's r || s as the DER cryptography verifies."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    half = len(raw) // 2
    return encode_dss_signature(int.from_bytes(raw[:half], "big"),
                                int.from_bytes(raw[half:], "big"))


__all__ = ["CURVES", "DIGEST_MECH", "ECDSA", "HASHES", "MGF", "ORDERS", "RSA_PKCS", "RSA_PSS",
           "der_ecdsa", "ec_key", "ed_key", "eddsa_mech", "hash_of", "key_type_of", "pkcs8",
           "pss_mech", "raw_ecdsa", "rsa_key", "sign", "signer", "spki", "verifier", "verify"]

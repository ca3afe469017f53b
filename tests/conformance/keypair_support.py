"""Key-pair templates for the conformance tests: a ``cryptography`` key turned into the
C_CreateObject templates of PKCS#11 3.0 (4.8-4.9; mechanisms 2.1.2, 2.3.3-2.3.4 and 2.3.5
for EdDSA) that ``softhsm2-util --import`` and every importer use, plus the signature
helpers of both sides.

Private keys are imported sensitive session objects (CKA_TOKEN false); public keys are
session objects too. CKA_EC_POINT is the DER OCTET STRING of the point (the 3.0 text).
"""

from __future__ import annotations

import functools
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.ck import KeyType, ObjectClass

#: DER of the named curves' OIDs (SEC 2, RFC 8410), the CKA_EC_PARAMS of each.
EC_PARAMS = {
    "P-256": bytes.fromhex("06082a8648ce3d030107"),
    "P-384": bytes.fromhex("06052b81040022"),
    "P-521": bytes.fromhex("06052b81040023"),
    "Ed25519": bytes.fromhex("06032b6570"),
    "Ed448": bytes.fromhex("06032b6571"),
}
CURVES = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
CKK_EC_EDWARDS = 0x40


def octet_string(value: bytes) -> bytes:
    """DER OCTET STRING of value (lengths below 65536)."""
    n = len(value)
    if n < 0x80:
        head = bytes([n])
    elif n < 0x100:
        head = bytes([0x81, n])
    else:
        head = bytes([0x82, n >> 8, n & 0xFF])
    return b"\x04" + head + value


def _be(value: int, size: int | None = None) -> bytes:
    return value.to_bytes(size or max(1, (value.bit_length() + 7) // 8), "big")


@functools.cache
def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, bits)


@functools.cache
def ec_key(curve: str) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(CURVES[curve])


@functools.cache
def ed_key(curve: str) -> Any:
    cls = ed25519.Ed25519PrivateKey if curve == "Ed25519" else ed448.Ed448PrivateKey
    return cls.generate()


def curve_of(key: Any) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PrivateKey | ed448.Ed448PublicKey):
        return "Ed448"
    return {c.name: n for n, c in CURVES.items()}[key.curve.name]


def private_template(key: Any, **extra: Any) -> dict[int, Any]:
    """The C_CreateObject template of a sensitive private session key that signs."""
    t: dict[int, Any] = {A.CLASS: ObjectClass.PRIVATE_KEY, A.TOKEN: False, A.PRIVATE: True,
                         A.SENSITIVE: True, A.SIGN: True}
    if isinstance(key, rsa.RSAPrivateKey):
        n = key.private_numbers()
        t.update({A.KEY_TYPE: KeyType.RSA, A.MODULUS: _be(n.public_numbers.n),
                  A.PUBLIC_EXPONENT: _be(n.public_numbers.e), A.PRIVATE_EXPONENT: _be(n.d),
                  A.PRIME_1: _be(n.p), A.PRIME_2: _be(n.q), A.EXPONENT_1: _be(n.dmp1),
                  A.EXPONENT_2: _be(n.dmq1), A.COEFFICIENT: _be(n.iqmp)})
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        size = (key.curve.key_size + 7) // 8
        t.update({A.KEY_TYPE: KeyType.EC, A.EC_PARAMS: EC_PARAMS[curve_of(key)],
                  A.VALUE: _be(key.private_numbers().private_value, size)})
    else:
        raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
        t.update({A.KEY_TYPE: CKK_EC_EDWARDS, A.EC_PARAMS: EC_PARAMS[curve_of(key)],
                  A.VALUE: raw})
    for k, v in extra.items():
        t[A[k]] = v
    return t


def public_template(key: Any, **extra: Any) -> dict[int, Any]:
    """The C_CreateObject template of the public session key of ``key`` that verifies."""
    pub = key.public_key() if hasattr(key, "private_bytes") else key
    t: dict[int, Any] = {A.CLASS: ObjectClass.PUBLIC_KEY, A.TOKEN: False, A.VERIFY: True}
    if isinstance(pub, rsa.RSAPublicKey):
        n = pub.public_numbers()
        t.update({A.KEY_TYPE: KeyType.RSA, A.MODULUS: _be(n.n), A.PUBLIC_EXPONENT: _be(n.e)})
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        point = pub.public_bytes(serialization.Encoding.X962,
                                 serialization.PublicFormat.UncompressedPoint)
        t.update({A.KEY_TYPE: KeyType.EC, A.EC_PARAMS: EC_PARAMS[curve_of(pub)],
                  A.EC_POINT: octet_string(point)})
    else:
        point = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        t.update({A.KEY_TYPE: CKK_EC_EDWARDS, A.EC_PARAMS: EC_PARAMS[curve_of(pub)],
                  A.EC_POINT: octet_string(point)})
    for k, v in extra.items():
        t[A[k]] = v
    return t


def import_pair(raw: Any, h: int, key: Any) -> tuple[int, int]:
    """(private handle, public handle) of key imported into session h."""
    return (raw.create_object(h, private_template(key)),
            raw.create_object(h, public_template(key)))


def sign(raw: Any, h: int, mech: int, key: int, data: bytes, param: Any = None,
         parts: list[bytes] | None = None) -> bytes:
    """C_SignInit, then C_Sign (two-call form) or C_SignUpdate per part and C_SignFinal."""
    raw.op_init("Sign", h, mech, key, param)
    if parts is None:
        return raw.single("Sign", h, data)
    for part in parts:
        raw.update("Sign", h, part)
    return raw.final("Sign", h)


def verify(raw: Any, h: int, mech: int, key: int, data: bytes, sig: bytes, param: Any = None,
           parts: list[bytes] | None = None) -> int:
    """C_VerifyInit then C_Verify (or updates and C_VerifyFinal); the raw CK_RV."""
    raw.op_init("Verify", h, mech, key, param)
    if parts is None:
        return raw.verify(h, data, sig)
    for part in parts:
        raw.update("Verify", h, part)
    return raw.call("C_VerifyFinal", h, sig, len(sig))


def pss_param(raw: Any, hash_mech: int, mgf: int, salt: int) -> Any:
    p = raw.ffi.new("CK_RSA_PKCS_PSS_PARAMS *")
    p.hashAlg, p.mgf, p.sLen = hash_mech, mgf, salt
    return p


def eddsa_param(raw: Any, ph: bool, context: bytes) -> tuple[Any, Any]:
    """(CK_EDDSA_PARAMS *, the context buffer to keep alive)."""
    p = raw.ffi.new("CK_EDDSA_PARAMS *")
    buf = raw.ffi.new("CK_BYTE[]", context if context else b"\0")
    p.phFlag = 1 if ph else 0
    p.ulContextDataLen = len(context)
    p.pContextData = buf if context else raw.ffi.NULL
    return p, buf


__all__ = ["CURVES", "EC_PARAMS", "curve_of", "ec_key", "ed_key", "eddsa_param", "import_pair",
           "octet_string", "private_template", "pss_param", "public_template", "rsa_key", "sign",
           "verify"]

"""Helpers for the key pair conformance tests: curve parameters, DER, key pair templates."""

from __future__ import annotations

from typing import Any

from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.ck import Mechanism

# Constants python-pkcs11 lacks (PKCS#11 3.0 base 4.8; mechanisms 2.3.11).
CKA_PUBLIC_KEY_INFO = 0x129
CKM_EC_MONTGOMERY_KEY_PAIR_GEN = 0x1056
CKK_EC_MONTGOMERY = 0x41

# CKA_EC_PARAMS: namedCurve OIDs (RFC 5480 2.1.1.1, RFC 8410 3)
P256_OID = bytes.fromhex("06082a8648ce3d030107")
P384_OID = bytes.fromhex("06052b81040022")
P521_OID = bytes.fromhex("06052b81040023")
ED25519_OID = bytes.fromhex("06032b6570")
ED448_OID = bytes.fromhex("06032b6571")
X25519_OID = bytes.fromhex("06032b656e")
X448_OID = bytes.fromhex("06032b656f")
UNKNOWN_OID = bytes.fromhex("06032a0304")  # 1.2.3.4: no curve

RSA_GEN = Mechanism.RSA_PKCS_KEY_PAIR_GEN
EC_GEN = Mechanism.EC_KEY_PAIR_GEN
ED_GEN = Mechanism.EC_EDWARDS_KEY_PAIR_GEN
X_GEN = CKM_EC_MONTGOMERY_KEY_PAIR_GEN


def printable(name: str) -> bytes:
    """A DER PrintableString (the curveName choice of CKA_EC_PARAMS)."""
    return bytes([0x13, len(name)]) + name.encode()


def octet_string(data: bytes) -> bytes:
    """A DER OCTET STRING (CKA_EC_POINT, mechanisms 2.3.3)."""
    n = len(data)
    return bytes([0x04]) + (bytes([n]) if n < 0x80 else bytes([0x81, n])) + data


def templates(public: dict[int, Any] | None = None,
              private: dict[int, Any] | None = None) -> tuple[dict[int, Any], dict[int, Any]]:
    """Session key pair templates, the private key readable (not sensitive, extractable)."""
    pub: dict[int, Any] = {A.TOKEN: False}
    priv: dict[int, Any] = {A.TOKEN: False, A.SENSITIVE: False, A.EXTRACTABLE: True}
    pub.update(public or {})
    priv.update(private or {})
    return pub, priv


def rsa_templates(bits: int = 2048, **private: Any) -> tuple[dict[int, Any], dict[int, Any]]:
    return templates({A.MODULUS_BITS: bits}, {A[k]: v for k, v in private.items()})


def gen_rv(raw: Any, h: int, mech: int, public: dict[int, Any],
           private: dict[int, Any]) -> tuple[int, int, int]:
    """C_GenerateKeyPair as a raw call: (rv, public handle, private handle)."""
    m = raw.mechanism(mech)
    tp = raw.template(public)
    tk = raw.template(private)
    hp = raw.ffi.new("CK_OBJECT_HANDLE *")
    hk = raw.ffi.new("CK_OBJECT_HANDLE *")
    rv = raw.call("C_GenerateKeyPair", h, m.ptr, tp.ptr, tp.count, tk.ptr, tk.count, hp, hk)
    return rv, int(hp[0]), int(hk[0])

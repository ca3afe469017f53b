"""Helpers of the C_DeriveKey scenarios: EC and Montgomery private keys imported from
``cryptography`` keys, CK_ECDH1_DERIVE_PARAMS, and C_DeriveKey through the raw layer."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from keystead.softhsm_bridge import structs
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.ck import KeyType, ObjectClass

from tests.native.kex_keys import PrivateKey, public_value

CKM_ECDH1_DERIVE = 0x1050
CKM_ECDH1_COFACTOR_DERIVE = 0x1051
CKF_EC_COMPRESS = 0x02000000
CKK_EC = 0x3
CKK_EC_MONTGOMERY = 0x41
CKA_PUBLIC_KEY_INFO = 0x129
CKD_NULL, CKD_SHA1_KDF, CKD_SHA1_KDF_ASN1, CKD_SHA1_KDF_CONCATENATE = 1, 2, 3, 4
CKD_SHA224_KDF, CKD_SHA256_KDF, CKD_SHA384_KDF, CKD_SHA512_KDF = 5, 6, 7, 8
CKD_SHA3_256_KDF, CKD_SHA256_KDF_SP800 = 0xB, 0x10
KDFS = {CKD_SHA1_KDF: "SHA-1", CKD_SHA224_KDF: "SHA-224", CKD_SHA256_KDF: "SHA-256",
        CKD_SHA384_KDF: "SHA-384", CKD_SHA512_KDF: "SHA-512"}

#: CKA_EC_PARAMS: the DER of each curve's OID (RFC 5480; RFC 8410 for X25519 and X448).
EC_PARAMS = {
    "P-256": bytes.fromhex("06082a8648ce3d030107"),
    "P-384": bytes.fromhex("06052b81040022"),
    "P-521": bytes.fromhex("06052b81040023"),
    "X25519": bytes.fromhex("06032b656e"),
    "X448": bytes.fromhex("06032b656f"),
}
FIELD = {"P-256": 32, "P-384": 48, "P-521": 66, "X25519": 32, "X448": 56}


def private_template(curve: str, key: PrivateKey, **extra: Any) -> dict[int, Any]:
    """A session private key of ``key`` for ECDH (PKCS#11 3.0 EC and Montgomery private key
    objects: CKA_EC_PARAMS and the private value as CKA_VALUE)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        value = key.private_numbers().private_value.to_bytes(FIELD[curve], "big")
        key_type = CKK_EC
    else:
        from cryptography.hazmat.primitives import serialization

        value = key.private_bytes(serialization.Encoding.Raw,
                                  serialization.PrivateFormat.Raw,
                                  serialization.NoEncryption())
        key_type = CKK_EC_MONTGOMERY
    t: dict[int, Any] = {A.CLASS: ObjectClass.PRIVATE_KEY, A.KEY_TYPE: key_type,
                         A.TOKEN: False, A.PRIVATE: True, A.SENSITIVE: True, A.DERIVE: True,
                         A.EC_PARAMS: EC_PARAMS[curve], A.VALUE: value}
    for k, v in extra.items():
        t[A[k]] = v
    return t


def secret_template(length: int | None = None, key_type: int = KeyType.GENERIC_SECRET,
                    **extra: Any) -> dict[int, Any]:
    """The template of a derived secret key that can be read back."""
    t: dict[int, Any] = {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: key_type,
                         A.TOKEN: False, A.SENSITIVE: False, A.EXTRACTABLE: True}
    if length is not None:
        t[A.VALUE_LEN] = length
    for k, v in extra.items():
        t[A[k]] = v
    return t


def ecdh_params(ffi: Any, kdf: int, public: bytes | None, shared: bytes | None = None,
                shared_len: int | None = None, public_len: int | None = None) -> structs.Params:
    """CK_ECDH1_DERIVE_PARAMS; the lengths may be given apart from the buffers to build
    malformed parameters."""
    p = ffi.new("CK_ECDH1_DERIVE_PARAMS *")
    keep: list[Any] = [p]
    p.kdf = kdf
    if shared is not None:
        buf = ffi.new("CK_BYTE[]", shared) if shared else ffi.new("CK_BYTE[]", 1)
        keep.append(buf)
        p.pSharedData = buf
    p.ulSharedDataLen = len(shared or b"") if shared_len is None else shared_len
    if public is not None:
        pub = ffi.new("CK_BYTE[]", public) if public else ffi.new("CK_BYTE[]", 1)
        keep.append(pub)
        p.pPublicData = pub
    p.ulPublicDataLen = len(public or b"") if public_len is None else public_len
    return structs.Params(p, keep)


def derive(raw: Any, h: int, base: int, template: dict[int, Any], param: Any,
           mech: int = CKM_ECDH1_DERIVE) -> tuple[int, int]:
    """C_DeriveKey: (CK_RV, new handle)."""
    m = raw.mechanism(mech, param)
    t = raw.template(template)
    out = raw.ffi.new("CK_OBJECT_HANDLE *")
    rv = raw.call("C_DeriveKey", h, m.ptr, base, t.ptr, t.count, out)
    return rv, int(out[0])


def der_octet_string(value: bytes) -> bytes:
    """value as a DER OCTET STRING (the CKA_EC_POINT encoding)."""
    n = len(value)
    head = bytes([0x04, n]) if n < 128 else bytes([0x04, 0x81, n])
    return head + value


def peer(key: PrivateKey, compressed: bool = False) -> bytes:
    return public_value(key, compressed)

"""What the RSA encryption conformance tests share: key-pair templates from a `cryptography`
key, the OAEP and RSA-AES parameter structures, and hash names as PKCS#11 numbers."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from keystead.core import lib
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.ck import KeyType, ObjectClass
from keystead.softhsm_bridge.structs import Params

#: hash name: (CKM_ hash, CKG_MGF1_ function, cryptography hash class)
HASHES: dict[str, tuple[int, int, type[hashes.HashAlgorithm]]] = {
    "sha1": (lib.CKM_SHA_1, lib.CKG_MGF1_SHA1, hashes.SHA1),
    "sha224": (lib.CKM_SHA224, lib.CKG_MGF1_SHA224, hashes.SHA224),
    "sha256": (lib.CKM_SHA256, lib.CKG_MGF1_SHA256, hashes.SHA256),
    "sha384": (lib.CKM_SHA384, lib.CKG_MGF1_SHA384, hashes.SHA384),
    "sha512": (lib.CKM_SHA512, lib.CKG_MGF1_SHA512, hashes.SHA512),
}
RSA_PKCS, RSA_X_509 = lib.CKM_RSA_PKCS, lib.CKM_RSA_X_509
RSA_OAEP, RSA_AES_WRAP = lib.CKM_RSA_PKCS_OAEP, lib.CKM_RSA_AES_KEY_WRAP
KWP = lib.CKM_AES_KEY_WRAP_KWP


def _b(n: int, size: int | None = None) -> bytes:
    return n.to_bytes(size or (n.bit_length() + 7) // 8 or 1, "big")


def private_template(key: rsa.RSAPrivateKey, **extra: Any) -> dict[int, Any]:
    """C_CreateObject template of a session RSA private key from a `cryptography` key."""
    pn = key.private_numbers()
    t: dict[int, Any] = {
        A.CLASS: ObjectClass.PRIVATE_KEY, A.KEY_TYPE: KeyType.RSA, A.TOKEN: False,
        A.PRIVATE: True, A.SENSITIVE: True, A.DECRYPT: True, A.UNWRAP: True,
        A.MODULUS: _b(pn.public_numbers.n), A.PUBLIC_EXPONENT: _b(pn.public_numbers.e),
        A.PRIVATE_EXPONENT: _b(pn.d), A.PRIME_1: _b(pn.p), A.PRIME_2: _b(pn.q),
        A.EXPONENT_1: _b(pn.dmp1), A.EXPONENT_2: _b(pn.dmq1), A.COEFFICIENT: _b(pn.iqmp),
    }
    for k, v in extra.items():
        t[A[k]] = v
    return t


def public_template(key: rsa.RSAPublicKey, **extra: Any) -> dict[int, Any]:
    """C_CreateObject template of a session RSA public key."""
    n = key.public_numbers()
    t: dict[int, Any] = {
        A.CLASS: ObjectClass.PUBLIC_KEY, A.KEY_TYPE: KeyType.RSA, A.TOKEN: False,
        A.ENCRYPT: True, A.WRAP: True, A.MODULUS: _b(n.n), A.PUBLIC_EXPONENT: _b(n.e),
    }
    for k, v in extra.items():
        t[A[k]] = v
    return t


def oaep_params(ffi: Any, md: str = "sha1", mgf: str | None = None, label: bytes = b"",
                source: int | None = None, data_len: int | None = None,
                null_data: bool | None = None) -> Params:
    """CK_RSA_PKCS_OAEP_PARAMS (mechanisms 3.0 2.1.8); the last three override fields to make
    malformed parameters."""
    p = ffi.new("CK_RSA_PKCS_OAEP_PARAMS *")
    buf = ffi.new("CK_BYTE[]", label) if label else ffi.NULL
    p.hashAlg = HASHES[md][0] if md in HASHES else int(md, 0)
    mgf = mgf or md
    p.mgf = HASHES[mgf][1] if mgf in HASHES else int(mgf, 0)
    p.source = lib.CKZ_DATA_SPECIFIED if source is None else source
    p.pSourceData = buf
    p.ulSourceDataLen = len(label) if data_len is None else data_len
    if null_data is not None:
        p.pSourceData = ffi.NULL if null_data else ffi.new("CK_BYTE[8]")
        return Params(p, [p, buf, p.pSourceData])
    return Params(p, [p, buf])


def rsa_aes_params(ffi: Any, aes_bits: int = 256, oaep: Params | None = None) -> Params:
    """CK_RSA_AES_KEY_WRAP_PARAMS (2.1.21); oaep None for a NULL pOAEPParams."""
    p = ffi.new("CK_RSA_AES_KEY_WRAP_PARAMS *")
    p.ulAESKeyBits = aes_bits
    p.pOAEPParams = ffi.NULL if oaep is None else oaep.ptr
    return Params(p, [p, *(oaep.keep if oaep else [])])


def oaep_padding(md: str, mgf: str | None = None, label: bytes = b"") -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(HASHES[mgf or md][2]()), algorithm=HASHES[md][2](),
                        label=label or None)

"""The value of a key derived by CKM_ECDH1_DERIVE / CKM_ECDH1_COFACTOR_DERIVE at the token
layer (token/derive_ecdh.h): the CK_ECDH1_DERIVE_PARAMS rules, the public value raw or as a
DER OCTET STRING (never confused with a raw point that happens to look like one), CKD_NULL
with its natural length and its truncation (the leading bytes removed), the X9.63 KDFs, and
the exact code of each refusal. Cross-checked against ``cryptography``."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from keystead.core import ffi, lib

from tests.native.kex_support import exchange, generate, pkcs8, public_value

CURVES = ["P-256", "P-384", "P-521", "X25519", "X448"]
KDFS = {lib.CKD_SHA1_KDF: hashes.SHA1, lib.CKD_SHA224_KDF: hashes.SHA224,
        lib.CKD_SHA256_KDF: hashes.SHA256, lib.CKD_SHA384_KDF: hashes.SHA384,
        lib.CKD_SHA512_KDF: hashes.SHA512}


class Mech:
    """A CK_MECHANISM with CK_ECDH1_DERIVE_PARAMS; keeps every buffer alive."""

    def __init__(self, kdf: int, public: bytes | None, shared: bytes | None = None,
                 shared_len: int | None = None, public_len: int | None = None,
                 mech: int = lib.CKM_ECDH1_DERIVE) -> None:
        self.keep: list[Any] = []
        self.p = ffi.new("CK_ECDH1_DERIVE_PARAMS *")
        self.p.kdf = kdf
        if shared is not None:
            self.p.pSharedData = self._buf(shared)
        self.p.ulSharedDataLen = len(shared or b"") if shared_len is None else shared_len
        if public is not None:
            self.p.pPublicData = self._buf(public)
        self.p.ulPublicDataLen = len(public or b"") if public_len is None else public_len
        self.m = ffi.new("CK_MECHANISM *")
        self.m.mechanism = mech
        self.m.pParameter = self.p
        self.m.ulParameterLen = ffi.sizeof("CK_ECDH1_DERIVE_PARAMS")

    def _buf(self, data: bytes) -> Any:
        b = ffi.new("CK_BYTE[]", max(len(data), 1))
        ffi.memmove(b, data, len(data))
        self.keep.append(b)
        return b


def der(value: bytes) -> bytes:
    n = len(value)
    return (bytes([4, n]) if n < 128 else bytes([4, 0x81, n])) + value


def value_of(mech: Mech, key_der: bytes, length: int, max_out: int = 256) -> tuple[int, bytes]:
    ref = ffi.new("ks_key_ref *")
    buf = ffi.new("uint8_t[]", key_der)
    ref.type = lib.CKK_EC
    ref.value = buf
    ref.len = len(key_der)
    out = ffi.new("uint8_t[]", max_out)
    n = ffi.new("size_t *", length)
    rv = lib.ks_ecdh_derive_value(mech.m, ref, out, max_out, n)
    return rv, bytes(out[0 : n[0]]) if rv == lib.CKR_OK else b""


@pytest.mark.parametrize("curve", CURVES)
def test_values(curve: str) -> None:
    a, b = generate(curve), generate(curve)
    z, key = exchange(a, b), pkcs8(a)
    pub = public_value(b)
    forms = [pub, der(pub)]
    if curve.startswith("P-"):
        forms += [public_value(b, compressed=True), der(public_value(b, compressed=True))]
    for form in forms:
        for mech in (lib.CKM_ECDH1_DERIVE, lib.CKM_ECDH1_COFACTOR_DERIVE):
            assert value_of(Mech(lib.CKD_NULL, form, mech=mech), key, 0) == (lib.CKR_OK, z)
    for n in (1, 16, len(z) - 1, len(z)):
        assert value_of(Mech(lib.CKD_NULL, pub), key, n) == (lib.CKR_OK, z[len(z) - n:])
    assert value_of(Mech(lib.CKD_NULL, pub), key, len(z) + 1)[0] == \
        lib.CKR_TEMPLATE_INCONSISTENT
    for kdf, h in KDFS.items():
        for shared, n in ((None, 32), (b"", 1), (b"info", 100), (bytes(300), 64)):
            want = X963KDF(h(), n, shared or None).derive(z)
            assert value_of(Mech(kdf, pub, shared), key, n) == (lib.CKR_OK, want)
        assert value_of(Mech(kdf, pub), key, 0)[0] == lib.CKR_TEMPLATE_INCOMPLETE
    assert value_of(Mech(lib.CKD_NULL, pub), key, 0, max_out=len(z) - 1)[0] == \
        lib.CKR_KEY_SIZE_RANGE


def test_raw_point_that_looks_like_der() -> None:
    """A raw uncompressed P-256 point whose X starts with 0x3f reads 04 3f ..., a DER
    OCTET STRING header of exactly the remaining 63 bytes: it is still the raw point."""
    for _ in range(4000):
        b = generate("P-256")
        pub = public_value(b)
        if pub[1] == 0x3F:
            break
    else:
        pytest.fail("no such point in 4000 keys")
    a = generate("P-256")
    assert value_of(Mech(lib.CKD_NULL, pub), pkcs8(a), 0) == (lib.CKR_OK, exchange(a, b))


@pytest.mark.parametrize("curve", CURVES)
def test_refusals(curve: str) -> None:
    a, b = generate(curve), generate(curve)
    key, pub = pkcs8(a), public_value(b)
    other = {"P-256": "P-384", "P-384": "P-521", "P-521": "P-256", "X25519": "X448",
             "X448": "X25519"}[curve]
    bad = [public_value(generate(other)), der(public_value(generate(other))), bytes(len(pub)),
           pub[:-1], pub + b"\x00", der(pub)[:-1], b"\x04\x82\x00\x41" + pub]
    if curve.startswith("P-"):
        bad += [pub[:-1] + bytes([pub[-1] ^ 1]), b"\x00", b"\x06" + pub[1:]]
    for value in bad:
        assert value_of(Mech(lib.CKD_NULL, value), key, 0)[0] == \
            lib.CKR_MECHANISM_PARAM_INVALID, value.hex()
    ed = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    assert value_of(Mech(lib.CKD_NULL, pub), ed, 0)[0] == lib.CKR_KEY_TYPE_INCONSISTENT
    k1 = pkcs8(ec.generate_private_key(ec.SECP256K1()))
    assert value_of(Mech(lib.CKD_NULL, pub), k1, 0)[0] == lib.CKR_KEY_TYPE_INCONSISTENT


def params_rv(mech: Any) -> int:
    return lib.ks_ecdh_params(mech)


def test_parameter_rules() -> None:
    pub = public_value(generate("P-256"))
    ok = [Mech(lib.CKD_NULL, pub), Mech(lib.CKD_SHA256_KDF, pub, b"shared"),
          Mech(lib.CKD_SHA512_KDF, pub, b""), Mech(lib.CKD_SHA1_KDF, pub)]
    for m in ok:
        assert params_rv(m.m) == lib.CKR_OK
    bad = [Mech(0, pub), Mech(lib.CKD_SHA1_KDF_ASN1, pub), Mech(lib.CKD_SHA1_KDF_CONCATENATE, pub),
           Mech(lib.CKD_SHA3_256_KDF, pub), Mech(lib.CKD_SHA256_KDF_SP800, pub),
           Mech(2**63, pub), Mech(lib.CKD_NULL, pub, b"x"), Mech(lib.CKD_NULL, pub, b"", 0),
           Mech(lib.CKD_SHA256_KDF, pub, None, 4), Mech(lib.CKD_SHA256_KDF, pub, b"x", 1025),
           Mech(lib.CKD_NULL, None), Mech(lib.CKD_NULL, None, public_len=65),
           Mech(lib.CKD_NULL, b""), Mech(lib.CKD_NULL, pub, public_len=1025)]
    for m in bad:
        assert params_rv(m.m) == lib.CKR_MECHANISM_PARAM_INVALID, (m.p.kdf, m.p.ulSharedDataLen)
    m = Mech(lib.CKD_NULL, pub)
    m.m.ulParameterLen -= 1
    assert params_rv(m.m) == lib.CKR_MECHANISM_PARAM_INVALID
    m.m.pParameter = ffi.NULL
    m.m.ulParameterLen = 0
    assert params_rv(m.m) == lib.CKR_MECHANISM_PARAM_INVALID

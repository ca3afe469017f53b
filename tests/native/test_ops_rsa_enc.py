"""The RSA encryption family at the token layer (token/ops_rsa_enc.c through ks_op_* and
ks_wrap/ks_unwrap): key references carry the PKCS#8 (private) or SubjectPublicKeyInfo
(public) DER. Implicit rejection on and off, the fixed-length PKCS#1 v1.5 unwrap, RSA-AES key
wrap against `cryptography`, lengths, length queries and short buffers.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import keywrap
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from keystead.core import ffi, lib

from tests.native import ops_support as ops
from tests.native import rsa_support as rs


def malformed(key: rsa.RSAPrivateKey) -> bytes:
    """A ciphertext whose PKCS#1 v1.5 block is malformed for certain (block type 1)."""
    pn = key.private_numbers().public_numbers
    em = b"\x00\x01" + os.urandom(250) + b"\x00" + b"abc"
    return pow(int.from_bytes(em, "big"), pn.e, pn.n).to_bytes(256, "big")


PKCS, X509, OAEP, RSA_AES = (lib.CKM_RSA_PKCS, lib.CKM_RSA_X_509, lib.CKM_RSA_PKCS_OAEP,
                             lib.CKM_RSA_AES_KEY_WRAP)
CKM_HASH = {"sha1": lib.CKM_SHA_1, "sha256": lib.CKM_SHA256, "sha512": lib.CKM_SHA512}
CKG_MGF = {"sha1": lib.CKG_MGF1_SHA1, "sha256": lib.CKG_MGF1_SHA256,
           "sha512": lib.CKG_MGF1_SHA512}


@functools.cache
def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


@pytest.fixture
def key() -> rsa.RSAPrivateKey:
    return _key()


@pytest.fixture
def implicit_off() -> Iterator[None]:
    lib.ks_op_rsa_implicit_rejection(0)
    try:
        yield
    finally:
        lib.ks_op_rsa_implicit_rejection(1)


def priv(key: rsa.RSAPrivateKey) -> bytes:
    return rs.pkcs8(key)


def pub(key: rsa.RSAPrivateKey) -> bytes:
    return rs.spki(key.public_key())


def oaep_mech(md: str = "sha256", label: bytes = b"", mech: int = OAEP) -> ops.Mech:
    p = ffi.new("CK_RSA_PKCS_OAEP_PARAMS *")
    buf = ffi.new("uint8_t[]", label) if label else ffi.NULL
    p.hashAlg, p.mgf, p.source = CKM_HASH[md], CKG_MGF[md], lib.CKZ_DATA_SPECIFIED
    p.pSourceData, p.ulSourceDataLen = buf, len(label)
    m = ops.mechanism(mech, p)
    m.keep.append(buf)
    return m


def rsa_aes_mech(bits: int = 256, md: str = "sha256") -> ops.Mech:
    inner = oaep_mech(md)
    w = ffi.new("CK_RSA_AES_KEY_WRAP_PARAMS *")
    w.ulAESKeyBits = bits
    w.pOAEPParams = inner.ptr.pParameter
    m = ops.mechanism(RSA_AES, w)
    m.keep += inner.keep + [inner.ptr]
    return m


def run(kind: int, mech: ops.Mech, der: bytes, data: bytes) -> tuple[int, bytes]:
    with ops.Op(kind, mech, der, lib.CKK_RSA) as op:
        if op.rv != lib.CKR_OK:
            return op.rv, b""
        rv, out, _ = op.oneshot(data, room=512)
        return rv, out


def decrypt(key, ct: bytes, mech: ops.Mech | None = None) -> tuple[int, bytes]:
    return run(ops.DECRYPT, mech or ops.mechanism(PKCS), priv(key), ct)


def test_encrypt_decrypt_both_ways(key) -> None:
    msg = b"hello"
    rv, ct = run(ops.ENCRYPT, ops.mechanism(PKCS), pub(key), msg)
    assert rv == lib.CKR_OK and key.decrypt(ct, padding.PKCS1v15()) == msg
    assert decrypt(key, key.public_key().encrypt(msg, padding.PKCS1v15())) == (lib.CKR_OK, msg)
    for md in CKM_HASH:
        rv, ct = run(ops.ENCRYPT, oaep_mech(md, b"L"), pub(key), msg)
        assert rv == lib.CKR_OK
        assert key.decrypt(ct, rs_oaep(md, b"L")) == msg
        theirs = key.public_key().encrypt(msg, rs_oaep(md, b"L"))
        assert decrypt(key, theirs, oaep_mech(md, b"L")) == (lib.CKR_OK, msg)


def rs_oaep(md: str, label: bytes) -> padding.OAEP:
    h = rs.MDS[md][1]
    return padding.OAEP(mgf=padding.MGF1(h()), algorithm=h(), label=label or None)


def test_implicit_rejection_on_and_off(key, implicit_off) -> None:
    ct = malformed(key)
    assert decrypt(key, ct) == (lib.CKR_ENCRYPTED_DATA_INVALID, b"")
    lib.ks_op_rsa_implicit_rejection(1)
    rv, msg = decrypt(key, ct)
    assert (rv, msg) == (lib.CKR_OK, key.decrypt(ct, padding.PKCS1v15()))


def test_decrypt_lengths_and_buffers(key) -> None:
    msg = b"m" * 20
    ct = key.public_key().encrypt(msg, padding.PKCS1v15())
    with ops.Op(ops.DECRYPT, ops.mechanism(PKCS), priv(key), lib.CKK_RSA) as op:
        assert op.oneshot(ct, room=ops.QUERY) == (lib.CKR_OK, b"", 256 - 11)
        assert op.oneshot(ct, room=5) == (lib.CKR_BUFFER_TOO_SMALL, b"", 20)
        assert op.oneshot(ct, room=20) == (lib.CKR_OK, msg, 20)
    with ops.Op(ops.DECRYPT, ops.mechanism(PKCS), priv(key), lib.CKK_RSA) as op:
        assert op.oneshot(ct[:-1])[0] == lib.CKR_ENCRYPTED_DATA_LEN_RANGE
    with ops.Op(ops.DECRYPT, ops.mechanism(PKCS), priv(key), lib.CKK_RSA) as op:
        assert op.update(ct)[0] == lib.CKR_FUNCTION_NOT_SUPPORTED
    with ops.Op(ops.ENCRYPT, ops.mechanism(X509), pub(key), lib.CKK_RSA) as op:
        n = key.private_numbers().public_numbers.n
        assert op.oneshot(n.to_bytes(256, "big"))[0] == lib.CKR_DATA_INVALID


def test_keys_of_the_wrong_kind(key) -> None:
    # a public key where the private one is needed, and the reverse
    assert ops.Op(ops.DECRYPT, ops.mechanism(PKCS), pub(key), lib.CKK_RSA).rv == \
        lib.CKR_KEY_TYPE_INCONSISTENT
    assert ops.Op(ops.ENCRYPT, ops.mechanism(PKCS), priv(key), lib.CKK_RSA).rv == \
        lib.CKR_KEY_TYPE_INCONSISTENT
    small = rsa.generate_private_key(65537, 1024)
    # a key too small for OAEP with SHA-512 (k = 128 < 2 * 64 + 2): only through the family
    rv = ops.Op(ops.ENCRYPT, oaep_mech("sha512"), rs.spki(small.public_key()), lib.CKK_RSA).rv
    assert rv in (lib.CKR_KEY_SIZE_RANGE,)


def test_rsa_aes_key_wrap_both_ways(key) -> None:
    target = os.urandom(32)
    ref, buf = ops.key_ref(pub(key), lib.CKK_RSA)
    m = rsa_aes_mech(192)
    n = ffi.new("CK_ULONG *", 0)
    assert lib.ks_wrap(m.ptr, ref, 0, ffi.NULL, n, target, len(target)) == lib.CKR_OK
    out = ffi.new("uint8_t[]", n[0])
    assert lib.ks_wrap(m.ptr, ref, 0, out, n, target, len(target)) == lib.CKR_OK
    blob = bytes(out[0 : n[0]])
    tmp = key.decrypt(blob[:256], rs_oaep("sha256", b""))
    assert len(tmp) == 24 and keywrap.aes_key_unwrap_with_padding(tmp, blob[256:]) == target
    tmp = os.urandom(24)
    theirs = key.public_key().encrypt(tmp, rs_oaep("sha256", b"")) + \
        keywrap.aes_key_wrap_with_padding(tmp, target)
    rv, got = _unwrap(m, priv(key), theirs)
    assert (rv, got) == (lib.CKR_OK, target)
    # a temporary key of another length than the parameter says: invalid, one code
    tmp16 = os.urandom(16)
    other = key.public_key().encrypt(tmp16, rs_oaep("sha256", b"")) + \
        keywrap.aes_key_wrap_with_padding(tmp16, target)
    assert _unwrap(m, priv(key), other)[0] == lib.CKR_WRAPPED_KEY_INVALID


def _unwrap(m: ops.Mech, der: bytes, blob: bytes, fixed: int = 0) -> tuple[int, bytes]:
    ref, buf = ops.key_ref(der, lib.CKK_RSA)
    out = ffi.new("uint8_t[]", len(blob))
    n = ffi.new("size_t *", fixed)
    rv = lib.ks_unwrap(m.ptr, ref, 0, out, n, len(blob), blob, len(blob))
    return rv, bytes(out[0 : n[0]]) if rv == lib.CKR_OK else b""


def test_pkcs1_unwrap_is_fixed_length_under_implicit_rejection(key) -> None:
    target = os.urandom(16)
    good = key.public_key().encrypt(target, padding.PKCS1v15())
    m = ops.mechanism(PKCS)
    assert _unwrap(m, priv(key), good, 16) == (lib.CKR_OK, target)
    assert _unwrap(m, priv(key), good)[0] == lib.CKR_TEMPLATE_INCOMPLETE
    # a valid padding with a message of another length, and a malformed one: a synthetic
    # key of the expected length, the same each time, not the message
    other = key.public_key().encrypt(os.urandom(24), padding.PKCS1v15())
    garbage = malformed(key)
    for blob in (other, garbage):
        rv, got = _unwrap(m, priv(key), blob, 16)
        assert rv == lib.CKR_OK and len(got) == 16
        assert _unwrap(m, priv(key), blob, 16) == (rv, got)
        assert got != target


def test_pkcs1_unwrap_of_an_aes_key_of_any_length(key) -> None:
    aes = (1 << 64) - 1  # KS_UNWRAP_LEN_AES: an AES key, no CKA_VALUE_LEN
    m = ops.mechanism(PKCS)
    for n in (16, 24, 32):
        target = os.urandom(n)
        good = key.public_key().encrypt(target, padding.PKCS1v15())
        assert _unwrap(m, priv(key), good, aes) == (lib.CKR_OK, target)
    garbage = key.public_key().encrypt(os.urandom(20), padding.PKCS1v15())
    rv, got = _unwrap(m, priv(key), garbage, aes)
    assert rv == lib.CKR_OK and len(got) in (16, 24, 32)
    assert _unwrap(m, priv(key), garbage, aes) == (rv, got)


def test_pkcs1_unwrap_without_implicit_rejection(key, implicit_off) -> None:
    garbage = malformed(key)
    assert _unwrap(ops.mechanism(PKCS), priv(key), garbage)[0] == lib.CKR_WRAPPED_KEY_INVALID
    target = os.urandom(16)
    good = key.public_key().encrypt(target, padding.PKCS1v15())
    assert _unwrap(ops.mechanism(PKCS), priv(key), good) == (lib.CKR_OK, target)

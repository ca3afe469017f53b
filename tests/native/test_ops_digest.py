"""CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512 through token/ops.h (C_Digest*,
C_DigestKey), and the crypto/digest.h and crypto/hmac.h wrappers beneath them.

Known answers: tests/vectors/sha_fips180.txt (FIPS 180-4 examples, the empty message, one
million 'a'). Cross-checks with hashlib for every length 0..1024 and split points.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
from keystead.core import ffi, lib

from tests.native.ops_support import DIGEST, QUERY, Op, mechanism, rng, splits
from tests.vectors.loader import load

MECHS = {
    "SHA1": (lib.CKM_SHA_1, lib.KS_MD_SHA1, hashlib.sha1),
    "SHA224": (lib.CKM_SHA224, lib.KS_MD_SHA224, hashlib.sha224),
    "SHA256": (lib.CKM_SHA256, lib.KS_MD_SHA256, hashlib.sha256),
    "SHA384": (lib.CKM_SHA384, lib.KS_MD_SHA384, hashlib.sha384),
    "SHA512": (lib.CKM_SHA512, lib.KS_MD_SHA512, hashlib.sha512),
    "MD5": (lib.CKM_MD5, lib.KS_MD_MD5, hashlib.md5),  # legacy: offered by the front only
                                                       # with legacy_mechanisms = on
}


def digest(mtype: int, data: bytes) -> tuple[int, bytes]:
    with Op(DIGEST, mechanism(mtype)) as op:
        assert op.rv == lib.CKR_OK
        rv, out, _ = op.oneshot(data)
        return rv, out


def digest_parts(mtype: int, parts: list[bytes]) -> tuple[int, bytes]:
    with Op(DIGEST, mechanism(mtype)) as op:
        assert op.rv == lib.CKR_OK
        for part in parts:
            assert op.feed(part) == lib.CKR_OK
        rv, out, _ = op.final()
        return rv, out


@pytest.mark.parametrize("vec", load("sha_fips180.txt"), ids=str)
def test_vectors(vec):
    with vec:
        vec.text("Source")
        mtype, md, _ = MECHS[vec.text("Hash")]
        msg, repeat, expect = vec.hex("Msg"), vec.int("Repeat"), vec.hex("Digest")
    if repeat == 1:
        assert digest(mtype, msg) == (lib.CKR_OK, expect)
        out = ffi.new("uint8_t[64]")
        assert lib.ks_digest(md, out, 64, msg, len(msg)) == lib.KS_OK
        assert bytes(out[0 : len(expect)]) == expect
    chunk = msg * 1000
    assert digest_parts(mtype, [chunk] * (repeat // 1000) + [msg] * (repeat % 1000)) == (
        lib.CKR_OK, expect)


@pytest.mark.parametrize("name", list(MECHS))
def test_against_hashlib(name):
    mtype, _, ref = MECHS[name]
    r = rng(f"dig-{name}")
    for n in range(0, 1025):
        data = r.randbytes(n)
        assert digest(mtype, data) == (lib.CKR_OK, ref(data).digest()), n
    data = r.randbytes(300)
    for cut in range(len(data) + 1):
        assert digest_parts(mtype, splits(data, [cut])) == (lib.CKR_OK, ref(data).digest())


def test_digest_key():
    key, data = bytes(range(32)), b"after the key"
    with Op(DIGEST, mechanism(lib.CKM_SHA256)) as op:
        assert op.digest_key(key) == lib.CKR_OK
        assert lib.ks_op_started(op.op) == 1
        assert op.feed(data) == lib.CKR_OK
        assert op.final()[:2] == (lib.CKR_OK, hashlib.sha256(key + data).digest())


def test_length_query_and_short_buffer():
    data = b"abc"
    expect = hashlib.sha384(data).digest()
    with Op(DIGEST, mechanism(lib.CKM_SHA384)) as op:
        assert op.oneshot(data, QUERY)[::2] == (lib.CKR_OK, 48)
        assert op.oneshot(data, 47)[::2] == (lib.CKR_BUFFER_TOO_SMALL, 48)
        assert op.oneshot(data, 48) == (lib.CKR_OK, expect, 48)
    with Op(DIGEST, mechanism(lib.CKM_SHA384)) as op:
        assert op.feed(data) == lib.CKR_OK
        assert op.final(QUERY)[::2] == (lib.CKR_OK, 48)
        assert op.final(0)[::2] == (lib.CKR_BUFFER_TOO_SMALL, 48)
        assert op.final(48) == (lib.CKR_OK, expect, 48)


def test_parameters_and_kinds():
    assert Op(DIGEST, mechanism(lib.CKM_SHA256, bytes(4))).rv == lib.CKR_MECHANISM_PARAM_INVALID
    assert Op(DIGEST, mechanism(lib.CKM_AES_ECB)).rv == lib.CKR_MECHANISM_INVALID
    assert Op(DIGEST, mechanism(lib.CKM_SHA256_HMAC)).rv == lib.CKR_MECHANISM_INVALID
    assert Op(lib.KS_OP_SIGN, mechanism(lib.CKM_SHA256), bytes(16)).rv == (
        lib.CKR_MECHANISM_INVALID)


def test_crypto_wrappers():
    """crypto/digest.h and crypto/hmac.h directly: sizes, copy, one-shot, short output."""
    assert [lib.ks_md_size(m) for m in (lib.KS_MD_SHA1, lib.KS_MD_SHA512)] == [20, 64]
    assert lib.ks_md_size(lib.KS_MD_NONE) == 0
    assert lib.ks_md_block_size(lib.KS_MD_SHA384) == 128
    ctx = ffi.new("ks_digest_ctx *")
    assert lib.ks_digest_init(ctx, lib.KS_MD_SHA256) == lib.KS_OK
    assert lib.ks_digest_update(ctx, b"ab", 2) == lib.KS_OK
    copy = ffi.new("ks_digest_ctx *")
    assert lib.ks_digest_copy(copy, ctx) == lib.KS_OK
    out = ffi.new("uint8_t[64]")
    assert lib.ks_digest_final(ctx, out, 31) == lib.KS_ERR_LEN
    assert lib.ks_digest_update(ctx, b"c", 1) == lib.KS_OK
    assert lib.ks_digest_final(ctx, out, 64) == lib.KS_OK
    assert bytes(out[0:32]) == hashlib.sha256(b"abc").digest()
    assert lib.ks_digest_update(copy, b"x", 1) == lib.KS_OK
    assert lib.ks_digest_final(copy, out, 32) == lib.KS_OK
    assert bytes(out[0:32]) == hashlib.sha256(b"abx").digest()
    lib.ks_digest_clear(ctx)
    lib.ks_digest_clear(copy)
    lib.ks_digest_clear(ctx)  # twice is fine
    assert lib.ks_digest_init(ctx, 99) == lib.KS_ERR_ARGS
    for key in (b"", b"k", bytes(200)):
        assert lib.ks_hmac(lib.KS_MD_SHA512, out, 64, key, len(key), b"m", 1) == lib.KS_OK
        assert bytes(out[0:64]) == hmac.new(key, b"m", hashlib.sha512).digest()
    assert lib.ks_hmac(lib.KS_MD_SHA512, out, 63, b"k", 1, b"m", 1) == lib.KS_ERR_LEN

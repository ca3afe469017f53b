"""AES-CMAC (SP 800-38B, crypto/cmac.h) on every AES implementation.

Known answers: SP 800-38B D.1-D.3 (every key size, messages of 0, 16, 40, 64 bytes).
Cross-checks against `cryptography` for lengths 0..1024, every two-way split of lengths
around the block boundaries, and random multi-way splits (hypothesis).
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import algorithms
from hypothesis import given, settings
from hypothesis import strategies as st
from keystead.core import ffi, lib

from tests.native.crypto_support import IMPL_IDS, IMPLS, KEY_SIZES, cmac_ctx, cmac_parts, rng
from tests.vectors.loader import load

impls = pytest.mark.parametrize("impl", IMPLS, ids=IMPL_IDS)


def reference(key: bytes, msg: bytes) -> bytes:
    c = cmac.CMAC(algorithms.AES(key))
    c.update(msg)
    return c.finalize()


@impls
@pytest.mark.parametrize("vec", load("cmac_sp800_38b.txt"), ids=str)
def test_sp800_38b_examples(impl: int, vec) -> None:
    with vec:
        vec.text("Section")
        ctx = cmac_ctx(vec.hex("Key"), impl)
        assert cmac_parts(ctx, [vec.hex("Msg")]) == vec.hex("Mac")


@impls
@pytest.mark.parametrize("key_len", KEY_SIZES)
def test_matches_cryptography_every_length(impl: int, key_len: int) -> None:
    r = rng(f"cmac-{impl}-{key_len}")
    key = r.randbytes(key_len)
    ctx = cmac_ctx(key, impl)
    for length in range(0, 1025):
        msg = r.randbytes(length)
        # final() restarts the context, so one context serves every message.
        assert cmac_parts(ctx, [msg]) == reference(key, msg), length


@impls
@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 31, 32, 33, 48, 100])
def test_every_two_way_split(impl: int, length: int) -> None:
    r = rng(f"cmac-split-{impl}-{length}")
    key, msg = r.randbytes(16), r.randbytes(length)
    ref = reference(key, msg)
    ctx = cmac_ctx(key, impl)
    for cut in range(length + 1):
        assert cmac_parts(ctx, [msg[:cut], msg[cut:]]) == ref, cut


@impls
def test_every_three_way_split(impl: int) -> None:
    r = rng(f"cmac-split3-{impl}")
    key, msg = r.randbytes(32), r.randbytes(49)
    ref = reference(key, msg)
    ctx = cmac_ctx(key, impl)
    for i in range(len(msg) + 1):
        for j in range(i, len(msg) + 1):
            assert cmac_parts(ctx, [msg[:i], msg[i:j], msg[j:]]) == ref, (i, j)


@impls
@settings(max_examples=60, deadline=None)
@given(chunks=st.lists(st.binary(max_size=70), max_size=10))
def test_any_multi_way_split(impl: int, chunks: list[bytes]) -> None:
    key = b"\x07" * 24
    assert cmac_parts(cmac_ctx(key, impl), chunks) == reference(key, b"".join(chunks))


@pytest.mark.parametrize("bad_len", [0, 15, 17, 33])
def test_bad_key_length(bad_len: int) -> None:
    ctx = ffi.new("ks_cmac_ctx *")
    assert lib.ks_cmac_init(ctx, b"k" * bad_len, bad_len) == lib.KS_ERR_KEY_LEN


def test_null_arguments_and_clear() -> None:
    ctx = cmac_ctx(bytes(16), IMPLS[0])
    assert lib.ks_cmac_init(ffi.NULL, bytes(16), 16) == lib.KS_ERR_ARGS
    assert lib.ks_cmac_update(ctx, ffi.NULL, 1) == lib.KS_ERR_ARGS
    assert lib.ks_cmac_update(ctx, ffi.NULL, 0) == lib.KS_OK
    assert lib.ks_cmac_final(ctx, ffi.NULL) == lib.KS_ERR_ARGS
    lib.ks_cmac_clear(ctx)
    assert bytes(ffi.buffer(ctx)) == bytes(ffi.sizeof("ks_cmac_ctx"))
    # A cleared context holds no key: using it is refused, not answered with a MAC.
    assert lib.ks_cmac_update(ctx, b"x" * 40, 40) == lib.KS_ERR_ARGS

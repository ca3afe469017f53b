"""Shared helpers of the crypto-primitive tests: keys, AES paths, and thin call wrappers.

Each wrapper calls one C function of keystead._core and returns (status, output) so that the
tests assert the exact ks_status, never just "it failed".
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from keystead.core import ffi, lib

KEY_SIZES = (16, 24, 32)
IMPL_NAMES = {lib.KS_AES_IMPL_AESNI: "aesni", lib.KS_AES_IMPL_LIBCRYPTO: "libcrypto"}
# Every AES path this processor can run: each test parametrised over IMPLS runs on all of them.
IMPLS = [impl for impl in IMPL_NAMES if lib.ks_aes_impl_supported(impl)]
IMPL_IDS = [IMPL_NAMES[impl] for impl in IMPLS]


@contextmanager
def forced_impl(impl: int) -> Iterator[None]:
    """Force the AES implementation new keys get, and restore automatic choice after."""
    assert lib.ks_aes_set_impl(impl) == lib.KS_OK
    try:
        yield
    finally:
        assert lib.ks_aes_set_impl(lib.KS_AES_IMPL_AUTO) == lib.KS_OK


def aes_key(raw: bytes, impl: int) -> Any:
    """An expanded ks_aes_key on the given path; raises AssertionError if init fails."""
    key = ffi.new("ks_aes_key *")
    with forced_impl(impl):
        assert lib.ks_aes_init(key, raw, len(raw)) == lib.KS_OK
    assert key.impl == impl
    return key


def rng(seed: str) -> random.Random:
    """A deterministic generator per test, so a failure reproduces."""
    return random.Random(seed)


def ecb(key: Any, data: bytes, decrypt: bool = False) -> bytes:
    out = ffi.new("uint8_t[]", max(len(data), 1))
    fn = lib.ks_aes_decrypt_blocks if decrypt else lib.ks_aes_encrypt_blocks
    assert fn(key, out, data, len(data) // 16) == lib.KS_OK
    return bytes(out[0 : len(data)])


def cbc(key: Any, iv: bytearray, data: bytes, decrypt: bool = False) -> bytes:
    """CBC over data; iv (16 bytes) is updated in place to the next chaining value."""
    out = ffi.new("uint8_t[]", max(len(data), 1))
    civ = ffi.new("uint8_t[16]", bytes(iv))
    fn = lib.ks_aes_cbc_decrypt if decrypt else lib.ks_aes_cbc_encrypt
    assert fn(key, civ, out, data, len(data) // 16) == lib.KS_OK
    iv[:] = bytes(civ)
    return bytes(out[0 : len(data)])


def ctr_state(counter: bytes, bits: int = 128) -> Any:
    state = ffi.new("ks_aes_ctr *")
    assert lib.ks_aes_ctr_init(state, counter, bits) == lib.KS_OK
    return state


def ctr_xor(key: Any, state: Any, data: bytes) -> tuple[int, bytes]:
    out = ffi.new("uint8_t[]", max(len(data), 1))
    st = lib.ks_aes_ctr_xor(key, state, out, data, len(data))
    return st, bytes(out[0 : len(data)])


def _kw_call(fn: Any, kek: Any, data: bytes, iv: bytes | None, max_out: int) -> tuple[int, bytes]:
    out = ffi.new("uint8_t[]", max(max_out, 1))
    out_len = ffi.new("size_t *", 12345)
    st = fn(kek, out, out_len, max_out, iv if iv is not None else ffi.NULL, data, len(data))
    if st != lib.KS_OK:
        assert out_len[0] == 0, "a failed call must report no output"
        return st, bytes(out[0:max_out])
    return st, bytes(out[0 : out_len[0]])


def kw_wrap(kek: Any, data: bytes, iv: bytes | None = None, max_out: int | None = None):
    return _kw_call(lib.ks_kw_wrap, kek, data, iv, len(data) + 8 if max_out is None else max_out)


def kw_unwrap(kek: Any, data: bytes, iv: bytes | None = None, max_out: int | None = None):
    size = max(len(data) - 8, 0) if max_out is None else max_out
    return _kw_call(lib.ks_kw_unwrap, kek, data, iv, size)


def kwp_wrap(kek: Any, data: bytes, iv: bytes | None = None, max_out: int | None = None):
    size = lib.ks_kwp_wrapped_len(len(data)) if max_out is None else max_out
    return _kw_call(lib.ks_kwp_wrap, kek, data, iv, size)


def kwp_unwrap(kek: Any, data: bytes, iv: bytes | None = None, max_out: int | None = None):
    size = max(len(data) - 8, 0) if max_out is None else max_out
    return _kw_call(lib.ks_kwp_unwrap, kek, data, iv, size)


def cmac_ctx(key: bytes, impl: int) -> Any:
    """A CMAC context whose AES key uses the given path."""
    ctx = ffi.new("ks_cmac_ctx *")
    with forced_impl(impl):
        assert lib.ks_cmac_init(ctx, key, len(key)) == lib.KS_OK
    return ctx


def cmac_parts(ctx: Any, parts: list[bytes]) -> bytes:
    for part in parts:
        assert lib.ks_cmac_update(ctx, part, len(part)) == lib.KS_OK
    mac = ffi.new("uint8_t[16]")
    assert lib.ks_cmac_final(ctx, mac) == lib.KS_OK
    return bytes(mac)

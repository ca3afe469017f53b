"""Regression tests for what the fuzzers of native/fuzz/ found (docs/robustness.md). The
crashing inputs themselves are replayed by `scripts/fuzz.sh smoke` from native/fuzz/corpus/;
these tests pin the behaviour at the layer where the bug was.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from keystead.core import ffi, lib

IMPLS = {
    "vaes512": lib.KS_GCM_IMPL_VAES512,
    "vaes256": lib.KS_GCM_IMPL_VAES256,
    "aesni": lib.KS_GCM_IMPL_AESNI,
    "libcrypto": lib.KS_GCM_IMPL_LIBCRYPTO,
}


@pytest.mark.parametrize("name", list(IMPLS))
@pytest.mark.parametrize("aad_parts", [[], [b"head"], [b"x" * 17, b"y" * 16]])
def test_gcm_empty_null_aad_and_data_calls_change_nothing(name: str, aad_parts: list[bytes]):
    """fuzz_ops found ks_gcm_aad(ctx, NULL, 0) doing NULL + 0 (C11 6.5.6, undefined): an
    empty AAD or data call with a NULL pointer is now a no-op, on every GCM path."""
    impl = IMPLS[name]
    if not lib.ks_gcm_impl_supported(impl):
        pytest.skip(f"processor lacks {name}")
    assert lib.ks_gcm_set_impl(impl) == lib.KS_OK
    try:
        raw, iv, msg = bytes(range(32)), bytes(12), b"m" * 40
        key = ffi.new("ks_gcm_key *")
        ctx = ffi.new("ks_gcm_ctx *")
        assert lib.ks_gcm_init(key, raw, len(raw)) == lib.KS_OK
        assert lib.ks_gcm_start(ctx, key, iv, len(iv)) == lib.KS_OK
        assert lib.ks_gcm_aad(ctx, ffi.NULL, 0) == lib.KS_OK
        for part in aad_parts:
            assert lib.ks_gcm_aad(ctx, part, len(part)) == lib.KS_OK
            assert lib.ks_gcm_aad(ctx, ffi.NULL, 0) == lib.KS_OK
        out = ffi.new("uint8_t[]", len(msg))
        assert lib.ks_gcm_encrypt(ctx, ffi.NULL, ffi.NULL, 0) == lib.KS_OK
        assert lib.ks_gcm_encrypt(ctx, out, msg, len(msg)) == lib.KS_OK
        assert lib.ks_gcm_encrypt(ctx, ffi.NULL, ffi.NULL, 0) == lib.KS_OK
        tag = ffi.new("uint8_t[16]")
        assert lib.ks_gcm_finish(ctx, tag) == lib.KS_OK
        lib.ks_gcm_ctx_clear(ctx)
        lib.ks_gcm_clear(key)
        want = AESGCM(raw).encrypt(iv, msg, b"".join(aad_parts))
        assert bytes(out) + bytes(tag) == want
    finally:
        assert lib.ks_gcm_set_impl(lib.KS_GCM_IMPL_AUTO) == lib.KS_OK

"""PKCS#11 3.0 base 5.17 C_SeedRandom: the seed is mixed into the module's DRBG; it never
replaces the DRBG's entropy, so a known or repeated seed makes no output predictable."""

from __future__ import annotations

import ctypes
import ctypes.util

import pytest
from keystead.softhsm_bridge.modules import KEYSTEAD

from .support import assert_rv


def test_seed_random_ok(raw, rsession) -> None:
    assert_rv(raw.call("C_SeedRandom", rsession, b"some seed", 9), "CKR_OK")
    assert_rv(raw.call("C_SeedRandom", rsession, b"x" * 100_000, 100_000), "CKR_OK")


def test_seed_random_empty(module, raw, rsession) -> None:
    if module.kind != KEYSTEAD:
        pytest.skip("5.17 leaves an empty seed open; SoftHSMv2 answers CKR_ARGUMENTS_BAD for "
                    "NULL with length 0 (measured)")
    assert_rv(raw.call("C_SeedRandom", rsession, raw.ffi.NULL, 0), "CKR_OK")
    assert_rv(raw.call("C_SeedRandom", rsession, b"", 0), "CKR_OK")


def test_seed_random_null_with_length(raw, rsession) -> None:
    assert_rv(raw.call("C_SeedRandom", rsession, raw.ffi.NULL, 16), "CKR_ARGUMENTS_BAD")


def test_seed_random_bad_session(raw) -> None:
    assert_rv(raw.call("C_SeedRandom", 0x7FFF_FFF0, b"seed", 4), "CKR_SESSION_HANDLE_INVALID")


def test_same_seed_never_repeats_output(raw, rsession) -> None:
    seed = b"\x00" * 32
    outputs = []
    for _ in range(4):
        assert_rv(raw.call("C_SeedRandom", rsession, seed, len(seed)), "CKR_OK")
        outputs.append(raw.generate_random(rsession, 32))
        outputs.append(raw.generate_random(rsession, 32))
    assert len(set(outputs)) == len(outputs)


class _OsslParam(ctypes.Structure):
    _fields_ = [("key", ctypes.c_char_p), ("data_type", ctypes.c_uint),
                ("data", ctypes.c_void_p), ("data_size", ctypes.c_size_t),
                ("return_size", ctypes.c_size_t)]


def _primary_reseed_counter(lib: ctypes.CDLL) -> int:
    """libcrypto's primary DRBG reseed counter (OSSL_DRBG_PARAM_RESEED_COUNTER)."""
    lib.RAND_get0_primary.restype = ctypes.c_void_p
    lib.RAND_get0_primary.argtypes = [ctypes.c_void_p]
    lib.EVP_RAND_CTX_get_params.argtypes = [ctypes.c_void_p, ctypes.POINTER(_OsslParam)]
    ctx = lib.RAND_get0_primary(None)
    assert ctx
    value = ctypes.c_uint(0)
    params = (_OsslParam * 2)()
    params[0] = _OsslParam(b"reseed_counter", 2, ctypes.cast(ctypes.byref(value),
                           ctypes.c_void_p), ctypes.sizeof(value), 0)
    assert lib.EVP_RAND_CTX_get_params(ctx, params) == 1
    return value.value


def test_seed_reaches_the_drbg(module, raw, rsession) -> None:
    """keystead reseeds libcrypto's primary DRBG (the parent of the private DRBG that
    C_GenerateRandom draws from) with the seed as additional input: its reseed counter moves.
    The module and this process share the one libcrypto of the system."""
    if module.kind != KEYSTEAD:
        pytest.skip("white-box check of keystead's DRBG (libcrypto's primary instance)")
    path = ctypes.util.find_library("crypto")
    assert path is not None
    lib = ctypes.CDLL(path)
    before = _primary_reseed_counter(lib)
    assert_rv(raw.call("C_SeedRandom", rsession, b"seed material", 13), "CKR_OK")
    after = _primary_reseed_counter(lib)
    assert after > before, (before, after)

"""AES key wrap, KW (RFC 3394) and KWP (RFC 5649), per SP 800-38F (crypto/kw.h).

Known answers: RFC 3394 section 4 (all six), RFC 5649 section 6 (both), CAVP KWP_AE/KWP_AD
and ACVP KW/KWP AD samples, negative ("FAIL") ones asserting KS_ERR_AUTH. Cross-checks with
`cryptography`: KW for every multiple of 8 from 16 to 1024, KWP for every length 1..1024,
each key size and AES path. Negative: every bad length is KS_ERR_LEN; every corrupted byte,
every bad MLI and every non-zero padding byte is KS_ERR_AUTH with the output all zero.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import keywrap
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st
from keystead.core import ffi, lib

from tests.native.crypto_support import (
    IMPL_IDS,
    IMPLS,
    KEY_SIZES,
    aes_key,
    kw_unwrap,
    kw_wrap,
    kwp_unwrap,
    kwp_wrap,
    rng,
)
from tests.vectors.loader import load

impls = pytest.mark.parametrize("impl", IMPLS, ids=IMPL_IDS)
KWP_ICV2 = bytes.fromhex("a65959a6")


def check_vector(vec, impl: int, wrap, unwrap) -> None:
    with vec:
        vec.text("Source")
        kek = aes_key(vec.hex("Key"), impl)
        ct = vec.hex("Ciphertext")
        if vec.text("Result") == "PASS":
            pt = vec.hex("Plaintext")
            assert wrap(kek, pt) == (lib.KS_OK, ct)
            assert unwrap(kek, ct) == (lib.KS_OK, pt)
        else:
            status, out = unwrap(kek, ct)
            assert status == lib.KS_ERR_AUTH
            assert out == bytes(len(ct) - 8)


@impls
@pytest.mark.parametrize("vec", load("kw.txt"), ids=str)
def test_kw_vectors(impl: int, vec) -> None:
    check_vector(vec, impl, kw_wrap, kw_unwrap)


@impls
@pytest.mark.parametrize("vec", load("kwp.txt"), ids=str)
def test_kwp_vectors(impl: int, vec) -> None:
    check_vector(vec, impl, kwp_wrap, kwp_unwrap)


@pytest.mark.parametrize("key_len", KEY_SIZES)
def test_kw_matches_cryptography_every_length(key_len: int) -> None:
    r = rng(f"kw-{key_len}")
    raw = r.randbytes(key_len)
    keys = [aes_key(raw, impl) for impl in IMPLS]
    for length in range(16, 1025, 8):
        data = r.randbytes(length)
        ref = keywrap.aes_key_wrap(raw, data)
        for kek in keys:
            assert kw_wrap(kek, data) == (lib.KS_OK, ref)
            assert kw_unwrap(kek, ref) == (lib.KS_OK, data)


@pytest.mark.parametrize("key_len", KEY_SIZES)
def test_kwp_matches_cryptography_every_length(key_len: int) -> None:
    r = rng(f"kwp-{key_len}")
    raw = r.randbytes(key_len)
    keys = [aes_key(raw, impl) for impl in IMPLS]
    for length in range(1, 1025):
        data = r.randbytes(length)
        ref = keywrap.aes_key_wrap_with_padding(raw, data)
        assert lib.ks_kwp_wrapped_len(length) == len(ref)
        for kek in keys:
            assert kwp_wrap(kek, data) == (lib.KS_OK, ref)
            assert kwp_unwrap(kek, ref) == (lib.KS_OK, data)


def test_wrapped_lengths() -> None:
    assert [lib.ks_kw_wrapped_len(n) for n in (0, 8, 15, 16, 17, 24, 1024)] == [
        0, 0, 0, 24, 0, 32, 1032,
    ]
    assert [lib.ks_kwp_wrapped_len(n) for n in (0, 1, 8, 9, 16, 17)] == [0, 16, 16, 24, 24, 32]
    assert lib.ks_kwp_wrapped_len(2**32 - 1) == 2**32 + 8
    assert lib.ks_kwp_wrapped_len(2**32) == 0


@impls
def test_every_bad_length_is_refused(impl: int) -> None:
    kek = aes_key(bytes(16), impl)
    for n in range(0, 65):
        if n < 16 or n % 8:
            assert kw_wrap(kek, bytes(n), max_out=n + 8)[0] == lib.KS_ERR_LEN, n
        if n < 24 or n % 8:
            assert kw_unwrap(kek, bytes(n), max_out=n)[0] == lib.KS_ERR_LEN, n
        if n < 16 or n % 8:
            assert kwp_unwrap(kek, bytes(n), max_out=n)[0] == lib.KS_ERR_LEN, n
    assert kwp_wrap(kek, b"", max_out=16)[0] == lib.KS_ERR_LEN


@impls
def test_short_output_buffer_is_refused(impl: int) -> None:
    kek = aes_key(bytes(16), impl)
    for n in (16, 24, 40):
        assert kw_wrap(kek, bytes(n), max_out=n + 7) == (lib.KS_ERR_LEN, bytes(n + 7))
        ct = kw_wrap(kek, bytes(n))[1]
        assert kw_unwrap(kek, ct, max_out=n - 1)[0] == lib.KS_ERR_LEN
    for n in (1, 8, 9, 20):
        need = lib.ks_kwp_wrapped_len(n)
        assert kwp_wrap(kek, bytes(n), max_out=need - 1)[0] == lib.KS_ERR_LEN
        ct = kwp_wrap(kek, bytes(n))[1]
        # KWP unwrap needs room for the padded length, even when the MLI is shorter.
        assert kwp_unwrap(kek, ct, max_out=len(ct) - 9)[0] == lib.KS_ERR_LEN
        assert kwp_unwrap(kek, ct, max_out=len(ct) - 8) == (lib.KS_OK, bytes(n))


@impls
@pytest.mark.parametrize("length", [16, 40])
def test_kw_every_corrupted_byte_fails_closed(impl: int, length: int) -> None:
    r = rng(f"kw-flip-{impl}-{length}")
    kek = aes_key(r.randbytes(32), impl)
    ct = kw_wrap(kek, r.randbytes(length))[1]
    for pos in range(len(ct)):
        for bit in (0x01, 0x80):
            bad = bytearray(ct)
            bad[pos] ^= bit
            assert kw_unwrap(kek, bytes(bad)) == (lib.KS_ERR_AUTH, bytes(length)), pos


@impls
@pytest.mark.parametrize("length", [1, 7, 8, 9, 20, 33])
def test_kwp_every_corrupted_byte_fails_closed(impl: int, length: int) -> None:
    r = rng(f"kwp-flip-{impl}-{length}")
    kek = aes_key(r.randbytes(16), impl)
    ct = kwp_wrap(kek, r.randbytes(length))[1]
    for pos in range(len(ct)):
        for bit in (0x01, 0x80):
            bad = bytearray(ct)
            bad[pos] ^= bit
            assert kwp_unwrap(kek, bytes(bad)) == (lib.KS_ERR_AUTH, bytes(len(ct) - 8)), pos


def craft_kwp(raw: bytes, kek, aiv: bytes, padded: bytes) -> bytes:
    """A KWP ciphertext of an arbitrary AIV and padded plaintext (possibly invalid)."""
    if len(padded) == 8:
        return Cipher(algorithms.AES(raw), modes.ECB()).encryptor().update(aiv + padded)
    status, ct = kw_wrap(kek, padded, iv=aiv)  # W with A = AIV is exactly KWP's wrapping
    assert status == lib.KS_OK
    return ct


@impls
@pytest.mark.parametrize("padded_len", [8, 16, 32])
def test_kwp_mli_range_and_padding(impl: int, padded_len: int) -> None:
    r = rng(f"kwp-mli-{impl}-{padded_len}")
    raw = r.randbytes(16)
    kek = aes_key(raw, impl)
    body = r.randbytes(padded_len)
    edges = [0, 1, padded_len - 9, padded_len - 8, padded_len - 7, padded_len,
             padded_len + 1, padded_len + 8, 2**31, 2**32 - 1]
    for mli in sorted({m for m in edges if m >= 0}):
        # Padding that would be valid for this MLI where it can be: data, then zeros.
        keep = min(mli, padded_len)
        padded = body[:keep] + bytes(padded_len - keep)
        ct = craft_kwp(raw, kek, KWP_ICV2 + mli.to_bytes(4, "big"), padded)
        status, out = kwp_unwrap(kek, ct)
        if padded_len - 8 < mli <= padded_len:
            assert (status, out) == (lib.KS_OK, padded[:mli]), mli
        else:
            assert (status, out) == (lib.KS_ERR_AUTH, bytes(padded_len)), mli
    # Every non-zero padding byte is caught, whatever its position.
    for mli in range(padded_len - 7, padded_len):
        for pos in range(mli, padded_len):
            padded = bytearray(body[:mli] + bytes(padded_len - mli))
            padded[pos] = 1 << (pos % 8)
            ct = craft_kwp(raw, kek, KWP_ICV2 + mli.to_bytes(4, "big"), bytes(padded))
            assert kwp_unwrap(kek, ct) == (lib.KS_ERR_AUTH, bytes(padded_len)), (mli, pos)


@impls
def test_alternative_initial_values(impl: int) -> None:
    r = rng(f"kw-iv-{impl}")
    raw = r.randbytes(24)
    kek = aes_key(raw, impl)
    iv8, iv4 = r.randbytes(8), r.randbytes(4)
    data = r.randbytes(32)
    status, ct = kw_wrap(kek, data, iv=iv8)
    assert status == lib.KS_OK and ct != kw_wrap(kek, data)[1]
    assert kw_unwrap(kek, ct, iv=iv8) == (lib.KS_OK, data)
    assert kw_unwrap(kek, ct) == (lib.KS_ERR_AUTH, bytes(32))
    for length in (5, 8, 29):
        status, ct = kwp_wrap(kek, data[:length], iv=iv4)
        assert status == lib.KS_OK
        assert kwp_unwrap(kek, ct, iv=iv4) == (lib.KS_OK, data[:length])
        assert kwp_unwrap(kek, ct)[0] == lib.KS_ERR_AUTH
        # The 4-byte IV takes ICV2's place in the AIV (RFC 5649 3).
        aiv = iv4 + length.to_bytes(4, "big")
        padded = data[:length] + bytes(-length % 8)
        assert ct == craft_kwp(raw, kek, aiv, padded)


@impls
@settings(max_examples=40, deadline=None)
@given(data=st.binary(min_size=1, max_size=300), iv=st.binary(min_size=4, max_size=4))
def test_kwp_round_trip_any_iv(impl: int, data: bytes, iv: bytes) -> None:
    kek = aes_key(b"\x42" * 32, impl)
    status, ct = kwp_wrap(kek, data, iv=iv)
    assert status == lib.KS_OK
    assert kwp_unwrap(kek, ct, iv=iv) == (lib.KS_OK, data)


def test_null_arguments() -> None:
    kek = aes_key(bytes(16), IMPLS[0])
    out = ffi.new("uint8_t[64]")
    out_len = ffi.new("size_t *")
    for fn in (lib.ks_kw_wrap, lib.ks_kwp_wrap, lib.ks_kw_unwrap, lib.ks_kwp_unwrap):
        assert fn(ffi.NULL, out, out_len, 64, ffi.NULL, bytes(32), 32) == lib.KS_ERR_ARGS
        assert fn(kek, ffi.NULL, out_len, 64, ffi.NULL, bytes(32), 32) == lib.KS_ERR_ARGS
        assert fn(kek, out, ffi.NULL, 64, ffi.NULL, bytes(32), 32) == lib.KS_ERR_ARGS
        assert fn(kek, out, out_len, 64, ffi.NULL, ffi.NULL, 32) == lib.KS_ERR_ARGS


@impls
@settings(max_examples=80, deadline=None)
@given(blob=st.binary(max_size=80))
def test_random_input_never_unwraps(impl: int, blob: bytes) -> None:
    # A forgery passes KW with probability 2^-64 and KWP with about 2^-61: never here.
    kek = aes_key(b"\x24" * 16, impl)
    for unwrap, minimum in ((kw_unwrap, 24), (kwp_unwrap, 16)):
        status, out = unwrap(kek, blob)
        if len(blob) < minimum or len(blob) % 8:
            assert status == lib.KS_ERR_LEN
        else:
            assert (status, out) == (lib.KS_ERR_AUTH, bytes(len(blob) - 8))

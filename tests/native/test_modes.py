"""CTR mode (crypto/aes.h ks_aes_ctr_*) on every AES implementation.

Known answers from SP 800-38A F.5; cross-checks against `cryptography` for every key size
and every length 0..1024; every two-way split of a few lengths and random multi-way splits
(hypothesis); counter fields of 1..128 bits that wrap without carrying into the nonce; and
the refusal to reuse a counter value.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st
from keystead.core import ffi, lib

from tests.native.crypto_support import (
    IMPL_IDS,
    IMPLS,
    KEY_SIZES,
    aes_key,
    ctr_state,
    ctr_xor,
    rng,
)
from tests.vectors.loader import load

impls = pytest.mark.parametrize("impl", IMPLS, ids=IMPL_IDS)


def reference_ctr(raw: bytes, counter: bytes, data: bytes, bits: int = 128) -> bytes:
    """CTR with a counter field of `bits` bits, built from single-block AES encryptions."""
    enc = Cipher(algorithms.AES(raw), modes.ECB()).encryptor()
    value = int.from_bytes(counter, "big")
    field = (1 << bits) - 1
    stream = bytearray()
    while len(stream) < len(data):
        stream += enc.update(value.to_bytes(16, "big"))
        value = (value & ~field) | ((value + 1) & field)
    return bytes(a ^ b for a, b in zip(data, stream, strict=False))


@impls
@pytest.mark.parametrize(
    "vec", [v for v in load("aes_sp800_38a.txt") if v.text("Mode") == "CTR"], ids=str
)
def test_sp800_38a_f5(impl: int, vec) -> None:
    with vec:
        vec.text("Section")
        key = aes_key(vec.hex("Key"), impl)
        counter = vec.hex("Counter")
        pt, ct = vec.hex("Plaintext"), vec.hex("Ciphertext")
        assert ctr_xor(key, ctr_state(counter), pt) == (lib.KS_OK, ct)
        assert ctr_xor(key, ctr_state(counter), ct) == (lib.KS_OK, pt)


@impls
@pytest.mark.parametrize("key_len", KEY_SIZES)
def test_ctr_matches_cryptography_every_length(impl: int, key_len: int) -> None:
    r = rng(f"ctr-{impl}-{key_len}")
    raw = r.randbytes(key_len)
    key = aes_key(raw, impl)
    for length in range(0, 1025):
        counter, data = r.randbytes(16), r.randbytes(length)
        ref = Cipher(algorithms.AES(raw), modes.CTR(counter)).encryptor().update(data)
        assert ctr_xor(key, ctr_state(counter), data) == (lib.KS_OK, ref)


@impls
@pytest.mark.parametrize("length", [31, 64, 129, 200])
def test_every_two_way_split(impl: int, length: int) -> None:
    r = rng(f"ctr-split-{impl}-{length}")
    raw, counter, data = r.randbytes(16), r.randbytes(16), r.randbytes(length)
    key = aes_key(raw, impl)
    ref = reference_ctr(raw, counter, data)
    for cut in range(length + 1):
        state = ctr_state(counter)
        st1, a = ctr_xor(key, state, data[:cut])
        st2, b = ctr_xor(key, state, data[cut:])
        assert (st1, st2, a + b) == (lib.KS_OK, lib.KS_OK, ref), cut


@impls
@settings(max_examples=60, deadline=None)
@given(chunks=st.lists(st.integers(min_value=0, max_value=70), max_size=12), data=st.data())
def test_any_multi_way_split(impl: int, chunks: list[int], data) -> None:
    raw = data.draw(st.binary(min_size=32, max_size=32))
    counter = data.draw(st.binary(min_size=16, max_size=16))
    bits = data.draw(st.sampled_from([8, 32, 64, 128]))
    msg = bytes(range(256)) * 4
    msg = msg[: sum(chunks)]
    key = aes_key(raw, impl)
    state = ctr_state(counter, bits)
    out, pos = b"", 0
    for n in chunks:
        status, part = ctr_xor(key, state, msg[pos : pos + n])
        assert status == lib.KS_OK
        out += part
        pos += n
    assert out == reference_ctr(raw, counter, msg, bits)


@impls
@pytest.mark.parametrize("bits", [1, 2, 7, 8, 16, 31, 32, 33, 63, 64, 65, 96, 127, 128])
def test_counter_field_wraps_without_carry(impl: int, bits: int) -> None:
    r = rng(f"ctr-bits-{impl}-{bits}")
    raw = r.randbytes(16)
    key = aes_key(raw, impl)
    prefix = int.from_bytes(r.randbytes(16), "big") & ~((1 << bits) - 1)
    # Start a few blocks before the field wraps (or at 0 for tiny fields).
    start = max((1 << bits) - 3, 0)
    counter = (prefix | start).to_bytes(16, "big")
    blocks = min(1 << bits, 6)
    data = r.randbytes(16 * blocks - 5)
    assert ctr_xor(key, ctr_state(counter, bits), data) == (
        lib.KS_OK,
        reference_ctr(raw, counter, data, bits),
    )


@impls
def test_32_bit_word_wrap_carries_in_a_wide_field(impl: int) -> None:
    # The bulk kernel increments 32 bits: crossing 0xffffffff must carry into bit 32.
    r = rng(f"ctr-carry-{impl}")
    raw = r.randbytes(16)
    key = aes_key(raw, impl)
    counter = bytes.fromhex("0102030405060708090a0b0cfffffffa")
    data = r.randbytes(16 * 20 + 3)
    for bits in (33, 64, 128):
        assert ctr_xor(key, ctr_state(counter, bits), data)[1] == reference_ctr(
            raw, counter, data, bits
        )


@impls
def test_counter_space_is_never_reused(impl: int) -> None:
    key = aes_key(bytes(16), impl)
    counter = bytes(16)
    # 2 bits: four counter values, 64 bytes, then nothing more.
    assert ctr_xor(key, ctr_state(counter, 2), bytes(65))[0] == lib.KS_ERR_LEN
    state = ctr_state(counter, 2)
    assert ctr_xor(key, state, bytes(60))[0] == lib.KS_OK
    assert ctr_xor(key, state, bytes(4))[0] == lib.KS_OK  # rest of the fourth block
    assert ctr_xor(key, state, b"")[0] == lib.KS_OK
    out = ffi.new("uint8_t[1]", [0x55])
    assert lib.ks_aes_ctr_xor(key, state, out, b"\x00", 1) == lib.KS_ERR_LEN
    assert out[0] == 0x55  # nothing written on refusal
    state = ctr_state(counter, 1)
    assert ctr_xor(key, state, bytes(17))[0] == lib.KS_OK
    assert ctr_xor(key, state, bytes(15))[0] == lib.KS_OK
    assert ctr_xor(key, state, bytes(1))[0] == lib.KS_ERR_LEN


@impls
def test_ctr_in_place(impl: int) -> None:
    r = rng(f"ctr-inplace-{impl}")
    raw, counter, data = r.randbytes(24), r.randbytes(16), r.randbytes(300)
    key = aes_key(raw, impl)
    buf = ffi.new("uint8_t[]", len(data))
    ffi.memmove(buf, data, len(data))
    assert lib.ks_aes_ctr_xor(key, ctr_state(counter), buf, buf, len(data)) == lib.KS_OK
    assert bytes(buf) == reference_ctr(raw, counter, data)


@pytest.mark.parametrize("bits", [0, 129, 1000])
def test_bad_counter_bits(bits: int) -> None:
    state = ffi.new("ks_aes_ctr *")
    assert lib.ks_aes_ctr_init(state, bytes(16), bits) == lib.KS_ERR_ARGS


def test_ctr_null_arguments() -> None:
    key = aes_key(bytes(16), IMPLS[0])
    state = ctr_state(bytes(16))
    out = ffi.new("uint8_t[4]")
    assert lib.ks_aes_ctr_init(ffi.NULL, bytes(16), 128) == lib.KS_ERR_ARGS
    assert lib.ks_aes_ctr_xor(ffi.NULL, state, out, b"abcd", 4) == lib.KS_ERR_ARGS
    assert lib.ks_aes_ctr_xor(key, state, ffi.NULL, b"abcd", 4) == lib.KS_ERR_ARGS
    assert lib.ks_aes_ctr_xor(key, state, ffi.NULL, ffi.NULL, 0) == lib.KS_OK

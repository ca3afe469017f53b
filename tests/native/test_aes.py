"""AES block cipher, ECB and CBC (crypto/aes.h) on every implementation this CPU runs.

Known answers from FIPS 197 appendix C and SP 800-38A F.1/F.2; cross-checks against
`cryptography` for every key size and every whole-block length up to 1024 bytes.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from keystead.core import ffi, lib

from tests.native.crypto_support import (
    IMPL_IDS,
    IMPLS,
    KEY_SIZES,
    aes_key,
    cbc,
    ecb,
    forced_impl,
    rng,
)
from tests.vectors.loader import load

impls = pytest.mark.parametrize("impl", IMPLS, ids=IMPL_IDS)


def test_default_implementation_follows_the_processor() -> None:
    assert lib.ks_aes_impl_supported(lib.KS_AES_IMPL_LIBCRYPTO) == 1
    assert lib.ks_aes_impl_supported(lib.KS_AES_IMPL_AUTO) == 1
    if lib.ks_aes_impl_supported(lib.KS_AES_IMPL_AESNI):
        assert lib.ks_aes_impl_default() == lib.KS_AES_IMPL_AESNI
    else:
        # Never a table-based fallback: libcrypto, and AES-NI cannot be forced.
        assert lib.ks_aes_impl_default() == lib.KS_AES_IMPL_LIBCRYPTO
        assert lib.ks_aes_set_impl(lib.KS_AES_IMPL_AESNI) == lib.KS_ERR_UNSUPPORTED


@impls
@pytest.mark.parametrize("vec", load("aes_fips197.txt"), ids=str)
def test_fips197_appendix_c(impl: int, vec) -> None:
    with vec:
        vec.text("Section")
        key = aes_key(vec.hex("Key"), impl)
        pt, ct = vec.hex("Plaintext"), vec.hex("Ciphertext")
        assert ecb(key, pt) == ct
        assert ecb(key, ct, decrypt=True) == pt


@impls
@pytest.mark.parametrize(
    "vec", [v for v in load("aes_sp800_38a.txt") if v.text("Mode") != "CTR"], ids=str
)
def test_sp800_38a_ecb_cbc(impl: int, vec) -> None:
    with vec:
        vec.text("Section")
        mode = vec.text("Mode")
        key = aes_key(vec.hex("Key"), impl)
        pt, ct = vec.hex("Plaintext"), vec.hex("Ciphertext")
        if mode == "ECB":
            assert ecb(key, pt) == ct
            assert ecb(key, ct, decrypt=True) == pt
        else:
            iv = vec.hex("IV")
            assert cbc(key, bytearray(iv), pt) == ct
            assert cbc(key, bytearray(iv), ct, decrypt=True) == pt


@impls
@pytest.mark.parametrize("key_len", KEY_SIZES)
def test_ecb_cbc_match_cryptography_every_block_length(impl: int, key_len: int) -> None:
    r = rng(f"ecb-cbc-{impl}-{key_len}")
    raw = r.randbytes(key_len)
    key = aes_key(raw, impl)
    for nblocks in range(0, 65):
        data = r.randbytes(16 * nblocks)
        iv = r.randbytes(16)
        ref = Cipher(algorithms.AES(raw), modes.ECB()).encryptor().update(data)
        assert ecb(key, data) == ref
        assert ecb(key, ref, decrypt=True) == data
        ref = Cipher(algorithms.AES(raw), modes.CBC(iv)).encryptor().update(data)
        chain = bytearray(iv)
        assert cbc(key, chain, data) == ref
        assert bytes(chain) == (ref[-16:] if nblocks else iv)
        chain = bytearray(iv)
        assert cbc(key, chain, ref, decrypt=True) == data
        assert bytes(chain) == (ref[-16:] if nblocks else iv)


@impls
def test_cbc_multi_part_chains(impl: int) -> None:
    r = rng(f"cbc-multi-{impl}")
    raw, iv, data = r.randbytes(32), r.randbytes(16), r.randbytes(16 * 37)
    key = aes_key(raw, impl)
    ref = Cipher(algorithms.AES(raw), modes.CBC(iv)).encryptor().update(data)
    for split in (1, 7, 8, 9, 16, 36):
        enc, dec = bytearray(iv), bytearray(iv)
        a, b = data[: 16 * split], data[16 * split :]
        assert cbc(key, enc, a) + cbc(key, enc, b) == ref
        ca, cb = ref[: 16 * split], ref[16 * split :]
        assert cbc(key, dec, ca, decrypt=True) + cbc(key, dec, cb, decrypt=True) == data


@impls
@pytest.mark.parametrize("nblocks", [1, 8, 9, 17])
def test_in_place(impl: int, nblocks: int) -> None:
    r = rng(f"in-place-{impl}-{nblocks}")
    raw, iv, data = r.randbytes(16), r.randbytes(16), r.randbytes(16 * nblocks)
    key = aes_key(raw, impl)
    buf = ffi.new("uint8_t[]", len(data))
    ffi.memmove(buf, data, len(data))
    assert lib.ks_aes_encrypt_blocks(key, buf, buf, nblocks) == lib.KS_OK
    assert bytes(buf) == Cipher(algorithms.AES(raw), modes.ECB()).encryptor().update(data)
    assert lib.ks_aes_decrypt_blocks(key, buf, buf, nblocks) == lib.KS_OK
    assert bytes(buf) == data
    civ = ffi.new("uint8_t[16]", iv)
    assert lib.ks_aes_cbc_encrypt(key, civ, buf, buf, nblocks) == lib.KS_OK
    ref = Cipher(algorithms.AES(raw), modes.CBC(iv)).encryptor().update(data)
    assert bytes(buf) == ref
    civ = ffi.new("uint8_t[16]", iv)
    assert lib.ks_aes_cbc_decrypt(key, civ, buf, buf, nblocks) == lib.KS_OK
    assert bytes(buf) == data


@pytest.mark.parametrize("bad_len", [0, 1, 15, 17, 20, 23, 25, 31, 33, 64])
def test_bad_key_length(bad_len: int) -> None:
    key = ffi.new("ks_aes_key *")
    assert lib.ks_aes_init(key, b"\x01" * bad_len, bad_len) == lib.KS_ERR_KEY_LEN


def test_bad_arguments() -> None:
    key = ffi.new("ks_aes_key *")
    out = ffi.new("uint8_t[16]")
    assert lib.ks_aes_init(ffi.NULL, b"k" * 16, 16) == lib.KS_ERR_ARGS
    assert lib.ks_aes_init(key, ffi.NULL, 16) == lib.KS_ERR_ARGS
    # A key never initialised (or cleared) is refused, not used.
    assert lib.ks_aes_encrypt_blocks(key, out, bytes(16), 1) == lib.KS_ERR_ARGS
    assert lib.ks_aes_init(key, b"k" * 16, 16) == lib.KS_OK
    assert lib.ks_aes_encrypt_blocks(key, ffi.NULL, bytes(16), 1) == lib.KS_ERR_ARGS
    assert lib.ks_aes_cbc_encrypt(key, ffi.NULL, out, bytes(16), 1) == lib.KS_ERR_ARGS
    lib.ks_aes_clear(key)
    assert key.rounds == 0 and key.impl == lib.KS_AES_IMPL_AUTO
    assert lib.ks_aes_encrypt_blocks(key, out, bytes(16), 1) == lib.KS_ERR_ARGS
    assert lib.ks_aes_set_impl(99) == lib.KS_ERR_ARGS


@pytest.mark.skipif(len(IMPLS) < 2, reason="needs both AES paths")
def test_forced_impl_applies_to_new_keys_only() -> None:
    raw = bytes(range(16))
    old = aes_key(raw, lib.KS_AES_IMPL_AESNI)
    with forced_impl(lib.KS_AES_IMPL_LIBCRYPTO):
        assert lib.ks_aes_impl_default() == lib.KS_AES_IMPL_LIBCRYPTO
        new = ffi.new("ks_aes_key *")
        assert lib.ks_aes_init(new, raw, 16) == lib.KS_OK
        assert new.impl == lib.KS_AES_IMPL_LIBCRYPTO
        assert old.impl == lib.KS_AES_IMPL_AESNI
        assert ecb(new, bytes(16)) == ecb(old, bytes(16))
    assert lib.ks_aes_impl_default() == lib.KS_AES_IMPL_AESNI


@pytest.mark.parametrize("key_len", KEY_SIZES)
def test_rounds_and_key_len(key_len: int) -> None:
    key = aes_key(b"\x00" * key_len, IMPLS[0])
    assert key.key_len == key_len
    assert key.rounds == key_len // 4 + 6

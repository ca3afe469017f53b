"""PBKDF2-HMAC-SHA-256, scrypt (crypto/kdf.h) and the DRBG (crypto/rand.h).

Known answers: RFC 7914 sections 11 and 12, PBKDF2-SHA-256 on the RFC 6070 inputs; random
parameters cross-checked against hashlib; every invalid parameter is KS_ERR_ARGS.
"""

from __future__ import annotations

import hashlib

import pytest
from keystead.core import ffi, lib

from tests.native.crypto_support import rng
from tests.vectors.loader import load


def pbkdf2(password: bytes, salt: bytes, iterations: int, length: int) -> tuple[int, bytes]:
    out = ffi.new("uint8_t[]", max(length, 1))
    st = lib.ks_pbkdf2_sha256(out, length, password, len(password), salt, len(salt), iterations)
    return st, bytes(out[0:length])


def scrypt(password: bytes, salt: bytes, n: int, r: int, p: int, length: int):
    out = ffi.new("uint8_t[]", max(length, 1))
    st = lib.ks_scrypt(out, length, password, len(password), salt, len(salt), n, r, p)
    return st, bytes(out[0:length])


@pytest.mark.parametrize("vec", load("pbkdf2_sha256.txt"), ids=str)
def test_pbkdf2_vectors(vec) -> None:
    with vec:
        vec.text("Source")
        dk = vec.hex("DK")
        got = pbkdf2(vec.hex("Password"), vec.hex("Salt"), vec.int("Iterations"), len(dk))
        assert got == (lib.KS_OK, dk)


@pytest.mark.parametrize("vec", load("scrypt.txt"), ids=str)
def test_scrypt_vectors(vec) -> None:
    with vec:
        vec.text("Source")
        dk = vec.hex("DK")
        got = scrypt(vec.hex("Password"), vec.hex("Salt"), vec.int("N"), vec.int("r"),
                     vec.int("p"), len(dk))
        assert got == (lib.KS_OK, dk)


def test_kdfs_match_hashlib() -> None:
    r = rng("kdf")
    for _ in range(20):
        pw, salt = r.randbytes(r.randrange(0, 40)), r.randbytes(r.randrange(0, 40))
        length = r.randrange(1, 100)
        it = r.randrange(1, 50)
        assert pbkdf2(pw, salt, it, length) == (
            lib.KS_OK, hashlib.pbkdf2_hmac("sha256", pw, salt, it, length))
        n, rr, p = 2 ** r.randrange(1, 8), r.randrange(1, 5), r.randrange(1, 3)
        assert scrypt(pw, salt, n, rr, p, length) == (
            lib.KS_OK, hashlib.scrypt(pw, salt=salt, n=n, r=rr, p=p, dklen=length))


@pytest.mark.parametrize(
    "n, r, p, length",
    [(0, 1, 1, 32), (1, 1, 1, 32), (3, 1, 1, 32), (1000, 1, 1, 32), (16, 0, 1, 32),
     (16, 1, 0, 32), (16, 1, 1, 0), (2**16, 1, 1, 32), (16, 2**15, 2**15, 32), (2**60, 8, 1, 32)],
)
def test_scrypt_bad_parameters(n: int, r: int, p: int, length: int) -> None:
    assert scrypt(b"pw", b"salt", n, r, p, length)[0] == lib.KS_ERR_ARGS


def test_pbkdf2_bad_parameters() -> None:
    assert pbkdf2(b"pw", b"salt", 0, 32)[0] == lib.KS_ERR_ARGS
    assert pbkdf2(b"pw", b"salt", 1, 0)[0] == lib.KS_ERR_ARGS
    out = ffi.new("uint8_t[32]")
    assert lib.ks_pbkdf2_sha256(out, 32, ffi.NULL, 3, b"s", 1, 1) == lib.KS_ERR_ARGS
    assert lib.ks_pbkdf2_sha256(ffi.NULL, 32, b"p", 1, b"s", 1, 1) == lib.KS_ERR_ARGS
    assert lib.ks_pbkdf2_sha256(out, 32, ffi.NULL, 0, ffi.NULL, 0, 1) == lib.KS_OK
    assert bytes(out) == hashlib.pbkdf2_hmac("sha256", b"", b"", 1, 32)


def test_random_fills_and_differs() -> None:
    a, b = ffi.new("uint8_t[64]"), ffi.new("uint8_t[64]")
    assert lib.ks_random(a, 64) == lib.KS_OK
    assert lib.ks_random(b, 64) == lib.KS_OK
    assert bytes(a) != bytes(b)  # 2^-512 chance of a false failure
    assert bytes(a) != bytes(64)
    assert lib.ks_random(ffi.NULL, 0) == lib.KS_OK
    assert lib.ks_random(ffi.NULL, 1) == lib.KS_ERR_ARGS
    big = ffi.new("uint8_t[]", 1 << 20)
    assert lib.ks_random(big, 1 << 20) == lib.KS_OK
    # Every byte value appears in a MiB of DRBG output (a stuck generator would not do that).
    assert len(set(bytes(big))) == 256


def test_random_seed_mixes_and_never_repeats() -> None:
    """crypto/rand.h ks_random_seed: any length (hashed first), NULL only with length 0, and
    the same seed twice never gives the same output (it is additional input beside fresh
    entropy, never a replacement)."""
    assert lib.ks_random_seed(ffi.NULL, 0) == lib.KS_OK
    assert lib.ks_random_seed(ffi.NULL, 1) == lib.KS_ERR_ARGS
    big = bytes(1 << 20)
    assert lib.ks_random_seed(big, len(big)) == lib.KS_OK
    outs = set()
    for _ in range(4):
        assert lib.ks_random_seed(b"\x00" * 32, 32) == lib.KS_OK
        out = ffi.new("uint8_t[32]")
        assert lib.ks_random(out, 32) == lib.KS_OK
        outs.add(bytes(out))
    assert len(outs) == 4

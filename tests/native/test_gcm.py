"""AES-GCM of the native core (crypto/gcm.h), on every implementation the processor supports.

Each test runs once per dispatch path (VAES512, VAES256, AES-NI, libcrypto), forced with
ks_gcm_set_impl. Checked: the GCM spec test cases (tests/vectors/gcm_spec.txt) and NIST CAVP
vectors (tests/vectors/gcm_cavp.txt), a randomised cross-check against the ``cryptography``
package for every length 0..4096 and every key size, every split point of streamed messages
and AAD, the inc32 counter wrap of non-96-bit IVs (against a reference built here from
AES-ECB), tag failures (KS_ERR_AUTH, the output untouched: the tag is checked before anything
is written), the tag-first streaming steps (absorb, check, decrypt_verified) at every split,
the length limits of SP 800-38D 5.2.1.1 (KS_ERR_LEN), and (under valgrind) that no branch or
address depends on secrets.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from keystead.core import ffi, lib

from tests.native import ctgrind_support
from tests.vectors.loader import load

IMPLS = {
    "vaes512": lib.KS_GCM_IMPL_VAES512,
    "vaes256": lib.KS_GCM_IMPL_VAES256,
    "aesni": lib.KS_GCM_IMPL_AESNI,
    "libcrypto": lib.KS_GCM_IMPL_LIBCRYPTO,
}
MAX_MSG = 2**36 - 32
MAX_AAD = 2**61 - 1
# The pre-fill of an output buffer: a rejected decryption leaves it as it was.
UNTOUCHED = b"\xaa"


@pytest.fixture(params=list(IMPLS), ids=list(IMPLS))
def impl(request: pytest.FixtureRequest) -> Iterator[int]:
    """Force one implementation for the test; skip it when the processor lacks it."""
    value = IMPLS[request.param]
    if not lib.ks_gcm_impl_supported(value):
        pytest.skip(f"processor lacks {request.param}")
    assert lib.ks_gcm_set_impl(value) == lib.KS_OK
    yield value
    assert lib.ks_gcm_set_impl(lib.KS_GCM_IMPL_AUTO) == lib.KS_OK


class Key:
    """A ks_gcm_key with seal/open helpers returning (status, bytes...)."""

    def __init__(self, raw: bytes, impl: int | None = None) -> None:
        self.key = ffi.new("ks_gcm_key *")
        assert lib.ks_gcm_init(self.key, raw, len(raw)) == lib.KS_OK
        if impl is not None:
            assert self.key.impl == impl

    def __del__(self) -> None:
        lib.ks_gcm_clear(self.key)

    def seal(self, iv: bytes, aad: bytes, pt: bytes, tag_len: int = 16) -> tuple[int, bytes]:
        out = ffi.new("uint8_t[]", len(pt) + 1)
        tag = ffi.new("uint8_t[16]")
        st = lib.ks_gcm_seal(self.key, out, tag, tag_len, iv, len(iv), aad, len(aad), pt,
                             len(pt))
        return st, ffi.buffer(out, len(pt))[:] + ffi.buffer(tag, tag_len)[:]

    def open(self, iv: bytes, aad: bytes, ct: bytes, tag: bytes) -> tuple[int, bytes]:
        out = ffi.new("uint8_t[]", UNTOUCHED * (len(ct) + 1))
        st = lib.ks_gcm_open(self.key, out, iv, len(iv), aad, len(aad), ct, len(ct), tag,
                             len(tag))
        return st, ffi.buffer(out, len(ct))[:]

    def stream(self, iv: bytes, aad_parts: list[bytes], parts: list[bytes],
               decrypt: bool = False) -> tuple[bytes, bytes]:
        """Streamed encryption (or decryption) in the given pieces: (output, full tag)."""
        ctx = ffi.new("ks_gcm_ctx *")
        assert lib.ks_gcm_start(ctx, self.key, iv, len(iv)) == lib.KS_OK
        try:
            for a in aad_parts:
                assert lib.ks_gcm_aad(ctx, a, len(a)) == lib.KS_OK
            out = bytearray()
            step = lib.ks_gcm_decrypt if decrypt else lib.ks_gcm_encrypt
            for p in parts:
                buf = ffi.new("uint8_t[]", len(p) + 1)
                assert step(ctx, buf, p, len(p)) == lib.KS_OK
                out += ffi.buffer(buf, len(p))[:]
            tag = ffi.new("uint8_t[16]")
            assert lib.ks_gcm_finish(ctx, tag) == lib.KS_OK
            return bytes(out), ffi.buffer(tag)[:]
        finally:
            lib.ks_gcm_ctx_clear(ctx)


def reference(key: bytes, iv: bytes, aad: bytes, pt: bytes) -> bytes:
    """Ciphertext || 16-byte tag from `cryptography` (OpenSSL), for any IV length."""
    if len(iv) == 12:
        return AESGCM(key).encrypt(iv, pt, aad)
    enc = Cipher(algorithms.AES(key), modes.GCM(iv, min_tag_length=4)).encryptor()
    enc.authenticate_additional_data(aad)
    ct = enc.update(pt) + enc.finalize()
    return ct + enc.tag


# ---- a small independent GCM (SP 800-38D 6.3-7.1) over AES-ECB, for the counter wrap ----

R = 0xE1 << 120


def gf_mul(x: int, y: int) -> int:
    """Product in GF(2^128) with GCM's bit order (SP 800-38D 6.3, Algorithm 1)."""
    z, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ R if v & 1 else v >> 1
    return z


def gf_inv(x: int) -> int:
    """x^(2^128 - 2), the inverse of a nonzero x."""
    result, base, e = 1 << 127, x, 2**128 - 2  # 1 << 127 is the field's one
    while e:
        if e & 1:
            result = gf_mul(result, base)
        base = gf_mul(base, base)
        e >>= 1
    return result


def ghash(h: int, data: bytes) -> int:
    y = 0
    for i in range(0, len(data), 16):
        y = gf_mul(y ^ int.from_bytes(data[i:i + 16].ljust(16, b"\0"), "big"), h)
    return y


def aes_ecb(key: bytes, data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(data) + enc.finalize()


def ref_gcm(key: bytes, iv: bytes, aad: bytes, pt: bytes) -> bytes:
    """GCM-AE written from SP 800-38D 7.1, with inc32 wrapping the low 32 bits."""
    h = int.from_bytes(aes_ecb(key, bytes(16)), "big")
    if len(iv) == 12:
        j0 = int.from_bytes(iv + b"\0\0\0\1", "big")
    else:
        pad = (-len(iv)) % 16
        j0 = ghash(h, iv + bytes(pad + 8) + (8 * len(iv)).to_bytes(8, "big"))
    blocks = []
    for i in range((len(pt) + 15) // 16):
        ctr = (j0 & ~0xFFFFFFFF) | ((j0 + 1 + i) & 0xFFFFFFFF)
        blocks.append(ctr.to_bytes(16, "big"))
    stream = aes_ecb(key, b"".join(blocks)) if blocks else b""
    ct = bytes(a ^ b for a, b in zip(pt, stream, strict=False))
    lengths = (8 * len(aad)).to_bytes(8, "big") + (8 * len(ct)).to_bytes(8, "big")
    s = ghash(h, aad + bytes((-len(aad)) % 16) + ct + bytes((-len(ct)) % 16) + lengths)
    tag = int.from_bytes(aes_ecb(key, j0.to_bytes(16, "big")), "big") ^ s
    return ct + tag.to_bytes(16, "big")


def iv_for_j0(key: bytes, j0: int) -> bytes:
    """A 16-byte IV whose pre-counter block is j0: J0 = ((IV * H) ^ L) * H, solved for IV."""
    h = int.from_bytes(aes_ecb(key, bytes(16)), "big")
    hinv = gf_inv(h)
    lengths = 128  # 0^64 || [len(IV) = 128 bits]_64
    return gf_mul(gf_mul(j0, hinv) ^ lengths, hinv).to_bytes(16, "big")


# ---- tests ----------------------------------------------------------------------------


def test_dispatch_reports_paths() -> None:
    assert lib.ks_gcm_impl_supported(lib.KS_GCM_IMPL_LIBCRYPTO) == 1
    assert lib.ks_gcm_impl_supported(lib.KS_GCM_IMPL_AUTO) == 0
    default = lib.ks_gcm_impl_default()
    assert default != lib.KS_GCM_IMPL_AUTO and lib.ks_gcm_impl_supported(default)
    assert Key(bytes(16)).key.impl == default
    assert lib.ks_gcm_set_impl(99) == lib.KS_ERR_ARGS


@pytest.mark.parametrize("vec", load("gcm_spec.txt") + load("gcm_cavp.txt"), ids=str)
def test_spec_vectors(vec, impl: int) -> None:
    with vec:
        vec.text("Source")
        key = Key(vec.hex("Key"), impl)
        iv, aad, pt = vec.hex("IV"), vec.hex("AAD"), vec.hex("Plaintext")
        ct, tag, result = vec.hex("Ciphertext"), vec.hex("Tag"), vec.text("Result")
    if result == "PASS":
        assert key.seal(iv, aad, pt, len(tag)) == (lib.KS_OK, ct + tag)
        assert key.open(iv, aad, ct, tag) == (lib.KS_OK, pt)
    else:
        assert result == "FAIL"
        assert key.open(iv, aad, ct, tag) == (lib.KS_ERR_AUTH, UNTOUCHED * len(ct))


@pytest.mark.parametrize("key_len", [16, 24, 32])
def test_every_length_against_cryptography(impl: int, key_len: int) -> None:
    """Lengths 0..4096, tag lengths 4..16, AAD 0..64 and a few large, IVs of 8..128 bytes
    (the range `cryptography` accepts; shorter and longer IVs: test_unusual_iv_lengths)."""
    rng = random.Random(key_len)
    raw = rng.randbytes(key_len)
    key = Key(raw, impl)
    iv_lens = [8, 13, 16, 60, 128]
    for n in range(4097):
        pt = rng.randbytes(n)
        aad = rng.randbytes(n % 65 if n % 97 else 1000 + n)
        iv = rng.randbytes(12 if n % 4 else iv_lens[(n // 4) % len(iv_lens)])
        tag_len = 4 + n % 13
        expected = reference(raw, iv, aad, pt)
        ct, tag = expected[:n], expected[n:n + tag_len]
        assert key.seal(iv, aad, pt, tag_len) == (lib.KS_OK, ct + tag), n
        assert key.open(iv, aad, ct, tag) == (lib.KS_OK, pt), n


def test_large_messages_and_aad(impl: int) -> None:
    rng = random.Random(7)
    raw = rng.randbytes(32)
    key = Key(raw, impl)
    for n, a in [(65536 + 5, 0), (1 << 20, 13), (300_001, 70_000), (0, 200_003)]:
        pt, aad, iv = rng.randbytes(n), rng.randbytes(a), rng.randbytes(12)
        expected = reference(raw, iv, aad, pt)
        assert key.seal(iv, aad, pt) == (lib.KS_OK, expected)
        assert key.open(iv, aad, expected[:n], expected[n:]) == (lib.KS_OK, pt)


@pytest.mark.parametrize("n", [300, 520])
def test_every_split_point(impl: int, n: int) -> None:
    """Two-part streaming of a message (520 bytes: across two 16-block batches of the wide
    kernels) and of 40 bytes of AAD, at every split point, encrypting and decrypting."""
    rng = random.Random(n)
    raw = rng.randbytes(32)
    key = Key(raw, impl)
    iv, aad, pt = rng.randbytes(12), rng.randbytes(40), rng.randbytes(n)
    expected = reference(raw, iv, aad, pt)
    ct, tag = expected[:n], expected[n:]
    for i in range(n + 1):
        assert key.stream(iv, [aad], [pt[:i], pt[i:]]) == (ct, tag), i
        assert key.stream(iv, [aad], [ct[:i], ct[i:]], decrypt=True) == (pt, tag), i
    for j in range(41):
        assert key.stream(iv, [aad[:j], aad[j:]], [pt]) == (ct, tag), j
        assert key.stream(iv, [aad[:j], aad[j:]], [ct], decrypt=True) == (pt, tag), j


def test_random_multi_part_splits(impl: int) -> None:
    """Many pieces of 0..70 bytes (crossing the 8- and 16-block kernel batches)."""
    rng = random.Random(9)
    raw = rng.randbytes(16)
    key = Key(raw, impl)
    for trial in range(60):
        n = rng.randrange(0, 1500)
        iv = rng.randbytes(12 if trial % 3 else 20)
        aad, pt = rng.randbytes(rng.randrange(0, 100)), rng.randbytes(n)
        expected = reference(raw, iv, aad, pt)

        def pieces(data: bytes, top: int) -> list[bytes]:
            out, i = [], 0
            while i < len(data):
                step = rng.choice([0, 1, 15, 16, 17, rng.randrange(0, top)])
                out.append(data[i:i + step])
                i += step
            return out

        got = key.stream(iv, pieces(aad, 40), pieces(pt, 300))
        assert got == (expected[:n], expected[n:]), trial
        got = key.stream(iv, pieces(aad, 40), pieces(expected[:n], 300), decrypt=True)
        assert got == (pt, expected[n:]), trial


@pytest.mark.parametrize("low", [0xFFFFFFFF, 0xFFFFFFF0, 0xFFFFFF00])
def test_counter_wraps_within_32_bits(impl: int, low: int) -> None:
    """A non-96-bit IV may give J0 near 2^32 - 1: inc32 must wrap without a carry."""
    rng = random.Random(low)
    raw = rng.randbytes(32)
    j0 = (int.from_bytes(rng.randbytes(16), "big") & ~0xFFFFFFFF) | low
    iv = iv_for_j0(raw, j0)
    key = Key(raw, impl)
    pt = rng.randbytes(16 * 300 + 7)
    expected = ref_gcm(raw, iv, b"hdr", pt)
    assert expected == reference(raw, iv, b"hdr", pt)
    assert key.seal(iv, b"hdr", pt) == (lib.KS_OK, expected)
    assert key.stream(iv, [b"hdr"], [pt[:33], pt[33:]]) == (expected[:-16], expected[-16:])


@pytest.mark.parametrize("iv_len", [1, 2, 7, 11, 129, 200, 1000])
def test_unusual_iv_lengths(impl: int, iv_len: int) -> None:
    """SP 800-38D allows any IV length from 1 bit; libcrypto stops at 128 bytes."""
    rng = random.Random(iv_len)
    raw = rng.randbytes(32)
    key = Key(raw, impl)
    iv = rng.randbytes(iv_len)
    for n in (0, 16, 100, 300):
        pt, aad = rng.randbytes(n), rng.randbytes(n % 7)
        if impl == lib.KS_GCM_IMPL_LIBCRYPTO and iv_len > 128:
            assert key.seal(iv, aad, pt)[0] == lib.KS_ERR_UNSUPPORTED
            continue
        expected = ref_gcm(raw, iv, aad, pt)
        assert key.seal(iv, aad, pt) == (lib.KS_OK, expected)
        assert key.open(iv, aad, expected[:n], expected[n:]) == (lib.KS_OK, pt)


def test_in_place(impl: int) -> None:
    rng = random.Random(3)
    raw = rng.randbytes(24)
    key = Key(raw, impl)
    for n in (0, 15, 128, 255, 256, 257, 4099):
        iv, pt = rng.randbytes(12), rng.randbytes(n)
        expected = reference(raw, iv, b"", pt)
        buf = ffi.new("uint8_t[]", pt + b"\0")
        tag = ffi.new("uint8_t[16]")
        assert lib.ks_gcm_seal(key.key, buf, tag, 16, iv, 12, ffi.NULL, 0, buf, n) == lib.KS_OK
        assert ffi.buffer(buf, n)[:] + ffi.buffer(tag)[:] == expected
        assert lib.ks_gcm_open(key.key, buf, iv, 12, ffi.NULL, 0, buf, n, tag, 16) == lib.KS_OK
        assert ffi.buffer(buf, n)[:] == pt


@pytest.mark.parametrize("n", [0, 1, 17, 300, 4096])
def test_flipped_bits_fail_and_write_nothing(impl: int, n: int) -> None:
    rng = random.Random(n)
    raw = rng.randbytes(32)
    key = Key(raw, impl)
    iv, aad, pt = rng.randbytes(12), rng.randbytes(21), rng.randbytes(n)
    for tag_len in range(4, 17):
        st, sealed = key.seal(iv, aad, pt, tag_len)
        assert st == lib.KS_OK
        ct, tag = sealed[:n], sealed[n:]
        assert key.open(iv, aad, ct, tag) == (lib.KS_OK, pt)
        bit = rng.randrange(8 * tag_len)
        bad_tag = bytearray(tag)
        bad_tag[bit // 8] ^= 1 << (bit % 8)
        assert key.open(iv, aad, ct, bytes(bad_tag)) == (lib.KS_ERR_AUTH, UNTOUCHED * n)
        bad_aad = bytearray(aad)
        bad_aad[rng.randrange(len(aad))] ^= 0x40
        assert key.open(iv, bytes(bad_aad), ct, tag) == (lib.KS_ERR_AUTH, UNTOUCHED * n)
        if n:
            bad_ct = bytearray(ct)
            bad_ct[rng.randrange(n)] ^= 0x01
            assert key.open(iv, aad, bytes(bad_ct), tag) == (lib.KS_ERR_AUTH, UNTOUCHED * n)


def test_streamed_check(impl: int) -> None:
    rng = random.Random(11)
    key = Key(rng.randbytes(16), impl)
    iv, pt = rng.randbytes(12), rng.randbytes(100)
    _, sealed = key.seal(iv, b"", pt)
    for tag, want in [(sealed[100:], lib.KS_OK), (sealed[100:104], lib.KS_OK),
                      (bytes(16), lib.KS_ERR_AUTH)]:
        ctx = ffi.new("ks_gcm_ctx *")
        out = ffi.new("uint8_t[100]")
        assert lib.ks_gcm_start(ctx, key.key, iv, 12) == lib.KS_OK
        assert lib.ks_gcm_decrypt(ctx, out, sealed[:100], 100) == lib.KS_OK
        assert lib.ks_gcm_check(ctx, tag, len(tag)) == want
        lib.ks_gcm_ctx_clear(ctx)


def _tag_first(key: Key, iv: bytes, aad: bytes, ct: bytes, tag: bytes, absorb: list[int],
               release: list[int], held: bool = False,
               second: bytes | None = None) -> tuple[int, bytes]:
    """Absorb ct in pieces of the given sizes, check the tag, release in other pieces (with
    ks_gcm_decrypt_held, or ks_gcm_decrypt_verified then ks_gcm_recheck; the second pass reads
    `second` instead of ct when given: an input changed between the passes)."""
    ctx = ffi.new("ks_gcm_ctx *")
    out = ffi.new("uint8_t[]", UNTOUCHED * (len(ct) + 1))
    assert lib.ks_gcm_start(ctx, key.key, iv, len(iv)) == lib.KS_OK
    step = lib.ks_gcm_decrypt_held if held else lib.ks_gcm_decrypt_verified
    again = ct if second is None else second
    try:
        assert lib.ks_gcm_aad(ctx, aad, len(aad)) == lib.KS_OK
        pos = 0
        for n in absorb:
            assert lib.ks_gcm_absorb(ctx, ct[pos:pos + n], n) == lib.KS_OK
            pos += n
        st = lib.ks_gcm_check(ctx, tag, len(tag))
        if st != lib.KS_OK:
            assert step(ctx, out, ct, len(ct)) == lib.KS_ERR_ARGS
            return st, ffi.buffer(out, len(ct))[:]
        pos = 0
        for n in release:
            assert step(ctx, out + pos, again[pos:pos + n], n) == lib.KS_OK
            pos += n
        # No more than was absorbed.
        assert step(ctx, out + pos, b"x", 1) == lib.KS_ERR_LEN
        st = lib.ks_gcm_recheck(ctx)
        if held:
            assert st == (lib.KS_ERR_ARGS if ct else lib.KS_OK)  # nothing was hashed again
            st = lib.KS_OK
        assert lib.ks_gcm_check(ctx, tag, len(tag)) == lib.KS_ERR_ARGS  # no second check
        return st, ffi.buffer(out, len(ct))[:]
    finally:
        lib.ks_gcm_ctx_clear(ctx)


def test_tag_first_every_split(impl: int) -> None:
    """Absorb / check / decrypt_verified (or decrypt_held) give AESGCM's plaintext for every
    length 0..70 and every split point of the two passes; a bad tag writes nothing; an input
    that changes between the passes fails the recheck."""
    rng = random.Random(70)
    for n in [*range(71), 255, 256, 4099]:
        raw = rng.randbytes(rng.choice((16, 24, 32)))
        key = Key(raw, impl)
        iv = rng.randbytes(12 if n % 3 else rng.randrange(8, 40))
        aad, pt = rng.randbytes(rng.randrange(0, 40)), rng.randbytes(n)
        sealed = reference(raw, iv, aad, pt)
        ct, tag = sealed[:n], sealed[n:]
        if len(iv) == 12:
            assert AESGCM(raw).decrypt(iv, ct + tag, aad) == pt
        splits = range(n + 1) if n <= 70 else [0, 1, 15, 16, 17, n // 2, n - 1, n]
        for cut in splits:
            other = (cut * 7 + 3) % (n + 1)
            for held in (False, True):
                assert _tag_first(key, iv, aad, ct, tag, [cut, n - cut], [other, n - other],
                                  held) == (lib.KS_OK, pt), (n, cut, held)
        bad = bytearray(tag)
        bad[rng.randrange(16)] ^= 0x80
        assert _tag_first(key, iv, aad, ct, bytes(bad), [n], [n]) == (
            lib.KS_ERR_AUTH, UNTOUCHED * n)
        if n:
            changed = bytearray(ct)
            changed[rng.randrange(n)] ^= 0x04
            st, _ = _tag_first(key, iv, aad, ct, tag, [n], [n // 2, n - n // 2],
                               second=bytes(changed))
            assert st == lib.KS_ERR_AUTH


def test_second_pass_order(impl: int) -> None:
    """The second pass and the recheck come only after a verified tag."""
    key = Key(bytes(16), impl)
    ctx = ffi.new("ks_gcm_ctx *")
    assert lib.ks_gcm_start(ctx, key.key, bytes(12), 12) == lib.KS_OK
    assert lib.ks_gcm_recheck(ctx) == lib.KS_ERR_ARGS  # nothing verified
    assert lib.ks_gcm_decrypt_verified(ctx, ffi.new("uint8_t[1]"), b"x", 1) == lib.KS_ERR_ARGS
    lib.ks_gcm_ctx_clear(ctx)


def test_argument_and_order_errors(impl: int) -> None:
    key = Key(bytes(16), impl)
    bad = ffi.new("ks_gcm_key *")
    assert lib.ks_gcm_init(bad, bytes(15), 15) == lib.KS_ERR_KEY_LEN
    assert lib.ks_gcm_init(bad, ffi.NULL, 16) == lib.KS_ERR_ARGS
    out, tag = ffi.new("uint8_t[32]"), ffi.new("uint8_t[16]")
    for tag_len in (0, 3, 17):
        assert lib.ks_gcm_seal(key.key, out, tag, tag_len, bytes(12), 12, ffi.NULL, 0,
                               ffi.NULL, 0) == lib.KS_ERR_ARGS
        assert lib.ks_gcm_open(key.key, out, bytes(12), 12, ffi.NULL, 0, ffi.NULL, 0, tag,
                               tag_len) == lib.KS_ERR_ARGS
    ctx = ffi.new("ks_gcm_ctx *")
    assert lib.ks_gcm_start(ctx, key.key, bytes(12), 0) == lib.KS_ERR_LEN
    assert lib.ks_gcm_start(ctx, key.key, bytes(12), 12) == lib.KS_OK
    assert lib.ks_gcm_encrypt(ctx, out, bytes(5), 5) == lib.KS_OK
    assert lib.ks_gcm_aad(ctx, b"late", 4) == lib.KS_ERR_ARGS  # AAD after data
    assert lib.ks_gcm_decrypt(ctx, out, bytes(5), 5) == lib.KS_ERR_ARGS  # direction change
    assert lib.ks_gcm_finish(ctx, tag) == lib.KS_OK
    assert lib.ks_gcm_finish(ctx, tag) == lib.KS_ERR_ARGS  # finished
    assert lib.ks_gcm_encrypt(ctx, out, bytes(5), 5) == lib.KS_ERR_ARGS
    lib.ks_gcm_ctx_clear(ctx)


def test_length_limits(impl: int) -> None:
    """SP 800-38D 5.2.1.1: plaintext <= 2^39 - 256 bits, AAD <= 2^64 - 1 bits."""
    key = Key(bytes(32), impl)
    small = ffi.new("uint8_t[64]")
    tag = ffi.new("uint8_t[16]")
    # Refused before any byte is read, so a small buffer with a huge length is safe here.
    assert lib.ks_gcm_seal(key.key, small, tag, 16, bytes(12), 12, ffi.NULL, 0, small,
                           MAX_MSG + 1) == lib.KS_ERR_LEN
    ctx = ffi.new("ks_gcm_ctx *")
    assert lib.ks_gcm_start(ctx, key.key, bytes(12), 12) == lib.KS_OK
    ctx.aad_len = MAX_AAD - 3
    assert lib.ks_gcm_aad(ctx, bytes(4), 4) == lib.KS_ERR_LEN
    assert lib.ks_gcm_aad(ctx, bytes(3), 3) == lib.KS_OK
    assert lib.ks_gcm_aad(ctx, bytes(1), 1) == lib.KS_ERR_LEN
    ctx.msg_len = MAX_MSG - 40
    assert lib.ks_gcm_encrypt(ctx, small, small, 41) == lib.KS_ERR_LEN
    assert lib.ks_gcm_encrypt(ctx, small, small, 40) == lib.KS_OK
    assert lib.ks_gcm_encrypt(ctx, small, small, 1) == lib.KS_ERR_LEN
    assert lib.ks_gcm_encrypt(ctx, small, small, 0) == lib.KS_OK
    lib.ks_gcm_ctx_clear(ctx)


# ---- constant time: valgrind memcheck with secrets marked undefined (ctgrind) ----------

@pytest.fixture(scope="module")
def ctgrind_gcm(tmp_path_factory: pytest.TempPathFactory) -> str:
    """native/ct/ctgrind_gcm.c built once with the crypto sources."""
    return ctgrind_support.build(tmp_path_factory, "ctgrind_gcm.c")


@pytest.mark.parametrize("path", ["aesni", "libcrypto"])
def test_no_secret_dependent_branch_or_index(ctgrind_gcm: str, path: str) -> None:
    """Keys, H powers, messages, AAD and tags are secret: the only branch on them is the
    tag's accept/reject, in ks_gcm_check (which ks_gcm_open calls before it writes anything;
    ks_gcm_open is still an allowed site). Valgrind cannot run the VAES paths;
    on the libcrypto path, reports inside libcrypto itself ("???") are libcrypto's."""
    sites = set(ctgrind_support.run(ctgrind_gcm, path))  # only allowed sites (the one list)
    if path == "libcrypto":
        sites.discard("???")
    assert "ks_gcm_check" in sites  # the reject branch is reached with secret data
    assert sites <= {"ks_gcm_open", "ks_gcm_check", "ks_gcm_recheck"}, sites  # no other

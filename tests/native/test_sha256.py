"""In-tree SHA-256 and HMAC-SHA-256 of the native core (crypto/sha256.h).

Every hashing test runs once per compression function the processor supports (portable C,
SHA-NI), forced with ks_sha256_set_impl and set back to AUTO after. Checked: the FIPS 180-4
examples and the empty message (tests/vectors/sha_fips180.txt), RFC 4231 test cases 1-7
(tests/vectors/hmac_rfc4231.txt, case 5 truncated), hashlib for every length 0..300 and
random lengths up to 10,000 split into random updates (and at every split point for a few
lengths), the hmac module for random keys of 0..200 bytes, that final() wipes the context,
the status codes of the implementation control, and (under valgrind) that no branch or
address depends on keys or messages.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Iterator
from typing import Any

import pytest
from keystead.core import ffi, lib

from tests.native import ctgrind_support
from tests.vectors.loader import Vector, load

IMPLS = {"shani": lib.KS_SHA256_SHANI, "portable": lib.KS_SHA256_PORTABLE}


@pytest.fixture(params=list(IMPLS), ids=list(IMPLS))
def impl(request: pytest.FixtureRequest) -> Iterator[int]:
    """Force one compression function for the test; skip it when the processor lacks it."""
    value = IMPLS[request.param]
    if not lib.ks_sha256_impl_supported(value):
        pytest.skip(f"processor lacks {request.param} (SHA extensions, SSSE3, SSE4.1)")
    assert lib.ks_sha256_set_impl(value) == lib.KS_OK
    yield value
    assert lib.ks_sha256_set_impl(lib.KS_SHA256_AUTO) == lib.KS_OK


def sha256(data: bytes) -> bytes:
    out = ffi.new("uint8_t[32]")
    lib.ks_sha256(out, data if data else ffi.NULL, len(data))
    return bytes(out)


def sha256_parts(parts: list[bytes]) -> bytes:
    """The digest of the concatenation of parts, one ks_sha256_update per part."""
    ctx = ffi.new("ks_sha256_ctx *")
    out = ffi.new("uint8_t[32]")
    lib.ks_sha256_init(ctx)
    for part in parts:
        lib.ks_sha256_update(ctx, part if part else ffi.NULL, len(part))
    lib.ks_sha256_final(ctx, out)
    return bytes(out)


def hmac_sha256(key: bytes, msg: bytes) -> bytes:
    out = ffi.new("uint8_t[32]")
    lib.ks_hmac_sha256(out, key if key else ffi.NULL, len(key), msg if msg else ffi.NULL,
                       len(msg))
    return bytes(out)


def random_split(rng: random.Random, data: bytes) -> list[bytes]:
    """data cut at random points, empty parts included."""
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.randrange(6)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def sha256_vectors() -> list[Vector]:
    return [v for v in load("sha_fips180.txt") if v.text("Hash") == "SHA256"]


def hmac_vectors() -> list[Vector]:
    return [v for v in load("hmac_rfc4231.txt") if v.text("Hash") == "SHA256"]


# ---- known answers -------------------------------------------------------------------


def test_vector_files_hold_every_case() -> None:
    """The filters above keep the four FIPS 180-4 examples plus the empty message and all
    seven RFC 4231 cases: a vector file losing one fails here, not silently."""
    assert len(sha256_vectors()) == 5
    assert len(hmac_vectors()) == 7


@pytest.mark.parametrize("vec", sha256_vectors(), ids=str)
def test_fips180_examples(impl: int, vec: Vector) -> None:
    with vec:
        vec.text("Source")
        msg = vec.hex("Msg") * vec.int("Repeat")
        expected = vec.hex("Digest")
    assert sha256(msg) == expected
    # The same message fed in 1000-byte and odd-sized (997) updates.
    assert sha256_parts([msg[i : i + 1000] for i in range(0, len(msg), 1000)]) == expected
    assert sha256_parts([msg[i : i + 997] for i in range(0, len(msg), 997)]) == expected


@pytest.mark.parametrize("vec", hmac_vectors(), ids=str)
def test_rfc4231(impl: int, vec: Vector) -> None:
    """RFC 4231 4.2-4.8; case 5 prints only the first 128 bits, compared as a prefix."""
    with vec:
        vec.text("Source")
        key, msg = vec.hex("Key"), vec.hex("Msg")
        mac_len, expected = vec.int("MacLen"), vec.hex("Mac")
    assert len(expected) == mac_len
    assert hmac_sha256(key, msg)[:mac_len] == expected


# ---- cross-checks --------------------------------------------------------------------


def test_every_length_to_300(impl: int) -> None:
    """Every padding case: lengths around 55/56/64 bytes and their multiples."""
    rng = random.Random("sha256-lengths")
    data = rng.randbytes(300)
    for n in range(301):
        assert sha256(data[:n]) == hashlib.sha256(data[:n]).digest(), n


def test_random_lengths_and_splits(impl: int) -> None:
    rng = random.Random("sha256-splits")
    for _ in range(200):
        data = rng.randbytes(rng.randrange(10_001))
        assert sha256_parts(random_split(rng, data)) == hashlib.sha256(data).digest()


@pytest.mark.parametrize("n", [1, 63, 64, 65, 119, 200, 257])
def test_every_split_point(impl: int, n: int) -> None:
    rng = random.Random(f"sha256-split-{n}")
    data = rng.randbytes(n)
    expected = hashlib.sha256(data).digest()
    for cut in range(n + 1):
        assert sha256_parts([data[:cut], data[cut:]]) == expected, cut
        # Three pieces: a byte-at-a-time start then the rest in one call.
        assert sha256_parts([*(data[i : i + 1] for i in range(cut)), data[cut:]]) == expected


def test_hmac_random_keys(impl: int) -> None:
    """Keys of 0..200 bytes: shorter than, equal to and longer than the 64-byte block."""
    rng = random.Random("hmac-sha256")
    for key_len in range(201):
        key = rng.randbytes(key_len)
        for msg_len in (0, 1, 32, 55, 64, 200, rng.randrange(2000)):
            msg = rng.randbytes(msg_len)
            assert hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest(), (
                key_len, msg_len)


@pytest.mark.parametrize("key_len", [0, 32, 64, 65, 131])
def test_streaming_hmac_every_split_point(impl: int, key_len: int) -> None:
    """ks_hmac_sha256_init/update/final over a message in two parts, at every split point,
    equals hmac over the whole (and the context is wiped by final)."""
    rng = random.Random(f"hmac-split-{key_len}")
    key, msg = rng.randbytes(key_len), rng.randbytes(150)
    expected = hmac.new(key, msg, hashlib.sha256).digest()
    ctx = ffi.new("ks_hmac_sha256_ctx *")
    out = ffi.new("uint8_t[32]")
    for cut in range(len(msg) + 1):
        lib.ks_hmac_sha256_init(ctx, key, len(key))
        lib.ks_hmac_sha256_update(ctx, msg[:cut], cut)
        lib.ks_hmac_sha256_update(ctx, msg[cut:], len(msg) - cut)
        lib.ks_hmac_sha256_final(ctx, out)
        assert bytes(out) == expected, cut
        assert bytes(ffi.buffer(ctx)) == bytes(ffi.sizeof(ctx[0])), "final wipes the context"


def test_implementations_agree() -> None:
    """Forcing in the middle of a message is harmless: every path computes the same thing."""
    supported = [v for v in IMPLS.values() if lib.ks_sha256_impl_supported(v)]
    rng = random.Random("sha256-mixed")
    data = rng.randbytes(5000)
    ctx = ffi.new("ks_sha256_ctx *")
    out = ffi.new("uint8_t[32]")
    lib.ks_sha256_init(ctx)
    try:
        for i in range(0, len(data), 333):
            assert lib.ks_sha256_set_impl(supported[i % len(supported)]) == lib.KS_OK
            lib.ks_sha256_update(ctx, data[i : i + 333], len(data[i : i + 333]))
        lib.ks_sha256_final(ctx, out)
    finally:
        assert lib.ks_sha256_set_impl(lib.KS_SHA256_AUTO) == lib.KS_OK
    assert bytes(out) == hashlib.sha256(data).digest()


# ---- context hygiene -----------------------------------------------------------------


def ctx_bytes(ctx: Any) -> bytes:
    return bytes(ffi.buffer(ctx))


def test_final_wipes_context(impl: int) -> None:
    for n in (0, 3, 55, 56, 64, 100):
        ctx = ffi.new("ks_sha256_ctx *")
        out = ffi.new("uint8_t[32]")
        lib.ks_sha256_init(ctx)
        lib.ks_sha256_update(ctx, b"\xa5" * n, n)
        assert any(ctx_bytes(ctx))
        lib.ks_sha256_final(ctx, out)
        assert bytes(out) == hashlib.sha256(b"\xa5" * n).digest()
        assert ctx_bytes(ctx) == bytes(ffi.sizeof("ks_sha256_ctx")), n


def test_init_resets_a_used_context(impl: int) -> None:
    ctx = ffi.new("ks_sha256_ctx *")
    out = ffi.new("uint8_t[32]")
    lib.ks_sha256_init(ctx)
    lib.ks_sha256_update(ctx, b"x" * 77, 77)
    lib.ks_sha256_init(ctx)
    lib.ks_sha256_update(ctx, b"abc", 3)
    lib.ks_sha256_final(ctx, out)
    assert bytes(out) == hashlib.sha256(b"abc").digest()


def test_output_may_alias_input(impl: int) -> None:
    """ks_sha256 reads all of in before writing out, so hashing a buffer in place works."""
    buf = ffi.new("uint8_t[]", b"chain value to be hashed in place" + bytes(31))
    lib.ks_sha256(buf, buf, 64)
    assert bytes(buf[0:32]) == hashlib.sha256(b"chain value to be hashed in place" +
                                              bytes(31)).digest()


# ---- implementation control ----------------------------------------------------------


def test_set_impl_statuses() -> None:
    try:
        assert lib.ks_sha256_set_impl(lib.KS_SHA256_PORTABLE) == lib.KS_OK
        assert lib.ks_sha256_set_impl(3) == lib.KS_ERR_ARGS
        assert lib.ks_sha256_set_impl(1000) == lib.KS_ERR_ARGS
        shani = lib.ks_sha256_set_impl(lib.KS_SHA256_SHANI)
        if lib.ks_sha256_impl_supported(lib.KS_SHA256_SHANI):
            assert shani == lib.KS_OK
        else:
            assert shani == lib.KS_ERR_UNSUPPORTED
    finally:
        assert lib.ks_sha256_set_impl(lib.KS_SHA256_AUTO) == lib.KS_OK
    assert lib.ks_sha256_impl_supported(lib.KS_SHA256_AUTO) == 1
    assert lib.ks_sha256_impl_supported(lib.KS_SHA256_PORTABLE) == 1
    assert lib.ks_sha256_impl_supported(3) == 0


def test_default_is_the_best_supported() -> None:
    default = lib.ks_sha256_impl_default()
    if lib.ks_sha256_impl_supported(lib.KS_SHA256_SHANI):
        assert default == lib.KS_SHA256_SHANI
    else:
        assert default == lib.KS_SHA256_PORTABLE


def test_default_agrees_with_cpuinfo() -> None:
    """On Linux the kernel's flag list names the SHA extensions sha_ni."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line.split() for line in f if line.startswith("flags")), None)
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    if flags is None:
        pytest.skip("no flags line in /proc/cpuinfo")
    has = "sha_ni" in flags and "ssse3" in flags and "sse4_1" in flags
    assert bool(lib.ks_sha256_impl_supported(lib.KS_SHA256_SHANI)) == has


# ---- constant time: valgrind memcheck with keys and messages marked undefined -----------

@pytest.fixture(scope="module")
def ctgrind_sha256(tmp_path_factory: pytest.TempPathFactory) -> str:
    """native/ct/ctgrind_sha256.c built once with the crypto sources."""
    return ctgrind_support.build(tmp_path_factory, "ctgrind_sha256.c")


@pytest.mark.parametrize("path", ["portable", "shani"])
def test_no_secret_dependent_branch_or_index(ctgrind_sha256: str, path: str) -> None:
    """The only report is the program's deliberate branch on a digest byte (proof that the
    secret marking reached the digests). Valgrind hides the SHA extensions, so the SHA-NI
    run skips there; its code has no data-dependent branch or index by construction."""
    sites = set(ctgrind_support.run(ctgrind_sha256, path))
    assert sites == {"control_branch"}, sites

"""keystead.bulk checks every length, count and buffer it hands to KS_EncryptMessages /
KS_DecryptMessages: a wrong one is a ValueError or TypeError raised before C runs, never a
write past a buffer or a crash."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keystead import bulk, ext_token
from keystead.core import ffi

from tests.native.bulk_support import ExtSession, ext_session

KEY = bytes(range(32))
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def ext(tmp_path_factory: pytest.TempPathFactory):
    with ext_session(tmp_path_factory.mktemp("bulk_args")) as s:
        yield s


@pytest.fixture(scope="module")
def key(ext: ExtSession) -> int:
    return ext.aes_key(KEY)


def _guarded(n: int) -> tuple[bytearray, bytes]:
    """A buffer of n bytes followed by a canary that no call may touch."""
    canary = os.urandom(32)
    return bytearray(n) + bytearray(canary), canary


@SETTINGS
@given(count=st.integers(1, 8), iv_delta=st.integers(-12, 12), tag_delta=st.integers(-16, 16),
       out_delta=st.integers(-8, 8), tag_len=st.integers(4, 16))
def test_encrypt_into_buffers_of_wrong_size(ext: ExtSession, key: int, count: int,
                                            iv_delta: int, tag_delta: int, out_delta: int,
                                            tag_len: int) -> None:
    msgs = [bytes([i]) * (i + 1) for i in range(count)]
    batch = bulk.Batch.of(msgs)
    sizes = (batch.total + out_delta, bulk.IV_LEN * count + iv_delta, tag_len * count + tag_delta)
    if min(sizes) < 0:
        return
    into = bulk.Sealed(*(bytearray(n) for n in sizes))
    right = (out_delta, iv_delta, tag_delta) == (0, 0, 0)
    if right:
        bulk.encrypt(ext.session, key, batch, tag_len=tag_len, into=into)
        return
    before = [bytes(b) for b in (into.out, into.ivs, into.tags)]
    with pytest.raises(ValueError):
        bulk.encrypt(ext.session, key, batch, tag_len=tag_len, into=into)
    assert [bytes(b) for b in (into.out, into.ivs, into.tags)] == before


def test_encrypt_into_a_short_iv_array_leaves_what_follows(ext: ExtSession, key: int) -> None:
    """The old wrapper passed a 12-byte IV array for 4 messages: C wrote 36 bytes past it."""
    batch = bulk.Batch.of([b"a", b"b", b"c", b"d"])
    backing, canary = _guarded(12)
    ivs = memoryview(backing)[:12]
    into = bulk.Sealed(bytearray(4), ivs, bytearray(64))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        bulk.encrypt(ext.session, key, batch, into=into)
    assert bytes(backing[12:]) == canary


@SETTINGS
@given(count=st.integers(1, 6), iv_delta=st.integers(-12, 12), tag_delta=st.integers(-16, 16))
def test_decrypt_arrays_of_wrong_size(ext: ExtSession, key: int, count: int, iv_delta: int,
                                      tag_delta: int) -> None:
    batch = bulk.Batch.of([b"m" * 5] * count)
    ivs, tags = bytes(max(0, 12 * count + iv_delta)), bytes(max(0, 16 * count + tag_delta))
    if (iv_delta, tag_delta) == (0, 0):
        out, ok = bulk.decrypt(ext.session, key, batch, ivs, tags)
        assert ok == [False] * count and out == bytearray(5 * count)
        return
    with pytest.raises(ValueError):
        bulk.decrypt(ext.session, key, batch, ivs, tags)


@SETTINGS
@given(extra=st.integers(1, 2**40))
def test_a_count_beyond_the_arrays_is_refused(ext: ExtSession, key: int, extra: int) -> None:
    """A Batch whose count exceeds its pointer arrays made C read past them (a crash for large
    counts); the wrapper refuses it."""
    batch = bulk.Batch.of([b"abc", b"de"])
    batch.count += extra
    with pytest.raises(ValueError):
        bulk.encrypt(ext.session, key, batch)
    with pytest.raises(ValueError):
        bulk.decrypt(ext.session, key, batch, bytes(12), bytes(16))


@SETTINGS
@given(total_delta=st.integers(-100, 100).filter(lambda d: d != 0))
def test_a_total_that_is_not_the_sum_is_refused(ext: ExtSession, key: int,
                                                total_delta: int) -> None:
    batch = bulk.Batch.of([b"abc", b"de"])
    batch.total += total_delta
    with pytest.raises(ValueError):
        bulk.encrypt(ext.session, key, batch)


@SETTINGS
@given(tag_len=st.one_of(st.integers(-2**70, 3), st.integers(17, 2**70)),
       threads=st.one_of(st.integers(-2**70, -1), st.integers(65, 2**70)))
def test_tag_length_and_threads_out_of_range(ext: ExtSession, key: int, tag_len: int,
                                             threads: int) -> None:
    batch = bulk.Batch.of([b"x"])
    with pytest.raises(ValueError):
        bulk.encrypt(ext.session, key, batch, tag_len=tag_len)
    with pytest.raises(ValueError):
        bulk.encrypt(ext.session, key, batch, threads=threads)
    with pytest.raises(ValueError):
        bulk.decrypt(ext.session, key, batch, bytes(12), bytes(16), threads=threads)


@SETTINGS
@given(handle=st.one_of(st.integers(-2**70, -1), st.integers(2**64, 2**70)))
def test_handles_out_of_range(ext: ExtSession, key: int, handle: int) -> None:
    batch = bulk.Batch.of([b"x"])
    with pytest.raises(ValueError):
        bulk.encrypt(handle, key, batch)
    with pytest.raises(ValueError):
        bulk.encrypt(ext.session, handle, batch)


@SETTINGS
@given(fixed=st.binary(max_size=9).filter(lambda b: len(b) != 4))
def test_iv_fixed_of_wrong_size(ext: ExtSession, key: int, fixed: bytes) -> None:
    with pytest.raises(ValueError):
        bulk.encrypt(ext.session, key, bulk.Batch.of([b"x"]), iv_fixed=fixed)


@pytest.mark.parametrize("bad", [None, 1.5, "16", True])
def test_wrong_types(ext: ExtSession, key: int, bad: object) -> None:
    batch = bulk.Batch.of([b"x"])
    with pytest.raises(TypeError):
        bulk.encrypt(ext.session, key, batch, tag_len=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        bulk.encrypt(ext.session, key, batch, threads=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        bulk.encrypt(bad, key, batch)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        bulk.Batch.of([b"x", bad])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        bulk.encrypt(ext.session, key, batch,
                     into=bulk.Sealed(bytes(1), bytearray(12), bytearray(16)))  # type: ignore


@SETTINGS
@given(lengths=st.lists(st.integers(-50, 50), max_size=6))
def test_arena_lengths(lengths: list[int]) -> None:
    arena = bytes(60)
    if any(n < 0 for n in lengths) or sum(lengths) > len(arena):
        with pytest.raises(ValueError):
            bulk.Batch.of_arena(arena, lengths)
    else:
        b = bulk.Batch.of_arena(arena, lengths)
        b.check()
        assert b.count == len(lengths)


def test_user_session_label_too_long() -> None:
    with pytest.raises(ValueError):
        ext_token.user_session(ffi.NULL, b"so", b"user", label=b"x" * 33)
    with pytest.raises(TypeError):
        ext_token.user_session(ffi.NULL, "so", b"user")  # type: ignore[arg-type]

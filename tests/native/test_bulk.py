"""KS_EncryptMessages / KS_DecryptMessages (include/keystead.h) through the cffi extension:
results equal to ``cryptography``'s AES-GCM for many messages, 1..4 worker threads,
SP 800-38D 8.2.1 IVs (fixed field || invocation number) that never repeat, the 2^32 limit
(8.3), fail-closed decryption, and the PKCS#11 5.2 output conventions."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from keystead import bulk
from keystead.core import ffi, lib
from keystead.softhsm_bridge.errors import PKCS11Error

from tests.native.bulk_support import USER_PIN, ExtSession, ext_session
from tests.native.store_support import make_config

KEY = bytes(range(32))


@pytest.fixture(scope="module")
def ext(tmp_path_factory: pytest.TempPathFactory):
    with ext_session(tmp_path_factory.mktemp("bulk")) as s:
        yield s


@pytest.fixture(scope="module")
def key(ext: ExtSession) -> int:
    return ext.aes_key(KEY)


def _messages(n: int, seed: int, max_len: int = 300) -> tuple[list[bytes], list[bytes]]:
    rnd = random.Random(seed)
    msgs = [rnd.randbytes(rnd.randrange(max_len + 1)) for _ in range(n)]
    aads = [rnd.randbytes(rnd.randrange(20)) for _ in range(n)]
    return msgs, aads


def _split(arena: bytes, lengths: list[int]) -> list[bytes]:
    out, pos = [], 0
    for n in lengths:
        out.append(arena[pos: pos + n])
        pos += n
    return out


@pytest.mark.parametrize("threads", [1, 2, 3, 4])
def test_encrypt_matches_cryptography(ext: ExtSession, key: int, threads: int) -> None:
    msgs, aads = _messages(700, threads)
    fixed = b"\xfe\xed" + bytes([threads, 0])
    res = bulk.encrypt(ext.session, key, bulk.Batch.of(msgs, aads), iv_fixed=fixed,
                       threads=threads, tag_len=12)
    cts = _split(bytes(res.out), [len(m) for m in msgs])
    counters = []
    for i, (m, a, c) in enumerate(zip(msgs, aads, cts, strict=True)):
        iv, tag = bytes(res.ivs[12 * i: 12 * i + 12]), bytes(res.tags[12 * i: 12 * i + 12])
        assert iv[:4] == fixed
        counters.append(int.from_bytes(iv[4:], "big"))
        assert c + tag == AESGCM(KEY).encrypt(iv, m, a)[: len(m) + 12]
    assert counters == list(range(counters[0], counters[0] + len(msgs)))


@pytest.mark.parametrize("threads", [1, 4])
def test_decrypt_round_trip_and_fail_closed(ext: ExtSession, key: int, threads: int) -> None:
    msgs, aads = _messages(400, 10 + threads)
    res = bulk.encrypt(ext.session, key, bulk.Batch.of(msgs, aads), threads=threads)
    cts = _split(bytes(res.out), [len(m) for m in msgs])
    tags = bytearray(res.tags)
    bad = {3, 77, 250}
    for i in bad:
        tags[16 * i] ^= 1
    pts, ok = bulk.decrypt(ext.session, key, bulk.Batch.of(cts, aads), res.ivs, tags,
                           threads=threads)
    got = _split(bytes(pts), [len(m) for m in msgs])
    for i, m in enumerate(msgs):
        assert ok[i] == (i not in bad)
        assert got[i] == (bytes(len(m)) if i in bad else m)  # a bad message's output is wiped


def test_decrypt_without_flags_writes_nothing(ext: ExtSession, key: int) -> None:
    msgs = [b"first message", b"second message"]
    res = bulk.encrypt(ext.session, key, bulk.Batch.of(msgs))
    tags = bytearray(res.tags)
    tags[-1] ^= 1
    b = bulk.Batch.of(_split(bytes(res.out), [13, 14]))
    out = bytearray(b"\xaa" * 27)
    n = ffi.new("CK_ULONG *", 27)
    rv = lib.KS_DecryptMessages(ext.session, key, ffi.from_buffer(out), n, ffi.NULL, 2, b.ptrs,
                                b.lens, ffi.NULL, ffi.NULL, ffi.from_buffer(res.ivs),
                                ffi.from_buffer(tags), 16, 1)
    assert rv == lib.CKR_ENCRYPTED_DATA_INVALID
    assert out == b"\xaa" * 27  # the good message too: nothing written without pOk


def test_ivs_unique_across_calls_threads_and_keys(ext: ExtSession) -> None:
    k = ext.aes_key(os.urandom(16))
    seen: set[bytes] = set()
    total = 0
    for threads in (1, 2, 3, 4, 4):
        msgs = [b"m" * (i % 70) for i in range(2500)]
        res = bulk.encrypt(ext.session, k, bulk.Batch.of(msgs), threads=threads)
        seen.update(bytes(res.ivs[i: i + 12]) for i in range(0, len(res.ivs), 12))
        total += len(msgs)
    assert len(seen) == total
    reserved = ext.gcm_invocations(k)
    assert reserved >= total and reserved % 4096 == 0  # durable blocks, never fewer than used


def test_arena_length_query_and_short_arena(ext: ExtSession, key: int) -> None:
    b = bulk.Batch.of([b"abc", b"", b"defgh"])
    ivs, tags = bytearray(36), bytearray(48)
    n = ffi.new("CK_ULONG *", 0)
    args = (ffi.from_buffer(ivs), ffi.from_buffer(tags), 16, 3, b.ptrs, b.lens, ffi.NULL,
            ffi.NULL, ffi.NULL, 1)
    assert lib.KS_EncryptMessages(ext.session, key, ffi.NULL, n, *args) == lib.CKR_OK
    assert n[0] == 8 and ivs == bytearray(36)  # a length query does nothing else
    short = bytearray(7)
    n[0] = 7
    rv = lib.KS_EncryptMessages(ext.session, key, ffi.from_buffer(short), n, *args)
    assert (rv, n[0]) == (lib.CKR_BUFFER_TOO_SMALL, 8)
    assert ivs == bytearray(36)


def test_arena_batch_and_in_place(ext: ExtSession, key: int) -> None:
    lengths = [64] * 50 + [4096] * 3
    plain = os.urandom(sum(lengths))
    arena = bytearray(plain)
    b = bulk.Batch.of_arena(arena, lengths)
    sealed = bulk.Sealed(arena, bytearray(12 * 53), bytearray(16 * 53))
    bulk.encrypt(ext.session, key, b, into=sealed, threads=2)  # ciphertext over plaintext
    for i, (p, c) in enumerate(zip(_split(plain, lengths), _split(bytes(arena), lengths),
                                   strict=True)):
        iv = bytes(sealed.ivs[12 * i: 12 * i + 12])
        assert c + bytes(sealed.tags[16 * i: 16 * i + 16]) == AESGCM(KEY).encrypt(iv, p, None)


def test_bad_arguments(ext: ExtSession, key: int) -> None:
    b = bulk.Batch.of([b"x"])
    for tag_len in (3, 17):  # the wrapper refuses before C, and C refuses too
        with pytest.raises(ValueError):
            bulk.encrypt(ext.session, key, b, tag_len=tag_len)
    with pytest.raises(ValueError):
        bulk.encrypt(ext.session, key, b, threads=65)
    out, ivs, tags, n = bytearray(1), bytearray(12), bytearray(16), ffi.new("CK_ULONG *", 1)
    for tag_len, threads in ((3, 1), (17, 1), (16, 65)):
        rv = lib.KS_EncryptMessages(ext.session, key, ffi.from_buffer(out), n,
                                    ffi.from_buffer(ivs), ffi.from_buffer(tags), tag_len, 1,
                                    b.ptrs, b.lens, ffi.NULL, ffi.NULL, ffi.NULL, threads)
        assert rv == lib.CKR_ARGUMENTS_BAD
    rv = lib.KS_EncryptMessages(ext.session, key, ffi.from_buffer(out), n,
                                ffi.from_buffer(ivs), ffi.from_buffer(tags), 16, 1, ffi.NULL,
                                b.lens, ffi.NULL, ffi.NULL, ffi.NULL, 1)
    assert rv == lib.CKR_ARGUMENTS_BAD
    no_encrypt = ext.aes_key(KEY, encrypt=False)
    with pytest.raises(PKCS11Error) as e:
        bulk.encrypt(ext.session, no_encrypt, b)
    assert e.value.rv == lib.CKR_KEY_FUNCTION_NOT_PERMITTED
    with pytest.raises(PKCS11Error) as e:
        bulk.encrypt(ext.session + 1000, key, b)
    assert e.value.rv == lib.CKR_SESSION_HANDLE_INVALID


def test_invocation_limit(ext: ExtSession, tmp_path: Path) -> None:
    """SP 800-38D 8.3: 2^32 invocations, then nothing; a batch that does not fit takes none."""
    k = ext.aes_key(os.urandom(32))
    store = ffi.new("ks_store **")
    cfg = make_config()
    assert lib.ks_store_open(store, f":memory:{ext.slot}".encode(), 0, cfg) == lib.CKR_OK
    try:
        # The store authenticates counters: only a holder of the token key writes one.
        key = ffi.new("uint8_t[32]")
        assert lib.ks_store_login(store[0], lib.CKU_USER, USER_PIN, len(USER_PIN), key) == 0
        assert lib.ks_store_counter_add(store[0], k, b"gcm", 2**32 - 10, 0, ffi.NULL) == 0
    finally:
        lib.ks_store_close(store[0])
    b11, b10 = bulk.Batch.of([b"x"] * 11), bulk.Batch.of([b"x"] * 10)
    with pytest.raises(PKCS11Error) as e:
        bulk.encrypt(ext.session, k, b11)
    assert e.value.rv == lib.CKR_KEY_FUNCTION_NOT_PERMITTED
    res = bulk.encrypt(ext.session, k, b10)
    assert [int.from_bytes(res.ivs[i + 4: i + 12], "big") for i in range(0, 120, 12)] == list(
        range(2**32 - 10, 2**32))
    with pytest.raises(PKCS11Error) as e:
        bulk.encrypt(ext.session, k, bulk.Batch.of([b"x"]))
    assert e.value.rv == lib.CKR_KEY_FUNCTION_NOT_PERMITTED
    assert ext.gcm_invocations(k) == 2**32
    pts, ok = bulk.decrypt(ext.session, k, bulk.Batch.of(_split(bytes(res.out), [1] * 10)),
                           res.ivs, res.tags)
    assert ok == [True] * 10 and pts == bytearray(b"x" * 10)  # decryption is not limited


def test_empty_batch(ext: ExtSession, key: int) -> None:
    res = bulk.encrypt(ext.session, key, bulk.Batch.of([]))
    assert (res.out, res.ivs, res.tags) == (bytearray(), bytearray(), bytearray())


def test_exported_by_the_standalone_module() -> None:
    import ctypes

    from keystead import module_path

    so = ctypes.CDLL(module_path())
    assert so.KS_EncryptMessages and so.KS_DecryptMessages  # AttributeError when hidden


def test_decrypt_of_empty_messages_only(ext: ExtSession, key: int) -> None:
    """A run of empty messages stages nothing and still verifies every tag."""
    b = bulk.Batch.of([b"", b"", b""])
    res = bulk.encrypt(ext.session, key, b)
    out, ok = bulk.decrypt(ext.session, key, b, res.ivs, res.tags)
    assert (out, ok) == (bytearray(), [True] * 3)
    tags = bytearray(res.tags)
    tags[16] ^= 1
    out, ok = bulk.decrypt(ext.session, key, b, res.ivs, tags)
    assert ok == [True, False, True]

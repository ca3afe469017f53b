"""AES-GCM decryption checks its tag first (crypto/gcm.h, token/gcm_out.h), at the PKCS#11
boundary of the extension's in-process module.

C_Decrypt, C_DecryptUpdate/C_DecryptFinal, C_DecryptMessage, C_DecryptMessageBegin/Next and
the bulk call: the plaintext equals `cryptography`'s AESGCM for every length 0..70, a few
large ones and every split point of the multi-part calls; a bad tag answers
CKR_ENCRYPTED_DATA_INVALID and leaves the caller's output buffer exactly as it was (a
pre-filled pattern); and no locked memory proportional to the message is used, good tag or
bad: the largest ks_secure_alloc request during a 1 MiB decryption stays small
(ks_secure_largest), where staging the plaintext asked for the whole message.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from keystead import bulk
from keystead.core import ffi, lib

from tests.native.bulk_support import ExtSession, ext_session

KEY = bytes(range(32, 64))
FILL = 0xA5
BIG = 1 << 20
# Locked memory a call may use whatever the message size: operation state, the slab.
SMALL = 16 * 1024
LENGTHS = [*range(71), 4096, 65537, BIG]


@pytest.fixture(scope="module")
def ext(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExtSession]:
    with ext_session(tmp_path_factory.mktemp("tagfirst")) as s:
        yield s


@pytest.fixture(scope="module")
def key(ext: ExtSession) -> int:
    return ext.aes_key(KEY)


def _seal(n: int, seed: int) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    """(iv, aad, plaintext, ciphertext, 16-byte tag)"""
    rnd = random.Random(seed)
    iv, aad, pt = rnd.randbytes(12), rnd.randbytes(rnd.randrange(30)), rnd.randbytes(n)
    sealed = AESGCM(KEY).encrypt(iv, pt, aad)
    return iv, aad, pt, sealed[:n], sealed[n:]


def _bad(tag: bytes) -> bytes:
    return bytes([tag[0] ^ 1]) + tag[1:]


class Keep:
    """Keeps the cdata a mechanism points at alive."""

    def __init__(self) -> None:
        self.refs: list[Any] = []

    def buf(self, data: bytes) -> Any:
        b = ffi.new("CK_BYTE[]", data or b"\0")
        self.refs.append(b)
        return b


def _gcm_mech(keep: Keep, iv: bytes, aad: bytes) -> Any:
    p = ffi.new("CK_GCM_PARAMS *")
    p.pIv, p.ulIvLen, p.ulIvBits = keep.buf(iv), len(iv), 8 * len(iv)
    p.pAAD, p.ulAADLen, p.ulTagBits = keep.buf(aad), len(aad), 128
    keep.refs.append(p)
    m = ffi.new("CK_MECHANISM *", {"mechanism": lib.CKM_AES_GCM, "pParameter": p,
                                   "ulParameterLen": ffi.sizeof("CK_GCM_PARAMS")})
    keep.refs.append(m)
    return m


def _out(n: int) -> Any:
    return ffi.new("CK_BYTE[]", bytes([FILL]) * (n + 1))


def _c_decrypt(ext: ExtSession, key: int, iv: bytes, aad: bytes, data: bytes,
               cuts: list[int] | None = None) -> tuple[int, bytes]:
    """C_Decrypt (or C_DecryptUpdate up to each cut, then C_DecryptFinal) of ciphertext ||
    tag into a pre-filled buffer: (rv, the buffer without its guard byte)."""
    keep = Keep()
    fl, s = ext.fl, ext.session
    assert fl.C_DecryptInit(s, _gcm_mech(keep, iv, aad), key) == lib.CKR_OK
    n = len(data) - 16
    out = _out(n)
    out_len = ffi.new("CK_ULONG *", n)
    if cuts is None:
        rv = fl.C_Decrypt(s, keep.buf(data), len(data), out, out_len)
    else:
        pos = 0
        for cut in [*cuts, len(data)]:
            chunk = data[pos:cut]
            assert fl.C_DecryptUpdate(s, keep.buf(chunk), len(chunk), out,
                                      out_len) == lib.CKR_OK
            assert out_len[0] == 0
            out_len[0] = n
            pos = cut
        rv = fl.C_DecryptFinal(s, out, out_len)
    if rv == lib.CKR_OK:
        assert out_len[0] == n
    assert out[n] == FILL  # nothing past the message
    return rv, bytes(ffi.buffer(out, n))


@pytest.mark.parametrize("n", LENGTHS)
def test_c_decrypt(ext: ExtSession, key: int, n: int) -> None:
    iv, aad, pt, ct, tag = _seal(n, n)
    lib.ks_secure_largest(1)
    assert _c_decrypt(ext, key, iv, aad, ct + tag) == (lib.CKR_OK, pt)
    assert _c_decrypt(ext, key, iv, aad, ct + _bad(tag)) == (
        lib.CKR_ENCRYPTED_DATA_INVALID, bytes([FILL]) * n)
    assert lib.ks_secure_largest(0) < SMALL


@pytest.mark.parametrize("n", [0, 1, 17, 70, BIG])
def test_c_decrypt_update_final(ext: ExtSession, key: int, n: int) -> None:
    iv, aad, pt, ct, tag = _seal(n, 1000 + n)
    data = ct + tag
    cuts_list = [[c] for c in range(len(data) + 1)] if n <= 70 else [[1, n // 3, n + 5]]
    for cuts in cuts_list:
        lib.ks_secure_largest(1)
        assert _c_decrypt(ext, key, iv, aad, data, cuts) == (lib.CKR_OK, pt), cuts
        assert _c_decrypt(ext, key, iv, aad, ct + _bad(tag), cuts) == (
            lib.CKR_ENCRYPTED_DATA_INVALID, bytes([FILL]) * n)
        assert lib.ks_secure_largest(0) < SMALL


def _msg_params(keep: Keep, iv: bytes, tag: bytes) -> Any:
    p = ffi.new("CK_GCM_MESSAGE_PARAMS *")
    p.pIv, p.ulIvLen, p.ulIvFixedBits = keep.buf(iv), len(iv), 0
    p.ivGenerator, p.pTag, p.ulTagBits = lib.CKG_NO_GENERATE, keep.buf(tag), 8 * len(tag)
    keep.refs.append(p)
    return p


def _message_decrypt(ext: ExtSession, key: int, iv: bytes, aad: bytes, ct: bytes, tag: bytes,
                     cuts: list[int] | None = None) -> tuple[int, bytes]:
    """C_DecryptMessage (or Begin, Next up to each cut, the last Next) into a pre-filled
    buffer: (rv, the buffer without its guard byte)."""
    keep = Keep()
    fl, s = ext.fl, ext.session
    mech = ffi.new("CK_MECHANISM *", {"mechanism": lib.CKM_AES_GCM})
    assert fl.C_MessageDecryptInit(s, mech, key) == lib.CKR_OK
    p = _msg_params(keep, iv, tag)
    size = ffi.sizeof("CK_GCM_MESSAGE_PARAMS")
    n = len(ct)
    out = _out(n)
    out_len = ffi.new("CK_ULONG *", n)
    try:
        if cuts is None:
            rv = fl.C_DecryptMessage(s, p, size, keep.buf(aad), len(aad), keep.buf(ct), n,
                                     out, out_len)
            return rv, bytes(ffi.buffer(out, n))
        assert fl.C_DecryptMessageBegin(s, p, size, keep.buf(aad), len(aad)) == lib.CKR_OK
        pos = 0
        for cut in cuts:
            chunk = ct[pos:cut]
            out_len[0] = n
            rv = fl.C_DecryptMessageNext(s, p, size, keep.buf(chunk), len(chunk), out,
                                         out_len, 0)
            assert (rv, out_len[0]) == (lib.CKR_OK, 0)
            pos = cut
        chunk = ct[pos:]
        out_len[0] = n
        rv = fl.C_DecryptMessageNext(s, p, size, keep.buf(chunk), len(chunk), out, out_len,
                                     lib.CKF_END_OF_MESSAGE)
        return rv, bytes(ffi.buffer(out, n))
    finally:
        assert out[n] == FILL
        assert fl.C_MessageDecryptFinal(s) == lib.CKR_OK


@pytest.mark.parametrize("n", LENGTHS)
def test_c_decrypt_message(ext: ExtSession, key: int, n: int) -> None:
    iv, aad, pt, ct, tag = _seal(n, 2000 + n)
    lib.ks_secure_largest(1)
    assert _message_decrypt(ext, key, iv, aad, ct, tag) == (lib.CKR_OK, pt)
    assert _message_decrypt(ext, key, iv, aad, ct, _bad(tag)) == (
        lib.CKR_ENCRYPTED_DATA_INVALID, bytes([FILL]) * n)
    assert lib.ks_secure_largest(0) < SMALL


@pytest.mark.parametrize("n", [0, 1, 16, 33, 70, BIG])
def test_c_decrypt_message_next_every_split(ext: ExtSession, key: int, n: int) -> None:
    iv, aad, pt, ct, tag = _seal(n, 3000 + n)
    cuts_list = ([[c] for c in range(n + 1)] + [[c, min(n, c + 5)] for c in range(n + 1)]
                 if n <= 70 else [[7, n // 2, n - 1]])
    for cuts in cuts_list:
        lib.ks_secure_largest(1)
        assert _message_decrypt(ext, key, iv, aad, ct, tag, cuts) == (lib.CKR_OK, pt), cuts
        assert _message_decrypt(ext, key, iv, aad, ct, _bad(tag), cuts) == (
            lib.CKR_ENCRYPTED_DATA_INVALID, bytes([FILL]) * n)
        assert lib.ks_secure_largest(0) < SMALL


def _split(arena: bytes, lengths: list[int]) -> list[bytes]:
    out, pos = [], 0
    for n in lengths:
        out.append(arena[pos:pos + n])
        pos += n
    return out


@pytest.mark.parametrize("with_ok", [True, False])
def test_bulk_decrypt(ext: ExtSession, key: int, with_ok: bool) -> None:
    """Large messages among small ones: nothing staged (a large one was staged whole)."""
    lengths = [BIG // 2, 0, 5, BIG // 2 + 3, 70]
    msgs = [random.Random(n).randbytes(n) for n in lengths]
    res = bulk.encrypt(ext.session, key, bulk.Batch.of(msgs), threads=2)
    b = bulk.Batch.of(_split(bytes(res.out), lengths))
    for bad in (None, 3):
        tags = bytearray(res.tags)
        if bad is not None:
            tags[16 * bad] ^= 1
        out = bytearray([FILL]) * sum(lengths)
        n = ffi.new("CK_ULONG *", len(out))
        ok = ffi.new("CK_BYTE[]", len(lengths)) if with_ok else ffi.NULL
        lib.ks_secure_largest(1)
        rv = lib.KS_DecryptMessages(ext.session, key, ffi.from_buffer(out), n, ok,
                                    len(lengths), b.ptrs, b.lens, ffi.NULL, ffi.NULL,
                                    ffi.from_buffer(res.ivs), ffi.from_buffer(tags), 16, 2)
        assert lib.ks_secure_largest(0) < SMALL
        if bad is None:
            assert rv == lib.CKR_OK and bytes(out) == b"".join(msgs)
        elif with_ok:
            want = [bytes(len(m)) if i == bad else m for i, m in enumerate(msgs)]
            assert rv == lib.CKR_ENCRYPTED_DATA_INVALID and bytes(out) == b"".join(want)
            assert list(ok) == [int(i != bad) for i in range(len(lengths))]
        else:
            assert rv == lib.CKR_ENCRYPTED_DATA_INVALID
            assert out == bytearray([FILL]) * len(out)

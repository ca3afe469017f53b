"""A GCM decryption whose ciphertext another thread keeps changing (memory another process
writes: shared memory, a file mapping) never returns CKR_OK with plaintext the tag did not
cover, and the bulk call without pOk stays all or nothing (README, "Caller buffers").

A kernel reads a block for the GHASH and again for the XOR, and the compiler may reload it
from memory: the second pass therefore copies each run of the caller's ciphertext into module
memory first (crypto/gcm.c ks_gcm_decrypt_verified). A C thread flips one byte of the
ciphertext as fast as it can while the calls run. When the flips never land inside a call
(a machine too busy to run both threads at once) the case is skipped, not passed."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import cffi
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from keystead.core import ffi, lib

from tests.native.bulk_support import ext_session

TOGGLER = r"""
#include <pthread.h>
#include <stdint.h>
static volatile int run;
static volatile uint8_t *target;
static uint8_t mask;
static pthread_t th;
static void *loop(void *a) { (void)a; while (run) { *target ^= mask; } return 0; }
int tog_start(uint8_t *p, uint8_t m)
{ target = p; mask = m; run = 1; return pthread_create(&th, 0, loop, 0); }
void tog_stop(void) { run = 0; pthread_join(th, 0); }
"""
CALLS = 20000
KEY = bytes(range(32))


@pytest.fixture(scope="module")
def toggler(tmp_path_factory):
    d = tmp_path_factory.mktemp("toggler")
    (d / "toggler.c").write_text(TOGGLER)
    so = d / "toggler.so"
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(so), str(d / "toggler.c"),
                    "-lpthread"], check=True)
    tf = cffi.FFI()
    tf.cdef("int tog_start(uint8_t *p, uint8_t m); void tog_stop(void);")
    return tf, tf.dlopen(str(so))


def _gcm_mechanism(iv):
    p = ffi.new("CK_GCM_PARAMS *")
    p.pIv, p.ulIvLen, p.ulIvBits = iv, 12, 96
    p.pAAD, p.ulAADLen, p.ulTagBits = ffi.NULL, 0, 128
    m = ffi.new("CK_MECHANISM *", {"mechanism": lib.CKM_AES_GCM, "pParameter": p,
                                   "ulParameterLen": ffi.sizeof("CK_GCM_PARAMS")})
    return m, p


def _race(toggler, target, call) -> dict[str, int]:
    tf, tog = toggler
    assert tog.tog_start(tf.cast("uint8_t *", ffi.cast("uintptr_t", target)), 0x5A) == 0
    seen: dict[str, int] = {}
    try:
        for _ in range(CALLS):
            what = call()
            seen[what] = seen.get(what, 0) + 1
    finally:
        tog.tog_stop()
    return seen


@pytest.mark.parametrize("impl", ["AUTO", "VAES512", "VAES256", "AESNI", "LIBCRYPTO"])
@pytest.mark.parametrize("length,pos", [(128, 40), (1152, 1064), (256, 200)])
def test_no_unauthenticated_plaintext_under_ok(toggler, impl, length, pos):
    with ext_session(Path(tempfile.mkdtemp())) as ext:
        if lib.ks_gcm_set_impl(getattr(lib, "KS_GCM_IMPL_" + impl)) != 0:
            pytest.skip(f"no {impl} kernel on this processor")
        try:
            fl, s = ext.fl, ext.session
            k = ext.aes_key(KEY)
            iv = os.urandom(12)
            plain = os.urandom(length)
            sealed = AESGCM(KEY).encrypt(iv, plain, b"")
            ivb = ffi.new("CK_BYTE[]", iv)
            m, _keep = _gcm_mechanism(ivb)
            inb = ffi.new("CK_BYTE[]", sealed)
            out = ffi.new("CK_BYTE[]", length)
            n = ffi.new("CK_ULONG *")

            def call() -> str:
                n[0] = length
                assert fl.C_DecryptInit(s, m, k) == lib.CKR_OK
                rv = fl.C_Decrypt(s, inb, len(sealed), out, n)
                if rv != lib.CKR_OK:
                    return hex(rv)
                return "ok" if bytes(ffi.buffer(out, length)) == plain else "ok, not authentic"

            seen = _race(toggler, inb + pos, call)
        finally:
            lib.ks_gcm_set_impl(lib.KS_GCM_IMPL_AUTO)
    assert "ok, not authentic" not in seen, seen
    if seen.get(hex(lib.CKR_ENCRYPTED_DATA_INVALID), 0) == 0:
        pytest.skip(f"the flips never landed inside a call: {seen}")


def test_bulk_without_ok_is_all_or_nothing(toggler):
    """pOk NULL: a tag that changes between the passes fails the call with no plaintext of
    any message left in the arena."""
    with ext_session(Path(tempfile.mkdtemp())) as ext:
        s, k = ext.session, ext.aes_key(KEY)
        length = 64
        ivs, tags, ins = b"", b"", []
        plains = [os.urandom(length) for _ in range(2)]
        for p in plains:
            iv = os.urandom(12)
            sealed = AESGCM(KEY).encrypt(iv, p, b"")
            ivs, tags = ivs + iv, tags + sealed[length:]
            ins.append(ffi.new("CK_BYTE[]", sealed[:length]))
        ivb, tagb = ffi.new("CK_BYTE[]", ivs), ffi.new("CK_BYTE[]", tags)
        ptrs = ffi.new("CK_BYTE_PTR[]", ins)
        lens = ffi.new("CK_ULONG[]", [length, length])
        out = ffi.new("CK_BYTE[]", 2 * length)
        n = ffi.new("CK_ULONG *")

        def call() -> str:
            ffi.memmove(out, b"\0" * (2 * length), 2 * length)
            n[0] = 2 * length
            rv = lib.KS_DecryptMessages(s, k, out, n, ffi.NULL, 2, ptrs, lens, ffi.NULL,
                                        ffi.NULL, ivb, tagb, 16, 1)
            arena = bytes(ffi.buffer(out, 2 * length))
            if rv == lib.CKR_OK:
                return "ok" if arena == b"".join(plains) else "ok, not authentic"
            return hex(rv) if arena == bytes(2 * length) else "failed, plaintext left"

        seen = _race(toggler, tagb + 16 + 3, call)  # a byte of message 1's tag
    assert "ok, not authentic" not in seen and "failed, plaintext left" not in seen, seen
    if seen.get(hex(lib.CKR_ENCRYPTED_DATA_INVALID), 0) == 0:
        pytest.skip(f"the flips never landed inside a call: {seen}")

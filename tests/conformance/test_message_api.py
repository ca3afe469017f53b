"""PKCS#11 3.0 message-based AEAD with CKM_AES_GCM (base spec 5.13 "Message-based
encryption functions", 5.14 "... decryption functions"; current mechanisms, AES-GCM with
CK_GCM_MESSAGE_PARAMS), through the raw function list, cross-checked with ``cryptography``.

Token-generated IVs follow NIST SP 800-38D 8.2.1 (fixed field || invocation field) and
8.2.2 (random field); the invocation counter itself (persistence, fork, the 2^32 limit) is
test_message_counter.py's subject.
SoftHSMv2 2.6.1 has no message API at all: its cases are strict xfails (quirk
"no-message-api").
"""

from __future__ import annotations

import os

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from keystead.softhsm_bridge.ck import Mechanism

from .message_support import (
    CKG_GENERATE,
    CKG_GENERATE_COUNTER,
    CKG_GENERATE_COUNTER_XOR,
    CKG_GENERATE_RANDOM,
    CKG_NO_GENERATE,
    Messages,
    counter_of,
    fixed_of,
    params,
)
from .support import aes_key, assert_rv

KEY = bytes(range(32))
CKF_MESSAGE_ENCRYPT, CKF_MESSAGE_DECRYPT = 0x2, 0x4
CKR_BUFFER_TOO_SMALL = 0x150


@pytest.fixture
def msg(module, raw, rsession, xfail_quirk):
    """Messages on a logged-in session (SoftHSMv2: strict xfail, it has no message API: its
    first message call raises BridgeError, "no PKCS#11 3.0 interface")."""
    xfail_quirk(module, "no-message-api")
    return Messages(raw, rsession)


@pytest.fixture
def key(raw, rsession):
    return raw.create_object(rsession, aes_key(KEY))


def test_gcm_lists_message_flags(module, raw, xfail_quirk):
    xfail_quirk(module, "no-message-api")
    flags = raw.mechanism_info(module.slot, Mechanism.AES_GCM)[2]
    assert flags & (CKF_MESSAGE_ENCRYPT | CKF_MESSAGE_DECRYPT) == (
        CKF_MESSAGE_ENCRYPT | CKF_MESSAGE_DECRYPT)


@pytest.mark.parametrize("tag_bits", [32, 64, 96, 104, 112, 120, 128])
def test_caller_iv_every_tag_length_matches_cryptography(msg, key, tag_bits):
    assert_rv(msg.init("Encrypt", key), "CKR_OK")
    assert_rv(msg.init("Decrypt", key), "CKR_OK")
    for n, aad_len, iv_len in [(0, 0, 12), (1, 7, 12), (64, 0, 16), (1000, 33, 8), (4096, 5, 60)]:
        iv, aad, data = os.urandom(iv_len), os.urandom(aad_len), os.urandom(n)
        p = params(msg.raw, iv, tag_bits=tag_bits)
        ct = msg.seal(p, aad, data)
        full = AESGCM(KEY).encrypt(iv, data, aad)
        assert (ct, p.tag()) == (full[:n], full[n: n + tag_bits // 8])
        assert p.iv() == iv  # CKG_NO_GENERATE: pIv is an input
        d = params(msg.raw, iv, tag=p.tag(), tag_bits=tag_bits)
        rv, pt, got = msg.one("Decrypt", d, aad, ct)
        assert_rv(rv, "CKR_OK")
        assert (pt[:got], got) == (data, n)
    assert_rv(msg.final("Encrypt"), "CKR_OK")
    assert_rv(msg.final("Decrypt"), "CKR_OK")


@pytest.mark.parametrize("generator", [CKG_GENERATE, CKG_GENERATE_COUNTER])
@pytest.mark.parametrize("iv_len,fixed_bits", [(12, 0), (12, 32), (12, 35), (16, 64), (12, 64)])
def test_counter_iv_written_back(msg, key, generator, iv_len, fixed_bits):
    assert_rv(msg.init("Encrypt", key), "CKR_OK")
    seed = bytes([0xA5]) * iv_len
    counters = []
    for i in range(5):
        p = params(msg.raw, seed, generator=generator, fixed_bits=fixed_bits)
        data, aad = os.urandom(20 + i), os.urandom(i)
        ct = msg.seal(p, aad, data)
        iv = p.iv()
        assert fixed_of(iv, fixed_bits) == fixed_of(seed, fixed_bits)  # fixed field kept
        counters.append(counter_of(iv, fixed_bits))
        assert AESGCM(KEY).decrypt(iv, ct + p.tag(), aad) == data
    # One key, one counter: consecutive invocation numbers; a fresh session key starts at 0.
    assert counters == list(range(counters[0], counters[0] + 5))
    assert_rv(msg.final("Encrypt"), "CKR_OK")


def test_counter_starts_at_zero_for_a_new_key(msg, raw, rsession):
    k = raw.create_object(rsession, aes_key(os.urandom(16)))
    assert_rv(msg.init("Encrypt", k), "CKR_OK")
    p = params(raw, bytes(12), generator=CKG_GENERATE_COUNTER, fixed_bits=32)
    msg.seal(p, b"", b"x")
    assert counter_of(p.iv(), 32) == 0  # mechanisms spec: "the initial IV counter is zero"


@pytest.mark.parametrize("iv_len,fixed_bits", [(12, 0), (16, 32), (16, 31), (32, 100)])
def test_random_iv_written_back(msg, key, iv_len, fixed_bits):
    assert_rv(msg.init("Encrypt", key), "CKR_OK")
    seed = os.urandom(iv_len)
    seen = set()
    for _ in range(8):
        p = params(msg.raw, seed, generator=CKG_GENERATE_RANDOM, fixed_bits=fixed_bits)
        ct = msg.seal(p, b"aad", b"random iv")
        iv = p.iv()
        assert fixed_of(iv, fixed_bits) == fixed_of(seed, fixed_bits)
        seen.add(iv)
        assert AESGCM(KEY).decrypt(iv, ct + p.tag(), b"aad") == b"random iv"
    assert len(seen) == 8


@pytest.mark.parametrize("generator,iv_len,fixed_bits", [
    (CKG_GENERATE, 12, 65),           # 31 counter bits cannot hold 2^32 invocations
    (CKG_GENERATE_COUNTER, 4, 1),
    (CKG_GENERATE_COUNTER, 12, 97),   # more fixed bits than the IV has
    (CKG_GENERATE_RANDOM, 12, 1),     # SP 800-38D 8.2.2: a random field of 96 bits or more
    (CKG_GENERATE_COUNTER_XOR, 12, 32),  # PKCS#11 3.1, not 3.0
    (99, 12, 0),
])
def test_generator_params_refused(msg, key, generator, iv_len, fixed_bits):
    assert_rv(msg.init("Encrypt", key), "CKR_OK")
    p = params(msg.raw, bytes(iv_len), generator=generator, fixed_bits=fixed_bits)
    assert_rv(msg.one("Encrypt", p, b"", b"data")[0], "CKR_MECHANISM_PARAM_INVALID")
    assert_rv(msg.begin("Encrypt", p, b""), "CKR_MECHANISM_PARAM_INVALID")
    # The process survives a bad message: the next one works.
    msg.seal(params(msg.raw, bytes(12)), b"", b"data")


def test_decrypt_ignores_generator_fields(msg, key):
    iv = os.urandom(12)
    full = AESGCM(KEY).encrypt(iv, b"plain", b"")
    assert_rv(msg.init("Decrypt", key), "CKR_OK")
    d = params(msg.raw, iv, generator=CKG_GENERATE_COUNTER_XOR, fixed_bits=4000,
               tag=full[5:])
    rv, pt, n = msg.one("Decrypt", d, b"", full[:5])
    assert_rv(rv, "CKR_OK")
    assert pt[:n] == b"plain"
    assert d.iv() == iv  # decryption never writes pIv


def test_bad_params_and_arguments(msg, key):
    ffi, raw, h = msg.ffi, msg.raw, msg.h
    assert_rv(msg.init("Encrypt", key), "CKR_OK")
    good = params(raw, bytes(12))
    n = raw.ulong_ptr(4)
    out = ffi.new("CK_BYTE[4]")
    call = raw.call
    assert_rv(call("C_EncryptMessage", h, ffi.NULL, 0, b"", 0, b"abcd", 4, out, n),
              "CKR_MECHANISM_PARAM_INVALID")
    assert_rv(call("C_EncryptMessage", h, good.ptr, good.size - 1, b"", 0, b"abcd", 4, out, n),
              "CKR_MECHANISM_PARAM_INVALID")
    for field_name, value in [("pIv", ffi.NULL), ("ulIvLen", 0), ("pTag", ffi.NULL),
                              ("ulTagBits", 0), ("ulTagBits", 24), ("ulTagBits", 100),
                              ("ulTagBits", 136)]:
        p = params(raw, bytes(12))
        setattr(p.ptr, field_name, value)
        assert_rv(msg.one("Encrypt", p, b"", b"abcd")[0], "CKR_MECHANISM_PARAM_INVALID")
    assert_rv(call("C_EncryptMessage", h, good.ptr, good.size, b"", 0, b"abcd", 4, out,
                   ffi.NULL), "CKR_ARGUMENTS_BAD")
    assert_rv(call("C_EncryptMessage", h, good.ptr, good.size, b"", 0, ffi.NULL, 4, out, n),
              "CKR_ARGUMENTS_BAD")
    assert_rv(call("C_EncryptMessage", h, good.ptr, good.size, ffi.NULL, 3, b"abcd", 4, out, n),
              "CKR_ARGUMENTS_BAD")
    msg.seal(good, b"", b"abcd")  # still active


def test_init_params_and_key_checks(msg, raw, rsession, key):
    assert_rv(msg.init("Encrypt", key, b"\0" * 5), "CKR_MECHANISM_PARAM_INVALID")
    assert_rv(msg.init("Encrypt", key, mech=Mechanism.AES_CBC), "CKR_MECHANISM_INVALID")
    no_encrypt = raw.create_object(rsession, aes_key(KEY, ENCRYPT=False))
    assert_rv(msg.init("Encrypt", no_encrypt), "CKR_KEY_FUNCTION_NOT_PERMITTED")
    assert_rv(msg.init("Encrypt", 0xDEAD), "CKR_KEY_HANDLE_INVALID")
    # The spec's own example passes a CK_GCM_MESSAGE_PARAMS to the Init: accepted.
    assert_rv(msg.init("Encrypt", key, params(raw, bytes(12)).ptr), "CKR_OK")
    assert_rv(msg.init("Encrypt", key), "CKR_OPERATION_ACTIVE")
    assert_rv(msg.init("Decrypt", key), "CKR_OK")  # a separate process
    assert_rv(msg.final("Encrypt"), "CKR_OK")
    assert_rv(msg.final("Encrypt"), "CKR_OPERATION_NOT_INITIALIZED")
    assert_rv(msg.one("Encrypt", params(raw, bytes(12)), b"", b"x")[0],
              "CKR_OPERATION_NOT_INITIALIZED")


def test_length_query_and_short_buffer_take_no_invocation(msg, key):
    raw = msg.raw
    assert_rv(msg.init("Encrypt", key), "CKR_OK")
    first = params(raw, bytes(12), generator=CKG_GENERATE_COUNTER, fixed_bits=32)
    msg.seal(first, b"", b"0123456789")
    base = counter_of(first.iv(), 32)
    q = params(raw, bytes(12), generator=CKG_GENERATE_COUNTER, fixed_bits=32)
    rv, _, n = msg.one("Encrypt", q, b"", b"0123456789", capacity=-1)
    assert (rv, n, q.iv(), q.tag()) == (0, 10, bytes(12), bytes(16))
    rv, _, n = msg.one("Encrypt", q, b"", b"0123456789", capacity=9)
    assert_rv(rv, "CKR_BUFFER_TOO_SMALL")
    assert (n, q.iv()) == (10, bytes(12))
    msg.seal(q, b"", b"0123456789")
    assert counter_of(q.iv(), 32) == base + 1  # neither call took a number


def test_in_place(msg, key):
    ffi, raw = msg.ffi, msg.raw
    iv, data = os.urandom(12), os.urandom(100)
    assert_rv(msg.init("Encrypt", key), "CKR_OK")
    buf = ffi.new("CK_BYTE[]", data)
    p = params(raw, iv)
    n = raw.ulong_ptr(100)
    assert_rv(raw.call("C_EncryptMessage", msg.h, p.ptr, p.size, b"", 0, buf, 100, buf, n),
              "CKR_OK")
    assert ffi.buffer(buf, 100)[:] + p.tag() == AESGCM(KEY).encrypt(iv, data, b"")


def test_multipart_encrypt_matches_cryptography(msg, key):
    raw = msg.raw
    data, aad = os.urandom(1000), os.urandom(40)
    assert_rv(msg.init("Encrypt", key), "CKR_OK")
    p = params(raw, b"\x11\x22\x33\x44" + bytes(8), generator=CKG_GENERATE, fixed_bits=32,
               tag_bits=96)
    assert_rv(msg.begin("Encrypt", p, aad), "CKR_OK")
    iv = p.iv()  # written at Begin
    assert iv[:4] == b"\x11\x22\x33\x44"
    assert_rv(msg.one("Encrypt", params(raw, bytes(12)), b"", b"x")[0], "CKR_OPERATION_ACTIVE")
    assert_rv(msg.begin("Encrypt", p, aad), "CKR_OPERATION_ACTIVE")
    out = b""
    for lo, hi in [(0, 1), (1, 17), (17, 500)]:
        rv, part, n = msg.next("Encrypt", None, data[lo:hi], last=False)
        assert_rv(rv, "CKR_OK")
        out += part[:n]
    rv, _, n = msg.next("Encrypt", p, data[500:], last=True, capacity=-1)  # length query
    assert (rv, n) == (0, 500)
    rv, part, n = msg.next("Encrypt", p, data[500:], last=True)
    assert_rv(rv, "CKR_OK")
    out += part[:n]
    full = AESGCM(KEY).encrypt(iv, data, aad)
    assert (out, p.tag()) == (full[:1000], full[1000:1012])
    # The message is over, the process is not.
    assert_rv(msg.next("Encrypt", None, b"x", last=False)[0], "CKR_OPERATION_NOT_INITIALIZED")
    msg.seal(params(raw, bytes(12)), b"", b"again")


def test_multipart_decrypt_holds_plaintext_until_tag(msg, key):
    raw = msg.raw
    iv, data, aad = os.urandom(12), os.urandom(300), b"header"
    full = AESGCM(KEY).encrypt(iv, data, aad)
    assert_rv(msg.init("Decrypt", key), "CKR_OK")
    for tag, expect in [(full[300:], "CKR_OK"), (bytes(16), "CKR_ENCRYPTED_DATA_INVALID")]:
        assert_rv(msg.begin("Decrypt", params(raw, iv), aad), "CKR_OK")
        rv, _, n = msg.next("Decrypt", None, full[:200], last=False, capacity=200)
        assert (rv, n) == (0, 0)  # no plaintext before the tag
        d = params(raw, iv, tag=tag)
        rv, _, n = msg.next("Decrypt", d, full[200:300], last=True, capacity=10)
        assert (rv, n) == (CKR_BUFFER_TOO_SMALL, 300)  # the message goes on
        rv, out, n = msg.next("Decrypt", d, full[200:300], last=True, capacity=300)
        assert_rv(rv, expect)
        # A bad tag writes nothing: the buffer keeps its fill (0xAA)
        assert out == (data if expect == "CKR_OK" else b"\xaa" * 300)


def test_decrypt_bad_tag_writes_nothing(msg, key):
    iv, aad = os.urandom(12), b"a"
    full = AESGCM(KEY).encrypt(iv, b"secret plaintext", aad)
    assert_rv(msg.init("Decrypt", key), "CKR_OK")
    for bad_ct, bad_tag, bad_aad in [(True, False, False), (False, True, False),
                                     (False, False, True)]:
        ct = bytes([full[0] ^ bad_ct]) + full[1:16]
        tag = bytes([full[16] ^ bad_tag]) + full[17:]
        d = params(msg.raw, iv, tag=tag)
        rv, out, _ = msg.one("Decrypt", d, b"b" if bad_aad else aad, ct, fill=0xAA)
        assert_rv(rv, "CKR_ENCRYPTED_DATA_INVALID")
        assert out == b"\xaa" * 16  # nothing written: plaintext only after the tag


def test_next_flag_errors_end_the_message(msg, key):
    raw = msg.raw
    assert_rv(msg.init("Encrypt", key), "CKR_OK")
    assert_rv(msg.next("Encrypt", None, b"x", last=False)[0], "CKR_OPERATION_NOT_INITIALIZED")
    assert_rv(msg.begin("Encrypt", params(raw, bytes(12)), b""), "CKR_OK")
    assert_rv(msg.next("Encrypt", None, b"x", last=False, flags=2)[0], "CKR_ARGUMENTS_BAD")
    assert_rv(msg.next("Encrypt", None, b"x", last=False)[0], "CKR_OPERATION_NOT_INITIALIZED")
    assert_rv(msg.begin("Encrypt", params(raw, bytes(12)), b""), "CKR_OK")
    rv, _, n = msg.next("Encrypt", None, b"abc", last=False, capacity=1)
    assert (rv, n) == (CKR_BUFFER_TOO_SMALL, 3)  # keeps the message
    assert_rv(msg.next("Encrypt", None, b"abc", last=False)[0], "CKR_OK")
    # The last part needs its parameter (pTag): without it the message ends.
    assert_rv(msg.next("Encrypt", None, b"", last=True)[0], "CKR_MECHANISM_PARAM_INVALID")
    assert_rv(msg.next("Encrypt", None, b"", last=False)[0], "CKR_OPERATION_NOT_INITIALIZED")
    assert_rv(msg.final("Encrypt"), "CKR_OK")


def test_final_drops_an_unfinished_message(msg, key):
    assert_rv(msg.init("Encrypt", key), "CKR_OK")
    assert_rv(msg.begin("Encrypt", params(msg.raw, bytes(12)), b""), "CKR_OK")
    assert_rv(msg.final("Encrypt"), "CKR_OK")
    assert_rv(msg.init("Encrypt", key), "CKR_OK")




def test_wrong_tag_bits_at_last_part(msg, key):
    assert_rv(msg.init("Encrypt", key), "CKR_OK")
    assert_rv(msg.begin("Encrypt", params(msg.raw, bytes(12), tag_bits=128), b""), "CKR_OK")
    p = params(msg.raw, bytes(12), tag_bits=96)
    assert_rv(msg.next("Encrypt", p, b"x", last=True)[0], "CKR_MECHANISM_PARAM_INVALID")


def test_no_generate_is_not_counted_and_random_is(msg, raw, rsession):
    k = raw.create_object(rsession, aes_key(os.urandom(16)))
    assert_rv(msg.init("Encrypt", k), "CKR_OK")
    msg.seal(params(raw, os.urandom(12)), b"", b"x")
    msg.seal(params(raw, bytes(16), generator=CKG_GENERATE_RANDOM, fixed_bits=32), b"", b"x")
    p = params(raw, bytes(12), generator=CKG_GENERATE_COUNTER)
    msg.seal(p, b"", b"x")
    assert counter_of(p.iv(), 0) == 1  # the random IV took number 0


def test_key_with_no_generate_rejects_invalid(msg, key):
    assert_rv(msg.init("Encrypt", key), "CKR_OK")
    p = params(msg.raw, os.urandom(12), generator=CKG_NO_GENERATE, fixed_bits=99999)
    msg.seal(p, b"", b"ulIvFixedBits is not used without a generator")


def test_decrypt_with_wrong_key_or_aad_is_aead_failure(msg, raw, rsession):
    other = raw.create_object(rsession, aes_key(os.urandom(32)))
    iv = os.urandom(12)
    full = AESGCM(KEY).encrypt(iv, b"m", b"")
    assert_rv(msg.init("Decrypt", other), "CKR_OK")
    rv, _, _ = msg.one("Decrypt", params(raw, iv, tag=full[1:]), b"", full[:1])
    assert_rv(rv, "CKR_ENCRYPTED_DATA_INVALID")
    with pytest.raises(InvalidTag):
        AESGCM(KEY).decrypt(iv, full[:1] + bytes(16), b"")

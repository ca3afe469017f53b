"""PKCS#11 3.0 message-based AEAD with CKM_AES_GCM (base spec 5.13 "Message-based
encryption functions", 5.14 "... decryption functions"; current mechanisms, AES-GCM with
CK_GCM_MESSAGE_PARAMS), through the raw function list, cross-checked with ``cryptography``.

Token-generated IVs follow NIST SP 800-38D 8.2.1 (fixed field || invocation field) and
8.2.2 (random field); the invocation counter is per key, persisted, limited to 2^32 (8.3).
SoftHSMv2 2.6.1 has no message API at all: its cases are strict xfails (quirk
"no-message-api").
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from keystead.core import lib as core_lib
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
CKA_KS_GCM_INVOCATIONS = int(core_lib.CKA_KS_GCM_INVOCATIONS)  # include/keystead.h


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
    for tag, expect in [(full[300:], "CKR_OK"), (bytes(16), "CKR_AEAD_DECRYPT_FAILED")]:
        assert_rv(msg.begin("Decrypt", params(raw, iv), aad), "CKR_OK")
        rv, _, n = msg.next("Decrypt", None, full[:200], last=False, capacity=200)
        assert (rv, n) == (0, 0)  # no plaintext before the tag
        d = params(raw, iv, tag=tag)
        rv, _, n = msg.next("Decrypt", d, full[200:300], last=True, capacity=10)
        assert (rv, n) == (CKR_BUFFER_TOO_SMALL, 300)  # the message goes on
        rv, out, n = msg.next("Decrypt", d, full[200:300], last=True, capacity=300)
        assert_rv(rv, expect)
        assert out == (data if expect == "CKR_OK" else bytes(300))  # wiped on a bad tag


def test_decrypt_bad_tag_wipes_output(msg, key):
    iv, aad = os.urandom(12), b"a"
    full = AESGCM(KEY).encrypt(iv, b"secret plaintext", aad)
    assert_rv(msg.init("Decrypt", key), "CKR_OK")
    for bad_ct, bad_tag, bad_aad in [(True, False, False), (False, True, False),
                                     (False, False, True)]:
        ct = bytes([full[0] ^ bad_ct]) + full[1:16]
        tag = bytes([full[16] ^ bad_tag]) + full[17:]
        d = params(msg.raw, iv, tag=tag)
        rv, out, _ = msg.one("Decrypt", d, b"b" if bad_aad else aad, ct, fill=0xAA)
        assert_rv(rv, "CKR_AEAD_DECRYPT_FAILED")
        assert out == bytes(16)


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


def test_invocations_attribute_counts_reservations(msg, raw, rsession):
    k = raw.create_object(rsession, aes_key(os.urandom(32), TOKEN=True, LABEL="gcm-count"))
    try:
        assert_rv(msg.init("Encrypt", k), "CKR_OK")
        for _ in range(3):
            msg.seal(params(raw, bytes(12), generator=CKG_GENERATE), b"", b"x")
        msg.seal(params(raw, bytes(12)), b"", b"caller iv: not counted")
        assert _invocations(raw, rsession, k) == 4096  # one durable block, 3 numbers used
    finally:
        raw.destroy_object(rsession, k)


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
    assert_rv(rv, "CKR_AEAD_DECRYPT_FAILED")
    with pytest.raises(InvalidTag):
        AESGCM(KEY).decrypt(iv, full[:1] + bytes(16), b"")


# ---- the invocation counter across processes and at its limit (SP 800-38D 8.3) ----------

@contextmanager
def _token_store(module):
    """The main token's store, opened beside the module (SQLite serialises the two)."""
    from keystead.core import ffi, lib

    from tests.native.store_support import make_config

    path = module.token_env.token_dir / f"token-{module.slot}.sqlite"
    store = ffi.new("ks_store **")
    assert lib.ks_store_open(store, str(path).encode(), 0, make_config()) == 0
    try:
        yield store[0]
    finally:
        lib.ks_store_close(store[0])


def _store_counter(module, key: int) -> int:
    """The key's persisted "gcm" counter (what CKA_KS_GCM_INVOCATIONS reports)."""
    from keystead.core import ffi, lib

    with _token_store(module) as store:
        value = ffi.new("uint64_t *")
        assert lib.ks_store_counter_get(store, key, b"gcm", value) == 0
        return int(value[0])


def _invocations(raw, session: int, key: int) -> int:
    """CKA_KS_GCM_INVOCATIONS, read twice: the answer does not depend on the cache."""
    first = raw.get_attribute(session, key, CKA_KS_GCM_INVOCATIONS)
    assert raw.get_attribute(session, key, CKA_KS_GCM_INVOCATIONS) == first
    return int.from_bytes(first, "little")


_CHILD = r"""
import json, sys
from keystead.softhsm_bridge.raw import open_raw
from keystead.softhsm_bridge.ck import Attribute as A, CKU_USER, Mechanism
sys.path.insert(0, sys.argv[1])
from tests.conformance.message_support import CKG_GENERATE_COUNTER, Messages, params

path, serial, pin, label, rounds, per_round = sys.argv[2:8]
r = open_raw(path, initialize=False)
ivs = []
for _ in range(int(rounds)):  # each round: C_Initialize .. C_Finalize
    r.initialize()
    slot = next(s for s in r.slot_list(True) if r.token_info(s)["serial"] == serial)
    h = r.open_session(slot, rw=True)
    r.login(h, CKU_USER, pin)
    (key,) = r.find_objects(h, {A.LABEL: label})
    m = Messages(r, h)
    assert m.init("Encrypt", key) == 0
    for _ in range(int(per_round)):
        p = params(r, bytes(12), generator=CKG_GENERATE_COUNTER, fixed_bits=32)
        m.seal(p, b"", b"x")
        ivs.append(p.iv().hex())
    r.close_all_sessions(slot)
    r.finalize()
print(json.dumps(ivs))
"""


def test_counter_persists_across_processes_and_finalize(msg, module, raw, rsession):
    import json
    import subprocess
    import sys
    from pathlib import Path

    label = f"gcm-persist-{os.getpid()}-{os.urandom(4).hex()}"
    k = raw.create_object(rsession, aes_key(os.urandom(32), TOKEN=True, LABEL=label))
    assert_rv(msg.init("Encrypt", k), "CKR_OK")
    mine = []
    for _ in range(3):
        p = params(raw, bytes(12), generator=CKG_GENERATE_COUNTER, fixed_bits=32)
        msg.seal(p, b"", b"x")
        mine.append(p.iv().hex())
    root = str(Path(__file__).resolve().parents[2])
    argv = [sys.executable, "-c", _CHILD, root, module.info.path, module.token.serial,
            module.token.user_pin, label, "2", "5"]
    env = module.token_env.env()
    children = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
                for _ in range(3)]  # three processes at once
    outputs = [c.communicate(timeout=60)[0] for c in children]
    assert [c.returncode for c in children] == [0, 0, 0]
    theirs = [iv for out in outputs for iv in json.loads(out)]
    every = mine + theirs
    assert len(set(every)) == len(every) == 33  # no IV twice, across 3 processes x 2 runs
    counters = sorted(counter_of(bytes.fromhex(iv), 32) for iv in theirs)
    assert counters[0] >= 4096  # the children never touched this process's block
    # One durable block per process: a process keeps its reservation across
    # C_Finalize/C_Initialize (still unique: it was on disk before any number was used).
    assert _store_counter(module, k) == 4 * 4096
    assert _invocations(raw, rsession, k) == 4 * 4096
    raw.destroy_object(rsession, k)


def test_generated_iv_refused_at_2_32(msg, module, raw, rsession):
    """SP 800-38D 8.3: the 2^32nd invocation is the last. The count is raised through the
    token's store (ks_store_counter_add in this process, the module sees the same file)."""
    from keystead.core import ffi, lib

    k = raw.create_object(rsession, aes_key(os.urandom(16), TOKEN=True, LABEL="gcm-limit"))
    try:
        assert_rv(msg.init("Encrypt", k), "CKR_OK")  # SoftHSMv2 stops here (xfail)
        with _token_store(module) as store:
            assert lib.ks_store_counter_add(store, k, b"gcm", 2**32 - 2, 0, ffi.NULL) == 0
        got = []
        for _ in range(2):
            p = params(raw, bytes(12), generator=CKG_GENERATE, fixed_bits=32)
            msg.seal(p, b"", b"x")
            got.append(counter_of(p.iv(), 32))
        assert got == [2**32 - 2, 2**32 - 1]
        for gen in (CKG_GENERATE, CKG_GENERATE_COUNTER, CKG_GENERATE_RANDOM):
            p = params(raw, bytes(16), generator=gen, fixed_bits=32)
            rv, _, _ = msg.one("Encrypt", p, b"", b"x")
            assert_rv(rv, "CKR_KEY_FUNCTION_NOT_PERMITTED")
            assert_rv(msg.begin("Encrypt", p, b""), "CKR_KEY_FUNCTION_NOT_PERMITTED")
        assert _store_counter(module, k) == _invocations(raw, rsession, k) == 2**32
        msg.seal(params(raw, os.urandom(12)), b"", b"the caller's IV is the caller's business")
    finally:
        raw.destroy_object(rsession, k)


def test_forked_child_never_reuses_the_parents_numbers(msg, raw, rsession):
    """A child forked with a reservation in memory must not hand out its parent's numbers,
    even when it goes on using the parent's session without C_Initialize."""
    import json
    import signal
    import time

    k = raw.create_object(rsession, aes_key(os.urandom(16), TOKEN=True, LABEL="gcm-fork"))
    assert_rv(msg.init("Encrypt", k), "CKR_OK")

    def three() -> list[str]:
        out = []
        for _ in range(3):
            p = params(raw, bytes(12), generator=CKG_GENERATE_COUNTER, fixed_bits=32)
            msg.seal(p, b"", b"x")
            out.append(p.iv().hex())
        return out

    parent = three()  # the parent now holds numbers 3..4095 in memory
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.write(w, json.dumps(three()).encode())
        finally:
            os._exit(0)
    os.close(w)
    deadline = time.monotonic() + 30
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError("the forked child hung")
        time.sleep(0.05)
    with os.fdopen(r) as f:
        child = json.loads(f.read() or "[]")
    parent += three()
    assert len(child) == 3
    assert len(set(parent + child)) == 9
    assert min(counter_of(bytes.fromhex(iv), 32) for iv in child) >= 4096
    raw.destroy_object(rsession, k)

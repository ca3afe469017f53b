"""The GCM invocation counter of token-generated IVs (NIST SP 800-38D 8.2.1, 8.3) as the
message-based functions see it: reserved in durable blocks, so that no IV repeats across
processes, C_Finalize/C_Initialize or fork, and refused once 2^32 numbers are spent.
CKA_KS_GCM_INVOCATIONS reports the reserved count. SoftHSMv2 has no message API: strict
xfails (quirk "no-message-api")."""

from __future__ import annotations

import os
from contextlib import contextmanager

import pytest
from keystead.core import lib as core_lib

from .message_support import (
    CKG_GENERATE,
    CKG_GENERATE_COUNTER,
    CKG_GENERATE_RANDOM,
    Messages,
    counter_of,
    params,
)
from .support import aes_key, assert_rv

CKA_KS_GCM_INVOCATIONS = int(core_lib.CKA_KS_GCM_INVOCATIONS)  # include/keystead.h


@pytest.fixture
def msg(module, raw, rsession, xfail_quirk):
    """Messages on a logged-in session (SoftHSMv2: strict xfail)."""
    xfail_quirk(module, "no-message-api")
    return Messages(raw, rsession)


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
            # The store authenticates counters: only a holder of the token key writes one.
            pin = module.token.user_pin.encode()
            key = ffi.new("uint8_t[32]")
            assert lib.ks_store_login(store, lib.CKU_USER, pin, len(pin), key) == 0
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


def test_threads_on_separate_sessions_share_one_counter(msg, module, raw, rsession):
    """Four threads, four sessions, one key: 800 IVs, none twice (the reservation table is
    shared under its lock)."""
    from concurrent.futures import ThreadPoolExecutor

    k = raw.create_object(rsession, aes_key(os.urandom(16), TOKEN=True, LABEL="gcm-threads"))
    assert_rv(msg.init("Encrypt", k), "CKR_OK")  # SoftHSMv2 stops here (xfail)

    def worker(_: int) -> list[bytes]:
        h = raw.open_session(module.slot, rw=True)  # the login is the application's
        m = Messages(raw, h)
        assert_rv(m.init("Encrypt", k), "CKR_OK")
        ivs = []
        for _ in range(200):
            p = params(raw, bytes(12), generator=CKG_GENERATE_COUNTER, fixed_bits=32)
            m.seal(p, b"", b"x")
            ivs.append(p.iv())
        raw.close_session(h)
        return ivs

    with ThreadPoolExecutor(4) as pool:
        every = [iv for ivs in pool.map(worker, range(4)) for iv in ivs]
    assert len(set(every)) == len(every) == 800
    raw.destroy_object(rsession, k)

"""The token enforces each key's NIST SP 800-57 lifecycle state, usage periods and usage limit
on every operation class, for any application (README, "Key lifecycle in the token").

These are keystead's vendor attributes (native/include/keystead.h): SoftHSMv2 has none, so
its cases are skipped rather than expected to fail.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
from keystead.softhsm_bridge.ck import KS_VENDOR, KeyType, Mechanism, ObjectClass
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.errors import CKR_OK

from .support import assert_rv

VENDOR = KS_VENDOR
STATE = VENDOR | 0x01
PROCESS_START = VENDOR | 0x02
PROCESS_END = VENDOR | 0x03
USAGE_COUNT = VENDOR | 0x04
USAGE_LIMIT = VENDOR | 0x05
OVERRIDE = VENDOR | 0x06
REASON = VENDOR | 0x08

PRE, ACTIVE, SUSPENDED, DEACTIVATED, COMPROMISED, DESTROYED = range(6)
NAMES = ["pre-activation", "active", "suspended", "deactivated", "compromised", "destroyed"]

# README (key lifecycle): may the key protect / process in each state (override: process only).
PROTECT = {ACTIVE}
PROCESS = {ACTIVE, DEACTIVATED}
PROCESS_WITH_OVERRIDE = {ACTIVE, DEACTIVATED, SUSPENDED, COMPROMISED}

ECB = Mechanism.AES_ECB
CMAC = Mechanism.AES_CMAC
CTR = Mechanism.AES_CTR
KW = Mechanism.AES_KEY_WRAP


@pytest.fixture()
def ks(module, raw, rsession):
    if module.info.kind != "keystead":
        pytest.skip("lifecycle, usage periods and limits are keystead's vendor attributes")
    return raw, rsession


def key(raw, session, state: int = ACTIVE, token: bool = False,
        extra: dict[int, object] | None = None) -> int:
    attrs = {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES, A.VALUE: os.urandom(32),
             A.TOKEN: token, A.SENSITIVE: True, A.EXTRACTABLE: True, A.ENCRYPT: True,
             A.DECRYPT: True, A.SIGN: True, A.VERIFY: True, A.WRAP: True, A.UNWRAP: True,
             STATE: PRE if state == PRE else ACTIVE}
    attrs.update(extra or {})
    handle = raw.create_object(session, attrs)
    if state not in (PRE, ACTIVE):
        raw.set_attributes(session, handle, {STATE: state, REASON: f"test: {NAMES[state]}"})
    return handle


def init_rv(raw, session, what: str, mech: int, handle: int, param: object = None) -> int:
    rv = raw.call(f"C_{what}Init", session, raw.mechanism(mech, param).ptr, handle)
    if rv == CKR_OK:  # end it: the next case starts clean
        raw.call("C_SessionCancel", session, 0xFFFFFFFF)
    return rv


def wrap_rv(raw, session, kek: int) -> int:
    target = key(raw, session)
    rv, _, _ = raw.call_out("C_WrapKey", session, raw.mechanism(KW).ptr, kek, target,
                            capacity=None)
    return rv


def unwrap_rv(raw, session, kek: int) -> int:
    h = raw.ffi.new("CK_OBJECT_HANDLE *")
    t = raw.template({A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES})
    blob = bytes(40)  # a wrong blob: only the state decides whether the token looks at it
    return raw.call("C_UnwrapKey", session, raw.mechanism(KW).ptr, kek, blob, len(blob),
                    t.ptr, t.count, h)


OPERATIONS = [
    ("encrypt", "protect", lambda r, s, k: init_rv(r, s, "Encrypt", ECB, k)),
    ("sign", "protect", lambda r, s, k: init_rv(r, s, "Sign", CMAC, k)),
    ("wrap", "protect", wrap_rv),
    # CTR decryption is CTR encryption: E_K of chosen counter blocks, so it protects too
    ("decrypt-ctr", "protect", lambda r, s, k: init_rv(r, s, "Decrypt", CTR, k, r.ctr(bytes(16)))),
    ("decrypt", "process", lambda r, s, k: init_rv(r, s, "Decrypt", ECB, k)),
    ("verify", "process", lambda r, s, k: init_rv(r, s, "Verify", CMAC, k)),
    ("unwrap", "process", unwrap_rv),
]


@pytest.mark.parametrize("override", [False, True], ids=["plain", "override"])
@pytest.mark.parametrize("state", range(6), ids=NAMES)
@pytest.mark.parametrize("op", OPERATIONS, ids=[o[0] for o in OPERATIONS])
def test_state_decides_every_operation_class(ks, op, state, override):
    raw, session = ks
    name, use, run = op
    handle = key(raw, session, state)
    if override:
        raw.set_attributes(session, handle, {OVERRIDE: True})
    if use == "protect":
        allowed = state in PROTECT
    else:
        allowed = state in (PROCESS_WITH_OVERRIDE if override else PROCESS)
    rv = run(raw, session, handle)
    if allowed:
        # unwrap of a wrong blob is refused for the blob, not for the state
        expected = "CKR_WRAPPED_KEY_INVALID" if name == "unwrap" else "CKR_OK"
        assert_rv(rv, expected)
    else:
        assert_rv(rv, "CKR_KEY_FUNCTION_NOT_PERMITTED")


@pytest.mark.parametrize("start", range(6), ids=NAMES)
@pytest.mark.parametrize("end", range(6), ids=NAMES)
def test_only_the_table_edges_move_a_key(ks, start, end):
    raw, session = ks
    allowed = {PRE: {ACTIVE, COMPROMISED, DESTROYED},
               ACTIVE: {SUSPENDED, DEACTIVATED, COMPROMISED, DESTROYED},
               SUSPENDED: {ACTIVE, DEACTIVATED, COMPROMISED, DESTROYED},
               DEACTIVATED: {COMPROMISED, DESTROYED},
               COMPROMISED: {DESTROYED}, DESTROYED: set()}
    reach = {PRE: [], ACTIVE: [], SUSPENDED: [SUSPENDED], DEACTIVATED: [DEACTIVATED],
             COMPROMISED: [COMPROMISED], DESTROYED: [DESTROYED]}
    handle = key(raw, session, PRE if start == PRE else ACTIVE)
    for step in reach[start]:
        raw.set_attributes(session, handle, {STATE: step})
    if start == end:
        return
    t = raw.template({STATE: end})
    rv = raw.call("C_SetAttributeValue", session, handle, t.ptr, t.count)
    got = int.from_bytes(raw.get_attribute(session, handle, STATE), "little")
    if end in allowed[start]:
        assert_rv(rv, "CKR_OK")
        assert got == end
    else:
        assert_rv(rv, "CKR_ATTRIBUTE_VALUE_INVALID")
        assert got == start, "a refused transition changes nothing"


def test_destroyed_key_keeps_metadata_not_value(ks):
    raw, session = ks
    handle = key(raw, session, extra={A.SENSITIVE: False, A.LABEL: "to-destroy"})
    raw.set_attributes(session, handle, {STATE: DESTROYED})
    assert raw.get_attribute(session, handle, A.LABEL) == b"to-destroy"
    res = raw.get_attributes(session, handle, [A.VALUE])
    assert res.rv != CKR_OK or not res.values.get(A.VALUE), "the value must be gone"


def date(delta_days: int) -> bytes:
    return (dt.datetime.now(dt.UTC).date()
            + dt.timedelta(days=delta_days)).strftime("%Y%m%d").encode()


@pytest.mark.parametrize("window, protect_ok, process_ok", [
    ({A.START_DATE: date(1)}, False, True),
    ({A.END_DATE: date(-1)}, False, True),
    ({A.START_DATE: date(-1), A.END_DATE: date(1)}, True, True),
    ({PROCESS_START: date(1)}, True, False),
    ({PROCESS_END: date(-1)}, True, False),
    ({PROCESS_START: date(-1), PROCESS_END: date(1)}, True, True),
], ids=["protect-not-yet", "protect-over", "protect-open", "process-not-yet", "process-over",
        "process-open"])
def test_usage_periods_bound_protect_and_process(ks, window, protect_ok, process_ok):
    raw, session = ks
    handle = key(raw, session, extra=window)
    ctr = raw.ctr(bytes(16))
    for what, mech, ok, param in (("Encrypt", ECB, protect_ok, None),
                                  ("Sign", CMAC, protect_ok, None),
                                  ("Decrypt", ECB, process_ok, None),
                                  ("Verify", CMAC, process_ok, None),
                                  ("Decrypt", CTR, protect_ok and process_ok, ctr)):
        rv = init_rv(raw, session, what, mech, handle, param)
        assert_rv(rv, "CKR_OK" if ok else "CKR_KEY_FUNCTION_NOT_PERMITTED")


def test_usage_limit_refuses_at_the_limit_and_counts_exactly(ks):
    raw, session = ks
    handle = key(raw, session, token=True)
    try:
        raw.set_attributes(session, handle, {USAGE_LIMIT: 3})
        for _ in range(3):
            assert_rv(init_rv(raw, session, "Encrypt", ECB, handle), "CKR_OK")
        assert_rv(init_rv(raw, session, "Decrypt", ECB, handle),
                  "CKR_KEY_FUNCTION_NOT_PERMITTED")
        count = int.from_bytes(raw.get_attribute(session, handle, USAGE_COUNT), "little")
        assert count == 3
        t = raw.template({USAGE_LIMIT: 2})  # below the count: refused
        assert raw.call("C_SetAttributeValue", session, handle, t.ptr, t.count) != CKR_OK
    finally:
        raw.destroy_object(session, handle)


def test_usage_count_is_read_only(ks):
    raw, session = ks
    handle = key(raw, session)
    t = raw.template({USAGE_COUNT: 0})
    assert_rv(raw.call("C_SetAttributeValue", session, handle, t.ptr, t.count),
              "CKR_ATTRIBUTE_READ_ONLY")

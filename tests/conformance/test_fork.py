"""Fork safety (keystead only; PKCS#11 3.0 5.4 leaves a child's use of its parent's Cryptoki
undefined until it calls C_Initialize): until a forked child calls C_Initialize, every call
answers CKR_CRYPTOKI_NOT_INITIALIZED; after it, nothing of the parent is shared (sessions,
login, session objects, random state) and no GCM IV is handed out twice for a token key in
parent and child. Children are made with os.fork and with multiprocessing's "fork" start
method; each reports through a pipe and the parent waits for its exit (no timing)."""

from __future__ import annotations

import json
import multiprocessing
import os
from typing import Any

import pytest
from keystead.softhsm_bridge.ck import CKU_USER
from keystead.softhsm_bridge.ck import Attribute as A

from .message_support import CKG_GENERATE_COUNTER, Messages, counter_of, params
from .support import aes_key, assert_rv

NOT_INITIALIZED = 0x190
SESSION_HANDLE_INVALID = 0xB3
CKS_RW_PUBLIC_SESSION = 2


@pytest.fixture
def keystead_only(module):
    if module.name != "keystead":
        pytest.skip("keystead's own fork behaviour (SoftHSMv2 leaves it undefined)")
    return module


def _seal_three(raw: Any, session: int) -> list[str]:
    m = Messages(raw, session)
    ivs = []
    for _ in range(3):
        p = params(raw, bytes(12), generator=CKG_GENERATE_COUNTER, fixed_bits=32)
        m.seal(p, b"", b"x")
        ivs.append(p.iv().hex())
    return ivs


def _before_initialize(raw: Any, slot: int, parent_session: int) -> dict[str, int]:
    """The child's calls on what it inherited, before its own C_Initialize."""
    ffi = raw.ffi
    n = raw.ulong_ptr()
    h = ffi.new("CK_SESSION_HANDLE *")
    p = params(raw, bytes(12), generator=CKG_GENERATE_COUNTER, fixed_bits=32)
    out, out_len = ffi.new("CK_BYTE[1]"), raw.ulong_ptr(1)
    return {
        "C_GetInfo": raw.call("C_GetInfo", ffi.new("CK_INFO *")),
        "C_GetSlotList": raw.call("C_GetSlotList", 1, ffi.NULL, n),
        "C_OpenSession": raw.call("C_OpenSession", slot, 6, ffi.NULL, ffi.NULL, h),
        "C_GetSessionInfo": raw.call("C_GetSessionInfo", parent_session,
                                     ffi.new("CK_SESSION_INFO *")),
        "C_EncryptMessage": raw.call("C_EncryptMessage", parent_session, p.ptr, p.size,
                                     b"", 0, b"x", 1, out, out_len),
        "C_GenerateRandom": raw.call("C_GenerateRandom", parent_session,
                                     ffi.new("CK_BYTE[16]"), 16),
        "C_Logout": raw.call("C_Logout", parent_session),
        "C_Finalize": raw.call("C_Finalize", ffi.NULL),
    }


def _child_report(raw: Any, slot: int, pin: str, parent_session: int, key_label: str,
                  object_label: str) -> dict[str, Any]:
    """All a child checks, as JSON-able data for the parent to assert on."""
    before = _before_initialize(raw, slot, parent_session)
    raw.initialize()
    h = raw.open_session(slot, rw=True)
    state = raw.session_info(h)["state"]
    old = raw.call("C_GetSessionInfo", parent_session, raw.ffi.new("CK_SESSION_INFO *"))
    assert_rv(raw.login(h, CKU_USER, pin), "CKR_OK")
    key = raw.find_objects(h, {A.LABEL: key_label})
    assert len(key) == 1
    assert_rv(Messages(raw, h).init("Encrypt", key[0]), "CKR_OK")
    return {
        "before": before, "state": state, "old_session": old,
        "session_objects": raw.find_objects(h, {A.LABEL: object_label}),
        "ivs": _seal_three(raw, h), "random": raw.generate_random(h, 32).hex(),
        "uids": _three_uids(raw, h),
    }


def _three_uids(raw: Any, session: int) -> list[str]:
    """The CKA_UNIQUE_ID of three new session objects (drawn from a pool of random IDs)."""
    made = [raw.create_object(session, aes_key(os.urandom(16))) for _ in range(3)]
    uids = [raw.get_attribute(session, h, A.UNIQUE_ID).hex() for h in made]
    for h in made:
        raw.destroy_object(session, h)
    return uids


def _forked(fn: Any, *args: Any) -> dict[str, Any]:
    """fn(*args) in an os.fork child; its JSON result (or the error it raised)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            try:
                data = {"ok": fn(*args)}
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                data = {"error": repr(exc)}
            os.write(w, json.dumps(data).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        text = f.read()
    os.waitpid(pid, 0)
    data = json.loads(text)
    assert "error" not in data, data.get("error")
    return data["ok"]


def _mp_target(conn: Any, *args: Any) -> None:  # pragma: no cover - runs in the child
    try:
        conn.send({"ok": _child_report(*args)})
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        conn.send({"error": repr(exc)})
    conn.close()


def _mp_forked(*args: Any) -> dict[str, Any]:
    ctx = multiprocessing.get_context("fork")
    parent_end, child_end = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_mp_target, args=(child_end, *args))
    p.start()
    child_end.close()
    data = parent_end.recv()
    p.join()
    assert "error" not in data, data.get("error")
    return data["ok"]


@pytest.mark.parametrize("start", ["os.fork", "multiprocessing-fork"])
def test_forked_child(keystead_only, raw, rsession, start: str) -> None:
    module = keystead_only
    tag = f"fork-{start}-{os.urandom(4).hex()}"
    key = raw.create_object(rsession, aes_key(os.urandom(32), TOKEN=True, LABEL=tag))
    raw.create_object(rsession, aes_key(os.urandom(16), LABEL=tag + "-session"))
    try:
        msg = Messages(raw, rsession)
        assert_rv(msg.init("Encrypt", key), "CKR_OK")
        parent = _seal_three(raw, rsession)  # the parent now holds a block of numbers
        parent_random = raw.generate_random(rsession, 32).hex()
        args = (raw, module.slot, module.token.user_pin, rsession, tag, tag + "-session")
        child = _forked(_child_report, *args) if start == "os.fork" else _mp_forked(*args)
        parent += _seal_three(raw, rsession)  # the parent goes on from its block
        parent_uids = _three_uids(raw, rsession)  # and from its pool of unique IDs

        assert child["before"] == {fn: NOT_INITIALIZED for fn in child["before"]}
        assert child["state"] == CKS_RW_PUBLIC_SESSION  # the parent's login is not shared
        assert child["old_session"] == SESSION_HANDLE_INVALID
        assert child["session_objects"] == []
        assert len(set(parent + child["ivs"])) == 9
        assert min(counter_of(bytes.fromhex(iv), 32) for iv in child["ivs"]) >= 4096
        assert child["random"] != parent_random
        assert len(set(parent_uids + child["uids"])) == 6
        # The parent's module is untouched by the child's C_Initialize and exit.
        assert raw.session_info(rsession)["state"] == 3  # CKS_RW_USER_FUNCTIONS
        assert len(raw.find_objects(rsession, {A.LABEL: tag + "-session"})) == 1
    finally:
        raw.destroy_object(rsession, key)


def test_two_generations_of_children(keystead_only, raw, rsession) -> None:
    """A grandchild forked from an initialised child is refused until it initialises too,
    and its IVs are new again."""
    module = keystead_only
    tag = f"fork-gen-{os.urandom(4).hex()}"
    key = raw.create_object(rsession, aes_key(os.urandom(32), TOKEN=True, LABEL=tag))
    try:
        assert_rv(Messages(raw, rsession).init("Encrypt", key), "CKR_OK")
        parent = _seal_three(raw, rsession)
        args = (raw, module.slot, module.token.user_pin, rsession, tag, tag + "-none")

        def child() -> dict[str, Any]:
            mine = _child_report(*args)
            grandchild = _forked(_child_report, *args)
            return {"child": mine["ivs"], "grandchild": grandchild}

        got = _forked(child)
        g = got["grandchild"]
        assert g["before"] == {fn: NOT_INITIALIZED for fn in g["before"]}
        assert len(set(parent + got["child"] + g["ivs"])) == 9
    finally:
        raw.destroy_object(rsession, key)

"""Workers of test_concurrency: ``python -m tests.robustness.conc_worker CMD SERIAL ...``.

* ``setup SERIAL LIMIT VICTIMS``: create the shared keys: "limited" (CKA_KS_USAGE_LIMIT =
  LIMIT), "leased" (no limit), "board" (whose CKA_ID every thread overwrites) and VICTIMS
  keys "victim-<i>" that process 0 destroys while the others use them;
* ``work SERIAL PROC THREADS ROUNDS START``: at wall-clock time START, THREADS threads, each
  with its own session, doing ROUNDS rounds of: append one byte to its own key's CKA_ID,
  encrypt with "limited" and "leased", write "board", create a temporary key and destroy
  every other one, use a victim (process 0's threads destroy them); prints one JSON line
  of what each thread saw;
* ``check SERIAL``: print the token's final state as JSON.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.ck import Mechanism as M
from keystead.softhsm_bridge.errors import PKCS11Error

from tests.robustness.support import (
    CKA_KS_USAGE_COUNT,
    USER_PIN,
    key_template,
    open_token,
)

BLOCK = bytes(16)
# What using a key that another process destroyed may answer (5.5: handles of destroyed
# objects are invalid).
GONE = {"CKR_KEY_HANDLE_INVALID", "CKR_OBJECT_HANDLE_INVALID"}


def find_one(r: Any, h: int, label: str) -> int | None:
    found = r.find_objects(h, {A.LABEL: label})
    assert len(found) <= 1, f"{len(found)} objects labelled {label}"
    return found[0] if found else None


def setup(serial: str, limit: int, victims: int) -> None:
    r, slot, h = open_token(serial)
    r.create_object(h, key_template("limited", True, limit, b"limited:0"))
    r.create_object(h, key_template("leased", True, 0, b"leased:0"))
    r.create_object(h, key_template("board", True, 0, b"board:0"))
    for i in range(victims):
        r.create_object(h, key_template(f"victim-{i}", True, 0, b"v"))
    r.close_all_sessions(slot)
    r.finalize()


def encrypt_rv(r: Any, h: int, key: int) -> str:
    """The outcome of one single-part encryption as a CKR_ name ("CKR_OK" on success)."""
    try:
        r.encrypt(h, M.AES_ECB, key, BLOCK)
        return "CKR_OK"
    except PKCS11Error as exc:
        return exc.name


def thread_work(r: Any, slot: int, name: str, rounds: int, destroyer: bool,
                out: dict[str, Any]) -> None:
    h = r.open_session(slot, rw=True)
    shared = {lab: find_one(r, h, lab) for lab in ("limited", "leased", "board")}
    victims = sorted(r.find_objects(h, {A.ID: b"v"}))
    own = r.create_object(h, key_template(f"own-{name}", True, 0, b""))
    res: dict[str, Any] = {"limited_ok": 0, "limited_refused": 0, "leased_ok": 0,
                           "board_last": None, "tmp_kept": [], "victim_uses": [],
                           "destroyed_at": {}, "errors": []}
    for k in range(rounds):
        ident = r.get_attribute(h, own, A.ID)  # read-modify-write of a key only we touch
        r.set_attributes(h, own, {A.ID: ident + bytes([k])})
        rv = encrypt_rv(r, h, shared["limited"])
        if rv == "CKR_OK":
            res["limited_ok"] += 1
        elif rv == "CKR_KEY_FUNCTION_NOT_PERMITTED":
            res["limited_refused"] += 1
        else:
            res["errors"].append(f"limited: {rv}")
        rv = encrypt_rv(r, h, shared["leased"])
        res["leased_ok"] += rv == "CKR_OK"
        if rv != "CKR_OK":
            res["errors"].append(f"leased: {rv}")
        board = f"board:{name}:{k}".encode()
        r.set_attributes(h, shared["board"], {A.ID: board})
        res["board_last"] = board.decode()
        tmp_label = f"tmp-{name}-{k}"
        tmp = r.create_object(h, key_template(tmp_label, k % 3 == 0, 0, b"t"))
        if k % 2:
            r.destroy_object(h, tmp)
        else:
            res["tmp_kept"].append(tmp_label)
        if victims:
            v = victims[k % len(victims)]
            if destroyer and k == rounds // 2:
                for v2 in victims:
                    try:
                        r.destroy_object(h, v2)
                    except PKCS11Error as exc:  # another destroyer thread was first
                        if exc.name not in GONE:
                            res["errors"].append(f"destroy victim: {exc.name}")
                res["destroyed_at"] = time.monotonic()
            start = time.monotonic()
            rv = encrypt_rv(r, h, v)
            res["victim_uses"].append([start, rv])
            if rv not in GONE | {"CKR_OK"}:
                res["errors"].append(f"victim: {rv}")
    res["own_id"] = r.get_attribute(h, own, A.ID).hex()
    r.close_session(h)
    out[name] = res


def work(serial: str, proc: int, threads: int, rounds: int) -> None:
    r, slot, h = open_token(serial)  # logs the application in; threads open their own
    out: dict[str, Any] = {}
    # A barrier across processes: say "ready" once logged in, then wait for the parent's
    # "go", which it sends when every process is ready (an event, not a time).
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("the parent ended the run before it began")
    failures: list[str] = []

    def run(name: str) -> None:
        try:
            thread_work(r, slot, name, rounds, proc == 0, out)
        except BaseException as exc:
            failures.append(f"{name}: {exc!r}")

    ts = [threading.Thread(target=run, args=(f"p{proc}t{t}",)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    r.close_all_sessions(slot)
    r.finalize()
    print(json.dumps({"threads": out, "failures": failures}))


def check(serial: str) -> None:
    r, slot, h = open_token(serial)
    state: dict[str, Any] = {"labels": [], "counts": {}, "ids": {}}
    for handle in r.find_objects(h, {}):
        res = r.get_attributes(h, handle, [A.LABEL, A.ID, CKA_KS_USAGE_COUNT])
        label = res.values[A.LABEL].decode()
        state["labels"].append(label)
        state["ids"][label] = res.values[A.ID].hex()
        state["counts"][label] = int.from_bytes(res.values[CKA_KS_USAGE_COUNT], sys.byteorder)
    r.close_all_sessions(slot)
    r.finalize()
    print(json.dumps(state))


if __name__ == "__main__":
    cmd, serial, *args = sys.argv[1:]
    assert USER_PIN
    if cmd == "setup":
        setup(serial, int(args[0]), int(args[1]))
    elif cmd == "work":
        work(serial, int(args[0]), int(args[1]), int(args[2]))
    else:
        check(serial)

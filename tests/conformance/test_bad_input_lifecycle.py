"""Bad input, part 3 (see test_bad_input.py): every function before C_Initialize and after
C_Finalize, C_Initialize/C_Finalize arguments, C_Finalize with busy sessions (PKCS#11 3.0
5.4). It runs in a child process that never loads python-pkcs11 (raw layer only).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from keystead.softhsm_bridge.errors import CKR_OK, rv_name

from .bad_input_cases import ALL_FUNCTIONS, BEFORE_INIT_OK, V30
from .support import assert_rv, code

# -- 11. before C_Initialize and after C_Finalize ---------------------------------------------

_CHILD = textwrap.dedent("""
    import json, sys
    from keystead.softhsm_bridge.ck import CKU_USER, Attribute as A, KeyType as K
    from keystead.softhsm_bridge.ck import Mechanism as M, ObjectClass as O
    from keystead.softhsm_bridge.raw import open_raw
    from tests.conformance.bad_input_cases import (
        ALL_FUNCTIONS, BEFORE_INIT_OK, SHAPED, SHAPED_NO_SESSION, V30, Ctx)
    r = open_raw(sys.argv[1], initialize=False)
    c = Ctx(r, 1, 1, 0)
    def sweep():
        out = {}
        for fn in ALL_FUNCTIONS:
            if fn in BEFORE_INIT_OK or (fn in V30 and not r.has_v3):
                continue
            args = SHAPED[fn](c, 1) if fn in SHAPED else SHAPED_NO_SESSION[fn](c, 0)
            out[fn] = r.call(fn, *args)
        return out
    res = {"before": sweep()}
    a = r.ffi.new("CK_C_INITIALIZE_ARGS *")
    a.pReserved = r.ffi.cast("void *", 1)
    res["init_reserved"] = r.call("C_Initialize", a)
    a = r.ffi.new("CK_C_INITIALIZE_ARGS *")
    a.CreateMutex = r.ffi.cast("CK_CREATEMUTEX", 1)
    res["init_some_callbacks"] = r.call("C_Initialize", a)
    res["init"] = r.call("C_Initialize", r.ffi.NULL)
    res["init_again"] = r.call("C_Initialize", r.ffi.NULL)
    # Sessions open, one with an encryption and a find active, when C_Finalize comes.
    slot = next(s for s in r.slot_list() if r.token_info(s)["serial"] == sys.argv[2])
    def busy_session():
        h = r.open_session(slot, rw=True)
        r.login(h, CKU_USER, sys.argv[3])
        k = r.create_object(h, {A.CLASS: O.SECRET_KEY, A.KEY_TYPE: K.AES, A.TOKEN: False,
                                A.ENCRYPT: True, A.VALUE: bytes(16)})
        r.op_init("Encrypt", h, M.AES_ECB, k)
        return h, k
    h, k = busy_session()
    r.check("C_FindObjectsInit", r.open_session(slot, rw=False), r.ffi.NULL, 0)
    res["finalize_reserved"] = r.call("C_Finalize", r.ffi.cast("void *", 1))
    res["finalize"] = r.call("C_Finalize", r.ffi.NULL)
    res["reinit"] = r.call("C_Initialize", r.ffi.NULL)
    res["stale_session"] = r.call("C_GetSessionInfo", h, r.ffi.new("CK_SESSION_INFO *"))
    h2, k2 = busy_session()
    res["fresh_encrypt"] = r.call("C_Encrypt", h2, bytes(16), 16, r.ffi.NULL, r.ulong_ptr())
    res["finalize_again"] = r.call("C_Finalize", r.ffi.NULL)
    res["after"] = sweep()
    res["v3"] = r.has_v3
    print(json.dumps(res))
""")


@pytest.fixture(scope="module")
def lifecycle(module: Any) -> dict[str, Any]:
    env = module.token_env.env() if module.token_env else dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", _CHILD, module.info.path, module.token.serial,
                           module.token.user_pin], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("phase", ["before", "after"])
def test_not_initialized(phase: str, lifecycle: dict[str, Any]) -> None:
    """5.4: every function but C_Initialize, C_GetFunctionList, C_GetInterfaceList and
    C_GetInterface is CKR_CRYPTOKI_NOT_INITIALIZED before C_Initialize and after
    C_Finalize."""
    got = lifecycle[phase]
    want = set(ALL_FUNCTIONS) - BEFORE_INIT_OK - (set() if lifecycle["v3"] else set(V30))
    assert set(got) == want
    wrong = {fn: rv_name(rv) for fn, rv in got.items()
             if rv != code("CKR_CRYPTOKI_NOT_INITIALIZED")}
    assert not wrong, wrong


def test_initialize_finalize_arguments(lifecycle: dict[str, Any]) -> None:
    """5.4 C_Initialize: pReserved must be NULL and the mutex callbacks all or none
    (CKR_ARGUMENTS_BAD); a second call is CKR_CRYPTOKI_ALREADY_INITIALIZED; C_Finalize's
    pReserved must be NULL."""
    assert_rv(lifecycle["init"], CKR_OK)
    assert_rv(lifecycle["init_again"], "CKR_CRYPTOKI_ALREADY_INITIALIZED")
    assert_rv(lifecycle["finalize"], CKR_OK)


def test_finalize_with_busy_sessions(lifecycle: dict[str, Any]) -> None:
    """5.4 C_Finalize with sessions open (an encryption active in one, a find in another)
    succeeds;
    after C_Initialize the old session handle is invalid (5.6) and a new session works."""
    assert_rv(lifecycle["finalize"], CKR_OK)
    assert_rv(lifecycle["reinit"], CKR_OK)
    assert_rv(lifecycle["stale_session"], "CKR_SESSION_HANDLE_INVALID")
    assert_rv(lifecycle["fresh_encrypt"], CKR_OK)
    assert_rv(lifecycle["finalize_again"], CKR_OK)
    assert_rv(lifecycle["init_reserved"], "CKR_ARGUMENTS_BAD")
    assert_rv(lifecycle["init_some_callbacks"], "CKR_ARGUMENTS_BAD")
    assert_rv(lifecycle["finalize_reserved"], "CKR_ARGUMENTS_BAD")

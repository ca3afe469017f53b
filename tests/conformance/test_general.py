"""PKCS#11 3.0 base specification 5.4: general-purpose functions and interfaces.

C_Initialize/C_Finalize scenarios run in a subprocess (run_raw): in the test process the
module stays initialised for python-pkcs11.
"""

from __future__ import annotations

from keystead.softhsm_bridge.ck import CKF_OS_LOCKING_OK
from keystead.softhsm_bridge.errors import rv_value

from .support import assert_rv, run_raw

NOT_INIT = rv_value("CKR_CRYPTOKI_NOT_INITIALIZED")


def test_calls_before_initialize_are_refused(module):
    out = run_raw(module.info.path, """
        info = ffi.new("CK_INFO *")
        count = ffi.new("CK_ULONG *")
        h = ffi.new("CK_SESSION_HANDLE *")
        out["info"] = r.call("C_GetInfo", info)
        out["slots"] = r.call("C_GetSlotList", 0, NULL, count)
        out["open"] = r.call("C_OpenSession", 0, 4, NULL, NULL, h)
        out["finalize"] = r.call("C_Finalize", NULL)
    """)
    for name in ("info", "slots", "open", "finalize"):
        assert_rv(out[name], "CKR_CRYPTOKI_NOT_INITIALIZED")


def test_initialize_twice_is_already_initialized(module):
    out = run_raw(module.info.path, """
        out["first"] = r.call("C_Initialize", NULL)
        out["second"] = r.call("C_Initialize", NULL)
        out["finalize"] = r.call("C_Finalize", NULL)
    """)
    assert_rv(out["first"], "CKR_OK")
    assert_rv(out["second"], "CKR_CRYPTOKI_ALREADY_INITIALIZED")
    assert_rv(out["finalize"], "CKR_OK")


def test_initialize_with_os_locking_ok(module):
    out = run_raw(module.info.path, f"""
        args = ffi.new("CK_C_INITIALIZE_ARGS *")
        args.flags = {CKF_OS_LOCKING_OK}
        out["init"] = r.call("C_Initialize", args)
        out["info"] = r.call("C_GetInfo", ffi.new("CK_INFO *"))
        out["finalize"] = r.call("C_Finalize", NULL)
    """)
    assert out == {"init": 0, "info": 0, "finalize": 0}


def test_initialize_reserved_must_be_null(module):
    out = run_raw(module.info.path, """
        args = ffi.new("CK_C_INITIALIZE_ARGS *")
        keep = ffi.new("int *")
        args.pReserved = keep
        out["init"] = r.call("C_Initialize", args)
    """)
    assert_rv(out["init"], "CKR_ARGUMENTS_BAD")


def test_initialize_some_but_not_all_mutex_functions_is_bad(module):
    # 5.4 C_Initialize: the four mutex function pointers are all supplied or all NULL.
    out = run_raw(module.info.path, """
        @ffi.callback("CK_RV(void **)")
        def create(pp):
            return 0
        args = ffi.new("CK_C_INITIALIZE_ARGS *")
        args.CreateMutex = create
        out["init"] = r.call("C_Initialize", args)
    """)
    assert_rv(out["init"], "CKR_ARGUMENTS_BAD")


def test_finalize_reserved_must_be_null(module):
    out = run_raw(module.info.path, """
        r.call("C_Initialize", NULL)
        keep = ffi.new("int *")
        out["bad"] = r.call("C_Finalize", keep)
        out["good"] = r.call("C_Finalize", NULL)
    """)
    assert_rv(out["bad"], "CKR_ARGUMENTS_BAD")
    assert_rv(out["good"], "CKR_OK")


def test_reinitialize_after_finalize(module):
    out = run_raw(module.info.path, """
        info = ffi.new("CK_INFO *")
        out["i1"] = r.call("C_Initialize", NULL)
        out["f1"] = r.call("C_Finalize", NULL)
        out["after_finalize"] = r.call("C_GetInfo", info)
        out["i2"] = r.call("C_Initialize", NULL)
        out["info2"] = r.call("C_GetInfo", info)
        count = ffi.new("CK_ULONG *")
        out["slots2"] = r.call("C_GetSlotList", 1, NULL, count)
        out["count2"] = int(count[0])
        out["f2"] = r.call("C_Finalize", NULL)
    """)
    assert (out["i1"], out["f1"], out["i2"], out["info2"], out["slots2"], out["f2"]) == (0,) * 6
    assert_rv(out["after_finalize"], "CKR_CRYPTOKI_NOT_INITIALIZED")
    assert out["count2"] >= 2  # the main token and the fresh one survive a restart


def test_finalize_invalidates_sessions(module):
    out = run_raw(module.info.path, """
        r.call("C_Initialize", NULL)
        count = ffi.new("CK_ULONG *")
        slots = ffi.new("CK_SLOT_ID[16]")
        count[0] = 16
        r.call("C_GetSlotList", 1, slots, count)
        h = ffi.new("CK_SESSION_HANDLE *")
        out["open"] = r.call("C_OpenSession", slots[0], 4, NULL, NULL, h)
        r.call("C_Finalize", NULL)
        r.call("C_Initialize", NULL)
        out["after"] = r.call("C_GetSessionInfo", h[0], ffi.new("CK_SESSION_INFO *"))
        r.call("C_Finalize", NULL)
    """)
    assert_rv(out["open"], "CKR_OK")
    assert_rv(out["after"], "CKR_SESSION_HANDLE_INVALID")


def test_concurrent_threads_with_os_locking(module):
    out = run_raw(module.info.path, f"""
        import threading
        args = ffi.new("CK_C_INITIALIZE_ARGS *")
        args.flags = {CKF_OS_LOCKING_OK}
        r.call("C_Initialize", args)
        slot = r.slot_list(True)[0]
        failures = []
        def work():
            h = r.open_session(slot, rw=False)
            buf = ffi.new("CK_BYTE[64]")
            for _ in range(300):
                rv = r.call("C_GenerateRandom", h, buf, 64)
                if rv:
                    failures.append(rv)
            r.close_session(h)
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out["failures"] = failures
        out["finalize"] = r.call("C_Finalize", NULL)
    """)
    assert out == {"failures": [], "finalize": 0}


def test_get_info_null_pointer_is_bad(raw):
    assert_rv(raw.call("C_GetInfo", raw.ffi.NULL), "CKR_ARGUMENTS_BAD")


def test_get_info_reports_cryptoki_3_0(module, raw, xfail_quirk):
    xfail_quirk(module, "cryptoki-2-40")
    info = raw.get_info()
    assert info["cryptoki_version"] == (3, 0)
    assert info["flags"] == 0  # 5.4: no flags are defined for CK_INFO


def test_info_strings_are_blank_padded(raw):
    # 3.2: character strings are padded with blanks, not NUL-terminated.
    info = raw.ffi.new("CK_INFO *")
    raw.check("C_GetInfo", info)
    for field in (info.manufacturerID, info.libraryDescription):
        data = bytes(raw.ffi.buffer(field))
        assert b"\x00" not in data
        assert data.strip(b" ")


def test_function_list_is_complete(raw):
    assert raw.fl.version.major in (2, 3)
    for name in ("C_Initialize", "C_GetSlotList", "C_OpenSession", "C_CreateObject",
                 "C_EncryptInit", "C_DecryptFinal", "C_DigestFinal", "C_SignFinal",
                 "C_VerifyFinal", "C_GenerateKey", "C_WrapKey", "C_UnwrapKey",
                 "C_GenerateRandom", "C_WaitForSlotEvent"):
        assert raw.function(name) != raw.ffi.NULL, name


def test_get_function_list_null_pointer_is_bad(raw):
    assert_rv(int(raw.lib.C_GetFunctionList(raw.ffi.NULL)), "CKR_ARGUMENTS_BAD")


def test_interface_list_offers_pkcs11_3_0(module, raw, xfail_quirk):
    xfail_quirk(module, "no-v3-interface")
    names = raw.interface_list()
    assert ("PKCS 11", (3, 0)) in [(n, v) for n, v, _ in names]
    assert raw.has_v3


def test_interface_list_length_query_and_short_buffer(module, raw, xfail_quirk):
    xfail_quirk(module, "no-v3-interface")
    fn = raw.lib.C_GetInterfaceList
    count = raw.ulong_ptr()
    assert_rv(int(fn(raw.ffi.NULL, count)), "CKR_OK")
    need = int(count[0])
    assert need >= 1
    assert_rv(int(fn(raw.ffi.NULL, raw.ffi.NULL)), "CKR_ARGUMENTS_BAD")
    if need > 1:
        count[0] = need - 1
        arr = raw.ffi.new("CK_INTERFACE[]", need)
        assert_rv(int(fn(arr, count)), "CKR_BUFFER_TOO_SMALL")
        assert count[0] == need


def test_get_interface_default_and_by_version(module, raw, xfail_quirk):
    xfail_quirk(module, "no-v3-interface")
    pp = raw.ffi.new("CK_INTERFACE **")
    # 5.4 C_GetInterface: a NULL name returns the module's default interface.
    assert_rv(int(raw.lib.C_GetInterface(raw.ffi.NULL, raw.ffi.NULL, pp, 0)), "CKR_OK")
    assert raw.ffi.string(raw.ffi.cast("char *", pp[0].pInterfaceName)) == b"PKCS 11"
    ver = raw.ffi.new("CK_VERSION *", {"major": 3, "minor": 0})
    assert_rv(int(raw.lib.C_GetInterface(b"PKCS 11", ver, pp, 0)), "CKR_OK")
    fl = raw.ffi.cast("CK_FUNCTION_LIST_3_0 *", pp[0].pFunctionList)
    assert (fl.version.major, fl.version.minor) == (3, 0)


def test_get_interface_unknown_name_fails(module, raw, xfail_quirk):
    xfail_quirk(module, "no-v3-interface")
    pp = raw.ffi.new("CK_INTERFACE **")
    rv = int(raw.lib.C_GetInterface(b"No Such Interface", raw.ffi.NULL, pp, 0))
    assert_rv(rv, "CKR_ARGUMENTS_BAD")


def test_legacy_parallel_functions(raw, public_session):
    # 5.20: C_GetFunctionStatus and C_CancelFunction are legacy and return
    # CKR_FUNCTION_NOT_PARALLEL.
    assert_rv(raw.call("C_GetFunctionStatus", public_session), "CKR_FUNCTION_NOT_PARALLEL")
    assert_rv(raw.call("C_CancelFunction", public_session), "CKR_FUNCTION_NOT_PARALLEL")


def test_wait_for_slot_event_does_not_block(raw):
    slot = raw.ffi.new("CK_SLOT_ID *")
    rv = raw.call("C_WaitForSlotEvent", 1, slot, raw.ffi.NULL)  # CKF_DONT_BLOCK
    # 5.5: CKR_NO_EVENT when nothing happened; a module may not support slot events.
    assert rv in (rv_value("CKR_NO_EVENT"), rv_value("CKR_FUNCTION_NOT_SUPPORTED"))

"""PKCS#11 3.0 base specification 5.6: session management, login and logout."""

from __future__ import annotations

from keystead.softhsm_bridge.ck import (
    CKF_RW_SESSION,
    CKF_SERIAL_SESSION,
    CKS_RO_PUBLIC_SESSION,
    CKS_RO_USER_FUNCTIONS,
    CKS_RW_PUBLIC_SESSION,
    CKS_RW_SO_FUNCTIONS,
    CKS_RW_USER_FUNCTIONS,
    CKU_SO,
    CKU_USER,
)
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.session import open_session

from .support import assert_rv, data_object, raises_rv

INVALID_SESSION = 0x7FFF_FF01


def _open(raw, slot, flags):
    h = raw.ffi.new("CK_SESSION_HANDLE *")
    rv = raw.call("C_OpenSession", slot, flags, raw.ffi.NULL, raw.ffi.NULL, h)
    return rv, int(h[0])


def test_open_session_requires_serial_flag(module, raw):
    rv, _ = _open(raw, module.slot, CKF_RW_SESSION)
    assert_rv(rv, "CKR_SESSION_PARALLEL_NOT_SUPPORTED")


def test_open_session_invalid_slot(raw):
    rv, _ = _open(raw, 0x7FFF_FFF0, CKF_SERIAL_SESSION)
    assert_rv(rv, "CKR_SLOT_ID_INVALID")


def test_open_session_null_handle_pointer(module, raw):
    rv = raw.call("C_OpenSession", module.slot, CKF_SERIAL_SESSION, raw.ffi.NULL,
                  raw.ffi.NULL, raw.ffi.NULL)
    assert_rv(rv, "CKR_ARGUMENTS_BAD")


def test_open_session_on_uninitialised_token(module, raw):
    from keystead.softhsm_bridge.provision import free_slot

    rv, _ = _open(raw, free_slot(module.info), CKF_SERIAL_SESSION)
    assert_rv(rv, "CKR_TOKEN_NOT_RECOGNIZED")


def test_session_states_follow_login(module, raw):
    try:
        ro = raw.open_session(module.slot, rw=False)
        rw = raw.open_session(module.slot, rw=True)
        assert raw.session_info(ro)["state"] == CKS_RO_PUBLIC_SESSION
        assert raw.session_info(rw)["state"] == CKS_RW_PUBLIC_SESSION
        assert_rv(raw.login(rw, CKU_USER, module.token.user_pin), "CKR_OK")
        # Login is per application: every session of the token changes state (5.6).
        assert raw.session_info(ro)["state"] == CKS_RO_USER_FUNCTIONS
        assert raw.session_info(rw)["state"] == CKS_RW_USER_FUNCTIONS
        assert_rv(raw.logout(ro), "CKR_OK")
        assert raw.session_info(rw)["state"] == CKS_RW_PUBLIC_SESSION
    finally:
        raw.close_all_sessions(module.slot)


def test_session_info_fields(module, raw, public_session):
    info = raw.session_info(public_session)
    assert info["slot"] == module.slot
    assert info["flags"] & CKF_SERIAL_SESSION and info["flags"] & CKF_RW_SESSION


def test_so_session_state(module, raw):
    try:
        h = raw.open_session(module.slot, rw=True)
        assert_rv(raw.login(h, CKU_SO, module.token.so_pin), "CKR_OK")
        assert raw.session_info(h)["state"] == CKS_RW_SO_FUNCTIONS
    finally:
        raw.close_all_sessions(module.slot)


def test_so_login_with_read_only_session_open(module, raw):
    try:
        raw.open_session(module.slot, rw=False)
        h = raw.open_session(module.slot, rw=True)
        assert_rv(raw.login(h, CKU_SO, module.token.so_pin), "CKR_SESSION_READ_ONLY_EXISTS")
    finally:
        raw.close_all_sessions(module.slot)


def test_read_only_session_while_so_logged_in(module, raw):
    try:
        h = raw.open_session(module.slot, rw=True)
        raw.login(h, CKU_SO, module.token.so_pin)
        rv, _ = _open(raw, module.slot, CKF_SERIAL_SESSION)
        assert_rv(rv, "CKR_SESSION_READ_WRITE_SO_EXISTS")
    finally:
        raw.close_all_sessions(module.slot)


def test_login_twice_is_already_logged_in(module, raw, rsession):
    assert_rv(raw.login(rsession, CKU_USER, module.token.user_pin), "CKR_USER_ALREADY_LOGGED_IN")


def test_so_login_while_user_logged_in(module, raw, rsession):
    assert_rv(raw.login(rsession, CKU_SO, module.token.so_pin),
              "CKR_USER_ANOTHER_ALREADY_LOGGED_IN")


def test_login_wrong_pin(module, raw, public_session):
    assert_rv(raw.login(public_session, CKU_USER, "definitely-wrong"), "CKR_PIN_INCORRECT")


def test_login_invalid_user_type(module, raw, public_session):
    assert_rv(raw.login(public_session, 7, module.token.user_pin), "CKR_USER_TYPE_INVALID")


def test_login_null_pin_with_length_is_bad(module, raw, public_session):
    assert_rv(raw.call("C_Login", public_session, CKU_USER, raw.ffi.NULL, 8), "CKR_ARGUMENTS_BAD")


def test_context_specific_login_without_operation(module, raw, rsession):
    # 5.6 C_Login: CKU_CONTEXT_SPECIFIC is only valid right after an operation that asks
    # for it (CKA_ALWAYS_AUTHENTICATE); otherwise CKR_OPERATION_NOT_INITIALIZED.
    assert_rv(raw.login(rsession, 2, module.token.user_pin), "CKR_OPERATION_NOT_INITIALIZED")


def test_logout_when_not_logged_in(module, raw, public_session, xfail_quirk):
    xfail_quirk(module, "logout-when-public-ok")
    assert_rv(raw.logout(public_session), "CKR_USER_NOT_LOGGED_IN")


def test_close_session_then_use(module, raw):
    h = raw.open_session(module.slot, rw=False)
    assert_rv(raw.call("C_CloseSession", h), "CKR_OK")
    assert_rv(raw.call("C_GetSessionInfo", h, raw.ffi.new("CK_SESSION_INFO *")),
              "CKR_SESSION_HANDLE_INVALID")
    assert_rv(raw.call("C_CloseSession", h), "CKR_SESSION_HANDLE_INVALID")


def test_invalid_session_handle_everywhere(raw):
    ffi = raw.ffi
    calls = {
        "C_GetSessionInfo": (ffi.new("CK_SESSION_INFO *"),),
        "C_Logout": (),
        "C_FindObjectsInit": (ffi.NULL, 0),
        "C_GenerateRandom": (ffi.new("CK_BYTE[4]"), 4),
        "C_DigestInit": (raw.mechanism(0x250).ptr,),
    }
    for name, args in calls.items():
        assert_rv(raw.call(name, INVALID_SESSION, *args), "CKR_SESSION_HANDLE_INVALID")


def test_close_all_sessions_logs_out(module, raw):
    h1 = raw.open_session(module.slot, rw=True)
    raw.login(h1, CKU_USER, module.token.user_pin)
    raw.open_session(module.slot, rw=False)
    raw.close_all_sessions(module.slot)
    h3 = raw.open_session(module.slot, rw=True)
    try:
        assert raw.session_info(h3)["state"] == CKS_RW_PUBLIC_SESSION
        assert_rv(raw.call("C_GetSessionInfo", h1, raw.ffi.new("CK_SESSION_INFO *")),
                  "CKR_SESSION_HANDLE_INVALID")
    finally:
        raw.close_all_sessions(module.slot)


def test_closing_last_session_logs_out(module, raw):
    h1 = raw.open_session(module.slot, rw=True)
    raw.login(h1, CKU_USER, module.token.user_pin)
    raw.close_session(h1)
    h2 = raw.open_session(module.slot, rw=True)
    try:
        assert raw.session_info(h2)["state"] == CKS_RW_PUBLIC_SESSION
    finally:
        raw.close_all_sessions(module.slot)


def test_close_all_sessions_invalid_slot(raw):
    assert_rv(raw.call("C_CloseAllSessions", 0x7FFF_FFF0), "CKR_SLOT_ID_INVALID")


def test_read_only_session_cannot_create_token_object(module, raw):
    try:
        h = raw.open_session(module.slot, rw=False)
        raw.login(h, CKU_USER, module.token.user_pin)
        t = raw.template(data_object(**{"TOKEN": True}))
        oh = raw.ffi.new("CK_OBJECT_HANDLE *")
        assert_rv(raw.call("C_CreateObject", h, t.ptr, t.count, oh), "CKR_SESSION_READ_ONLY")
        # a session object is fine in a read-only session (5.6 table: R/O user functions)
        raw.create_object(h, data_object())
    finally:
        raw.close_all_sessions(module.slot)


def test_read_only_session_cannot_generate_token_key(module, raw):
    try:
        h = raw.open_session(module.slot, rw=False)
        raw.login(h, CKU_USER, module.token.user_pin)
        m = raw.mechanism(0x1080)  # CKM_AES_KEY_GEN
        t = raw.template({A.VALUE_LEN: 16, A.TOKEN: True})
        oh = raw.ffi.new("CK_OBJECT_HANDLE *")
        assert_rv(raw.call("C_GenerateKey", h, m.ptr, t.ptr, t.count, oh),
                  "CKR_SESSION_READ_ONLY")
    finally:
        raw.close_all_sessions(module.slot)


def test_private_object_needs_login(module, raw, public_session):
    t = raw.template(data_object(**{"PRIVATE": True}))
    oh = raw.ffi.new("CK_OBJECT_HANDLE *")
    assert_rv(raw.call("C_CreateObject", public_session, t.ptr, t.count, oh),
              "CKR_USER_NOT_LOGGED_IN")


def test_python_pkcs11_session_has_same_rules(module):
    s = open_session(module.token, rw=False, login_as=None)
    try:
        with raises_rv("CKR_SESSION_READ_ONLY"):
            s.create_object({A.CLASS: 0, A.TOKEN: True, A.VALUE: b"x", A.LABEL: "ro"})
    finally:
        module.raw.close_all_sessions(module.slot)


def test_session_limits_many_sessions(module, raw):
    # Many sessions at once are all distinct and valid (no handle reuse while open).
    try:
        handles = [raw.open_session(module.slot, rw=bool(i % 2)) for i in range(64)]
        assert len(set(handles)) == 64
        for h in handles:
            assert raw.session_info(h)["slot"] == module.slot
    finally:
        raw.close_all_sessions(module.slot)

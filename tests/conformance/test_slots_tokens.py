"""PKCS#11 3.0 base specification 5.5: slot and token management."""

from __future__ import annotations

import pytest
from keystead.softhsm_bridge.ck import (
    CK_UNAVAILABLE_INFORMATION,
    CKU_SO,
    CKU_USER,
    Mechanism,
    MechanismFlag,
    SlotFlag,
    TokenFlag,
)
from keystead.softhsm_bridge.errors import rv_value
from keystead.softhsm_bridge.provision import free_slot

from .support import assert_rv

INVALID_SLOT = 0x7FFF_FFF0

# Mechanisms the README lists for keystead, with the operations the mechanism info must claim.
REQUIRED = [
    (Mechanism.AES_KEY_GEN, MechanismFlag.GENERATE),
    (Mechanism.GENERIC_SECRET_KEY_GEN, MechanismFlag.GENERATE),
    (Mechanism.AES_ECB, MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT),
    (Mechanism.AES_CBC, MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT),
    (Mechanism.AES_CBC_PAD, MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT),
    (Mechanism.AES_CTR, MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT),
    (Mechanism.AES_GCM, MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT),
    (Mechanism.AES_CMAC, MechanismFlag.SIGN | MechanismFlag.VERIFY),
    (Mechanism.AES_KEY_WRAP, MechanismFlag.WRAP | MechanismFlag.UNWRAP),
    (Mechanism.SHA256, MechanismFlag.DIGEST),
    (Mechanism.SHA384, MechanismFlag.DIGEST),
    (Mechanism.SHA512, MechanismFlag.DIGEST),
    (Mechanism.SHA256_HMAC, MechanismFlag.SIGN | MechanismFlag.VERIFY),
    (Mechanism.SHA384_HMAC, MechanismFlag.SIGN | MechanismFlag.VERIFY),
    (Mechanism.SHA512_HMAC, MechanismFlag.SIGN | MechanismFlag.VERIFY),
]


def test_slot_list_two_call_form(raw):
    count = raw.ulong_ptr()
    assert_rv(raw.call("C_GetSlotList", 0, raw.ffi.NULL, count), "CKR_OK")
    n = int(count[0])
    assert n >= 2  # the main token and one fresh token
    arr = raw.ffi.new("CK_SLOT_ID[]", n)
    assert_rv(raw.call("C_GetSlotList", 0, arr, count), "CKR_OK")
    assert int(count[0]) == n


def test_slot_list_short_buffer(raw):
    count = raw.ulong_ptr()
    raw.check("C_GetSlotList", 0, raw.ffi.NULL, count)
    need = int(count[0])
    count[0] = need - 1
    arr = raw.ffi.new("CK_SLOT_ID[]", need)
    assert_rv(raw.call("C_GetSlotList", 0, arr, count), "CKR_BUFFER_TOO_SMALL")
    assert int(count[0]) == need


def test_slot_list_null_count_is_bad(raw):
    assert_rv(raw.call("C_GetSlotList", 0, raw.ffi.NULL, raw.ffi.NULL), "CKR_ARGUMENTS_BAD")


def test_one_fresh_token_is_always_offered(module, raw):
    slot = free_slot(module.info)
    info = raw.token_info(slot)
    assert not info["flags"] & TokenFlag.TOKEN_INITIALIZED
    assert slot in raw.slot_list(token_present=True)


def test_provisioned_token_info_is_truthful(module, raw):
    info = raw.token_info(module.slot)
    assert info["label"] == module.token.label
    assert info["serial"] == module.token.serial and info["serial"]
    for flag in (TokenFlag.TOKEN_INITIALIZED, TokenFlag.USER_PIN_INITIALIZED,
                 TokenFlag.LOGIN_REQUIRED, TokenFlag.RNG):
        assert info["flags"] & flag, flag.name
    assert not info["flags"] & TokenFlag.WRITE_PROTECTED
    assert 0 < info["ulMinPinLen"] <= info["ulMaxPinLen"]


def test_token_info_fields_are_blank_padded(module, raw):
    ti = raw.ffi.new("CK_TOKEN_INFO *")
    raw.check("C_GetTokenInfo", module.slot, ti)
    for field in (ti.label, ti.manufacturerID, ti.model, ti.serialNumber):
        assert b"\x00" not in bytes(raw.ffi.buffer(field))


def test_token_session_counts_follow_open_sessions(module, raw):
    before = raw.token_info(module.slot)
    raw.open_session(module.slot, rw=False)
    raw.open_session(module.slot, rw=True)
    try:
        after = raw.token_info(module.slot)
        for key in ("ulSessionCount", "ulRwSessionCount"):
            if before[key] == CK_UNAVAILABLE_INFORMATION:
                continue
            grown = after[key] - before[key]
            assert grown == (2 if key == "ulSessionCount" else 1), key
    finally:
        raw.close_all_sessions(module.slot)


def test_slot_info_flags(module, raw):
    info = raw.slot_info(module.slot)
    assert info["flags"] & SlotFlag.TOKEN_PRESENT
    assert info["description"]


@pytest.mark.parametrize("function", ["C_GetSlotInfo", "C_GetTokenInfo"])
def test_info_of_invalid_slot(raw, function):
    struct = "CK_SLOT_INFO *" if function == "C_GetSlotInfo" else "CK_TOKEN_INFO *"
    assert_rv(raw.call(function, INVALID_SLOT, raw.ffi.new(struct)), "CKR_SLOT_ID_INVALID")


def test_info_null_pointer_is_bad(module, raw):
    assert_rv(raw.call("C_GetTokenInfo", module.slot, raw.ffi.NULL), "CKR_ARGUMENTS_BAD")


def test_mechanism_list_of_invalid_slot(raw):
    count = raw.ulong_ptr()
    assert_rv(raw.call("C_GetMechanismList", INVALID_SLOT, raw.ffi.NULL, count),
              "CKR_SLOT_ID_INVALID")


def test_mechanism_list_short_buffer(module, raw):
    count = raw.ulong_ptr()
    raw.check("C_GetMechanismList", module.slot, raw.ffi.NULL, count)
    need = int(count[0])
    count[0] = 1
    arr = raw.ffi.new("CK_MECHANISM_TYPE[]", need)
    assert_rv(raw.call("C_GetMechanismList", module.slot, arr, count), "CKR_BUFFER_TOO_SMALL")
    assert int(count[0]) == need


def test_required_mechanisms_listed_with_flags(module, raw):
    missing, wrong_flags = [], []
    for mech, flags in REQUIRED:
        if mech not in module.mechanisms():
            missing.append(mech.name)
            continue
        _, _, got = raw.mechanism_info(module.slot, mech)
        if got & flags != flags:
            wrong_flags.append(mech.name)
    assert not missing and not wrong_flags, (missing, wrong_flags)


def test_kwp_mechanism_listed(module, raw, xfail_quirk):
    xfail_quirk(module, "kwp-under-0x210a")
    assert Mechanism.AES_KEY_WRAP_KWP in module.mechanisms()
    _, _, flags = raw.mechanism_info(module.slot, Mechanism.AES_KEY_WRAP_KWP)
    assert flags & MechanismFlag.WRAP and flags & MechanismFlag.UNWRAP


def test_aes_key_sizes_in_bytes(module, raw):
    # AES key sizes in CK_MECHANISM_INFO are in bytes (current mechanisms 2.x, AES).
    lo, hi, _ = raw.mechanism_info(module.slot, Mechanism.AES_KEY_GEN)
    assert (lo, hi) == (16, 32)


def test_mechanism_info_of_unknown_mechanism(module, raw):
    info = raw.ffi.new("CK_MECHANISM_INFO *")
    assert_rv(raw.call("C_GetMechanismInfo", module.slot, 0x7FFF_0001, info),
              "CKR_MECHANISM_INVALID")


def test_init_token_with_open_session_is_refused(module, raw, public_session):
    assert_rv(raw.call("C_InitToken", module.slot, module.token.so_pin.encode(),
                       len(module.token.so_pin), b"x".ljust(32)), "CKR_SESSION_EXISTS")


def test_init_token_with_wrong_so_pin(module, raw):
    assert_rv(raw.call("C_InitToken", module.slot, b"wrong-pin", 9, b"x".ljust(32)),
              "CKR_PIN_INCORRECT")
    assert raw.token_info(module.slot)["label"] == module.token.label


def test_user_pin_not_initialized_on_fresh_token(module, raw):
    slot = free_slot(module.info)
    raw.init_token(slot, "so-pin-0000", "no-user-pin")
    h = raw.open_session(slot, rw=True)
    try:
        assert not raw.token_info(slot)["flags"] & TokenFlag.USER_PIN_INITIALIZED
        assert_rv(raw.login(h, CKU_USER, "anything"), "CKR_USER_PIN_NOT_INITIALIZED")
    finally:
        raw.close_all_sessions(slot)


def test_init_pin_needs_so(module, raw, rsession):
    pin = b"new-user-pin"
    assert_rv(raw.call("C_InitPIN", rsession, pin, len(pin)), "CKR_USER_NOT_LOGGED_IN")


def test_set_pin_changes_user_pin(module, raw):
    tok = module.fresh_token("setpin")
    h = raw.open_session(tok.slot_id, rw=True)
    try:
        assert_rv(raw.login(h, CKU_USER, tok.user_pin), "CKR_OK")
        raw.set_pin(h, tok.user_pin, "changed-pin-1")
        raw.logout(h)
        assert_rv(raw.login(h, CKU_USER, tok.user_pin), "CKR_PIN_INCORRECT")
        assert_rv(raw.login(h, CKU_USER, "changed-pin-1"), "CKR_OK")
    finally:
        raw.close_all_sessions(tok.slot_id)


def test_set_pin_wrong_old_pin(module, raw, rsession):
    old, new = b"not-the-pin", b"whatever-pin"
    assert_rv(raw.call("C_SetPIN", rsession, old, len(old), new, len(new)), "CKR_PIN_INCORRECT")


def test_set_pin_in_read_only_session(module, raw):
    h = raw.open_session(module.slot, rw=False)
    try:
        raw.login(h, CKU_USER, module.token.user_pin)
        old, new = module.token.user_pin.encode(), b"other-pin-123"
        assert_rv(raw.call("C_SetPIN", h, old, len(old), new, len(new)), "CKR_SESSION_READ_ONLY")
    finally:
        raw.close_all_sessions(module.slot)


def test_set_pin_too_long_is_len_range(module, raw, rsession):
    max_len = raw.token_info(module.slot)["ulMaxPinLen"]
    old, new = module.token.user_pin.encode(), b"p" * (max_len + 1)
    assert_rv(raw.call("C_SetPIN", rsession, old, len(old), new, len(new)), "CKR_PIN_LEN_RANGE")


def test_so_login_wrong_pin(module, raw, public_session):
    assert_rv(raw.login(public_session, CKU_SO, "wrong-so-pin"), "CKR_PIN_INCORRECT")


def _user_flags(raw, slot):
    f = raw.token_info(slot)["flags"]
    return {name for name in ("USER_PIN_COUNT_LOW", "USER_PIN_FINAL_TRY", "USER_PIN_LOCKED")
            if f & TokenFlag[name]}


def test_failed_logins_set_count_low(module, raw):
    tok = module.fresh_token("countlow")
    h = raw.open_session(tok.slot_id, rw=True)
    try:
        assert_rv(raw.login(h, CKU_USER, "wrong-pin-1"), "CKR_PIN_INCORRECT")
        assert "USER_PIN_COUNT_LOW" in _user_flags(raw, tok.slot_id)
    finally:
        raw.close_all_sessions(tok.slot_id)


def test_successful_login_clears_count_low(module, raw):
    tok = module.fresh_token("countreset")
    h = raw.open_session(tok.slot_id, rw=True)
    try:
        raw.login(h, CKU_USER, "wrong-pin-1")
        assert _user_flags(raw, tok.slot_id)
        assert_rv(raw.login(h, CKU_USER, tok.user_pin), "CKR_OK")
        assert not _user_flags(raw, tok.slot_id)
    finally:
        raw.close_all_sessions(tok.slot_id)


def test_pin_lockout_final_try_then_locked(module, raw, xfail_quirk):
    xfail_quirk(module, "no-pin-lockout")
    tok = module.fresh_token("lockout")
    h = raw.open_session(tok.slot_id, rw=True)
    try:
        seen_final = False
        for _ in range(64):
            rv = raw.login(h, CKU_USER, "wrong-pin-x")
            flags = _user_flags(raw, tok.slot_id)
            if rv == rv_value("CKR_PIN_LOCKED") or "USER_PIN_LOCKED" in flags:
                break
            assert_rv(rv, "CKR_PIN_INCORRECT")
            seen_final = seen_final or "USER_PIN_FINAL_TRY" in flags
        else:
            pytest.fail("user PIN never locked after 64 wrong PINs")
        assert seen_final, "CKF_USER_PIN_FINAL_TRY never shown before the lock"
        assert "USER_PIN_LOCKED" in _user_flags(raw, tok.slot_id)
        # 5.6 C_Login: once locked, even the right PIN is refused with CKR_PIN_LOCKED.
        assert_rv(raw.login(h, CKU_USER, tok.user_pin), "CKR_PIN_LOCKED")
    finally:
        raw.close_all_sessions(tok.slot_id)


def test_so_init_pin_unlocks_user(module, raw, xfail_quirk):
    xfail_quirk(module, "no-pin-lockout")
    tok = module.fresh_token("unlock")
    h = raw.open_session(tok.slot_id, rw=True)
    try:
        for _ in range(64):
            if raw.login(h, CKU_USER, "wrong-pin-y") == rv_value("CKR_PIN_LOCKED"):
                break
        assert "USER_PIN_LOCKED" in _user_flags(raw, tok.slot_id)
        assert_rv(raw.login(h, CKU_SO, tok.so_pin), "CKR_OK")
        raw.init_pin(h, "fresh-user-pin")
        raw.logout(h)
        assert not _user_flags(raw, tok.slot_id)
        assert_rv(raw.login(h, CKU_USER, "fresh-user-pin"), "CKR_OK")
    finally:
        raw.close_all_sessions(tok.slot_id)


def test_reinit_token_destroys_its_objects(module, raw):
    tok = module.fresh_token("reinit")
    try:
        h = raw.open_session(tok.slot_id, rw=True)
        raw.login(h, CKU_USER, tok.user_pin)
        raw.create_object(h, {0: 0, 1: True, 2: False, 3: "doomed", 0x11: b"x"})
        raw.close_all_sessions(tok.slot_id)
        raw.init_token(tok.slot_id, tok.so_pin, "reinitialised")
        info = raw.token_info(tok.slot_id)
        assert info["label"] == "reinitialised"
        assert not info["flags"] & TokenFlag.USER_PIN_INITIALIZED
        h = raw.open_session(tok.slot_id, rw=True)
        assert_rv(raw.login(h, CKU_SO, tok.so_pin), "CKR_OK")
        assert raw.find_objects(h, {3: "doomed"}) == []
    finally:
        raw.close_all_sessions(tok.slot_id)


def test_so_changes_own_pin(module, raw):
    tok = module.fresh_token("sopin")
    h = raw.open_session(tok.slot_id, rw=True)
    try:
        assert_rv(raw.login(h, CKU_SO, tok.so_pin), "CKR_OK")
        raw.set_pin(h, tok.so_pin, "new-so-pin-99")
        raw.logout(h)
        assert_rv(raw.login(h, CKU_SO, tok.so_pin), "CKR_PIN_INCORRECT")
        assert_rv(raw.login(h, CKU_SO, "new-so-pin-99"), "CKR_OK")
    finally:
        raw.close_all_sessions(tok.slot_id)


def test_init_pin_too_short_is_len_range(module, raw):
    tok = module.fresh_token("shortpin")
    h = raw.open_session(tok.slot_id, rw=True)
    try:
        assert_rv(raw.login(h, CKU_SO, tok.so_pin), "CKR_OK")
        min_len = raw.token_info(tok.slot_id)["ulMinPinLen"]
        short = b"1" * (min_len - 1)
        assert_rv(raw.call("C_InitPIN", h, short, len(short)), "CKR_PIN_LEN_RANGE")
    finally:
        raw.close_all_sessions(tok.slot_id)

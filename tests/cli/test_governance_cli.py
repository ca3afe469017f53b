"""The manager governs what it suspends (docs/authority.md): after `keystead key suspend`, an
application holding only the user PIN cannot make the key active again through any PKCS#11
call, and `keystead key show` and the token agree. keystead's token only (on another token
the manager maps states onto usage flags that the user PIN may change: README)."""

from __future__ import annotations

import pytest
from keystead.softhsm_bridge import session as bridge_session
from keystead.softhsm_bridge.ck import KS_VENDOR, Mechanism, ObjectClass
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.errors import PKCS11Error
from keystead.softhsm_bridge.provision import Token, load

from tests.manager.helpers import MANAGER_PIN, manager_token

_KS = KS_VENDOR
STATE, OVERRIDE, GOVERNED = _KS | 0x1, _KS | 0x6, _KS | 0xA
ACTIVE, SUSPENDED = 1, 2
CKR_ATTRIBUTE_READ_ONLY = 0x10
CKR_KEY_FUNCTION_NOT_PERMITTED = 0x68
CKR_ACTION_PROHIBITED = 0x1B


def _user_token(module) -> Token:
    token = manager_token(module, label="cli")
    assert token.user_pin == MANAGER_PIN
    return token


def test_user_pin_cannot_undo_a_suspension(module, run, run_json) -> None:
    if module.info.kind != "keystead":
        pytest.skip("the manager credential is keystead's")
    created = run_json("key", "create", "gov/dek", "--reason", "governed")
    object_id = bytes.fromhex(created["versions"][0]["object_id"])
    result = run("key", "suspend", "gov/dek", "--reason", "investigating")
    assert result.exit_code == 0, result.output

    token = _user_token(module)
    raw = load(module.info)
    with bridge_session.session_scope(token) as s:  # python-pkcs11's session, user PIN only
        keys = raw.find_objects(s.handle, {A.CLASS: ObjectClass.SECRET_KEY, A.ID: object_id})
        assert len(keys) == 1
        key = keys[0]
        assert raw.get_attribute(s.handle, key, GOVERNED) == b"\x01"
        for change in ({STATE: ACTIVE}, {OVERRIDE: True}, {GOVERNED: False}):
            with pytest.raises(PKCS11Error) as caught:
                raw.set_attributes(s.handle, key, change)
            assert caught.value.rv == CKR_ATTRIBUTE_READ_ONLY
            with pytest.raises(PKCS11Error) as caught:  # no copy that escapes the state
                raw.copy_object(s.handle, key, {A.TOKEN: False, **change})
            assert caught.value.rv == CKR_ACTION_PROHIBITED
        assert int.from_bytes(raw.get_attribute(s.handle, key, STATE), "little") == SUSPENDED
        m = raw.mechanism(Mechanism.AES_ECB)
        assert raw.call("C_EncryptInit", s.handle, m.ptr, key) == CKR_KEY_FUNCTION_NOT_PERMITTED

    shown = run_json("key", "show", "gov/dek")
    assert shown["versions"][0]["state"] == "suspended"
    resumed = run("key", "resume", "gov/dek", "--reason", "false alarm")
    assert resumed.exit_code == 0, resumed.output
    with bridge_session.session_scope(token) as s:
        key = raw.find_objects(s.handle, {A.CLASS: ObjectClass.SECRET_KEY, A.ID: object_id})[0]
        assert int.from_bytes(raw.get_attribute(s.handle, key, STATE), "little") == ACTIVE

"""A public, non-sensitive secret key on the token read without a login (README, "Slots and
tokens"): its value is sealed under a key only a login unlocks, so CKA_VALUE cannot be
revealed then. PKCS#11 3.0 5.7 case 1 says so with CKR_ATTRIBUTE_SENSITIVE and
CK_UNAVAILABLE_INFORMATION; case 2 (CKR_ATTRIBUTE_TYPE_INVALID) would claim the key has no
value. keystead-only: SoftHSMv2 keeps public values in the clear and returns them.
"""

from __future__ import annotations

import os

import pytest
from keystead.softhsm_bridge.ck import CK_UNAVAILABLE_INFORMATION, CKU_USER, KeyType, ObjectClass
from keystead.softhsm_bridge.ck import Attribute as A
from keystead.softhsm_bridge.errors import CKR_OK

from .support import assert_rv


def test_public_key_value_without_login_is_sensitive(module, raw) -> None:
    if module.info.kind != "keystead":
        pytest.skip("keystead seals public values under the token key")
    value = os.urandom(32)
    label = f"public-{os.urandom(4).hex()}"
    slot = module.slot
    raw.close_all_sessions(slot)
    h = raw.open_session(slot, rw=True)
    assert_rv(raw.login(h, CKU_USER, module.token.user_pin), CKR_OK)
    k = raw.create_object(h, {A.CLASS: ObjectClass.SECRET_KEY, A.KEY_TYPE: KeyType.AES,
                              A.VALUE: value, A.TOKEN: True, A.PRIVATE: False,
                              A.SENSITIVE: False, A.EXTRACTABLE: True, A.LABEL: label})
    try:
        raw.close_all_sessions(slot)  # logs the application out
        h = raw.open_session(slot, rw=False)
        k = raw.find_objects(h, {A.LABEL: label})[0]
        t = raw.template([(A.VALUE, None), (A.LABEL, None)])
        rv = raw.call("C_GetAttributeValue", h, k, t.ptr, t.count)
        assert_rv(rv, "CKR_ATTRIBUTE_SENSITIVE")
        assert t.ptr[0].ulValueLen == CK_UNAVAILABLE_INFORMATION
        assert t.ptr[1].ulValueLen == len(label)  # the other attributes are still answered
        assert_rv(raw.login(h, CKU_USER, module.token.user_pin), CKR_OK)
        assert raw.get_attribute(h, k, A.VALUE) == value
    finally:
        raw.close_all_sessions(slot)
        h = raw.open_session(slot, rw=True)
        raw.login(h, CKU_USER, module.token.user_pin)
        for obj in raw.find_objects(h, {A.LABEL: label}):
            raw.destroy_object(h, obj)
        raw.close_all_sessions(slot)

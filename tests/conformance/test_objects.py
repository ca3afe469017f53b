"""PKCS#11 3.0 base specification 4.x (object attributes) and 5.7 (object management)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from keystead.softhsm_bridge.ck import (
    CK_UNAVAILABLE_INFORMATION,
    CKU_SO,
    CKU_USER,
    KeyType,
    Mechanism,
    ObjectClass,
)
from keystead.softhsm_bridge.ck import Attribute as A

from .support import aes_key, assert_rv, bbool, data_object, run_raw, ulong

KEY16 = bytes(range(16))
INVALID_OBJECT = 0x7FFF_FF02


def _create_rv(raw, h, attrs):
    t = raw.template(attrs)
    oh = raw.ffi.new("CK_OBJECT_HANDLE *")
    return raw.call("C_CreateObject", h, t.ptr, t.count, oh)


def _set_rv(raw, h, obj, attrs):
    t = raw.template(attrs)
    return raw.call("C_SetAttributeValue", h, obj, t.ptr, t.count)


def _copy_rv(raw, h, obj, attrs):
    t = raw.template(attrs)
    oh = raw.ffi.new("CK_OBJECT_HANDLE *")
    return raw.call("C_CopyObject", h, obj, t.ptr, t.count, oh)


def _bool(raw, h, obj, attr):
    return bbool(raw.get_attribute(h, obj, attr))


# -- creation -----------------------------------------------------------------------------

def test_create_data_object_and_read_back(raw, rsession):
    obj = raw.create_object(rsession, data_object(b"hello", LABEL="d1", APPLICATION="app"))
    assert raw.get_attribute(rsession, obj, A.VALUE) == b"hello"
    assert raw.get_attribute(rsession, obj, A.LABEL) == b"d1"
    assert ulong(raw.get_attribute(rsession, obj, A.CLASS)) == ObjectClass.DATA


def test_create_aes_key_check_value(raw, rsession):
    # CKA_CHECK_VALUE of an AES key: first 3 bytes of E_K(0^128) (current mechanisms 2.8).
    obj = raw.create_object(rsession, aes_key(KEY16))
    enc = Cipher(algorithms.AES(KEY16), modes.ECB()).encryptor()
    want = (enc.update(bytes(16)) + enc.finalize())[:3]
    assert raw.get_attribute(rsession, obj, A.CHECK_VALUE) == want


def test_create_with_matching_check_value(raw, rsession):
    enc = Cipher(algorithms.AES(KEY16), modes.ECB()).encryptor()
    kcv = (enc.update(bytes(16)) + enc.finalize())[:3]
    raw.create_object(rsession, aes_key(KEY16, CHECK_VALUE=kcv))


def test_create_with_wrong_check_value(raw, rsession):
    assert_rv(_create_rv(raw, rsession, aes_key(KEY16, CHECK_VALUE=b"\x00\x00\x00")),
              "CKR_ATTRIBUTE_VALUE_INVALID")


def test_created_key_is_not_local(raw, rsession):
    obj = raw.create_object(rsession, aes_key(KEY16))
    assert not _bool(raw, rsession, obj, A.LOCAL)
    assert not _bool(raw, rsession, obj, A.ALWAYS_SENSITIVE)
    assert not _bool(raw, rsession, obj, A.NEVER_EXTRACTABLE)
    # 4.8: CKA_KEY_GEN_MECHANISM is CK_UNAVAILABLE_INFORMATION for keys not generated here.
    mech = ulong(raw.get_attribute(rsession, obj, A.KEY_GEN_MECHANISM))
    assert mech == CK_UNAVAILABLE_INFORMATION


def test_create_missing_class(raw, rsession):
    assert_rv(_create_rv(raw, rsession, {A.TOKEN: False, A.VALUE: b"x"}),
              "CKR_TEMPLATE_INCOMPLETE")


def test_create_key_missing_value(raw, rsession):
    t = aes_key()
    assert_rv(_create_rv(raw, rsession, t), "CKR_TEMPLATE_INCOMPLETE")


def test_create_key_missing_key_type(raw, rsession):
    t = aes_key(KEY16)
    del t[A.KEY_TYPE]
    assert_rv(_create_rv(raw, rsession, t), "CKR_TEMPLATE_INCOMPLETE")


def test_create_aes_key_bad_length(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "aes-key-any-length")
    assert_rv(_create_rv(raw, rsession, aes_key(bytes(17))), "CKR_ATTRIBUTE_VALUE_INVALID")


def test_create_bad_class_value(raw, rsession):
    assert_rv(_create_rv(raw, rsession, {A.CLASS: 0x7FFF_0000, A.TOKEN: False}),
              "CKR_ATTRIBUTE_VALUE_INVALID")


def test_create_unknown_attribute_type(raw, rsession):
    t = data_object()
    t[0x0FFF] = b"?"
    assert_rv(_create_rv(raw, rsession, t), "CKR_ATTRIBUTE_TYPE_INVALID")


def test_create_bbool_wrong_length(raw, rsession):
    t = aes_key(KEY16)
    t[A.ENCRYPT] = b"\x01\x00"
    assert_rv(_create_rv(raw, rsession, t), "CKR_ATTRIBUTE_VALUE_INVALID")


@pytest.mark.parametrize("attr", [A.LOCAL, A.ALWAYS_SENSITIVE, A.NEVER_EXTRACTABLE,
                                  A.KEY_GEN_MECHANISM], ids=lambda a: a.name)
def test_create_with_token_maintained_attribute(raw, rsession, attr):
    # 4.1.2: a template that sets a read-only attribute fails with CKR_ATTRIBUTE_READ_ONLY.
    t = aes_key(KEY16)
    t[attr] = 0x1080 if attr == A.KEY_GEN_MECHANISM else False
    assert_rv(_create_rv(raw, rsession, t), "CKR_ATTRIBUTE_READ_ONLY")


def test_create_with_unique_id(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "no-unique-id")
    assert_rv(_create_rv(raw, rsession, data_object(UNIQUE_ID="mine")), "CKR_ATTRIBUTE_READ_ONLY")


def test_unique_id_assigned_and_read_only(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "no-unique-id")
    a = raw.create_object(rsession, data_object())
    b = raw.create_object(rsession, data_object())
    ua = raw.get_attribute(rsession, a, A.UNIQUE_ID)
    ub = raw.get_attribute(rsession, b, A.UNIQUE_ID)
    assert ua and ub and ua != ub
    assert_rv(_set_rv(raw, rsession, a, {A.UNIQUE_ID: "other"}), "CKR_ATTRIBUTE_READ_ONLY")
    copy = raw.copy_object(rsession, a, {A.LABEL: "copy"})
    assert raw.get_attribute(rsession, copy, A.UNIQUE_ID) not in (ua, ub)


def test_unique_ids_of_many_session_objects(module, raw, rsession, xfail_quirk):
    """More session objects than one batch of random IDs holds: every ID distinct, 32 hex
    characters on keystead (128 random bits)."""
    xfail_quirk(module, "no-unique-id")
    made = [raw.create_object(rsession, data_object()) for _ in range(200)]
    try:
        uids = [raw.get_attribute(rsession, h, A.UNIQUE_ID) for h in made]
    finally:
        for h in made:
            raw.destroy_object(rsession, h)
    assert len(set(uids)) == len(uids) and all(uids)
    if module.name == "keystead":
        assert all(len(u) == 32 and int(u, 16) >= 0 for u in uids)


def test_create_null_template_with_count(raw, rsession):
    oh = raw.ffi.new("CK_OBJECT_HANDLE *")
    assert_rv(raw.call("C_CreateObject", rsession, raw.ffi.NULL, 3, oh), "CKR_ARGUMENTS_BAD")


def test_create_trusted_key_as_user(raw, rsession):
    assert_rv(_create_rv(raw, rsession, aes_key(KEY16, TRUSTED=True)), "CKR_ATTRIBUTE_READ_ONLY")


# -- C_SetAttributeValue rules ---------------------------------------------------------------

def test_sensitive_can_only_become_true(raw, rsession):
    obj = raw.create_object(rsession, aes_key(KEY16, SENSITIVE=False))
    raw.set_attributes(rsession, obj, {A.SENSITIVE: True})
    assert _bool(raw, rsession, obj, A.SENSITIVE)
    assert_rv(_set_rv(raw, rsession, obj, {A.SENSITIVE: False}), "CKR_ATTRIBUTE_READ_ONLY")
    res = raw.get_attributes(rsession, obj, [A.VALUE])
    assert_rv(res.rv, "CKR_ATTRIBUTE_SENSITIVE")


def test_extractable_can_only_become_false(raw, rsession):
    obj = raw.create_object(rsession, aes_key(KEY16, EXTRACTABLE=True))
    raw.set_attributes(rsession, obj, {A.EXTRACTABLE: False})
    assert not _bool(raw, rsession, obj, A.EXTRACTABLE)
    assert_rv(_set_rv(raw, rsession, obj, {A.EXTRACTABLE: True}), "CKR_ATTRIBUTE_READ_ONLY")


@pytest.mark.parametrize("attr, value", [
    (A.CLASS, ObjectClass.DATA), (A.KEY_TYPE, KeyType.GENERIC_SECRET), (A.TOKEN, True),
    (A.LOCAL, True), (A.ALWAYS_SENSITIVE, True), (A.NEVER_EXTRACTABLE, True),
    (A.VALUE, bytes(16)), (A.CHECK_VALUE, b"abc"),
], ids=lambda v: getattr(v, "name", None) or "value")
def test_set_read_only_attribute(module, raw, rsession, attr, value, xfail_quirk):
    if attr == A.CHECK_VALUE:
        xfail_quirk(module, "check-value-set-value-invalid")
    obj = raw.create_object(rsession, aes_key(KEY16))
    assert_rv(_set_rv(raw, rsession, obj, {attr: value}), "CKR_ATTRIBUTE_READ_ONLY")


def test_set_label_and_id(raw, rsession):
    obj = raw.create_object(rsession, aes_key(KEY16, LABEL="before"))
    raw.set_attributes(rsession, obj, {A.LABEL: "after", A.ID: b"\x01\x02"})
    assert raw.get_attribute(rsession, obj, A.LABEL) == b"after"
    assert raw.get_attribute(rsession, obj, A.ID) == b"\x01\x02"


def test_set_attribute_value_all_or_nothing(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "set-attribute-not-atomic")
    obj = raw.create_object(rsession, aes_key(KEY16, LABEL="kept"))
    rv = _set_rv(raw, rsession, obj, {A.LABEL: "changed", A.CLASS: ObjectClass.DATA})
    assert_rv(rv, "CKR_ATTRIBUTE_READ_ONLY")
    assert raw.get_attribute(rsession, obj, A.LABEL) == b"kept"


def test_modifiable_false_prohibits_set(raw, rsession):
    obj = raw.create_object(rsession, aes_key(KEY16, MODIFIABLE=False))
    # 3.0 5.7.6: an object with CKA_MODIFIABLE false refuses with CKR_ACTION_PROHIBITED.
    assert_rv(_set_rv(raw, rsession, obj, {A.LABEL: "no"}), "CKR_ACTION_PROHIBITED")


def test_copyable_false_prohibits_copy(raw, rsession):
    obj = raw.create_object(rsession, aes_key(KEY16, COPYABLE=False))
    assert_rv(_copy_rv(raw, rsession, obj, {A.LABEL: "copy"}), "CKR_ACTION_PROHIBITED")


def test_copyable_cannot_become_true(raw, rsession):
    obj = raw.create_object(rsession, aes_key(KEY16, COPYABLE=False))
    assert_rv(_set_rv(raw, rsession, obj, {A.COPYABLE: True}), "CKR_ATTRIBUTE_READ_ONLY")


def test_destroyable_false_prohibits_destroy(raw, rsession):
    obj = raw.create_object(rsession, aes_key(KEY16, DESTROYABLE=False))
    assert_rv(raw.call("C_DestroyObject", rsession, obj), "CKR_ACTION_PROHIBITED")
    assert raw.get_attribute(rsession, obj, A.LABEL) is not None


def test_wrap_with_trusted_is_sticky(module, raw, rsession, xfail_quirk):
    xfail_quirk(module, "wrap-with-trusted-fixed")
    obj = raw.create_object(rsession, aes_key(KEY16, WRAP_WITH_TRUSTED=False))
    raw.set_attributes(rsession, obj, {A.WRAP_WITH_TRUSTED: True})
    assert_rv(_set_rv(raw, rsession, obj, {A.WRAP_WITH_TRUSTED: False}),
              "CKR_ATTRIBUTE_READ_ONLY")


def test_trusted_set_by_so_only(module, raw, xfail_quirk):
    xfail_quirk(module, "trusted-not-settable")
    label = "trusted-candidate"
    try:
        h = raw.open_session(module.slot, rw=True)
        raw.login(h, CKU_USER, module.token.user_pin)
        obj = raw.create_object(h, aes_key(KEY16, TOKEN=True, PRIVATE=False, LABEL=label))
        assert_rv(_set_rv(raw, h, obj, {A.TRUSTED: True}), "CKR_ATTRIBUTE_READ_ONLY")
        raw.logout(h)
        assert_rv(raw.login(h, CKU_SO, module.token.so_pin), "CKR_OK")
        raw.set_attributes(h, obj, {A.TRUSTED: True})
        assert _bool(raw, h, obj, A.TRUSTED)
        raw.logout(h)
        raw.login(h, CKU_USER, module.token.user_pin)
        raw.destroy_object(h, obj)
    finally:
        raw.close_all_sessions(module.slot)


# -- C_GetAttributeValue --------------------------------------------------------------------

def test_get_sensitive_value(raw, rsession):
    obj = raw.create_object(rsession, aes_key(KEY16, SENSITIVE=True))
    res = raw.get_attributes(rsession, obj, [A.VALUE])
    assert_rv(res.rv, "CKR_ATTRIBUTE_SENSITIVE")
    assert res.values[A.VALUE] is None


def test_get_unextractable_value(raw, rsession):
    obj = raw.create_object(rsession, aes_key(KEY16, EXTRACTABLE=False))
    res = raw.get_attributes(rsession, obj, [A.VALUE])
    assert_rv(res.rv, "CKR_ATTRIBUTE_SENSITIVE")


def test_get_several_with_one_sensitive(raw, rsession):
    # 5.7.5: every attribute is processed; the sensitive one gets CK_UNAVAILABLE_INFORMATION
    # and the call returns CKR_ATTRIBUTE_SENSITIVE.
    obj = raw.create_object(rsession, aes_key(KEY16, SENSITIVE=True, LABEL="several"))
    ffi = raw.ffi
    arr = ffi.new("CK_ATTRIBUTE[3]")
    bufs = [ffi.new("CK_BYTE[64]") for _ in range(3)]
    for i, atype in enumerate((A.LABEL, A.VALUE, A.KEY_TYPE)):
        arr[i].type, arr[i].pValue, arr[i].ulValueLen = atype, bufs[i], 64
    assert_rv(raw.call("C_GetAttributeValue", rsession, obj, arr, 3), "CKR_ATTRIBUTE_SENSITIVE")
    assert arr[1].ulValueLen == CK_UNAVAILABLE_INFORMATION
    assert bytes(ffi.buffer(bufs[0], arr[0].ulValueLen)) == b"several"
    assert ulong(bytes(ffi.buffer(bufs[2], arr[2].ulValueLen))) == KeyType.AES


def test_get_invalid_type_among_valid(raw, rsession):
    obj = raw.create_object(rsession, data_object(b"v", LABEL="typeinv"))
    ffi = raw.ffi
    arr = ffi.new("CK_ATTRIBUTE[2]")
    bufs = [ffi.new("CK_BYTE[64]") for _ in range(2)]
    for i, atype in enumerate((0x0FFF, A.LABEL)):
        arr[i].type, arr[i].pValue, arr[i].ulValueLen = atype, bufs[i], 64
    assert_rv(raw.call("C_GetAttributeValue", rsession, obj, arr, 2),
              "CKR_ATTRIBUTE_TYPE_INVALID")
    assert arr[0].ulValueLen == CK_UNAVAILABLE_INFORMATION
    assert bytes(ffi.buffer(bufs[1], arr[1].ulValueLen)) == b"typeinv"


def test_get_buffer_too_small(raw, rsession):
    obj = raw.create_object(rsession, data_object(b"0123456789", LABEL="small"))
    ffi = raw.ffi
    arr = ffi.new("CK_ATTRIBUTE[1]")
    buf = ffi.new("CK_BYTE[4]")
    arr[0].type, arr[0].pValue, arr[0].ulValueLen = A.VALUE, buf, 4
    assert_rv(raw.call("C_GetAttributeValue", rsession, obj, arr, 1), "CKR_BUFFER_TOO_SMALL")
    # 5.7.5 step 4: a buffer too small gets ulValueLen = CK_UNAVAILABLE_INFORMATION.
    assert arr[0].ulValueLen == CK_UNAVAILABLE_INFORMATION


def test_get_length_query(raw, rsession):
    obj = raw.create_object(rsession, data_object(b"0123456789"))
    res = raw.get_attributes(rsession, obj, [A.VALUE])
    assert res.lengths[A.VALUE] == 10 and res.values[A.VALUE] == b"0123456789"


def test_get_invalid_object(raw, rsession):
    res = raw.get_attributes(rsession, INVALID_OBJECT, [A.LABEL])
    assert_rv(res.rv, "CKR_OBJECT_HANDLE_INVALID")


def test_get_null_template_is_bad(raw, rsession):
    obj = raw.create_object(rsession, data_object())
    assert_rv(raw.call("C_GetAttributeValue", rsession, obj, raw.ffi.NULL, 1),
              "CKR_ARGUMENTS_BAD")


# -- copy, destroy, size -----------------------------------------------------------------------

def test_copy_object_with_new_label(raw, rsession):
    obj = raw.create_object(rsession, aes_key(KEY16, LABEL="orig"))
    copy = raw.copy_object(rsession, obj, {A.LABEL: "copy"})
    assert copy != obj
    assert raw.get_attribute(rsession, copy, A.LABEL) == b"copy"
    assert raw.get_attribute(rsession, obj, A.LABEL) == b"orig"
    assert raw.get_attribute(rsession, copy, A.VALUE) == KEY16


def test_copy_can_make_sensitive_not_reverse(raw, rsession):
    obj = raw.create_object(rsession, aes_key(KEY16, SENSITIVE=False))
    copy = raw.copy_object(rsession, obj, {A.SENSITIVE: True})
    assert _bool(raw, rsession, copy, A.SENSITIVE)
    assert_rv(_copy_rv(raw, rsession, copy, {A.SENSITIVE: False}), "CKR_ATTRIBUTE_READ_ONLY")


def test_copy_cannot_change_class(raw, rsession):
    obj = raw.create_object(rsession, aes_key(KEY16))
    assert_rv(_copy_rv(raw, rsession, obj, {A.CLASS: ObjectClass.DATA}),
              "CKR_ATTRIBUTE_READ_ONLY")


def test_copy_invalid_object(raw, rsession):
    assert_rv(_copy_rv(raw, rsession, INVALID_OBJECT, {A.LABEL: "x"}),
              "CKR_OBJECT_HANDLE_INVALID")


def test_destroy_then_use(raw, rsession):
    obj = raw.create_object(rsession, data_object())
    raw.destroy_object(rsession, obj)
    assert_rv(raw.get_attributes(rsession, obj, [A.LABEL]).rv, "CKR_OBJECT_HANDLE_INVALID")
    assert_rv(raw.call("C_DestroyObject", rsession, obj), "CKR_OBJECT_HANDLE_INVALID")


def test_object_size(raw, rsession):
    obj = raw.create_object(rsession, data_object(b"x" * 100))
    size = raw.object_size(rsession, obj)
    assert size == CK_UNAVAILABLE_INFORMATION or size >= 100
    assert_rv(raw.call("C_GetObjectSize", rsession, INVALID_OBJECT, raw.ulong_ptr()),
              "CKR_OBJECT_HANDLE_INVALID")


# -- finding and visibility ------------------------------------------------------------------

def test_find_by_label_class_and_id(raw, rsession):
    a = raw.create_object(rsession, aes_key(KEY16, LABEL="find-me", ID=b"\x42"))
    b = raw.create_object(rsession, data_object(LABEL="find-me"))
    assert set(raw.find_objects(rsession, {A.LABEL: "find-me"})) == {a, b}
    assert raw.find_objects(rsession, {A.LABEL: "find-me", A.CLASS: ObjectClass.DATA}) == [b]
    assert raw.find_objects(rsession, {A.ID: b"\x42", A.LABEL: "find-me"}) == [a]
    assert raw.find_objects(rsession, {A.LABEL: "nothing-has-this-label"}) == []


def test_find_objects_state_errors(raw, rsession):
    arr, count = raw.ffi.new("CK_OBJECT_HANDLE[4]"), raw.ulong_ptr()
    assert_rv(raw.call("C_FindObjects", rsession, arr, 4, count),
              "CKR_OPERATION_NOT_INITIALIZED")
    assert_rv(raw.call("C_FindObjectsFinal", rsession), "CKR_OPERATION_NOT_INITIALIZED")
    raw.check("C_FindObjectsInit", rsession, raw.ffi.NULL, 0)
    assert_rv(raw.call("C_FindObjectsInit", rsession, raw.ffi.NULL, 0), "CKR_OPERATION_ACTIVE")
    raw.check("C_FindObjectsFinal", rsession)


def test_find_in_batches(raw, rsession):
    made = {raw.create_object(rsession, data_object(LABEL="batch")) for _ in range(7)}
    assert set(raw.find_objects(rsession, {A.LABEL: "batch"}, batch=2)) == made


def test_private_objects_invisible_without_login(module, raw):
    label = "private-token-object"
    try:
        h = raw.open_session(module.slot, rw=True)
        raw.login(h, CKU_USER, module.token.user_pin)
        obj = raw.create_object(h, data_object(TOKEN=True, PRIVATE=True, LABEL=label))
        raw.close_all_sessions(module.slot)
        p = raw.open_session(module.slot, rw=True)
        assert raw.find_objects(p, {A.LABEL: label}) == []
        raw.login(p, CKU_USER, module.token.user_pin)
        found = raw.find_objects(p, {A.LABEL: label})
        assert len(found) == 1
        raw.destroy_object(p, found[0])
        del obj
    finally:
        raw.close_all_sessions(module.slot)


def test_logout_destroys_private_session_objects(module, raw):
    try:
        h = raw.open_session(module.slot, rw=True)
        raw.login(h, CKU_USER, module.token.user_pin)
        obj = raw.create_object(h, data_object(PRIVATE=True, LABEL="gone-at-logout"))
        raw.logout(h)
        raw.login(h, CKU_USER, module.token.user_pin)
        assert_rv(raw.get_attributes(h, obj, [A.LABEL]).rv, "CKR_OBJECT_HANDLE_INVALID")
        assert raw.find_objects(h, {A.LABEL: "gone-at-logout"}) == []
    finally:
        raw.close_all_sessions(module.slot)


def test_session_objects_vanish_with_their_session(module, raw):
    try:
        keeper = raw.open_session(module.slot, rw=True)
        raw.login(keeper, CKU_USER, module.token.user_pin)
        creator = raw.open_session(module.slot, rw=True)
        obj = raw.create_object(creator, data_object(LABEL="session-bound"))
        # visible to the application's other sessions while its session lives (4.4)
        assert raw.find_objects(keeper, {A.LABEL: "session-bound"}) == [obj]
        raw.close_session(creator)
        assert raw.find_objects(keeper, {A.LABEL: "session-bound"}) == []
        assert_rv(raw.get_attributes(keeper, obj, [A.LABEL]).rv, "CKR_OBJECT_HANDLE_INVALID")
    finally:
        raw.close_all_sessions(module.slot)


def test_token_objects_persist_across_sessions(module, raw):
    label = "persisted-object"
    try:
        h = raw.open_session(module.slot, rw=True)
        raw.login(h, CKU_USER, module.token.user_pin)
        raw.create_object(h, data_object(b"kept", TOKEN=True, PRIVATE=False, LABEL=label))
        raw.close_all_sessions(module.slot)
        h = raw.open_session(module.slot, rw=True)
        found = raw.find_objects(h, {A.LABEL: label})
        assert len(found) == 1
        assert raw.get_attribute(h, found[0], A.VALUE) == b"kept"
        raw.destroy_object(h, found[0])
    finally:
        raw.close_all_sessions(module.slot)


_FIND_IN_CHILD = """
r.initialize()
slot = [s for s in r.slot_list(True) if r.token_info(s)["serial"] == SERIAL][0]
h = r.open_session(slot, rw=True)
out["found"] = r.find_objects(h, {3: LABEL.encode()})
out["values"] = [r.get_attribute(h, o, 0x11).decode() for o in out["found"]]
r.finalize()
"""


def test_token_object_visible_to_second_process(module, raw):
    label = "cross-process-object"
    try:
        h = raw.open_session(module.slot, rw=True)
        raw.login(h, CKU_USER, module.token.user_pin)
        obj = raw.create_object(h, data_object(b"shared", TOKEN=True, PRIVATE=False,
                                             LABEL=label))
        body = f"SERIAL = {module.token.serial!r}\nLABEL = {label!r}\n" + _FIND_IN_CHILD
        out = run_raw(module.info.path, body)
        assert out["values"] == ["shared"]
        raw.destroy_object(h, obj)
        out = run_raw(module.info.path, body)
        assert out["found"] == []  # a destroyed object never comes back
    finally:
        raw.close_all_sessions(module.slot)


def test_copy_session_object_to_token(module, raw):
    label = "copied-to-token"
    try:
        h = raw.open_session(module.slot, rw=True)
        raw.login(h, CKU_USER, module.token.user_pin)
        obj = raw.create_object(h, data_object(b"v", PRIVATE=False, LABEL="session-original"))
        copy = raw.copy_object(h, obj, {A.TOKEN: True, A.LABEL: label})
        assert _bool(raw, h, copy, A.TOKEN)
        raw.close_all_sessions(module.slot)
        h = raw.open_session(module.slot, rw=True)
        found = raw.find_objects(h, {A.LABEL: label})
        assert len(found) == 1
        raw.destroy_object(h, found[0])
    finally:
        raw.close_all_sessions(module.slot)


def test_generated_key_attributes(raw, rsession):
    m = Mechanism.AES_KEY_GEN
    obj = raw.generate_key(rsession, m, {A.VALUE_LEN: 32, A.SENSITIVE: True,
                                         A.EXTRACTABLE: False, A.TOKEN: False})
    assert _bool(raw, rsession, obj, A.LOCAL)
    assert _bool(raw, rsession, obj, A.ALWAYS_SENSITIVE)
    assert _bool(raw, rsession, obj, A.NEVER_EXTRACTABLE)
    assert ulong(raw.get_attribute(rsession, obj, A.KEY_GEN_MECHANISM)) == m
    assert ulong(raw.get_attribute(rsession, obj, A.VALUE_LEN)) == 32


def test_always_sensitive_drops_after_sensitive_copy_chain(raw, rsession):
    obj = raw.generate_key(rsession, Mechanism.AES_KEY_GEN,
                           {A.VALUE_LEN: 16, A.SENSITIVE: False, A.TOKEN: False})
    assert not _bool(raw, rsession, obj, A.ALWAYS_SENSITIVE)
    raw.set_attributes(rsession, obj, {A.SENSITIVE: True})
    # ALWAYS_SENSITIVE records history: it stays false once the key was not sensitive.
    assert not _bool(raw, rsession, obj, A.ALWAYS_SENSITIVE)


def test_unknown_mechanism_for_generate(raw, rsession):
    m = raw.mechanism(0x7FFF_0002)
    t = raw.template({A.VALUE_LEN: 16})
    oh = raw.ffi.new("CK_OBJECT_HANDLE *")
    assert_rv(raw.call("C_GenerateKey", rsession, m.ptr, t.ptr, t.count, oh),
              "CKR_MECHANISM_INVALID")



# -- read-only sessions and NULL pointers --------------------------------------------------

def _ro_user_session(module, raw):
    h = raw.open_session(module.slot, rw=False)
    raw.login(h, CKU_USER, module.token.user_pin)
    return h


def test_read_only_session_token_object_changes(module, raw):
    label = "ro-session-target"
    try:
        rw = raw.open_session(module.slot, rw=True)
        raw.login(rw, CKU_USER, module.token.user_pin)
        obj = raw.create_object(rw, data_object(TOKEN=True, PRIVATE=False, LABEL=label))
        ro = _ro_user_session(module, raw)
        assert_rv(_set_rv(raw, ro, obj, {A.LABEL: "x"}), "CKR_SESSION_READ_ONLY")
        assert_rv(raw.call("C_DestroyObject", ro, obj), "CKR_SESSION_READ_ONLY")
        assert_rv(_copy_rv(raw, ro, obj, {A.LABEL: "copy"}), "CKR_SESSION_READ_ONLY")
        raw.destroy_object(rw, obj)
    finally:
        raw.close_all_sessions(module.slot)


def test_read_only_session_may_copy_to_session_object(module, raw):
    try:
        ro = _ro_user_session(module, raw)
        obj = raw.create_object(ro, data_object(LABEL="ro-session-object"))
        copy = raw.copy_object(ro, obj, {A.LABEL: "ro-copy", A.TOKEN: False})
        assert raw.get_attribute(ro, copy, A.LABEL) == b"ro-copy"
    finally:
        raw.close_all_sessions(module.slot)


def test_null_output_pointers_are_bad(raw, rsession):
    ffi = raw.ffi
    obj = raw.create_object(rsession, data_object())
    t = raw.template(data_object())
    assert_rv(raw.call("C_CreateObject", rsession, t.ptr, t.count, ffi.NULL), "CKR_ARGUMENTS_BAD")
    assert_rv(raw.call("C_GetObjectSize", rsession, obj, ffi.NULL), "CKR_ARGUMENTS_BAD")
    assert_rv(raw.call("C_GetSessionInfo", rsession, ffi.NULL), "CKR_ARGUMENTS_BAD")
    raw.check("C_FindObjectsInit", rsession, ffi.NULL, 0)
    arr = ffi.new("CK_OBJECT_HANDLE[2]")
    assert_rv(raw.call("C_FindObjects", rsession, arr, 2, ffi.NULL), "CKR_ARGUMENTS_BAD")
    raw.check("C_FindObjectsFinal", rsession)


def test_set_attribute_null_template_is_bad(raw, rsession):
    obj = raw.create_object(rsession, data_object())
    assert_rv(raw.call("C_SetAttributeValue", rsession, obj, raw.ffi.NULL, 1),
              "CKR_ARGUMENTS_BAD")


def test_find_secret_keys_by_class_and_type(raw, rsession):
    aes = raw.create_object(rsession, aes_key(KEY16, LABEL="typed"))
    raw.create_object(rsession, data_object(LABEL="typed"))
    found = raw.find_objects(rsession, {A.LABEL: "typed", A.CLASS: ObjectClass.SECRET_KEY,
                                        A.KEY_TYPE: KeyType.AES})
    assert found == [aes]


def test_value_len_is_maintained(raw, rsession):
    obj = raw.create_object(rsession, aes_key(bytes(24)))
    assert ulong(raw.get_attribute(rsession, obj, A.VALUE_LEN)) == 24


def test_python_pkcs11_object_lifecycle(session):
    from .support import raises_rv

    key = session.create_object(aes_key(KEY16, LABEL="py-object", SENSITIVE=True))
    (found,) = list(session.get_objects({A.LABEL: "py-object"}))
    assert found[A.KEY_TYPE] == KeyType.AES
    found[A.LABEL] = "py-renamed"
    assert key[A.LABEL] == "py-renamed"
    with raises_rv("CKR_ATTRIBUTE_SENSITIVE"):
        found[A.VALUE]
    copy = found.copy({A.LABEL: "py-copy"})
    assert copy[A.LABEL] == "py-copy"
    copy.destroy()
    assert [o[A.LABEL] for o in session.get_objects({A.CLASS: ObjectClass.SECRET_KEY,
                                                      A.LABEL: "py-copy"})] == []

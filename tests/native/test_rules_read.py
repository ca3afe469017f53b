"""C_GetAttributeValue, C_FindObjectsInit matching and wrap-template matching
(native/token/rules_get.c): PKCS#11 3.0 base 5.7 (the five cases, array attributes) and 4.10.
"""

from __future__ import annotations

import pytest
from keystead.core import ffi, lib

from tests.native.rules_support import (
    CREATE,
    KEY16,
    KS_STATE,
    SIZEOF_ATTR,
    UNAVAILABLE,
    Attrs,
    Raw,
    Template,
    aes,
    make_key,
    new,
)

# ---- C_GetAttributeValue (5.7, cases 1-5) ---------------------------------------------------


def get(obj: Attrs, pairs: list) -> tuple[int, Template]:
    t = Template(pairs)
    return lib.ks_rules_get(obj.p, t.arr, t.count), t


def test_get_mixed_template_processes_every_entry() -> None:
    k = make_key((lib.CKA_SENSITIVE, True), (lib.CKA_LABEL, "label"), (lib.CKA_ID, b"12345"))
    rv, t = get(k, [
        (lib.CKA_CLASS, Raw(bytes(8), 8)),   # case 4
        (lib.CKA_VALUE, Raw(bytes(32), 32)),  # case 1
        (0x7777, Raw(bytes(8), 8)),          # case 2
        (lib.CKA_LABEL, None),               # case 3
        (lib.CKA_ID, Raw(bytes(2), 2)),      # case 5
        (lib.CKA_KEY_TYPE, Raw(bytes(8), 8)),  # case 4, after all the failures
    ])
    assert rv == lib.CKR_ATTRIBUTE_SENSITIVE
    lens = [t.arr[i].ulValueLen for i in range(6)]
    assert lens == [8, UNAVAILABLE, UNAVAILABLE, 5, UNAVAILABLE, 8]
    assert ffi.cast("CK_ULONG *", t.arr[0].pValue)[0] == lib.CKO_SECRET_KEY
    assert ffi.cast("CK_ULONG *", t.arr[5].pValue)[0] == lib.CKK_AES


def test_get_single_failures_each_code() -> None:
    k = make_key((lib.CKA_LABEL, "label"))
    assert get(k, [(0x7777, None)])[0] == lib.CKR_ATTRIBUTE_TYPE_INVALID
    assert get(k, [(lib.CKA_MODULUS, None)])[0] == lib.CKR_ATTRIBUTE_TYPE_INVALID
    rv, t = get(k, [(lib.CKA_LABEL, Raw(bytes(4), 4))])
    assert rv == lib.CKR_BUFFER_TOO_SMALL and t.arr[0].ulValueLen == UNAVAILABLE
    rv, t = get(k, [(0x7777, None), (lib.CKA_LABEL, Raw(bytes(1), 1))])
    assert rv == lib.CKR_ATTRIBUTE_TYPE_INVALID and t.arr[1].ulValueLen == UNAVAILABLE
    rv, t = get(k, [(lib.CKA_VALUE, Raw(bytes(16), 16))])
    assert rv == lib.CKR_OK and bytes(ffi.buffer(t.arr[0].pValue, 16)) == KEY16


def test_get_length_query_and_exact_buffer() -> None:
    k = make_key((lib.CKA_LABEL, "seven!!"))
    rv, t = get(k, [(lib.CKA_LABEL, None), (lib.CKA_VALUE, None)])
    assert rv == lib.CKR_OK and t.arr[0].ulValueLen == 7 and t.arr[1].ulValueLen == 16
    rv, t = get(k, [(lib.CKA_LABEL, Raw(bytes(7), 7)), (lib.CKA_LABEL, Raw(bytes(50), 50))])
    assert rv == lib.CKR_OK and t.arr[0].ulValueLen == 7 and t.arr[1].ulValueLen == 7
    assert bytes(ffi.buffer(t.arr[1].pValue, 7)) == b"seven!!"


@pytest.mark.parametrize("hide", [(lib.CKA_SENSITIVE, True), (lib.CKA_EXTRACTABLE, False)])
def test_sensitive_or_unextractable_value_is_hidden(hide: tuple) -> None:
    k = make_key(hide)
    rv, t = get(k, [(lib.CKA_VALUE, None)])
    assert rv == lib.CKR_ATTRIBUTE_SENSITIVE and t.arr[0].ulValueLen == UNAVAILABLE
    rv, t = get(k, [(lib.CKA_CHECK_VALUE, None), (lib.CKA_VALUE_LEN, None)])
    assert rv == lib.CKR_OK  # neither is secret


def _key_with_wrap_template() -> Attrs:
    return make_key((lib.CKA_WRAP_TEMPLATE, [(lib.CKA_EXTRACTABLE, True),
                                             (lib.CKA_LABEL, "wrapped")]))


def test_get_array_attribute_length_then_discovery_then_values() -> None:
    k = _key_with_wrap_template()
    rv, t = get(k, [(lib.CKA_WRAP_TEMPLATE, None)])
    assert rv == lib.CKR_OK and t.arr[0].ulValueLen == 2 * SIZEOF_ATTR
    rv, t = get(k, [(lib.CKA_WRAP_TEMPLATE, Raw(bytes(SIZEOF_ATTR), SIZEOF_ATTR))])
    assert rv == lib.CKR_BUFFER_TOO_SMALL and t.arr[0].ulValueLen == UNAVAILABLE
    inner = ffi.new("CK_ATTRIBUTE[2]")
    outer = ffi.new("CK_ATTRIBUTE *", {"type": lib.CKA_WRAP_TEMPLATE, "pValue": inner,
                                       "ulValueLen": 2 * SIZEOF_ATTR})
    assert lib.ks_rules_get(k.p, outer, 1) == lib.CKR_OK
    assert [(inner[i].type, inner[i].ulValueLen) for i in range(2)] == [
        (lib.CKA_LABEL, 7), (lib.CKA_EXTRACTABLE, 1)]
    bufs = [ffi.new("uint8_t[]", 7), ffi.new("uint8_t[]", 1)]
    for i in range(2):
        inner[i].pValue = bufs[i]
    assert lib.ks_rules_get(k.p, outer, 1) == lib.CKR_OK
    assert bytes(ffi.buffer(bufs[0])) == b"wrapped" and bytes(ffi.buffer(bufs[1])) == b"\x01"
    inner[0].ulValueLen = 3
    assert lib.ks_rules_get(k.p, outer, 1) == lib.CKR_BUFFER_TOO_SMALL
    assert inner[0].ulValueLen == UNAVAILABLE
    inner[0].type, inner[0].ulValueLen = 0x7777, 7
    assert lib.ks_rules_get(k.p, outer, 1) == lib.CKR_ATTRIBUTE_TYPE_INVALID


# ---- matching (C_FindObjectsInit; CKA_WRAP_TEMPLATE) -------------------------------------------


def match(obj: Attrs, pairs: list) -> int:
    t = Template(pairs)
    return lib.ks_rules_match(obj.p, t.arr, t.count)


def test_find_matching() -> None:
    k = make_key((lib.CKA_LABEL, "find me"), (lib.CKA_ID, b"\x01"))
    assert match(k, []) == 1
    assert match(k, [(lib.CKA_LABEL, "find me"), (lib.CKA_CLASS, lib.CKO_SECRET_KEY)]) == 1
    assert match(k, [(lib.CKA_LABEL, "find")]) == 0
    assert match(k, [(lib.CKA_LABEL, "find me"), (lib.CKA_ID, b"\x02")]) == 0
    assert match(k, [(lib.CKA_APPLICATION, "")]) == 0
    assert match(k, [(0x7777, b"")]) == 0
    assert match(k, [(lib.CKA_VALUE, KEY16)]) == 1  # not sensitive: its value is readable
    s = make_key((lib.CKA_SENSITIVE, True))
    assert match(s, [(lib.CKA_VALUE, KEY16)]) == 0  # secret values never match
    w = _key_with_wrap_template()
    assert match(w, [(lib.CKA_WRAP_TEMPLATE, [(lib.CKA_LABEL, "wrapped"),
                                              (lib.CKA_EXTRACTABLE, True)])]) == 1


def test_wrap_template_matching() -> None:
    w = _key_with_wrap_template()
    packed = lib.ks_attrs_find(w.p, lib.CKA_WRAP_TEMPLATE)
    good = make_key((lib.CKA_LABEL, "wrapped"))
    other = make_key((lib.CKA_LABEL, "other"))
    unextractable = make_key((lib.CKA_LABEL, "wrapped"), (lib.CKA_EXTRACTABLE, False))
    assert lib.ks_rules_template_matches(good.p, packed) == 1
    assert lib.ks_rules_template_matches(other.p, packed) == 0
    assert lib.ks_rules_template_matches(unextractable.p, packed) == 0
    plain = make_key()
    empty = lib.ks_attrs_find(plain.p, lib.CKA_WRAP_TEMPLATE)
    assert lib.ks_rules_template_matches(other.p, empty) == 1
    assert lib.ks_rules_template_matches(other.p, ffi.NULL) == 1
    junk = ffi.new("uint8_t[]", 3)
    bad = ffi.new("ks_attr *", {"type": lib.CKA_WRAP_TEMPLATE, "len": 3, "value": junk})
    assert lib.ks_rules_template_matches(good.p, bad) == 0


def test_sealed_and_size() -> None:
    assert lib.ks_rules_is_sealed(lib.CKA_VALUE) == 1
    for t in (lib.CKA_LABEL, lib.CKA_CHECK_VALUE, lib.CKA_ID, KS_STATE):
        assert lib.ks_rules_is_sealed(t) == 0
    k = make_key()
    total = sum(k.p.items[i].len for i in range(k.p.count))
    assert lib.ks_rules_object_size(k.p) > total


def test_why_names_attribute_and_reason() -> None:
    r = new(CREATE, aes((lib.CKA_LOCAL, True)))
    assert r.why.attr == lib.CKA_LOCAL
    assert b"given" in ffi.string(r.why.reason)

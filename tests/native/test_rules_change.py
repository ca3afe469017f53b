"""C_SetAttributeValue and C_CopyObject rules (native/token/rules_set.c).

PKCS#11 3.0 base 4.1.2 and 4.1.3, 4.4 (CKA_MODIFIABLE, CKA_COPYABLE), 4.10 one-way attributes
(CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_WRAP_WITH_TRUSTED, SO-only CKA_TRUSTED), all-or-nothing
changes, and the lifecycle edges of the README through CKA_KS_LIFECYCLE_STATE.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from keystead.core import ffi, lib

from tests.native.rules_support import (
    ACTIVE,
    COMPROMISED,
    DESTROYED,
    EDGES,
    GEN_EXTRA,
    GENERATE,
    KEY16,
    KEY32,
    KS_COUNT,
    KS_GCM,
    KS_KNOWN,
    KS_LIMIT,
    KS_OVERRIDE,
    KS_PEND,
    KS_PSTART,
    KS_REASON,
    KS_STATE,
    PRE,
    Raw,
    Template,
    aes_kcv,
    copy,
    make_key,
    new,
    set_attrs,
    snapshot,
)

# ---- C_SetAttributeValue (4.1.2, 4.10, 5.7) -------------------------------------------------


def test_unmodifiable_object_is_action_prohibited() -> None:
    k = make_key((lib.CKA_MODIFIABLE, False))
    before = snapshot(k)
    rv, why = set_attrs(k, [(lib.CKA_LABEL, "x")])
    assert rv == lib.CKR_ACTION_PROHIBITED and why.attr == lib.CKA_MODIFIABLE
    assert snapshot(k) == before
    rv, _ = set_attrs(k, [(KS_STATE, COMPROMISED), (lib.CKA_LABEL, "x")])
    assert rv == lib.CKR_ACTION_PROHIBITED and snapshot(k) == before
    assert set_attrs(k, [])[0] == lib.CKR_ACTION_PROHIBITED


def test_unmodifiable_key_can_still_move_along_the_lifecycle() -> None:
    k = make_key((lib.CKA_MODIFIABLE, False))
    assert set_attrs(k, [(KS_STATE, COMPROMISED), (KS_REASON, "leaked")])[0] == lib.CKR_OK
    assert k.ulong(KS_STATE) == COMPROMISED and k.raw(KS_REASON) == b"leaked"
    rv, why = set_attrs(k, [(KS_STATE, ACTIVE)])
    assert rv == lib.CKR_ATTRIBUTE_VALUE_INVALID and why.attr == KS_STATE


def test_sensitive_only_becomes_true_and_history_kept() -> None:
    k = make_key()
    assert set_attrs(k, [(lib.CKA_SENSITIVE, True)])[0] == lib.CKR_OK
    assert k.bool(lib.CKA_SENSITIVE) and not k.bool(lib.CKA_ALWAYS_SENSITIVE)
    rv, why = set_attrs(k, [(lib.CKA_SENSITIVE, False)])
    assert rv == lib.CKR_ATTRIBUTE_READ_ONLY and why.attr == lib.CKA_SENSITIVE
    assert set_attrs(k, [(lib.CKA_SENSITIVE, True)])[0] == lib.CKR_OK  # unchanged: fine


def test_extractable_only_becomes_false_and_history_kept() -> None:
    k = make_key()
    assert set_attrs(k, [(lib.CKA_EXTRACTABLE, False)])[0] == lib.CKR_OK
    assert not k.bool(lib.CKA_EXTRACTABLE) and not k.bool(lib.CKA_NEVER_EXTRACTABLE)
    rv, why = set_attrs(k, [(lib.CKA_EXTRACTABLE, True)])
    assert rv == lib.CKR_ATTRIBUTE_READ_ONLY and why.attr == lib.CKA_EXTRACTABLE


def test_generated_key_history_survives_later_changes() -> None:
    r = new(GENERATE, [(lib.CKA_VALUE_LEN, 16), (lib.CKA_SENSITIVE, True),
                       (lib.CKA_EXTRACTABLE, False)], GEN_EXTRA)
    k = r.obj
    assert set_attrs(k, [(lib.CKA_LABEL, "l")])[0] == lib.CKR_OK
    assert k.bool(lib.CKA_ALWAYS_SENSITIVE) and k.bool(lib.CKA_NEVER_EXTRACTABLE)


def test_wrap_with_trusted_and_copyable_one_way() -> None:
    k = make_key()
    assert set_attrs(k, [(lib.CKA_WRAP_WITH_TRUSTED, True)])[0] == lib.CKR_OK
    assert set_attrs(k, [(lib.CKA_WRAP_WITH_TRUSTED, False)])[0] == lib.CKR_ATTRIBUTE_READ_ONLY
    assert set_attrs(k, [(lib.CKA_COPYABLE, False)])[0] == lib.CKR_OK
    assert set_attrs(k, [(lib.CKA_COPYABLE, True)])[0] == lib.CKR_ATTRIBUTE_READ_ONLY


def test_trusted_set_true_only_by_so() -> None:
    k = make_key()
    rv, why = set_attrs(k, [(lib.CKA_TRUSTED, True)])
    assert rv == lib.CKR_ATTRIBUTE_READ_ONLY and why.attr == lib.CKA_TRUSTED
    assert set_attrs(k, [(lib.CKA_TRUSTED, True)], so=True)[0] == lib.CKR_OK
    assert set_attrs(k, [(lib.CKA_TRUSTED, False)])[0] == lib.CKR_OK


READ_ONLY_AFTER_CREATE = [
    ("CKA_CLASS", lib.CKO_SECRET_KEY), ("CKA_KEY_TYPE", lib.CKK_AES), ("CKA_VALUE", KEY32),
    ("CKA_VALUE_LEN", 32), ("CKA_LOCAL", True), ("CKA_KEY_GEN_MECHANISM", 0),
    ("CKA_ALWAYS_SENSITIVE", True), ("CKA_NEVER_EXTRACTABLE", True), ("CKA_TOKEN", True),
    ("CKA_PRIVATE", False), ("CKA_MODIFIABLE", False), ("CKA_DESTROYABLE", False),
    ("CKA_ALLOWED_MECHANISMS", Raw(bytes(8), 8)), ("CKA_WRAP_TEMPLATE", []),
    ("CKA_UNWRAP_TEMPLATE", []), ("CKA_UNIQUE_ID", "u"), ("CKA_CHECK_VALUE", b"abc"),
    (KS_COUNT, 0), (KS_GCM, 0), (KS_KNOWN, False),
]


@pytest.mark.parametrize(("attr", "value"), READ_ONLY_AFTER_CREATE, ids=str)
def test_read_only_attributes_cannot_be_set(attr: Any, value: Any) -> None:
    t = getattr(lib, attr) if isinstance(attr, str) else attr
    k = make_key()
    before = snapshot(k)
    rv, why = set_attrs(k, [(t, value)])
    assert rv == lib.CKR_ATTRIBUTE_READ_ONLY and why.attr == t
    assert snapshot(k) == before


MODIFIABLE_ATTRS = [
    ("CKA_LABEL", "new"), ("CKA_ID", b"\x01\x02"), ("CKA_START_DATE", "20240101"),
    ("CKA_END_DATE", "20291231"), ("CKA_DERIVE", True), ("CKA_ENCRYPT", False),
    ("CKA_DECRYPT", False), ("CKA_SIGN", False), ("CKA_VERIFY", False), ("CKA_WRAP", True),
    ("CKA_UNWRAP", True), (KS_PSTART, "20240101"), (KS_PEND, ""), (KS_OVERRIDE, True),
    (KS_LIMIT, 100),
]


@pytest.mark.parametrize(("attr", "value"), MODIFIABLE_ATTRS, ids=str)
def test_modifiable_attributes(attr: Any, value: Any) -> None:
    t = getattr(lib, attr) if isinstance(attr, str) else attr
    k = make_key()
    assert set_attrs(k, [(t, value)])[0] == lib.CKR_OK
    got = Template([(t, value)])
    assert k.raw(t) == bytes(ffi.buffer(got.arr[0].pValue, got.arr[0].ulValueLen))


def test_check_value_can_only_be_destroyed() -> None:
    k = make_key()
    assert set_attrs(k, [(lib.CKA_CHECK_VALUE, b"")])[0] == lib.CKR_OK
    assert k.raw(lib.CKA_CHECK_VALUE) == b""


def test_set_is_all_or_nothing() -> None:
    k = make_key((lib.CKA_SENSITIVE, True), (lib.CKA_LABEL, "old"))
    before = snapshot(k)
    for bad in ([(lib.CKA_LABEL, "new"), (lib.CKA_SENSITIVE, False)],
                [(lib.CKA_LABEL, "new"), (lib.CKA_ID, b"1"), (0x7777, b"")],
                [(lib.CKA_LABEL, "new"), (lib.CKA_LABEL, "other")],
                [(lib.CKA_ENCRYPT, False), (lib.CKA_START_DATE, "bad")],
                [(lib.CKA_LABEL, "new"), (KS_STATE, PRE)]):
        rv, _ = set_attrs(k, bad)
        assert rv != lib.CKR_OK
        assert snapshot(k) == before
    assert set_attrs(k, [(lib.CKA_LABEL, "new"), (lib.CKA_LABEL, "new")])[0] == lib.CKR_OK


@pytest.mark.parametrize(("src", "dst"), list(itertools.product(range(6), range(6))))
def test_lifecycle_transition_through_set(src: int, dst: int) -> None:
    k = make_key()
    k.set(KS_STATE, src)  # as the store would load it
    rv, why = set_attrs(k, [(KS_STATE, dst), (KS_REASON, "rotation")])
    if src == dst:
        assert rv == lib.CKR_TEMPLATE_INCONSISTENT and why.attr == KS_REASON
        assert set_attrs(k, [(KS_STATE, dst)])[0] == lib.CKR_OK  # no change at all
    elif (src, dst) in EDGES:
        assert rv == lib.CKR_OK
        assert k.ulong(KS_STATE) == dst and k.raw(KS_REASON) == b"rotation"
    else:
        assert rv == lib.CKR_ATTRIBUTE_VALUE_INVALID and why.attr == KS_STATE
        assert k.ulong(KS_STATE) == src and k.raw(KS_REASON) == b""


def test_destroyed_key_loses_its_value_keeps_metadata() -> None:
    k = make_key((lib.CKA_LABEL, "gone"))
    assert set_attrs(k, [(KS_STATE, DESTROYED)])[0] == lib.CKR_OK
    assert k.raw(lib.CKA_VALUE) == b"" and k.raw(lib.CKA_LABEL) == b"gone"
    assert k.raw(lib.CKA_CHECK_VALUE) == aes_kcv(KEY16)


def test_transition_reason_needs_a_transition() -> None:
    k = make_key()
    rv, why = set_attrs(k, [(KS_REASON, "no transition")])
    assert rv == lib.CKR_TEMPLATE_INCONSISTENT and why.attr == KS_REASON


def test_usage_limit_must_stay_above_count() -> None:
    k = make_key()
    k.set(KS_COUNT, 5)
    for limit, ok in ((1, False), (5, False), (6, True), (0, True), (1000, True)):
        rv, _ = set_attrs(k, [(KS_LIMIT, limit)])
        assert (rv == lib.CKR_OK) == ok, limit
        if not ok:
            assert rv == lib.CKR_ATTRIBUTE_VALUE_INVALID


def test_set_foreign_and_unknown_attributes() -> None:
    k = make_key()
    assert set_attrs(k, [(lib.CKA_MODULUS, b"\x01")])[0] == lib.CKR_TEMPLATE_INCONSISTENT
    assert set_attrs(k, [(0x7777, b"\x01")])[0] == lib.CKR_ATTRIBUTE_TYPE_INVALID


# ---- C_CopyObject (4.1.3, 5.7) ----------------------------------------------------------------


def test_copy_of_uncopyable_is_action_prohibited() -> None:
    k = make_key((lib.CKA_COPYABLE, False))
    r = copy(k, [])
    assert r.rv == lib.CKR_ACTION_PROHIBITED and r.why_attr == lib.CKA_COPYABLE


def test_copy_may_change_storage_attributes() -> None:
    k = make_key((lib.CKA_MODIFIABLE, False))
    k.set(lib.CKA_UNIQUE_ID, "a" * 32)
    r = copy(k, [(lib.CKA_TOKEN, True), (lib.CKA_PRIVATE, False), (lib.CKA_MODIFIABLE, True),
                 (lib.CKA_DESTROYABLE, False), (lib.CKA_LABEL, "copy")])
    assert r.rv == lib.CKR_OK
    c = r.obj
    assert c.bool(lib.CKA_TOKEN) and not c.bool(lib.CKA_PRIVATE) and c.bool(lib.CKA_MODIFIABLE)
    assert not c.bool(lib.CKA_DESTROYABLE) and c.raw(lib.CKA_LABEL) == b"copy"
    assert c.raw(lib.CKA_UNIQUE_ID) is None and c.raw(lib.CKA_VALUE) == KEY16
    assert k.raw(lib.CKA_LABEL) == b""  # the source is untouched


def test_copy_one_way_rules_and_history() -> None:
    r = new(GENERATE, [(lib.CKA_VALUE_LEN, 16), (lib.CKA_SENSITIVE, False)], GEN_EXTRA)
    k = r.obj
    c = copy(k, [(lib.CKA_SENSITIVE, True), (lib.CKA_EXTRACTABLE, False)])
    assert c.rv == lib.CKR_OK
    assert c.obj.bool(lib.CKA_SENSITIVE) and not c.obj.bool(lib.CKA_ALWAYS_SENSITIVE)
    assert not c.obj.bool(lib.CKA_EXTRACTABLE) and not c.obj.bool(lib.CKA_NEVER_EXTRACTABLE)
    assert c.obj.bool(lib.CKA_LOCAL)  # 4.7: a copy of a local key is local
    assert copy(c.obj, [(lib.CKA_SENSITIVE, False)]).rv == lib.CKR_ATTRIBUTE_READ_ONLY
    assert copy(c.obj, [(lib.CKA_EXTRACTABLE, True)]).rv == lib.CKR_ATTRIBUTE_READ_ONLY
    assert copy(k, [(lib.CKA_CLASS, lib.CKO_DATA)]).rv == lib.CKR_ATTRIBUTE_READ_ONLY
    assert copy(k, [(lib.CKA_VALUE, KEY32)]).rv == lib.CKR_ATTRIBUTE_READ_ONLY
    assert copy(k, [(lib.CKA_TRUSTED, True)]).rv == lib.CKR_ATTRIBUTE_READ_ONLY
    assert copy(k, [(lib.CKA_TRUSTED, True)], so=True).rv == lib.CKR_OK


def test_copy_keeps_usage_counters() -> None:
    k = make_key()
    k.set(KS_COUNT, 9)
    k.set(KS_GCM, 3)
    c = copy(k, [])
    assert c.rv == lib.CKR_OK and c.obj.ulong(KS_COUNT) == 9 and c.obj.ulong(KS_GCM) == 3

"""The history a derived key inherits from its base key (the key derivation sections of the
PKCS#11 3.0 mechanisms: CKA_ALWAYS_SENSITIVE is false when the base key's is, else the
derived key's CKA_SENSITIVE; CKA_NEVER_EXTRACTABLE likewise with the negation of
CKA_EXTRACTABLE), CKA_LOCAL false and no generation mechanism (base 4.7), and DES3 keys whose
derivation leaves a byte of wrong parity get it set."""

from __future__ import annotations

import pytest
from keystead.core import ffi, lib

from .rules_support import Attrs, Template, finish

SECRET = [(lib.CKA_CLASS, lib.CKO_SECRET_KEY), (lib.CKA_KEY_TYPE, lib.CKK_GENERIC_SECRET)]


def derive(pairs: list, base_as: bool, base_ne: bool, extra: list | None = None) -> Attrs:
    obj = Attrs()
    why = ffi.new("ks_why *")
    t, e = Template(pairs), Template(extra if extra is not None else SECRET)
    c = ffi.new("ks_rule_ctx *", {"user": 1, "mechanism": 0x1100,
                                  "base_always_sensitive": int(base_as),
                                  "base_never_extractable": int(base_ne)})
    rv = lib.ks_rules_new_object(obj.p, lib.KS_ORIGIN_DERIVE, t.arr, t.count, e.arr, e.count,
                                 c, why)
    assert rv == lib.CKR_OK
    return obj


@pytest.mark.parametrize("base_as", [False, True])
@pytest.mark.parametrize("sensitive", [False, True])
def test_always_sensitive_follows_the_base(base_as: bool, sensitive: bool) -> None:
    obj = derive([(lib.CKA_VALUE_LEN, 32), (lib.CKA_SENSITIVE, sensitive)], base_as, False)
    assert obj.bool(lib.CKA_ALWAYS_SENSITIVE) == (base_as and sensitive)


@pytest.mark.parametrize("base_ne", [False, True])
@pytest.mark.parametrize("extractable", [False, True])
def test_never_extractable_follows_the_base(base_ne: bool, extractable: bool) -> None:
    obj = derive([(lib.CKA_VALUE_LEN, 32), (lib.CKA_EXTRACTABLE, extractable)], False, base_ne)
    assert obj.bool(lib.CKA_NEVER_EXTRACTABLE) == (base_ne and not extractable)


def test_derived_key_is_not_local() -> None:
    obj = derive([(lib.CKA_VALUE_LEN, 32), (lib.CKA_SENSITIVE, True),
                  (lib.CKA_EXTRACTABLE, False)], True, True)
    assert not obj.bool(lib.CKA_LOCAL)
    assert obj.ulong(lib.CKA_KEY_GEN_MECHANISM) == lib.CK_UNAVAILABLE_INFORMATION


def test_other_origins_ignore_the_base_fields() -> None:
    """Only a derivation has a base key: an unwrapped key stays never-always-sensitive."""
    obj = Attrs()
    t = Template([(lib.CKA_SENSITIVE, True), (lib.CKA_EXTRACTABLE, False)])
    e = Template([(lib.CKA_CLASS, lib.CKO_SECRET_KEY), (lib.CKA_KEY_TYPE, lib.CKK_AES)])
    c = ffi.new("ks_rule_ctx *", {"user": 1, "base_always_sensitive": 1,
                                  "base_never_extractable": 1})
    assert lib.ks_rules_new_object(obj.p, lib.KS_ORIGIN_UNWRAP, t.arr, t.count, e.arr, e.count,
                                   c, ffi.new("ks_why *")) == lib.CKR_OK
    assert not obj.bool(lib.CKA_ALWAYS_SENSITIVE) and not obj.bool(lib.CKA_NEVER_EXTRACTABLE)


def _parity_ok(key: bytes) -> bool:
    return all(bin(b).count("1") % 2 == 1 for b in key)


def test_des3_parity_by_origin() -> None:
    """DES3 key objects: a created or unwrapped key of wrong parity is refused, a derived one
    gets its parity set."""
    des3 = [(lib.CKA_CLASS, lib.CKO_SECRET_KEY), (lib.CKA_KEY_TYPE, lib.CKK_DES3)]
    value = bytes(24)  # every byte even
    obj = derive([], False, False, des3)
    obj.set(lib.CKA_VALUE, value)
    assert finish(obj, lib.KS_ORIGIN_DERIVE) == lib.CKR_OK
    fixed = obj.raw(lib.CKA_VALUE) or b""
    assert len(fixed) == 24 and _parity_ok(fixed) and fixed == bytes([1]) * 24
    assert obj.ulong(lib.CKA_VALUE_LEN) == 24
    for origin, rv in ((lib.KS_ORIGIN_UNWRAP, lib.CKR_WRAPPED_KEY_INVALID),
                       (lib.KS_ORIGIN_CREATE, lib.CKR_ATTRIBUTE_VALUE_INVALID)):
        o = derive([], False, False, des3)
        o.set(lib.CKA_VALUE, value)
        assert finish(o, origin) == rv
    short = derive([], False, False, des3)
    short.set(lib.CKA_VALUE, bytes([1]) * 16)
    assert finish(short, lib.KS_ORIGIN_UNWRAP) == lib.CKR_WRAPPED_KEY_LEN_RANGE

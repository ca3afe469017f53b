"""Attribute sets and the creation of objects (native/token/attrs.c, rules_new.c).

Each refusal is asserted with the exact CK_RV that PKCS#11 3.0 names: base 4.1.1 (creating
objects), 4.4 storage objects, 4.5 data objects, 4.7 key objects, 4.10 secret key objects
and the footnotes of table 10; AES and generic secret key objects (CKA_VALUE_LEN, check
value); keystead's vendor attributes (keystead.h).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from keystead.core import ffi, lib

from tests.native.rules_support import (
    ACTIVE,
    CREATE,
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
    SUSPENDED,
    UNAVAILABLE,
    UNWRAP,
    VENDOR,
    Attrs,
    Raw,
    Template,
    aes,
    aes_kcv,
    finish,
    make_data,
    make_key,
    new,
    set_attrs,
    snapshot,
)

# ---- attrs.c ------------------------------------------------------------------------------


def test_attrs_sorted_replace_remove() -> None:
    a = Attrs()
    for t in (5, 1, 9, 3):
        a.set(t, bytes([t]))
    assert a.types() == [1, 3, 5, 9]
    a.set(5, b"new value")
    assert a.raw(5) == b"new value" and a.types() == [1, 3, 5, 9]
    lib.ks_attrs_remove(a.p, 3)
    lib.ks_attrs_remove(a.p, 42)  # absent: no effect
    assert a.types() == [1, 5, 9] and a.raw(3) is None
    assert lib.ks_attrs_bool(a.p, 77, 1) == 1  # default when absent
    b = Attrs()
    assert lib.ks_attrs_copy(b.p, a.p) == lib.CKR_OK
    assert snapshot(b) == snapshot(a)


def test_attrs_typed_reads_check_size() -> None:
    a = Attrs()
    a.set(1, True)
    a.set(2, 7)
    a.set(3, b"xy")
    out_b = ffi.new("CK_BBOOL *")
    out_u = ffi.new("CK_ULONG *")
    assert lib.ks_attrs_get_bool(a.p, 1, out_b) == 1 and out_b[0] == 1
    assert lib.ks_attrs_get_ulong(a.p, 2, out_u) == 1 and out_u[0] == 7
    assert lib.ks_attrs_get_bool(a.p, 3, out_b) == 0
    assert lib.ks_attrs_get_ulong(a.p, 1, out_u) == 0


def _pack(pairs: list) -> tuple[int, bytes]:
    t = Template(pairs)
    out = ffi.new("uint8_t **")
    out_len = ffi.new("size_t *")
    rv = lib.ks_attrs_pack(out, out_len, t.arr, t.count)
    if rv != lib.CKR_OK:
        return rv, b""
    # the malloc'd buffer is left to the process: the cdef exposes no free()
    return rv, bytes(ffi.buffer(out[0], out_len[0]))


def test_pack_is_canonical_and_round_trips() -> None:
    rv1, p1 = _pack([(lib.CKA_SENSITIVE, True), (lib.CKA_CLASS, lib.CKO_SECRET_KEY)])
    rv2, p2 = _pack([(lib.CKA_CLASS, lib.CKO_SECRET_KEY), (lib.CKA_SENSITIVE, True)])
    assert rv1 == rv2 == lib.CKR_OK and p1 == p2
    # type (8 LE) + length (8 LE) + value, sorted by type
    assert p1[:8] == lib.CKA_CLASS.to_bytes(8, "little")
    assert p1[8:16] == (8).to_bytes(8, "little")
    s = Attrs()
    buf = ffi.new("uint8_t[]", p1)
    assert lib.ks_attrs_unpack(s.p, buf, len(p1)) == lib.CKR_OK
    assert s.types() == [lib.CKA_CLASS, lib.CKA_SENSITIVE] and s.bool(lib.CKA_SENSITIVE)


def test_pack_refuses_nested_and_duplicates() -> None:
    assert _pack([(lib.CKA_WRAP_TEMPLATE, [(lib.CKA_SENSITIVE, True)])])[0] == (
        lib.CKR_ATTRIBUTE_VALUE_INVALID
    )
    assert _pack([(lib.CKA_LABEL, "a"), (lib.CKA_LABEL, "b")])[0] == (
        lib.CKR_ATTRIBUTE_VALUE_INVALID
    )
    assert _pack([(lib.CKA_LABEL, Raw(None, 4))])[0] == lib.CKR_ATTRIBUTE_VALUE_INVALID
    assert _pack([(lib.CKA_ALLOWED_MECHANISMS, Raw(bytes(8), 8))])[0] == lib.CKR_OK


@pytest.mark.parametrize(
    "blob",
    [
        bytes(15),  # truncated header
        (3).to_bytes(8, "little") + (5).to_bytes(8, "little") + b"abc",  # value runs out
        ((3).to_bytes(8, "little") + (1).to_bytes(8, "little") + b"a") * 2,  # duplicate
        lib.CKA_WRAP_TEMPLATE.to_bytes(8, "little") + bytes(8),  # nested array
        (3).to_bytes(8, "little") + (2**63).to_bytes(8, "little"),  # absurd length
    ],
    ids=["short-header", "short-value", "duplicate", "nested", "huge-length"],
)
def test_unpack_refuses_bad_input_and_keeps_output(blob: bytes) -> None:
    s = Attrs()
    s.set(1, b"keep")
    buf = ffi.new("uint8_t[]", blob)
    assert lib.ks_attrs_unpack(s.p, buf, len(blob)) == lib.CKR_ATTRIBUTE_VALUE_INVALID
    assert s.raw(1) == b"keep"


# ---- creating objects (3.0 base 4.1.1, 5.7 C_CreateObject) --------------------------------


def test_create_aes_key_defaults_and_token_attributes() -> None:
    k = make_key()
    b = k.bool
    assert not b(lib.CKA_TOKEN) and b(lib.CKA_PRIVATE) and b(lib.CKA_MODIFIABLE)
    assert b(lib.CKA_COPYABLE) and b(lib.CKA_DESTROYABLE)
    assert k.raw(lib.CKA_LABEL) == b"" and k.raw(lib.CKA_ID) == b""
    assert k.raw(lib.CKA_START_DATE) == b"" and k.raw(lib.CKA_END_DATE) == b""
    assert not b(lib.CKA_DERIVE) and not b(lib.CKA_LOCAL)
    assert k.ulong(lib.CKA_KEY_GEN_MECHANISM) == UNAVAILABLE  # 4.7: not local
    assert not b(lib.CKA_SENSITIVE) and b(lib.CKA_EXTRACTABLE)
    assert b(lib.CKA_ENCRYPT) and b(lib.CKA_DECRYPT) and b(lib.CKA_SIGN) and b(lib.CKA_VERIFY)
    assert not b(lib.CKA_WRAP) and not b(lib.CKA_UNWRAP)
    assert not b(lib.CKA_ALWAYS_SENSITIVE) and not b(lib.CKA_NEVER_EXTRACTABLE)
    assert not b(lib.CKA_WRAP_WITH_TRUSTED) and not b(lib.CKA_TRUSTED)
    for t in (lib.CKA_WRAP_TEMPLATE, lib.CKA_UNWRAP_TEMPLATE, lib.CKA_DERIVE_TEMPLATE,
              lib.CKA_ALLOWED_MECHANISMS):
        assert k.raw(t) == b""
    assert k.ulong(KS_STATE) == ACTIVE and k.ulong(KS_COUNT) == 0 and k.ulong(KS_GCM) == 0
    assert k.ulong(KS_LIMIT) == 0 and not b(KS_OVERRIDE) and k.raw(KS_REASON) == b""
    assert b(KS_KNOWN)  # imported: its value is known outside the token
    assert k.ulong(lib.CKA_VALUE_LEN) == 16
    assert k.raw(lib.CKA_UNIQUE_ID) is None  # assigned by the caller


@pytest.mark.parametrize("key", [bytes(range(n)) for n in (16, 24, 32)], ids=len)
def test_aes_check_value_is_ecb_of_zero_block(key: bytes) -> None:
    assert make_key(value=key).raw(lib.CKA_CHECK_VALUE) == aes_kcv(key)


def test_generic_secret_check_value_is_sha1_prefix() -> None:
    value = b"generic secret value"
    r = new(CREATE, [(lib.CKA_CLASS, lib.CKO_SECRET_KEY),
                     (lib.CKA_KEY_TYPE, lib.CKK_GENERIC_SECRET), (lib.CKA_VALUE, value)])
    assert r.rv == lib.CKR_OK and finish(r.obj, CREATE) == lib.CKR_OK
    assert r.obj.raw(lib.CKA_CHECK_VALUE) == hashlib.sha1(value).digest()[:3]
    assert r.obj.ulong(lib.CKA_VALUE_LEN) == len(value)


@pytest.mark.parametrize("kt", ["CKK_SHA_1_HMAC", "CKK_SHA224_HMAC", "CKK_SHA256_HMAC",
                                "CKK_SHA384_HMAC", "CKK_SHA512_HMAC"])
def test_hmac_key_types_have_no_check_value(kt: str) -> None:
    # 3.0 defines these key types as constants only: no key object, no check value.
    r = new(CREATE, [(lib.CKA_CLASS, lib.CKO_SECRET_KEY), (lib.CKA_KEY_TYPE, getattr(lib, kt)),
                     (lib.CKA_VALUE, KEY32), (lib.CKA_CHECK_VALUE, b"\x01\x02\x03")])
    assert r.rv == lib.CKR_OK and finish(r.obj, CREATE) == lib.CKR_OK
    assert r.obj.raw(lib.CKA_CHECK_VALUE) == b""


def test_check_value_in_template_must_match_or_be_empty() -> None:
    r = new(CREATE, aes((lib.CKA_CHECK_VALUE, b"\x00\x00\x00")))
    assert r.rv == lib.CKR_OK
    assert finish(r.obj, CREATE) == lib.CKR_ATTRIBUTE_VALUE_INVALID
    assert make_key((lib.CKA_CHECK_VALUE, aes_kcv(KEY16))).raw(lib.CKA_CHECK_VALUE) == aes_kcv(
        KEY16
    )
    assert make_key((lib.CKA_CHECK_VALUE, b"")).raw(lib.CKA_CHECK_VALUE) == b""


@pytest.mark.parametrize(
    ("pairs", "missing"),
    [
        ([(lib.CKA_KEY_TYPE, lib.CKK_AES), (lib.CKA_VALUE, KEY16)], lib.CKA_CLASS),
        ([(lib.CKA_CLASS, lib.CKO_SECRET_KEY), (lib.CKA_VALUE, KEY16)], lib.CKA_KEY_TYPE),
        ([(lib.CKA_CLASS, lib.CKO_SECRET_KEY), (lib.CKA_KEY_TYPE, lib.CKK_AES)], lib.CKA_VALUE),
        ([], lib.CKA_CLASS),
    ],
    ids=["class", "key-type", "value", "empty"],
)
def test_create_missing_required_is_incomplete(pairs: list, missing: int) -> None:
    r = new(CREATE, pairs)
    assert r.rv == lib.CKR_TEMPLATE_INCOMPLETE
    assert r.why_attr == missing


@pytest.mark.parametrize("t", [0x7777, 0x8000FFFF, VENDOR | 0x99])
def test_unknown_attribute_is_type_invalid(t: int) -> None:
    r = new(CREATE, aes((t, b"x")))
    assert r.rv == lib.CKR_ATTRIBUTE_TYPE_INVALID and r.why_attr == t


@pytest.mark.parametrize(
    ("cls", "attr", "value"),
    [
        ("secret", "CKA_MODULUS", b"\x01"),
        ("secret", "CKA_APPLICATION", "app"),
        ("secret", "CKA_CERTIFICATE_TYPE", 0),
        ("data", "CKA_ENCRYPT", True),
        ("data", "CKA_VALUE_LEN", 4),
        ("data", "CKA_KEY_TYPE", 0x1F),
        ("data", KS_STATE, ACTIVE),
    ],
)
def test_attribute_of_another_class_is_inconsistent(cls: str, attr: Any, value: Any) -> None:
    # 3.0 base 4.1.1 item 5: "an attribute which is appropriate for ... public keys or
    # private keys, but not for secret keys" makes the template inconsistent.
    t = getattr(lib, attr) if isinstance(attr, str) else attr
    base = aes() if cls == "secret" else [(lib.CKA_CLASS, lib.CKO_DATA)]
    r = new(CREATE, [*base, (t, value)])
    assert r.rv == lib.CKR_TEMPLATE_INCONSISTENT and r.why_attr == t


@pytest.mark.parametrize(
    ("attr", "value"),
    [
        ("CKA_TOKEN", Raw(b"\x01\x00", 2)),
        ("CKA_TOKEN", Raw(b"\x02", 1)),
        ("CKA_SENSITIVE", Raw(b"", 0)),
        ("CKA_TOKEN", Raw(None, 1)),
        ("CKA_LABEL", Raw(None, 5)),
        ("CKA_LABEL", Raw(b"x", UNAVAILABLE)),
        ("CKA_CLASS", Raw(bytes(4), 4)),
        ("CKA_START_DATE", "2024011"),
        ("CKA_START_DATE", "2024AB01"),
        ("CKA_END_DATE", "20241301"),
        ("CKA_END_DATE", "20240100"),
        ("CKA_LABEL", b"\xff\xfe"),
        ("CKA_LABEL", b"\xc0\x80"),
        ("CKA_LABEL", b"\xed\xa0\x80"),
        ("CKA_ALLOWED_MECHANISMS", Raw(bytes(12), 12)),
        ("CKA_WRAP_TEMPLATE", Raw(bytes(5), 5)),
        ("CKA_WRAP_TEMPLATE", [(0x7777, b"x")]),
        ("CKA_WRAP_TEMPLATE", [(lib.CKA_SENSITIVE, Raw(b"\x05", 1))]),
        ("CKA_UNWRAP_TEMPLATE", [(lib.CKA_WRAP_TEMPLATE, [])]),
        (KS_STATE, 77),
    ],
)
def test_bad_value_is_value_invalid(attr: Any, value: Any) -> None:
    t = getattr(lib, attr) if isinstance(attr, str) else attr
    r = new(CREATE, [x for x in aes() if x[0] != t] + [(t, value)])
    assert r.rv == lib.CKR_ATTRIBUTE_VALUE_INVALID, hex(r.rv)
    assert r.why_attr == t
    assert ffi.string(r.why.reason)


def test_good_shapes_accepted() -> None:
    k = make_key((lib.CKA_START_DATE, "20240229"), (lib.CKA_END_DATE, ""),
                 (lib.CKA_LABEL, "clé ✓"), (lib.CKA_ALLOWED_MECHANISMS, Raw(bytes(16), 16)))
    assert k.raw(lib.CKA_START_DATE) == b"20240229"
    assert k.raw(lib.CKA_LABEL) == "clé ✓".encode()
    assert len(k.raw(lib.CKA_ALLOWED_MECHANISMS)) == 16


@pytest.mark.parametrize(("cls", "kt"), [(lib.CKO_CERTIFICATE, None), (lib.CKO_SECRET_KEY, 0x15),
                                         (lib.CKO_PRIVATE_KEY, 0x15)])
def test_unsupported_class_or_key_type_is_value_invalid(cls: int, kt: int | None) -> None:
    pairs = [(lib.CKA_CLASS, cls), (lib.CKA_VALUE, KEY16)]
    if kt is not None:
        pairs.append((lib.CKA_KEY_TYPE, kt))
    r = new(CREATE, pairs)
    assert r.rv == lib.CKR_ATTRIBUTE_VALUE_INVALID
    assert r.why_attr == (lib.CKA_CLASS if kt is None else lib.CKA_KEY_TYPE)


@pytest.mark.parametrize(("cls", "kt"), [(lib.CKO_SECRET_KEY, lib.CKK_RSA),
                                         (lib.CKO_SECRET_KEY, lib.CKK_EC),
                                         (lib.CKO_PUBLIC_KEY, lib.CKK_AES),
                                         (lib.CKO_PRIVATE_KEY, lib.CKK_GENERIC_SECRET)])
def test_key_type_of_another_class_is_inconsistent(cls: int, kt: int) -> None:
    """A key type PKCS#11 defines, on a key class that has no such keys (4.1.1 item 5)."""
    r = new(CREATE, [(lib.CKA_CLASS, cls), (lib.CKA_KEY_TYPE, kt), (lib.CKA_VALUE, KEY16)])
    assert r.rv == lib.CKR_TEMPLATE_INCONSISTENT


def test_public_key_without_key_type_is_incomplete() -> None:
    r = new(CREATE, [(lib.CKA_CLASS, lib.CKO_PUBLIC_KEY)])
    assert r.rv == lib.CKR_TEMPLATE_INCOMPLETE
    assert r.why_attr == lib.CKA_KEY_TYPE


READ_ONLY_AT_CREATE = [
    ("CKA_LOCAL", True), ("CKA_KEY_GEN_MECHANISM", 0x1080), ("CKA_ALWAYS_SENSITIVE", True),
    ("CKA_NEVER_EXTRACTABLE", True), ("CKA_UNIQUE_ID", "x" * 32), ("CKA_VALUE_LEN", 16),
    (KS_COUNT, 0), (KS_GCM, 0), (KS_KNOWN, False), (KS_REASON, "why"),
]


@pytest.mark.parametrize(("attr", "value"), READ_ONLY_AT_CREATE)
def test_token_attribute_in_create_template_is_read_only(attr: Any, value: Any) -> None:
    # 4.1.1 item 3 and table 10 footnote 2: must not be specified to C_CreateObject.
    t = getattr(lib, attr) if isinstance(attr, str) else attr
    r = new(CREATE, aes((t, value)))
    assert r.rv == lib.CKR_ATTRIBUTE_READ_ONLY and r.why_attr == t


def test_duplicates_same_value_ok_conflicting_inconsistent() -> None:
    assert new(CREATE, aes((lib.CKA_LABEL, "a"), (lib.CKA_LABEL, "a"))).rv == lib.CKR_OK
    r = new(CREATE, aes((lib.CKA_LABEL, "a"), (lib.CKA_LABEL, "b")))
    assert r.rv == lib.CKR_TEMPLATE_INCONSISTENT and r.why_attr == lib.CKA_LABEL
    r = new(CREATE, aes((lib.CKA_CLASS, lib.CKO_DATA)))
    assert r.rv == lib.CKR_TEMPLATE_INCONSISTENT and r.why_attr == lib.CKA_CLASS


def test_trusted_true_only_by_so() -> None:
    r = new(CREATE, aes((lib.CKA_TRUSTED, True)))
    assert r.rv == lib.CKR_ATTRIBUTE_READ_ONLY and r.why_attr == lib.CKA_TRUSTED
    assert new(CREATE, aes((lib.CKA_TRUSTED, False))).rv == lib.CKR_OK
    assert make_key((lib.CKA_TRUSTED, True), so=True).bool(lib.CKA_TRUSTED)


@pytest.mark.parametrize("state", range(6))
def test_lifecycle_state_given_at_creation(state: int) -> None:
    r = new(CREATE, aes((KS_STATE, state)))
    if state in (PRE, ACTIVE):
        assert r.rv == lib.CKR_OK and r.obj.ulong(KS_STATE) == state
    else:
        assert r.rv == lib.CKR_ATTRIBUTE_VALUE_INVALID and r.why_attr == KS_STATE


def test_vendor_attributes_settable_at_creation() -> None:
    k = make_key((KS_PSTART, "20250101"), (KS_PEND, "20300101"), (KS_LIMIT, 10),
                 (KS_OVERRIDE, True))
    assert k.raw(KS_PSTART) == b"20250101" and k.ulong(KS_LIMIT) == 10 and k.bool(KS_OVERRIDE)


def test_aes_value_length_on_create() -> None:
    for n in (0, 1, 15, 17, 20, 31, 33, 64):
        r = new(CREATE, aes(value=bytes(n)))
        assert r.rv == lib.CKR_OK
        assert finish(r.obj, CREATE) == lib.CKR_ATTRIBUTE_VALUE_INVALID, n


# ---- data objects (4.5) -----------------------------------------------------------------


def test_data_object_defaults() -> None:
    d = make_data((lib.CKA_LABEL, "d"))
    assert d.raw(lib.CKA_APPLICATION) == b"" and d.raw(lib.CKA_OBJECT_ID) == b""
    assert d.raw(lib.CKA_VALUE) == b"" and not d.bool(lib.CKA_PRIVATE)
    assert not d.bool(lib.CKA_TOKEN) and d.bool(lib.CKA_MODIFIABLE)
    assert d.raw(KS_STATE) is None and d.raw(lib.CKA_SENSITIVE) is None
    assert finish(d, CREATE) == lib.CKR_OK


def test_data_object_value_readable_and_not_modifiable() -> None:
    d = make_data((lib.CKA_VALUE, b"payload"), (lib.CKA_APPLICATION, "app"),
                  (lib.CKA_OBJECT_ID, b"\x06\x01\x00"), (lib.CKA_PRIVATE, True))
    assert d.raw(lib.CKA_VALUE) == b"payload" and d.bool(lib.CKA_PRIVATE)
    for t, v in ((lib.CKA_VALUE, b"x"), (lib.CKA_APPLICATION, "y"), (lib.CKA_OBJECT_ID, b"z")):
        rv, why = set_attrs(d, [(t, v)])
        assert rv == lib.CKR_ATTRIBUTE_READ_ONLY and why.attr == t
    assert set_attrs(d, [(lib.CKA_LABEL, "renamed")])[0] == lib.CKR_OK
    assert d.raw(lib.CKA_LABEL) == b"renamed"
    out = Template([(lib.CKA_VALUE, b"\0" * 16)])
    assert lib.ks_rules_get(d.p, out.arr, 1) == lib.CKR_OK
    assert out.arr[0].ulValueLen == 7


# ---- generating and unwrapping keys --------------------------------------------------------


def test_generate_sets_local_mechanism_and_history() -> None:
    r = new(GENERATE, [(lib.CKA_VALUE_LEN, 32), (lib.CKA_SENSITIVE, True),
                       (lib.CKA_EXTRACTABLE, False)], GEN_EXTRA)
    assert r.rv == lib.CKR_OK
    k = r.obj
    assert k.bool(lib.CKA_LOCAL) and k.ulong(lib.CKA_KEY_GEN_MECHANISM) == lib.CKM_AES_KEY_GEN
    assert k.bool(lib.CKA_ALWAYS_SENSITIVE) and k.bool(lib.CKA_NEVER_EXTRACTABLE)
    assert not k.bool(KS_KNOWN)
    k.set(lib.CKA_VALUE, KEY32)
    assert finish(k, GENERATE) == lib.CKR_OK
    assert k.raw(lib.CKA_CHECK_VALUE) == aes_kcv(KEY32) and k.ulong(lib.CKA_VALUE_LEN) == 32
    r = new(GENERATE, [(lib.CKA_VALUE_LEN, 16)], GEN_EXTRA)
    assert not r.obj.bool(lib.CKA_ALWAYS_SENSITIVE) and not r.obj.bool(lib.CKA_NEVER_EXTRACTABLE)


def test_generate_value_len_rules() -> None:
    assert new(GENERATE, [], GEN_EXTRA).rv == lib.CKR_TEMPLATE_INCOMPLETE
    r = new(GENERATE, [(lib.CKA_VALUE_LEN, 16), (lib.CKA_VALUE, KEY16)], GEN_EXTRA)
    assert r.rv == lib.CKR_ATTRIBUTE_READ_ONLY and r.why_attr == lib.CKA_VALUE
    for n in (0, 8, 20, 64):
        r = new(GENERATE, [(lib.CKA_VALUE_LEN, n)], GEN_EXTRA)
        assert r.rv == lib.CKR_ATTRIBUTE_VALUE_INVALID, n
    gen = [(lib.CKA_CLASS, lib.CKO_SECRET_KEY), (lib.CKA_KEY_TYPE, lib.CKK_GENERIC_SECRET)]
    assert new(GENERATE, [(lib.CKA_VALUE_LEN, 0)], gen).rv == lib.CKR_ATTRIBUTE_VALUE_INVALID
    assert new(GENERATE, [(lib.CKA_VALUE_LEN, 4097)], gen).rv == lib.CKR_KEY_SIZE_RANGE
    assert new(GENERATE, [(lib.CKA_VALUE_LEN, 4096)], gen).rv == lib.CKR_OK
    assert new(GENERATE, [(lib.CKA_VALUE_LEN, 1)], gen).rv == lib.CKR_OK
    r = new(GENERATE, [(lib.CKA_VALUE_LEN, 16)], GEN_EXTRA)
    r.obj.set(lib.CKA_VALUE, bytes(20))
    assert finish(r.obj, GENERATE) == lib.CKR_KEY_SIZE_RANGE


def test_generate_template_conflicting_with_mechanism() -> None:
    r = new(GENERATE, [(lib.CKA_VALUE_LEN, 16), (lib.CKA_KEY_TYPE, lib.CKK_GENERIC_SECRET)],
            GEN_EXTRA)
    assert r.rv == lib.CKR_TEMPLATE_INCONSISTENT and r.why_attr == lib.CKA_KEY_TYPE
    r = new(GENERATE, [(lib.CKA_VALUE_LEN, 16), (lib.CKA_KEY_TYPE, lib.CKK_AES)], GEN_EXTRA)
    assert r.rv == lib.CKR_OK


def test_unwrap_rules() -> None:
    base = [(lib.CKA_CLASS, lib.CKO_SECRET_KEY), (lib.CKA_KEY_TYPE, lib.CKK_AES)]
    r = new(UNWRAP, [*base, (lib.CKA_VALUE_LEN, 16)])
    assert r.rv == lib.CKR_ATTRIBUTE_READ_ONLY and r.why_attr == lib.CKA_VALUE_LEN
    r = new(UNWRAP, [*base, (lib.CKA_VALUE, KEY16)])
    assert r.rv == lib.CKR_ATTRIBUTE_READ_ONLY
    assert new(UNWRAP, [(lib.CKA_CLASS, lib.CKO_SECRET_KEY)]).rv == lib.CKR_TEMPLATE_INCOMPLETE
    r = new(UNWRAP, [*base, (lib.CKA_SENSITIVE, True), (lib.CKA_EXTRACTABLE, False)])
    assert r.rv == lib.CKR_OK
    k = r.obj
    assert not k.bool(lib.CKA_LOCAL) and k.ulong(lib.CKA_KEY_GEN_MECHANISM) == UNAVAILABLE
    assert not k.bool(lib.CKA_ALWAYS_SENSITIVE) and not k.bool(lib.CKA_NEVER_EXTRACTABLE)
    assert k.bool(KS_KNOWN)  # assumed known until the caller shows otherwise
    k.set(lib.CKA_VALUE, bytes(20))
    assert finish(k, UNWRAP) == lib.CKR_WRAPPED_KEY_LEN_RANGE
    k.set(lib.CKA_VALUE, KEY16)
    assert finish(k, UNWRAP) == lib.CKR_OK


def test_unwrap_generic_truncates_to_value_len() -> None:
    base = [(lib.CKA_CLASS, lib.CKO_SECRET_KEY), (lib.CKA_KEY_TYPE, lib.CKK_GENERIC_SECRET)]
    r = new(UNWRAP, [*base, (lib.CKA_VALUE_LEN, 20)])
    assert r.rv == lib.CKR_OK
    r.obj.set(lib.CKA_VALUE, KEY32)
    assert finish(r.obj, UNWRAP) == lib.CKR_OK
    assert r.obj.raw(lib.CKA_VALUE) == KEY32[:20] and r.obj.ulong(lib.CKA_VALUE_LEN) == 20
    r = new(UNWRAP, [*base, (lib.CKA_VALUE_LEN, 40)])
    r.obj.set(lib.CKA_VALUE, KEY32)
    assert finish(r.obj, UNWRAP) == lib.CKR_WRAPPED_KEY_LEN_RANGE


def test_unwrap_template_imposed_conflicts_are_inconsistent() -> None:
    base = [(lib.CKA_CLASS, lib.CKO_SECRET_KEY), (lib.CKA_KEY_TYPE, lib.CKK_AES)]
    imposed = [(lib.CKA_SENSITIVE, True), (lib.CKA_EXTRACTABLE, False)]
    r = new(UNWRAP, [*base, (lib.CKA_EXTRACTABLE, True)], imposed)
    assert r.rv == lib.CKR_TEMPLATE_INCONSISTENT and r.why_attr == lib.CKA_EXTRACTABLE
    r = new(UNWRAP, [*base, (lib.CKA_SENSITIVE, True)], imposed)
    assert r.rv == lib.CKR_OK and not r.obj.bool(lib.CKA_EXTRACTABLE)


@pytest.mark.parametrize("n", [0, 4097])
def test_generic_value_length_on_create(n: int) -> None:
    r = new(CREATE, [(lib.CKA_CLASS, lib.CKO_SECRET_KEY),
                     (lib.CKA_KEY_TYPE, lib.CKK_GENERIC_SECRET), (lib.CKA_VALUE, bytes(n))])
    assert r.rv == lib.CKR_OK
    assert finish(r.obj, CREATE) == lib.CKR_ATTRIBUTE_VALUE_INVALID


def test_derive_origin_is_neither_local_nor_trusted_history() -> None:
    r = new(lib.KS_ORIGIN_DERIVE, [(lib.CKA_VALUE_LEN, 32), (lib.CKA_SENSITIVE, True)],
            [(lib.CKA_CLASS, lib.CKO_SECRET_KEY), (lib.CKA_KEY_TYPE, lib.CKK_GENERIC_SECRET)])
    assert r.rv == lib.CKR_OK
    assert not r.obj.bool(lib.CKA_LOCAL) and not r.obj.bool(lib.CKA_ALWAYS_SENSITIVE)
    assert r.obj.bool(KS_KNOWN)
    r.obj.set(lib.CKA_VALUE, KEY32)
    assert finish(r.obj, lib.KS_ORIGIN_DERIVE) == lib.CKR_OK
    r.obj.set(lib.CKA_VALUE, bytes(5000))
    assert finish(r.obj, lib.KS_ORIGIN_DERIVE) == lib.CKR_KEY_SIZE_RANGE


@pytest.mark.parametrize("which", ["CKA_UNWRAP_TEMPLATE", "CKA_DERIVE_TEMPLATE"])
def test_imposed_templates_obey_the_rules_of_their_caller(which: str) -> None:
    # An unwrap or derive template is applied to every new key without that caller's checks:
    # it may not carry what the caller could not set directly.
    t = getattr(lib, which)
    for inner, code in (
        ([(lib.CKA_TRUSTED, True)], lib.CKR_ATTRIBUTE_READ_ONLY),
        ([(lib.CKA_LOCAL, True)], lib.CKR_ATTRIBUTE_READ_ONLY),
        ([(lib.CKA_VALUE, KEY16)], lib.CKR_ATTRIBUTE_READ_ONLY),
        ([(KS_KNOWN, False)], lib.CKR_ATTRIBUTE_READ_ONLY),
        ([(KS_STATE, SUSPENDED)], lib.CKR_ATTRIBUTE_VALUE_INVALID),
    ):
        r = new(CREATE, aes((t, inner)))
        assert r.rv == code and r.why_attr == t, inner
    assert new(CREATE, aes((t, [(lib.CKA_TRUSTED, True)])), so=True).rv == lib.CKR_OK
    ok = new(CREATE, aes((t, [(lib.CKA_SENSITIVE, True), (KS_STATE, PRE)])))
    assert ok.rv == lib.CKR_OK


def test_wrap_template_is_only_matched_so_anything_known_goes() -> None:
    assert new(CREATE, aes((lib.CKA_WRAP_TEMPLATE, [(lib.CKA_TRUSTED, True),
                                                    (lib.CKA_LOCAL, True)]))).rv == lib.CKR_OK


def test_vendor_types_are_not_array_attributes() -> None:
    # keystead's tag 0x4B53 sits in bits 8..23: no CKA_KS_* type has bit 30
    # (CKF_ARRAY_ATTRIBUTE), and only the three template attributes hold CK_ATTRIBUTE arrays.
    assert not KS_STATE & lib.CKF_ARRAY_ATTRIBUTE
    assert lib.ks_attrs_is_template(KS_STATE) == 0
    assert lib.ks_attrs_is_template(lib.CKA_ALLOWED_MECHANISMS) == 0
    for t in (lib.CKA_WRAP_TEMPLATE, lib.CKA_UNWRAP_TEMPLATE, lib.CKA_DERIVE_TEMPLATE):
        assert lib.ks_attrs_is_template(t) == 1
    k = make_key((lib.CKA_UNWRAP_TEMPLATE, [(KS_STATE, PRE), (KS_LIMIT, 3)]))
    assert len(k.raw(lib.CKA_UNWRAP_TEMPLATE)) == 2 * (16 + 8)

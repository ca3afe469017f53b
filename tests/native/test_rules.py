"""Attribute sets and attribute rules (native/token/attrs.c, rules_*.c) through cffi.

Each refusal is asserted with the exact CK_RV that PKCS#11 3.0 names: base 4.1.1-4.1.3
(creating, modifying, copying objects), 4.4 storage objects, 4.5 data objects, 4.7 key
objects, 4.10 secret key objects and the footnotes of table 10, 5.7 C_GetAttributeValue's
five cases and C_FindObjectsInit matching; plus keystead's vendor attributes (keystead.h).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from keystead.core import ffi, lib

UNAVAILABLE = 2**64 - 1
VENDOR = 0x80000000 | 0x4B530000
KS_STATE = VENDOR | 1
KS_PSTART, KS_PEND = VENDOR | 2, VENDOR | 3
KS_COUNT, KS_LIMIT, KS_OVERRIDE = VENDOR | 4, VENDOR | 5, VENDOR | 6
KS_GCM, KS_REASON, KS_KNOWN = VENDOR | 7, VENDOR | 8, VENDOR | 9
PRE, ACTIVE, SUSPENDED, DEACTIVATED, COMPROMISED, DESTROYED = range(6)
EDGES = {
    (PRE, ACTIVE), (PRE, COMPROMISED), (PRE, DESTROYED),
    (ACTIVE, SUSPENDED), (ACTIVE, DEACTIVATED), (ACTIVE, COMPROMISED), (ACTIVE, DESTROYED),
    (SUSPENDED, ACTIVE), (SUSPENDED, DEACTIVATED), (SUSPENDED, COMPROMISED),
    (SUSPENDED, DESTROYED),
    (DEACTIVATED, COMPROMISED), (DEACTIVATED, DESTROYED), (COMPROMISED, DESTROYED),
}  # fmt: skip
CREATE, GENERATE, UNWRAP = lib.KS_ORIGIN_CREATE, lib.KS_ORIGIN_GENERATE, lib.KS_ORIGIN_UNWRAP
KEY16 = bytes(range(16))
KEY32 = bytes(range(32, 64))
SIZEOF_ATTR = ffi.sizeof("CK_ATTRIBUTE")


# ---- helpers ----------------------------------------------------------------------------


@dataclass
class Raw:
    """A malformed attribute value: these bytes (or NULL) with this exact ulValueLen."""

    data: bytes | None
    length: int


class Template:
    """A CK_ATTRIBUTE array built from (type, value) pairs; keeps every buffer alive.

    bool -> CK_BBOOL, int -> CK_ULONG, bytes -> byte array, str -> UTF-8, list of pairs ->
    nested CK_ATTRIBUTE array, None -> NULL_PTR with length 0, Raw -> exactly as given.
    """

    def __init__(self, pairs: list[tuple[int, Any]]) -> None:
        self.keep: list[Any] = []
        self.count = len(pairs)
        self.arr = ffi.new("CK_ATTRIBUTE[]", max(self.count, 1))
        for i, (t, v) in enumerate(pairs):
            self.arr[i].type = t
            ptr, length = self._value(v)
            self.arr[i].pValue = ptr
            self.arr[i].ulValueLen = length

    def _value(self, v: Any) -> tuple[Any, int]:
        if v is None:
            return ffi.NULL, 0
        if isinstance(v, Raw):
            if v.data is None:
                return ffi.NULL, v.length
            buf = ffi.new("uint8_t[]", v.data or b"\0")
            self.keep.append(buf)
            return buf, v.length
        if isinstance(v, bool):
            buf = ffi.new("CK_BBOOL *", int(v))
            self.keep.append(buf)
            return buf, 1
        if isinstance(v, int):
            buf = ffi.new("CK_ULONG *", v)
            self.keep.append(buf)
            return buf, ffi.sizeof("CK_ULONG")
        if isinstance(v, str):
            v = v.encode()
        if isinstance(v, bytes):
            buf = ffi.new("uint8_t[]", v or b"\0")
            self.keep.append(buf)
            return buf, len(v)
        sub = Template(list(v))
        self.keep.append(sub)
        return ffi.cast("void *", sub.arr), sub.count * SIZEOF_ATTR


class Attrs:
    """A ks_attrs set owned by Python (freed, and wiped, by ks_attrs_free)."""

    def __init__(self) -> None:
        self.p = ffi.new("ks_attrs *")
        lib.ks_attrs_init(self.p)

    def __del__(self) -> None:
        lib.ks_attrs_free(self.p)

    def raw(self, t: int) -> bytes | None:
        a = lib.ks_attrs_find(self.p, t)
        if a == ffi.NULL:
            return None
        return bytes(ffi.buffer(a.value, a.len)) if a.len else b""

    def bool(self, t: int) -> bool:
        v = self.raw(t)
        assert v is not None and len(v) == 1, f"{t:#x} is not a CK_BBOOL: {v!r}"
        return v == b"\x01"

    def ulong(self, t: int) -> int:
        out = ffi.new("CK_ULONG *")
        assert lib.ks_attrs_get_ulong(self.p, t, out) == 1, f"{t:#x} is not a CK_ULONG"
        return out[0]

    def set(self, t: int, value: Any) -> None:
        tm = Template([(t, value)])
        assert lib.ks_attrs_set(self.p, t, tm.arr[0].pValue, tm.arr[0].ulValueLen) == lib.CKR_OK

    def types(self) -> list[int]:
        return [self.p.items[i].type for i in range(self.p.count)]


@dataclass
class Result:
    rv: int
    obj: Attrs
    why: Any

    @property
    def why_attr(self) -> int:
        return self.why.attr


def ctx(so: bool = False, mech: int = 0x1080) -> Any:
    return ffi.new("ks_rule_ctx *", {"so": int(so), "user": int(not so), "mechanism": mech})


def new(origin: int, pairs: list, extra: list | None = None, so: bool = False) -> Result:
    obj = Attrs()
    why = ffi.new("ks_why *")
    t = Template(pairs)
    e = Template(extra or [])
    rv = lib.ks_rules_new_object(
        obj.p, origin, t.arr, t.count, e.arr, e.count, ctx(so, lib.CKM_AES_KEY_GEN), why
    )
    return Result(rv, obj, why)


def finish(obj: Attrs, origin: int) -> int:
    return lib.ks_rules_finish_key(obj.p, origin, ffi.new("ks_why *"))


def aes(*more: tuple[int, Any], value: bytes = KEY16) -> list:
    return [
        (lib.CKA_CLASS, lib.CKO_SECRET_KEY),
        (lib.CKA_KEY_TYPE, lib.CKK_AES),
        (lib.CKA_VALUE, value),
        *more,
    ]


def make_key(*more: tuple[int, Any], value: bytes = KEY16, so: bool = False) -> Attrs:
    r = new(CREATE, aes(*more, value=value), so=so)
    assert r.rv == lib.CKR_OK, hex(r.rv)
    assert finish(r.obj, CREATE) == lib.CKR_OK
    return r.obj


def make_data(*more: tuple[int, Any]) -> Attrs:
    r = new(CREATE, [(lib.CKA_CLASS, lib.CKO_DATA), *more])
    assert r.rv == lib.CKR_OK, hex(r.rv)
    return r.obj


def set_attrs(obj: Attrs, pairs: list, so: bool = False) -> tuple[int, Any]:
    why = ffi.new("ks_why *")
    t = Template(pairs)
    return lib.ks_rules_set(obj.p, t.arr, t.count, ctx(so), why), why


def copy(src: Attrs, pairs: list, so: bool = False) -> Result:
    out = Attrs()
    why = ffi.new("ks_why *")
    t = Template(pairs)
    rv = lib.ks_rules_copy(out.p, src.p, t.arr, t.count, ctx(so), why)
    return Result(rv, out, why)


def snapshot(obj: Attrs) -> dict[int, bytes | None]:
    return {t: obj.raw(t) for t in obj.types()}


def aes_kcv(key: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return (enc.update(bytes(16)) + enc.finalize())[:3]


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


@pytest.mark.parametrize(("cls", "kt"), [(lib.CKO_CERTIFICATE, None), (lib.CKO_PUBLIC_KEY, None),
                                         (lib.CKO_SECRET_KEY, 0x15), (lib.CKO_SECRET_KEY, 0x0)])
def test_unsupported_class_or_key_type_is_value_invalid(cls: int, kt: int | None) -> None:
    pairs = [(lib.CKA_CLASS, cls), (lib.CKA_VALUE, KEY16)]
    if kt is not None:
        pairs.append((lib.CKA_KEY_TYPE, kt))
    r = new(CREATE, pairs)
    assert r.rv == lib.CKR_ATTRIBUTE_VALUE_INVALID
    assert r.why_attr == (lib.CKA_CLASS if kt is None else lib.CKA_KEY_TYPE)


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


GEN_EXTRA = [(lib.CKA_CLASS, lib.CKO_SECRET_KEY), (lib.CKA_KEY_TYPE, lib.CKK_AES)]


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
    assert new(GENERATE, [(lib.CKA_VALUE_LEN, 1025)], gen).rv == lib.CKR_KEY_SIZE_RANGE
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


# ---- C_SetAttributeValue (4.1.2, 4.10, 5.7) -------------------------------------------------


def test_unmodifiable_object_is_action_prohibited() -> None:
    k = make_key((lib.CKA_MODIFIABLE, False))
    before = snapshot(k)
    rv, why = set_attrs(k, [(lib.CKA_LABEL, "x")])
    assert rv == lib.CKR_ACTION_PROHIBITED and why.attr == lib.CKA_MODIFIABLE
    assert snapshot(k) == before


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

"""Helpers for the attribute-rule tests: templates, owned attribute sets, rule calls.

Built on the cffi extension (keystead.core); every helper keeps the buffers it hands to C
alive for as long as the C side may read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from keystead.core import ffi, lib
from keystead.softhsm_bridge.ck import KS_VENDOR

UNAVAILABLE = 2**64 - 1
VENDOR = KS_VENDOR
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
GEN_EXTRA = [(lib.CKA_CLASS, lib.CKO_SECRET_KEY), (lib.CKA_KEY_TYPE, lib.CKK_AES)]


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

"""KW rows measured at the PKCS#11 boundary: the calls python-pkcs11 makes for ``wrap_key`` and
``unwrap_key``, made through the bridge's raw cffi layer (keystead.softhsm_bridge.raw) with
templates and buffers built once, so that the figure is the module's cost plus one cffi call
each, without python-pkcs11's own Python work (its ``make_object`` builds a new class per
unwrapped key: about 30 us, more than half of SoftHSMv2's whole unwrap).

The calls, as python-pkcs11 0.10 makes them (pkcs11/_pkcs11.pyx):

- wrap: C_WrapKey with a NULL output (the length query), then C_WrapKey into a buffer;
- unwrap: C_UnwrapKey with the template ``unwrap_key`` builds through
  ``generic_key_template`` (CKA_CLASS, CKA_KEY_TYPE, the seven capability booleans, CKA_TOKEN
  false), then ``make_object``'s two C_GetAttributeValue calls: the ten types CKA_CLASS,
  ENCRYPT, DECRYPT, SIGN, VERIFY, WRAP, UNWRAP, DERIVE, ENCAPSULATE, DECAPSULATE with NULL
  values (the lengths), then the retrievable ones into buffers. The unwrapped keys are session
  objects, destroyed outside the clock.
"""

from __future__ import annotations

import time
from typing import Any

from .timing import Op

#: make_object's first C_GetAttributeValue, in its order.
MAKE_OBJECT_TYPES = (0x000, 0x104, 0x105, 0x108, 0x10A, 0x106, 0x107, 0x10C, 0x633, 0x634)
CK_UNAVAILABLE_INFORMATION = (1 << 64) - 1
CKM_AES_KEY_WRAP = 0x2109


class BoundaryError(RuntimeError):
    """A boundary call returned something the python-pkcs11 path would not accept."""


def _fail(name: str, rv: int) -> BoundaryError:
    return BoundaryError(f"{name} returned CK_RV 0x{rv:x}")


class BoundaryKW:
    """Raw C_WrapKey / C_UnwrapKey loops on handles that python-pkcs11 made (``session``,
    ``kek``: a wrap/unwrap AES key, ``target``: an extractable AES key)."""

    def __init__(self, raw: Any, session: int, kek: int, target: int) -> None:
        self.raw, self.ffi = raw, raw.ffi
        self.h, self.kek, self.target = session, kek, target
        self.mech = raw.mechanism(CKM_AES_KEY_WRAP, None)
        self._bufs: list[Any] = []  # the value buffers of make_object's second template

    def wrapped(self) -> bytes:
        """The target wrapped under the KEK (two-call form; raises the mapped PKCS11Error)."""
        return self.raw.wrap_key(self.h, CKM_AES_KEY_WRAP, self.kek, self.target)

    def wrap(self) -> Op:
        """C_WrapKey(NULL) then C_WrapKey into a buffer made once, per message."""
        ffi = self.ffi
        fn, h, m, kek, target = (self.raw.function("C_WrapKey"), self.h, self.mech.ptr,
                                 self.kek, self.target)
        n = ffi.new("CK_ULONG *")
        buf = ffi.new("CK_BYTE[]", len(self.wrapped()))
        null = ffi.NULL

        def run(count: int) -> float:
            clock = time.perf_counter
            t0 = clock()
            for _ in range(count):
                rv = fn(h, m, kek, target, null, n)
                if rv:
                    raise _fail("C_WrapKey", rv)
                rv = fn(h, m, kek, target, buf, n)
                if rv:
                    raise _fail("C_WrapKey", rv)
            return clock() - t0
        return run

    def _unwrap_template(self) -> Any:
        from pkcs11 import Attribute, KeyType, ObjectClass

        # generic_key_template's order: class, key type, ALL_CAPABILITIES, token.
        return self.raw.template([
            (Attribute.CLASS, int(ObjectClass.SECRET_KEY)), (Attribute.KEY_TYPE, int(KeyType.AES)),
            (Attribute.ENCRYPT, True), (Attribute.DECRYPT, True), (Attribute.WRAP, False),
            (Attribute.UNWRAP, False), (Attribute.SIGN, False), (Attribute.VERIFY, False),
            (Attribute.DERIVE, False), (Attribute.TOKEN, False)])

    def _probe(self, wrapped: bytes, tmpl: Any) -> tuple[Any, Any, int, int]:
        """Unwrap once and answer make_object's two templates as the module fills them:
        (lengths query, values template, its count, the query's CK_RV)."""
        ffi, raw = self.ffi, self.raw
        hp = ffi.new("CK_OBJECT_HANDLE *")
        rv = raw.call("C_UnwrapKey", self.h, self.mech.ptr, self.kek, wrapped, len(wrapped),
                      tmpl.ptr, tmpl.count, hp)
        if rv:
            raise _fail("C_UnwrapKey", rv)
        query = ffi.new("CK_ATTRIBUTE[]", len(MAKE_OBJECT_TYPES))
        for i, t in enumerate(MAKE_OBJECT_TYPES):
            query[i].type, query[i].pValue, query[i].ulValueLen = t, ffi.NULL, 0
        first = raw.call("C_GetAttributeValue", self.h, hp[0], query, len(MAKE_OBJECT_TYPES))
        found = [(int(query[i].type), int(query[i].ulValueLen))
                 for i in range(len(MAKE_OBJECT_TYPES))
                 if query[i].ulValueLen != CK_UNAVAILABLE_INFORMATION]
        values = ffi.new("CK_ATTRIBUTE[]", max(len(found), 1))
        self._bufs = [ffi.new("CK_BYTE[]", max(n, 1)) for _, n in found]
        for i, (t, n) in enumerate(found):
            values[i].type, values[i].pValue, values[i].ulValueLen = t, self._bufs[i], n
        raw.check("C_DestroyObject", self.h, hp[0])
        return query, values, len(found), first

    def unwrap(self) -> Op:
        """C_UnwrapKey + make_object's two C_GetAttributeValue calls, per message; the keys
        are destroyed after the clock stops."""
        ffi, raw = self.ffi, self.raw
        wrapped = self.wrapped()
        tmpl = self._unwrap_template()
        query, values, n_values, first_rv = self._probe(wrapped, tmpl)
        unwrap, get = raw.function("C_UnwrapKey"), raw.function("C_GetAttributeValue")
        h, m, kek, n_query = self.h, self.mech.ptr, self.kek, len(MAKE_OBJECT_TYPES)
        hp = ffi.new("CK_OBJECT_HANDLE *")

        def run(count: int) -> float:
            # tmpl and self hold the buffers the templates point into: the closure keeps them.
            wlen, tptr, tcount = len(wrapped), tmpl.ptr, tmpl.count
            made = []
            clock = time.perf_counter
            t0 = clock()
            for _ in range(count):
                rv = unwrap(h, m, kek, wrapped, wlen, tptr, tcount, hp)
                if rv:
                    raise _fail("C_UnwrapKey", rv)
                obj = hp[0]
                made.append(obj)
                # The query's CK_RV (CKR_ATTRIBUTE_TYPE_INVALID for the 3.2 types on a 3.0
                # module) is what python-pkcs11 overwrites with the second call's.
                rv = get(h, obj, query, n_query)
                if rv != first_rv:
                    raise _fail("C_GetAttributeValue (lengths)", rv)
                rv = get(h, obj, values, n_values)
                if rv:
                    raise _fail("C_GetAttributeValue", rv)
            spent = clock() - t0
            destroy = self.raw.function("C_DestroyObject")
            for obj in made:  # session objects, destroyed outside the clock
                rv = destroy(h, obj)
                if rv:
                    raise _fail("C_DestroyObject", rv)
            return spent
        return run

    def unwrap_destroy(self) -> Op:
        """C_UnwrapKey then C_DestroyObject of the unwrapped key, both on the clock: the
        lifetime of a key an application unwraps to use once (keystead writes an audit
        record for each of the two calls)."""
        wrapped = self.wrapped()
        tmpl = self._unwrap_template()
        unwrap, destroy = self.raw.function("C_UnwrapKey"), self.raw.function("C_DestroyObject")
        h, m, kek = self.h, self.mech.ptr, self.kek
        hp = self.ffi.new("CK_OBJECT_HANDLE *")

        def run(count: int) -> float:
            wlen, tptr, tcount = len(wrapped), tmpl.ptr, tmpl.count
            clock = time.perf_counter
            t0 = clock()
            for _ in range(count):
                rv = unwrap(h, m, kek, wrapped, wlen, tptr, tcount, hp)
                if rv:
                    raise _fail("C_UnwrapKey", rv)
                rv = destroy(h, hp[0])
                if rv:
                    raise _fail("C_DestroyObject", rv)
            return clock() - t0
        return run


__all__ = ["MAKE_OBJECT_TYPES", "BoundaryError", "BoundaryKW"]

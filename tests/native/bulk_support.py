"""The cffi extension's own instance of the module, provisioned for the bulk-call tests: an
in-memory token (``token_dir = :memory:``), a logged-in session and AES keys, all through
the extension's PKCS#11 3.0 function list (keystead.bulk.function_list)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keystead import ext_token
from keystead.bulk import function_list
from keystead.core import ffi, lib
from keystead.softhsm_bridge.errors import check

SO_PIN = b"so-pin-1234"
USER_PIN = b"user-pin-5678"


@dataclass
class ExtSession:
    fl: Any
    session: int
    slot: int

    def aes_key(self, value: bytes, token: bool = True, **flags: bool) -> int:
        """A key with CKA_VALUE = value (CKA_ENCRYPT/CKA_DECRYPT true unless overridden)."""
        items = [
            (lib.CKA_CLASS, _ulong(lib.CKO_SECRET_KEY)), (lib.CKA_KEY_TYPE, _ulong(lib.CKK_AES)),
            (lib.CKA_TOKEN, _bool(token)), (lib.CKA_VALUE, value),
            (lib.CKA_ENCRYPT, _bool(flags.get("encrypt", True))),
            (lib.CKA_DECRYPT, _bool(flags.get("decrypt", True))),
        ]
        tmpl = ffi.new("CK_ATTRIBUTE[]", len(items))
        keep = []
        for i, (t, v) in enumerate(items):
            buf = ffi.new("CK_BYTE[]", v)
            keep.append(buf)
            tmpl[i].type, tmpl[i].pValue, tmpl[i].ulValueLen = t, buf, len(v)
        h = ffi.new("CK_OBJECT_HANDLE *")
        check(self.fl.C_CreateObject(self.session, tmpl, len(items), h), "C_CreateObject")
        return int(h[0])

    def gcm_invocations(self, key: int) -> int:
        """CKA_KS_GCM_INVOCATIONS of key."""
        value = ffi.new("CK_ULONG *")
        tmpl = ffi.new("CK_ATTRIBUTE *")
        tmpl.type, tmpl.pValue, tmpl.ulValueLen = lib.CKA_KS_GCM_INVOCATIONS, value, 8
        check(self.fl.C_GetAttributeValue(self.session, key, tmpl, 1), "C_GetAttributeValue")
        return int(value[0])


def _ulong(v: int) -> bytes:
    return int(v).to_bytes(ffi.sizeof("CK_ULONG"), "little")


def _bool(v: bool) -> bytes:
    return b"\x01" if v else b"\x00"


@contextmanager
def ext_session(tmp: Path, init_flags: int | None = None) -> Iterator[ExtSession]:
    """A fresh in-memory token of the extension's module and a user session on it
    (C_Initialize with init_flags when given)."""
    conf = tmp / "bulk.conf"
    conf.write_text("token_dir = :memory:\npin_kdf_cost = fast\n")
    fl = function_list()
    mine = ext_token.initialize(fl, conf, init_flags, tolerate_already=True)
    try:
        slot, s = ext_token.user_session(fl, SO_PIN, USER_PIN)
        yield ExtSession(fl, s, slot)
        fl.C_CloseAllSessions(slot)
    finally:
        if mine:
            fl.C_Finalize(ffi.NULL)

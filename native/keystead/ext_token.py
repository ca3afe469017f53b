"""A token of the cffi extension's own instance of the module (``keystead.core``), reached
through its PKCS#11 3.0 function list (``keystead.bulk.function_list``): what the bulk-call
benchmark and tests run on.

:func:`initialize` starts that instance with a configuration file of the caller's, and
:func:`user_session` turns its first uninitialised token into one with a user PIN and a
read/write session logged in as the user.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from keystead.core import ffi, lib
from keystead.errors import check

CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191


def initialize(fl: Any, conf: Path, flags: int | None = None,
               tolerate_already: bool = False) -> bool:
    """C_Initialize the instance with the configuration file conf (KEYSTEAD_CONF is set for
    this call only) and flags (default CKF_OS_LOCKING_OK).

    Returns False when it was initialised already and tolerate_already is set. Raises the
    bridge's PKCS11Error subclass of any other refusal.
    """
    old = os.environ.get("KEYSTEAD_CONF")
    os.environ["KEYSTEAD_CONF"] = str(conf)
    try:
        args = ffi.new("CK_C_INITIALIZE_ARGS *")
        args.flags = lib.CKF_OS_LOCKING_OK if flags is None else flags
        rv = fl.C_Initialize(args)
    finally:
        if old is None:
            del os.environ["KEYSTEAD_CONF"]
        else:
            os.environ["KEYSTEAD_CONF"] = old
    if rv == CKR_CRYPTOKI_ALREADY_INITIALIZED and tolerate_already:
        return False
    check(rv, "C_Initialize")
    return True


def free_slot(fl: Any) -> int:
    """The first slot whose token is not initialised. Raises RuntimeError when none is."""
    n = ffi.new("CK_ULONG *")
    check(fl.C_GetSlotList(1, ffi.NULL, n), "C_GetSlotList")
    slots = ffi.new("CK_SLOT_ID[]", int(n[0]))
    check(fl.C_GetSlotList(1, slots, n), "C_GetSlotList")
    info = ffi.new("CK_TOKEN_INFO *")
    for s in slots[0:int(n[0])]:
        check(fl.C_GetTokenInfo(s, info), "C_GetTokenInfo")
        if not info.flags & lib.CKF_TOKEN_INITIALIZED:
            return int(s)
    raise RuntimeError("the extension offers no uninitialised token")


def user_session(fl: Any, so_pin: bytes, user_pin: bytes,
                 label: bytes = b"bulk") -> tuple[int, int]:
    """Initialise the first uninitialised token (label, so_pin), give it user_pin and open a
    read/write session logged in as the user: (slot, session).

    Raises TypeError unless the PINs and label are bytes, ValueError for a label longer than
    the token's 32-byte field, PKCS11Error for any refusal, RuntimeError when no token is
    uninitialised.
    """
    for name, value in (("so_pin", so_pin), ("user_pin", user_pin), ("label", label)):
        if not isinstance(value, bytes):
            raise TypeError(f"{name} is bytes")
    if len(label) > 32:
        raise ValueError("label is at most 32 bytes")
    slot = free_slot(fl)
    check(fl.C_InitToken(slot, so_pin, len(so_pin), ffi.new("CK_UTF8CHAR[32]", label.ljust(32))),
          "C_InitToken")
    h = ffi.new("CK_SESSION_HANDLE *")
    flags = lib.CKF_SERIAL_SESSION | lib.CKF_RW_SESSION
    check(fl.C_OpenSession(slot, flags, ffi.NULL, ffi.NULL, h), "C_OpenSession")
    s = int(h[0])
    check(fl.C_Login(s, lib.CKU_SO, so_pin, len(so_pin)), "C_Login")
    check(fl.C_InitPIN(s, user_pin, len(user_pin)), "C_InitPIN")
    check(fl.C_Logout(s), "C_Logout")
    check(fl.C_Login(s, lib.CKU_USER, user_pin, len(user_pin)), "C_Login")
    return slot, s


__all__ = ["initialize", "free_slot", "user_session"]

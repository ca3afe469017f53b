"""The raw layer: any PKCS#11 module through cffi in ABI mode.

:class:`RawModule` ``dlopen``s a module, takes its function list (C_GetFunctionList, and
the 3.0 list through C_GetInterface when the module has one) and offers two levels:

- ``call(name, *args) -> int`` returns the CK_RV untouched, for tests that pass NULL
  pointers, short buffers or bad handles and assert the exact code;
- thin typed helpers (``open_session``, ``create_object``, ``encrypt`` ...) that raise the
  mapped :class:`~.errors.PKCS11Error` on anything but CKR_OK.

A module loaded here and through python-pkcs11 in the same process is the same shared
object (the dynamic linker returns one handle), so it is initialised once for both:
:meth:`RawModule.initialize` tolerates CKR_CRYPTOKI_ALREADY_INITIALIZED, and in-process
code must never call C_Finalize while python-pkcs11 holds the module (do that in a
subprocess).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import structs
from .ck import CK_UNAVAILABLE_INFORMATION, CKF_OS_LOCKING_OK, CKF_RW_SESSION, CKF_SERIAL_SESSION
from .errors import (
    CKR_OK,
    BridgeError,
    CryptokiAlreadyInitialized,
    check,
    error_for,
)

CDEF_ENV = "KEYSTEAD_PKCS11_CDEF"
_REQUIRED_TYPES = ("CK_FUNCTION_LIST", "CK_FUNCTION_LIST_3_0", "CK_INTERFACE", "CK_GCM_PARAMS")
#: The declarations parsed at build time (native/build.py ``emit_pkcs11_ffi``).
PREBUILT_MODULE = "keystead._pkcs11_ffi"
_FFI: Any = None
_CDEF_SOURCE = ""


def _cdef_candidates() -> list[tuple[str, str]]:
    """(source name, text) of each cdef to parse at run time, most preferred first."""
    out: list[tuple[str, str]] = []
    env = os.environ.get(CDEF_ENV)
    if env and Path(env).is_file():
        out.append((env, Path(env).read_text()))
    try:
        from importlib import resources  # here: start-up time (docs/manager.md)

        data = resources.files("keystead").joinpath("pkcs11.cdef")
        if data.is_file():
            out.append(("keystead/pkcs11.cdef", data.read_text()))
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        pass
    return out


def _prebuilt() -> Any:
    """The build-time FFI, or None when this install has none (or it is unusable)."""
    import importlib

    try:
        ffi = importlib.import_module(PREBUILT_MODULE).ffi
        for typ in _REQUIRED_TYPES:
            ffi.typeof(typ)
    except (ImportError, AttributeError, TypeError, ValueError, LookupError):
        return None
    return ffi


def _parse(text: str) -> Any:
    """An FFI holding ``text``, or None when it does not parse or lacks a required type."""
    import cffi

    ffi = cffi.FFI()
    try:
        ffi.cdef(text)
        for typ in _REQUIRED_TYPES:
            ffi.typeof(typ)
        if "C_GetFunctionList" not in text:
            ffi.cdef("CK_RV C_GetFunctionList(CK_FUNCTION_LIST **ppFunctionList);")
    except (cffi.CDefError, cffi.FFIError, TypeError):
        return None
    return ffi


def get_ffi() -> Any:
    """The process-wide FFI holding the PKCS#11 declarations (a cffi ``FFI``).

    The declarations are the repository's native/include/pkcs11.cdef (one source of truth
    with the C header). Parsing its 1,900 lines costs a third of a second, so the build
    parses them once and installs the result as :data:`PREBUILT_MODULE` (cffi's
    out-of-line ABI mode), which loads in milliseconds. :data:`CDEF_ENV` naming a file makes
    that file parsed instead; the installed keystead/pkcs11.cdef is parsed when the
    prebuilt module is missing. A cdef that does not parse or lacks the function-list and
    interface types is skipped for the next one; BridgeError when none is usable.
    """
    global _FFI, _CDEF_SOURCE
    if _FFI is not None:
        return _FFI
    if not os.environ.get(CDEF_ENV):
        ffi = _prebuilt()
        if ffi is not None:
            _FFI, _CDEF_SOURCE = ffi, PREBUILT_MODULE
            return ffi
    for name, text in _cdef_candidates():
        ffi = _parse(text)
        if ffi is not None:
            _FFI, _CDEF_SOURCE = ffi, name
            return ffi
    raise BridgeError(f"no usable PKCS#11 declarations: keystead/pkcs11.cdef is missing from "
                      f"the installed package and {CDEF_ENV} names none; reinstall keystead")


def cdef_source() -> str:
    """Where the declarations in use came from (for reports and debugging)."""
    get_ffi()
    return _CDEF_SOURCE


# Functions that only the 3.0 function list holds (PKCS#11 3.0 section 5.1).
_V3_ONLY = frozenset({
    "C_GetInterfaceList", "C_GetInterface", "C_LoginUser", "C_SessionCancel",
    "C_MessageEncryptInit", "C_EncryptMessage", "C_EncryptMessageBegin", "C_EncryptMessageNext",
    "C_MessageEncryptFinal", "C_MessageDecryptInit", "C_DecryptMessage",
    "C_DecryptMessageBegin", "C_DecryptMessageNext", "C_MessageDecryptFinal",
    "C_MessageSignInit", "C_SignMessage", "C_SignMessageBegin", "C_SignMessageNext",
    "C_MessageSignFinal", "C_MessageVerifyInit", "C_VerifyMessage", "C_VerifyMessageBegin",
    "C_VerifyMessageNext", "C_MessageVerifyFinal",
})


@dataclass(frozen=True)
class AttributeResult:
    """What C_GetAttributeValue answered: ``rv``, and per requested type its value
    (None where the module set CK_UNAVAILABLE_INFORMATION) and the length it reported."""

    rv: int
    values: dict[int, bytes | None]
    lengths: dict[int, int]


class RawModule:
    """A PKCS#11 module opened with cffi; see the module docstring."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.ffi = get_ffi()
        try:
            self.lib = self.ffi.dlopen(self.path)
        except OSError as exc:
            raise BridgeError(f"cannot load PKCS#11 module {self.path}: {exc}") from exc
        flp = self.ffi.new("CK_FUNCTION_LIST **")
        check(self.lib.C_GetFunctionList(flp), "C_GetFunctionList")
        self.fl = flp[0]
        self.fl30 = self._function_list_30()

    def _function_list_30(self) -> Any:
        try:
            get_interface = self.lib.C_GetInterface
        except (AttributeError, self.ffi.error):  # not exported (ffi.error: build-time FFI)
            return None
        pp = self.ffi.new("CK_INTERFACE **")
        name = self.ffi.new("CK_UTF8CHAR[]", b"PKCS 11")
        ver = self.ffi.new("CK_VERSION *", {"major": 3, "minor": 0})
        if get_interface(name, ver, pp, 0) != CKR_OK or pp[0] == self.ffi.NULL:
            return None
        return self.ffi.cast("CK_FUNCTION_LIST_3_0 *", pp[0].pFunctionList)

    @property
    def has_v3(self) -> bool:
        """True when the module exports C_GetInterface and returned a 3.0 function list."""
        return self.fl30 is not None

    # -- the two levels ------------------------------------------------------------------

    def function(self, name: str) -> Any:
        """The function pointer for ``name`` from the function list that holds it."""
        if name in _V3_ONLY:
            if self.fl30 is None:
                raise BridgeError(f"{self.path} has no PKCS#11 3.0 interface for {name}")
            return getattr(self.fl30, name)
        return getattr(self.fl, name)

    def call(self, name: str, *args: Any) -> int:
        """Call ``name`` with cffi-ready ``args`` and return its CK_RV as an int."""
        return int(self.function(name)(*args))

    def check(self, name: str, *args: Any) -> None:
        """Call ``name``; raise the mapped PKCS11Error unless it returned CKR_OK."""
        check(self.call(name, *args), name)

    # -- builders, for callers of call() ----------------------------------------------------

    def template(self, attrs: Mapping[int, Any] | Iterable[tuple[int, Any]]) -> structs.Template:
        """A CK_ATTRIBUTE array; see :func:`.structs.template`."""
        return structs.template(self.ffi, attrs)

    def mechanism(self, mech: int, param: Any = None) -> structs.Mech:
        """A CK_MECHANISM; ``param`` is bytes, a structs.Params, a cffi pointer or None."""
        if isinstance(param, structs.Params):
            m = structs.mechanism(self.ffi, mech, param.ptr)
            m.keep.extend(param.keep)
            return m
        return structs.mechanism(self.ffi, mech, param)

    def gcm(self, iv: bytes, aad: bytes = b"", tag_bits: int = 128,
            iv_bits: int | None = None) -> structs.Params:
        """CK_GCM_PARAMS for :meth:`mechanism`."""
        return structs.gcm_params(self.ffi, iv, aad, tag_bits, iv_bits)

    def ctr(self, counter_block: bytes, counter_bits: int = 128) -> structs.Params:
        """CK_AES_CTR_PARAMS for :meth:`mechanism`."""
        return structs.ctr_params(self.ffi, counter_block, counter_bits)

    def ulong_ptr(self, value: int = 0) -> Any:
        """A fresh ``CK_ULONG *`` holding ``value``."""
        return self.ffi.new("CK_ULONG *", value)

    # -- general purpose (5.4) --------------------------------------------------------------

    def initialize(self, os_locking: bool = True, tolerate_already: bool = True) -> int:
        """C_Initialize with CKF_OS_LOCKING_OK (or NULL args). Returns the CK_RV, which is
        CKR_OK or, when tolerated, CKR_CRYPTOKI_ALREADY_INITIALIZED; raises otherwise."""
        args = self.ffi.NULL
        if os_locking:
            args = self.ffi.new("CK_C_INITIALIZE_ARGS *")
            args.flags = CKF_OS_LOCKING_OK
        rv = self.call("C_Initialize", args)
        if rv == CryptokiAlreadyInitialized.rv and tolerate_already:
            return rv
        check(rv, "C_Initialize")
        return rv

    def finalize(self) -> None:
        """C_Finalize(NULL). Never call it in a process where python-pkcs11 holds the module."""
        self.check("C_Finalize", self.ffi.NULL)

    def get_info(self) -> dict[str, Any]:
        """C_GetInfo as a dict (cryptoki_version, manufacturer_id, flags, ...)."""
        info = self.ffi.new("CK_INFO *")
        self.check("C_GetInfo", info)
        return {
            "cryptoki_version": structs.version(info.cryptokiVersion),
            "manufacturer_id": structs.text(self.ffi, info.manufacturerID),
            "flags": int(info.flags),
            "library_description": structs.text(self.ffi, info.libraryDescription),
            "library_version": structs.version(info.libraryVersion),
        }

    def interface_list(self) -> list[tuple[str, tuple[int, int], int]]:
        """C_GetInterfaceList as (name, version, flags) triples; raises BridgeError if the
        module does not export it (a 2.40 module)."""
        try:
            fn = self.lib.C_GetInterfaceList
        except (AttributeError, self.ffi.error) as exc:
            raise BridgeError(f"{self.path} does not export C_GetInterfaceList") from exc
        count = self.ulong_ptr()
        check(fn(self.ffi.NULL, count), "C_GetInterfaceList")
        arr = self.ffi.new("CK_INTERFACE[]", max(count[0], 1))
        check(fn(arr, count), "C_GetInterfaceList")
        out = []
        for i in range(count[0]):
            name = self.ffi.string(self.ffi.cast("char *", arr[i].pInterfaceName)).decode()
            ver = self.ffi.cast("CK_VERSION *", arr[i].pFunctionList)[0]
            out.append((name, structs.version(ver), int(arr[i].flags)))
        return out

    # -- slots and tokens (5.5) -------------------------------------------------------------

    def slot_list(self, token_present: bool = False) -> list[int]:
        """C_GetSlotList, two-call form."""
        count = self.ulong_ptr()
        self.check("C_GetSlotList", token_present, self.ffi.NULL, count)
        arr = self.ffi.new("CK_SLOT_ID[]", max(count[0], 1))
        self.check("C_GetSlotList", token_present, arr, count)
        return [int(arr[i]) for i in range(count[0])]

    def slot_info(self, slot: int) -> dict[str, Any]:
        """C_GetSlotInfo as a dict."""
        info = self.ffi.new("CK_SLOT_INFO *")
        self.check("C_GetSlotInfo", slot, info)
        return {
            "description": structs.text(self.ffi, info.slotDescription),
            "manufacturer_id": structs.text(self.ffi, info.manufacturerID),
            "flags": int(info.flags),
            "hardware_version": structs.version(info.hardwareVersion),
            "firmware_version": structs.version(info.firmwareVersion),
        }

    def token_info(self, slot: int) -> dict[str, Any]:
        """C_GetTokenInfo as a dict; counts keep CK_UNAVAILABLE_INFORMATION as given."""
        ti = self.ffi.new("CK_TOKEN_INFO *")
        self.check("C_GetTokenInfo", slot, ti)
        out: dict[str, Any] = {
            "label": structs.text(self.ffi, ti.label),
            "manufacturer_id": structs.text(self.ffi, ti.manufacturerID),
            "model": structs.text(self.ffi, ti.model),
            "serial": structs.text(self.ffi, ti.serialNumber),
            "flags": int(ti.flags),
            "hardware_version": structs.version(ti.hardwareVersion),
            "firmware_version": structs.version(ti.firmwareVersion),
            "utc_time": bytes(self.ffi.buffer(ti.utcTime)),
        }
        for f in ("ulMaxSessionCount", "ulSessionCount", "ulMaxRwSessionCount",
                  "ulRwSessionCount", "ulMaxPinLen", "ulMinPinLen", "ulTotalPublicMemory",
                  "ulFreePublicMemory", "ulTotalPrivateMemory", "ulFreePrivateMemory"):
            out[f] = int(getattr(ti, f))
        return out

    def mechanism_list(self, slot: int) -> list[int]:
        """C_GetMechanismList, two-call form."""
        count = self.ulong_ptr()
        self.check("C_GetMechanismList", slot, self.ffi.NULL, count)
        arr = self.ffi.new("CK_MECHANISM_TYPE[]", max(count[0], 1))
        self.check("C_GetMechanismList", slot, arr, count)
        return [int(arr[i]) for i in range(count[0])]

    def mechanism_info(self, slot: int, mech: int) -> tuple[int, int, int]:
        """C_GetMechanismInfo as (min key size, max key size, flags)."""
        info = self.ffi.new("CK_MECHANISM_INFO *")
        self.check("C_GetMechanismInfo", slot, mech, info)
        return (int(info.ulMinKeySize), int(info.ulMaxKeySize), int(info.flags))

    def init_token(self, slot: int, so_pin: str, label: str) -> None:
        """C_InitToken; ``label`` is blank-padded to 32 bytes as the spec requires."""
        raw_label = label.encode("utf-8")
        if len(raw_label) > 32:
            raise BridgeError(f"token label longer than 32 bytes: {label!r}")
        pin = so_pin.encode("utf-8")
        self.check("C_InitToken", slot, pin, len(pin), raw_label.ljust(32, b" "))

    # -- sessions (5.6) ---------------------------------------------------------------------

    def open_session(self, slot: int, rw: bool = True) -> int:
        """C_OpenSession (serial, RW unless ``rw`` is False); returns the handle."""
        flags = CKF_SERIAL_SESSION | (CKF_RW_SESSION if rw else 0)
        h = self.ffi.new("CK_SESSION_HANDLE *")
        self.check("C_OpenSession", slot, flags, self.ffi.NULL, self.ffi.NULL, h)
        return int(h[0])

    def close_session(self, session: int) -> None:
        """C_CloseSession."""
        self.check("C_CloseSession", session)

    def close_all_sessions(self, slot: int) -> None:
        """C_CloseAllSessions (which also logs the application out of that token)."""
        self.check("C_CloseAllSessions", slot)

    def session_info(self, session: int) -> dict[str, int]:
        """C_GetSessionInfo as a dict (slot, state, flags, device_error)."""
        si = self.ffi.new("CK_SESSION_INFO *")
        self.check("C_GetSessionInfo", session, si)
        return {"slot": int(si.slotID), "state": int(si.state), "flags": int(si.flags),
                "device_error": int(si.ulDeviceError)}

    def login(self, session: int, user_type: int, pin: str | bytes) -> int:
        """C_Login; returns the raw CK_RV (callers decide what is acceptable)."""
        data = pin.encode("utf-8") if isinstance(pin, str) else pin
        return self.call("C_Login", session, user_type, data, len(data))

    def logout(self, session: int) -> int:
        """C_Logout; returns the raw CK_RV."""
        return self.call("C_Logout", session)

    def init_pin(self, session: int, pin: str) -> None:
        """C_InitPIN (SO logged in on ``session``)."""
        data = pin.encode("utf-8")
        self.check("C_InitPIN", session, data, len(data))

    def set_pin(self, session: int, old: str, new: str) -> None:
        """C_SetPIN."""
        o, n = old.encode("utf-8"), new.encode("utf-8")
        self.check("C_SetPIN", session, o, len(o), n, len(n))

    # -- objects (5.7) ----------------------------------------------------------------------

    def create_object(self, session: int, attrs: Mapping[int, Any]) -> int:
        """C_CreateObject; returns the new object's handle."""
        t = self.template(attrs)
        h = self.ffi.new("CK_OBJECT_HANDLE *")
        self.check("C_CreateObject", session, t.ptr, t.count, h)
        return int(h[0])

    def copy_object(self, session: int, obj: int, attrs: Mapping[int, Any]) -> int:
        """C_CopyObject; returns the copy's handle."""
        t = self.template(attrs)
        h = self.ffi.new("CK_OBJECT_HANDLE *")
        self.check("C_CopyObject", session, obj, t.ptr, t.count, h)
        return int(h[0])

    def destroy_object(self, session: int, obj: int) -> None:
        """C_DestroyObject."""
        self.check("C_DestroyObject", session, obj)

    def object_size(self, session: int, obj: int) -> int:
        """C_GetObjectSize."""
        size = self.ulong_ptr()
        self.check("C_GetObjectSize", session, obj, size)
        return int(size[0])

    def get_attributes(self, session: int, obj: int, types: Iterable[int]) -> AttributeResult:
        """C_GetAttributeValue for ``types``: a length query, then the values.

        Never raises for the module's answer: the second call's CK_RV is in the result, so
        that CKR_ATTRIBUTE_SENSITIVE and CKR_ATTRIBUTE_TYPE_INVALID can be asserted together
        with the per-attribute CK_UNAVAILABLE_INFORMATION markers (5.7).
        """
        kinds = [int(t) for t in types]
        arr = self.ffi.new("CK_ATTRIBUTE[]", len(kinds))
        for i, t in enumerate(kinds):
            arr[i].type, arr[i].pValue, arr[i].ulValueLen = t, self.ffi.NULL, 0
        first = self.call("C_GetAttributeValue", session, obj, arr, len(kinds))
        lengths = {kinds[i]: int(arr[i].ulValueLen) for i in range(len(kinds))}
        keep = []
        for i in range(len(kinds)):
            n = int(arr[i].ulValueLen)
            if n == CK_UNAVAILABLE_INFORMATION:
                arr[i].pValue, arr[i].ulValueLen = self.ffi.NULL, 0
                continue
            buf = self.ffi.new("CK_BYTE[]", max(n, 1))
            keep.append(buf)
            arr[i].pValue = buf
        rv = self.call("C_GetAttributeValue", session, obj, arr, len(kinds))
        if first not in (CKR_OK, rv):
            rv = first
        values: dict[int, bytes | None] = {}
        for i, t in enumerate(kinds):
            n = int(arr[i].ulValueLen)
            if lengths[t] == CK_UNAVAILABLE_INFORMATION or n == CK_UNAVAILABLE_INFORMATION:
                values[t] = None
            elif arr[i].pValue == self.ffi.NULL:
                values[t] = b""
            else:
                values[t] = bytes(self.ffi.buffer(arr[i].pValue, n))
        return AttributeResult(rv, values, lengths)

    def get_attribute(self, session: int, obj: int, atype: int) -> bytes:
        """One attribute's value; raises the mapped error if the module refuses it."""
        res = self.get_attributes(session, obj, [atype])
        check(res.rv, "C_GetAttributeValue")
        value = res.values[int(atype)]
        if value is None:  # CKR_OK with no value would break 5.7; report, do not guess
            raise error_for(0x5, "C_GetAttributeValue returned CKR_OK without a value")
        return value

    def set_attributes(self, session: int, obj: int, attrs: Mapping[int, Any]) -> None:
        """C_SetAttributeValue."""
        t = self.template(attrs)
        self.check("C_SetAttributeValue", session, obj, t.ptr, t.count)

    def find_objects(self, session: int, attrs: Mapping[int, Any], batch: int = 64) -> list[int]:
        """C_FindObjectsInit / C_FindObjects until empty / C_FindObjectsFinal."""
        t = self.template(attrs)
        self.check("C_FindObjectsInit", session, t.ptr, t.count)
        found: list[int] = []
        arr = self.ffi.new("CK_OBJECT_HANDLE[]", batch)
        count = self.ulong_ptr()
        try:
            while True:
                self.check("C_FindObjects", session, arr, batch, count)
                if count[0] == 0:
                    break
                found.extend(int(arr[i]) for i in range(count[0]))
        finally:
            self.check("C_FindObjectsFinal", session)
        return found

    # -- keys and random (5.14, 5.15) -------------------------------------------------------

    def generate_key(self, session: int, mech: int, attrs: Mapping[int, Any],
                     param: Any = None) -> int:
        """C_GenerateKey; returns the key's handle."""
        m = self.mechanism(mech, param)
        t = self.template(attrs)
        h = self.ffi.new("CK_OBJECT_HANDLE *")
        self.check("C_GenerateKey", session, m.ptr, t.ptr, t.count, h)
        return int(h[0])

    def generate_key_pair(self, session: int, mech: int, public: Mapping[int, Any],
                          private: Mapping[int, Any], param: Any = None) -> tuple[int, int]:
        """C_GenerateKeyPair; returns the (public, private) key handles."""
        m = self.mechanism(mech, param)
        tp = self.template(public)
        tk = self.template(private)
        hp = self.ffi.new("CK_OBJECT_HANDLE *")
        hk = self.ffi.new("CK_OBJECT_HANDLE *")
        self.check("C_GenerateKeyPair", session, m.ptr, tp.ptr, tp.count, tk.ptr, tk.count,
                   hp, hk)
        return int(hp[0]), int(hk[0])

    def wrap_key(self, session: int, mech: int, wrapping_key: int, key: int,
                 param: Any = None) -> bytes:
        """C_WrapKey, two-call form; returns the wrapped bytes."""
        m = self.mechanism(mech, param)
        return self._two_call("C_WrapKey", session, m.ptr, wrapping_key, key)

    def unwrap_key(self, session: int, mech: int, unwrapping_key: int, wrapped: bytes,
                   attrs: Mapping[int, Any], param: Any = None) -> int:
        """C_UnwrapKey; returns the new key's handle."""
        m = self.mechanism(mech, param)
        t = self.template(attrs)
        h = self.ffi.new("CK_OBJECT_HANDLE *")
        self.check("C_UnwrapKey", session, m.ptr, unwrapping_key, wrapped, len(wrapped),
                   t.ptr, t.count, h)
        return int(h[0])

    def generate_random(self, session: int, n: int) -> bytes:
        """C_GenerateRandom of ``n`` bytes."""
        buf = self.ffi.new("CK_BYTE[]", max(n, 1))
        self.check("C_GenerateRandom", session, buf, n)
        return bytes(self.ffi.buffer(buf, n))

    # -- cryptographic operations (5.8 - 5.13) ----------------------------------------------

    def op_init(self, what: str, session: int, mech: int, key: int, param: Any = None) -> None:
        """C_{Encrypt,Decrypt,Sign,Verify}Init, or C_DigestInit when ``key`` is None-like 0
        and ``what`` is "Digest"."""
        m = self.mechanism(mech, param)
        if what == "Digest":
            self.check("C_DigestInit", session, m.ptr)
        else:
            self.check(f"C_{what}Init", session, m.ptr, key)

    def call_out(self, name: str, *args: Any, capacity: int | None) -> tuple[int, bytes, int]:
        """Call ``name`` whose last two parameters are (CK_BYTE *out, CK_ULONG *out_len).

        ``capacity`` None passes a NULL output pointer (the length query of 5.2); otherwise a
        buffer of that many bytes. Returns (CK_RV, output bytes, *out_len as returned).
        """
        length = self.ulong_ptr(capacity or 0)
        buf = self.ffi.NULL if capacity is None else self.ffi.new("CK_BYTE[]", max(capacity, 1))
        rv = self.call(name, *args, buf, length)
        n = int(length[0])
        out = b"" if capacity is None or rv != CKR_OK else bytes(self.ffi.buffer(buf, n))
        return rv, out, n

    def _two_call(self, name: str, *args: Any) -> bytes:
        rv, _, n = self.call_out(name, *args, capacity=None)
        check(rv, name)
        rv, out, _ = self.call_out(name, *args, capacity=n)
        check(rv, name)
        return out

    def single(self, what: str, session: int, data: bytes) -> bytes:
        """C_Encrypt / C_Decrypt / C_Digest / C_Sign on ``data`` (two-call form)."""
        return self._two_call(f"C_{what}", session, data, len(data))

    def update(self, what: str, session: int, data: bytes) -> bytes:
        """C_EncryptUpdate / C_DecryptUpdate (two-call form); C_DigestUpdate / C_SignUpdate /
        C_VerifyUpdate return b""."""
        if what in ("Digest", "Sign", "Verify"):
            self.check(f"C_{what}Update", session, data, len(data))
            return b""
        return self._two_call(f"C_{what}Update", session, data, len(data))

    def final(self, what: str, session: int) -> bytes:
        """C_EncryptFinal / C_DecryptFinal / C_DigestFinal / C_SignFinal (two-call form)."""
        return self._two_call(f"C_{what}Final", session)

    def verify(self, session: int, data: bytes, signature: bytes) -> int:
        """C_Verify; returns the raw CK_RV (CKR_OK or CKR_SIGNATURE_INVALID are answers)."""
        return self.call("C_Verify", session, data, len(data), signature, len(signature))

    def encrypt(self, session: int, mech: int, key: int, data: bytes, param: Any = None) -> bytes:
        """C_EncryptInit + C_Encrypt."""
        self.op_init("Encrypt", session, mech, key, param)
        return self.single("Encrypt", session, data)

    def decrypt(self, session: int, mech: int, key: int, data: bytes, param: Any = None) -> bytes:
        """C_DecryptInit + C_Decrypt."""
        self.op_init("Decrypt", session, mech, key, param)
        return self.single("Decrypt", session, data)


_OPEN: dict[str, RawModule] = {}


def open_raw(path: str | os.PathLike[str], initialize: bool = True) -> RawModule:
    """The process's one :class:`RawModule` for ``path`` (initialised unless asked not to)."""
    key = os.path.realpath(os.fspath(path))
    mod = _OPEN.get(key)
    if mod is None:
        mod = RawModule(key)
        _OPEN[key] = mod
    if initialize:
        mod.initialize()
    return mod

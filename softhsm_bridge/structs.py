"""Build the C structures a PKCS#11 call takes from Python values (cffi, ABI mode).

Every builder returns an object that owns all the memory the structure points to, so the
caller keeps that object alive for the duration of the call and nothing else.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import BridgeError

AttrValue = bool | int | bytes | str | None


@dataclass
class Template:
    """A CK_ATTRIBUTE array (``ptr``, ``count``) and the buffers it points to."""

    ptr: Any
    count: int
    keep: list[Any] = field(default_factory=list)


@dataclass
class Mech:
    """A CK_MECHANISM pointer and its parameter's memory."""

    ptr: Any
    keep: list[Any] = field(default_factory=list)


def encode_value(value: AttrValue) -> bytes | None:
    """The bytes PKCS#11 stores for a Python attribute value.

    bool is CK_BBOOL (1 byte), int is CK_ULONG (native 8 bytes), str is UTF-8, bytes are
    passed as given (so a test can send a malformed length), None means a NULL pointer.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return b"\x01" if value else b"\x00"
    if isinstance(value, int):
        return struct.pack("=Q", value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    raise BridgeError(f"cannot encode attribute value of type {type(value).__name__}")


def template(
    ffi: Any, attrs: Mapping[int, AttrValue] | Iterable[tuple[int, AttrValue]]
) -> Template:
    """A CK_ATTRIBUTE array for ``attrs`` (a mapping or pairs, so a type may repeat).

    A value that is itself a mapping (or Template) becomes an attribute array, as
    CKA_WRAP_TEMPLATE and CKA_UNWRAP_TEMPLATE take.
    """
    pairs = list(attrs.items()) if isinstance(attrs, Mapping) else list(attrs)
    arr = ffi.new("CK_ATTRIBUTE[]", max(len(pairs), 1))
    keep: list[Any] = [arr]
    for i, (atype, value) in enumerate(pairs):
        arr[i].type = int(atype)
        if isinstance(value, Template | Mapping):  # CKA_WRAP_TEMPLATE and friends (4.10)
            inner = value if isinstance(value, Template) else template(ffi, value)
            keep.append(inner)
            arr[i].pValue = inner.ptr
            arr[i].ulValueLen = inner.count * ffi.sizeof("CK_ATTRIBUTE")
            continue
        data = encode_value(value)
        if data is None:
            arr[i].pValue = ffi.NULL
            arr[i].ulValueLen = 0
        else:
            buf = ffi.new("CK_BYTE[]", data) if data else ffi.new("CK_BYTE[1]")
            keep.append(buf)
            arr[i].pValue = buf
            arr[i].ulValueLen = len(data)
    return Template(arr if pairs else ffi.NULL, len(pairs), keep)


def mechanism(ffi: Any, mech: int, param: bytes | Any | None = None) -> Mech:
    """A CK_MECHANISM for ``mech``; ``param`` is raw bytes, a cffi struct pointer, or None."""
    ptr = ffi.new("CK_MECHANISM *")
    ptr.mechanism = int(mech)
    keep: list[Any] = [ptr]
    if param is None:
        ptr.pParameter = ffi.NULL
        ptr.ulParameterLen = 0
    elif isinstance(param, bytes | bytearray):
        buf = ffi.new("CK_BYTE[]", bytes(param)) if param else ffi.new("CK_BYTE[1]")
        keep.append(buf)
        ptr.pParameter = buf
        ptr.ulParameterLen = len(param)
    else:
        keep.append(param)
        ptr.pParameter = param
        ptr.ulParameterLen = ffi.sizeof(ffi.typeof(param).item)
    return Mech(ptr, keep)


@dataclass
class Params:
    """A mechanism parameter structure and the buffers it points to."""

    ptr: Any
    keep: list[Any] = field(default_factory=list)


def gcm_params(
    ffi: Any, iv: bytes, aad: bytes = b"", tag_bits: int = 128, iv_bits: int | None = None
) -> Params:
    """CK_GCM_PARAMS (PKCS#11 3.0 section 2.12 of the current mechanisms spec).

    ``iv_bits`` defaults to 8 * len(iv), as the spec asks of ulIvBits.
    """
    p = ffi.new("CK_GCM_PARAMS *")
    keep: list[Any] = [p]
    ivbuf = ffi.new("CK_BYTE[]", iv) if iv else ffi.NULL
    aadbuf = ffi.new("CK_BYTE[]", aad) if aad else ffi.NULL
    keep += [ivbuf, aadbuf]
    p.pIv, p.ulIvLen = ivbuf, len(iv)
    p.ulIvBits = 8 * len(iv) if iv_bits is None else iv_bits
    p.pAAD, p.ulAADLen = aadbuf, len(aad)
    p.ulTagBits = tag_bits
    return Params(p, keep)


def ctr_params(ffi: Any, counter_block: bytes, counter_bits: int = 128) -> Params:
    """CK_AES_CTR_PARAMS: a 16-byte initial counter block, the low ``counter_bits`` counting."""
    if len(counter_block) != 16:
        raise BridgeError("AES-CTR counter block must be 16 bytes")
    p = ffi.new("CK_AES_CTR_PARAMS *")
    p.ulCounterBits = counter_bits
    ffi.memmove(p.cb, counter_block, 16)
    return Params(p, [p])


def text(ffi: Any, field_value: Any) -> str:
    """A blank-padded CK_UTF8CHAR[] field as a str without the padding."""
    return bytes(ffi.buffer(field_value)).decode("utf-8", "replace").rstrip(" \x00")


def version(v: Any) -> tuple[int, int]:
    """A CK_VERSION as (major, minor)."""
    return (int(v.major), int(v.minor))

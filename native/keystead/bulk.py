"""Bulk AES-GCM through the cffi extension: ``KS_EncryptMessages`` / ``KS_DecryptMessages``.

The vendor functions (documented in native/include/keystead.h) run in the extension's own
instance of the module: ``session`` and ``key`` are handles of that instance, made through
:func:`function_list` (a session of ``libkeystead-pkcs11.so`` loaded by another library
means nothing here). Message buffers are passed without copying (``ffi.from_buffer``); the
outputs are one arena plus IV and tag arrays, as the C API lays them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keystead.core import ffi, lib
from keystead.errors import check

IV_LEN = int(lib.KS_GCM_BULK_IV_LEN)
MAX_THREADS = int(lib.KS_GCM_BULK_MAX_THREADS)
FIXED_LEN = 4
ULONG_MAX = 2 ** (8 * ffi.sizeof("CK_ULONG")) - 1
Buffer = bytes | bytearray | memoryview


def _handle(name: str, value: object) -> int:
    """value as a CK_ULONG handle; TypeError or ValueError when it is not one."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} is an int handle")
    if not 0 <= value <= ULONG_MAX:
        raise ValueError(f"{name} is outside the CK_ULONG range")
    return value


def _tag_len(tag_len: object) -> int:
    if not isinstance(tag_len, int) or isinstance(tag_len, bool):
        raise TypeError("tag_len is an int")
    if not 4 <= tag_len <= 16:
        raise ValueError("tag_len is 4..16 bytes")
    return tag_len


def _threads(threads: object) -> int:
    if not isinstance(threads, int) or isinstance(threads, bool):
        raise TypeError("threads is an int")
    if not 0 <= threads <= MAX_THREADS:
        raise ValueError(f"threads is 0..{MAX_THREADS}")
    return threads


def _writable(name: str, buf: object, size: int) -> Any:
    """A cffi view of buf, a writable buffer of exactly size bytes."""
    if not isinstance(buf, bytearray | memoryview):
        raise TypeError(f"{name} is a writable buffer (bytearray or memoryview)")
    view = memoryview(buf)
    if view.readonly:
        raise TypeError(f"{name} is read-only")
    if view.nbytes != size:
        raise ValueError(f"{name} is {view.nbytes} bytes, {size} expected")
    return ffi.from_buffer(buf, require_writable=True)


def _readable(name: str, buf: object, size: int) -> Any:
    """A cffi view of buf, a buffer of exactly size bytes."""
    if not isinstance(buf, bytes | bytearray | memoryview):
        raise TypeError(f"{name} is a bytes-like buffer")
    nbytes = memoryview(buf).nbytes
    if nbytes != size:
        raise ValueError(f"{name} is {nbytes} bytes, {size} expected")
    return ffi.from_buffer(buf)


def _array_len(cdata: Any) -> int:
    """The number of items of a cffi array (0 for NULL or a bare pointer)."""
    if cdata == ffi.NULL or ffi.typeof(cdata).kind != "array":
        return 0
    return len(cdata)


def function_list() -> Any:
    """The extension's PKCS#11 3.0 function list (``CK_FUNCTION_LIST_3_0 *``).

    Raises PKCS11Error when the interface cannot be had (cannot happen).
    """
    pp = ffi.new("CK_INTERFACE_PTR *")
    check(lib.C_GetInterface(ffi.NULL, ffi.NULL, pp, 0), "C_GetInterface")
    return ffi.cast("CK_FUNCTION_LIST_3_0 *", pp[0].pFunctionList)


@dataclass
class Batch:
    """Messages prepared once for any number of bulk calls: the pointer and length arrays
    reference the caller's buffers (kept alive here), nothing is copied."""

    count: int
    total: int
    ptrs: Any
    lens: Any
    aad_ptrs: Any
    aad_lens: Any
    _keep: list[Any]

    def check(self) -> None:
        """Raise ValueError unless count and total agree with the pointer and length arrays
        (the C functions read count items of each: a larger count would read past them)."""
        if not isinstance(self.count, int) or isinstance(self.count, bool) or self.count < 0:
            raise ValueError("count is a non-negative int")
        arrays = [("ptrs", self.ptrs), ("lens", self.lens)]
        if self.aad_ptrs != ffi.NULL or self.aad_lens != ffi.NULL:
            arrays += [("aad_ptrs", self.aad_ptrs), ("aad_lens", self.aad_lens)]
        for name, arr in arrays:
            if _array_len(arr) < self.count:
                raise ValueError(f"count {self.count} exceeds the {name} array")
        if sum(ffi.unpack(self.lens, self.count)) != self.total:
            raise ValueError("total is not the sum of the message lengths")

    @classmethod
    def of(cls, messages: Sequence[Buffer], aad: Sequence[Buffer] | None = None) -> Batch:
        """A batch of separate buffers (and per-message associated data, or none).

        Raises TypeError for an item that is not a bytes-like buffer, ValueError when aad
        does not give one item per message.
        """
        for m in list(messages) + list(aad or []):
            if not isinstance(m, bytes | bytearray | memoryview):
                raise TypeError("messages and associated data are bytes-like buffers")
        keep = [ffi.from_buffer(m) for m in messages]
        ptrs = ffi.new("CK_BYTE *[]", keep) if keep else ffi.new("CK_BYTE *[1]")
        lens = ffi.new("CK_ULONG[]", [len(m) for m in messages] or [0])
        aad_ptrs = aad_lens = ffi.NULL
        if aad is not None:
            if len(aad) != len(messages):
                raise ValueError("one associated data per message")
            aad_keep = [ffi.from_buffer(a) for a in aad]
            keep += aad_keep
            aad_ptrs = ffi.new("CK_BYTE *[]", aad_keep) if aad_keep else ffi.new("CK_BYTE *[1]")
            aad_lens = ffi.new("CK_ULONG[]", [len(a) for a in aad] or [0])
        return cls(len(messages), sum(len(m) for m in messages), ptrs, lens, aad_ptrs,
                   aad_lens, keep)

    @classmethod
    def of_arena(cls, arena: Buffer, lengths: Sequence[int]) -> Batch:
        """A batch of messages laid end to end in one buffer (no associated data).

        Raises ValueError when a length is negative or the lengths overrun the arena,
        TypeError when arena is not a bytes-like buffer or a length not an int.
        """
        if not isinstance(arena, bytes | bytearray | memoryview):
            raise TypeError("arena is a bytes-like buffer")
        for n in lengths:
            if not isinstance(n, int) or isinstance(n, bool):
                raise TypeError("lengths are ints")
            if n < 0:
                raise ValueError("a length is negative")
        if sum(lengths) > memoryview(arena).nbytes:
            raise ValueError("the lengths overrun the arena")
        base = ffi.from_buffer(arena)
        ptrs = ffi.new("CK_BYTE *[]", max(len(lengths), 1))
        offset = 0
        for i, n in enumerate(lengths):
            ptrs[i] = base + offset
            offset += n
        lens = ffi.new("CK_ULONG[]", list(lengths) or [0])
        return cls(len(lengths), offset, ptrs, lens, ffi.NULL, ffi.NULL, [base])


@dataclass
class Sealed:
    """The output of :func:`encrypt`: ciphertexts end to end, 12-byte IVs, tags."""

    out: bytearray
    ivs: bytearray
    tags: bytearray


def encrypt(session: int, key: int, batch: Batch, *, tag_len: int = 16,
            iv_fixed: bytes = bytes(4), threads: int = 1, into: Sealed | None = None) -> Sealed:
    """Encrypt every message of batch with a token-generated IV (SP 800-38D 8.2.1).

    ``into`` reuses output buffers of exactly the right sizes (``batch.total`` bytes, 12
    per message, ``tag_len`` per message). Raises TypeError or ValueError for an argument of
    the wrong type, size or range (nothing is passed to C then), the PKCS11Error subclass of
    the CK_RV (e.g. KeyFunctionNotPermitted at the 2^32 invocation limit).
    """
    session, key = _handle("session", session), _handle("key", key)
    tag_len, threads = _tag_len(tag_len), _threads(threads)
    batch.check()
    fixed = _readable("iv_fixed", iv_fixed, FIXED_LEN)
    res = into or Sealed(bytearray(batch.total), bytearray(IV_LEN * batch.count),
                         bytearray(tag_len * batch.count))
    out = _writable("into.out", res.out, batch.total)
    ivs = _writable("into.ivs", res.ivs, IV_LEN * batch.count)
    tags = _writable("into.tags", res.tags, tag_len * batch.count)
    out_len = ffi.new("CK_ULONG *", batch.total)
    rv = lib.KS_EncryptMessages(session, key, out, out_len, ivs, tags, tag_len, batch.count,
                                batch.ptrs, batch.lens, batch.aad_ptrs, batch.aad_lens, fixed,
                                threads)
    check(rv, "KS_EncryptMessages")
    return res


def decrypt(session: int, key: int, batch: Batch, ivs: Buffer, tags: Buffer, *,
            tag_len: int = 16, threads: int = 1) -> tuple[bytearray, list[bool]]:
    """Decrypt and verify every message of batch; return the plaintexts end to end and one
    flag per message (False: its tag failed and its plaintext is zeros).

    Raises TypeError or ValueError for an argument of the wrong type, size or range (IV or
    tag arrays that do not hold one item per message, among others; nothing is passed to C
    then), the PKCS11Error subclass of the CK_RV for anything but failed tags.
    """
    session, key = _handle("session", session), _handle("key", key)
    tag_len, threads = _tag_len(tag_len), _threads(threads)
    batch.check()
    iv_buf = _readable("ivs", ivs, IV_LEN * batch.count)
    tag_buf = _readable("tags", tags, tag_len * batch.count)
    out = bytearray(batch.total)
    ok = bytearray(max(batch.count, 1))
    out_len = ffi.new("CK_ULONG *", len(out))
    rv = lib.KS_DecryptMessages(session, key, ffi.from_buffer(out), out_len,
                                ffi.from_buffer(ok), batch.count, batch.ptrs, batch.lens,
                                batch.aad_ptrs, batch.aad_lens, iv_buf, tag_buf, tag_len,
                                threads)
    if rv != lib.CKR_ENCRYPTED_DATA_INVALID:
        check(rv, "KS_DecryptMessages")
    return out, [bool(b) for b in ok[: batch.count]]


__all__ = ["IV_LEN", "Batch", "Sealed", "decrypt", "encrypt", "function_list"]

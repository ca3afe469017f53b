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
Buffer = bytes | bytearray | memoryview


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

    @classmethod
    def of(cls, messages: Sequence[Buffer], aad: Sequence[Buffer] | None = None) -> Batch:
        """A batch of separate buffers (and per-message associated data, or none)."""
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

        Raises ValueError when the lengths overrun the arena.
        """
        if sum(lengths) > len(arena):
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

    ``into`` reuses output buffers of the right sizes. Raises the PKCS11Error subclass of
    the CK_RV (e.g. KeyFunctionNotPermitted at the 2^32 invocation limit).
    """
    if len(iv_fixed) != 4:
        raise ValueError("iv_fixed is 4 bytes")
    res = into or Sealed(bytearray(batch.total), bytearray(IV_LEN * batch.count),
                         bytearray(tag_len * batch.count))
    out_len = ffi.new("CK_ULONG *", len(res.out))
    rv = lib.KS_EncryptMessages(session, key, ffi.from_buffer(res.out), out_len,
                                ffi.from_buffer(res.ivs), ffi.from_buffer(res.tags), tag_len,
                                batch.count, batch.ptrs, batch.lens, batch.aad_ptrs,
                                batch.aad_lens, ffi.from_buffer(iv_fixed), threads)
    check(rv, "KS_EncryptMessages")
    return res


def decrypt(session: int, key: int, batch: Batch, ivs: Buffer, tags: Buffer, *,
            tag_len: int = 16, threads: int = 1) -> tuple[bytearray, list[bool]]:
    """Decrypt and verify every message of batch; return the plaintexts end to end and one
    flag per message (False: its tag failed and its plaintext is zeros).

    Raises ValueError for IV or tag arrays of the wrong size, the PKCS11Error subclass of the
    CK_RV for anything but failed tags.
    """
    if len(ivs) != IV_LEN * batch.count or len(tags) != tag_len * batch.count:
        raise ValueError("one 12-byte IV and one tag per message")
    out = bytearray(batch.total)
    ok = bytearray(max(batch.count, 1))
    out_len = ffi.new("CK_ULONG *", len(out))
    rv = lib.KS_DecryptMessages(session, key, ffi.from_buffer(out), out_len,
                                ffi.from_buffer(ok), batch.count, batch.ptrs, batch.lens,
                                batch.aad_ptrs, batch.aad_lens, ffi.from_buffer(ivs),
                                ffi.from_buffer(tags), tag_len, threads)
    if rv != lib.CKR_ENCRYPTED_DATA_INVALID:
        check(rv, "KS_DecryptMessages")
    return out, [bool(b) for b in ok[: batch.count]]


__all__ = ["IV_LEN", "Batch", "Sealed", "decrypt", "encrypt", "function_list"]
